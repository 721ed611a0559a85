"""`landslide` command line: one sub-command per stage, in pipeline order.

Each command reads Params, calls its stage function in one line and prints a
one-line summary. Bad input raises a `LandslideError`; it is printed as
`error: …` in one or two lines and the command exits with status 2
(`landslide --debug …` shows the traceback instead).

- `root`: the root Typer app (`app`, listed in pipeline order), the short-error
  handling, `--debug` / `--version`, the shared `--params` option, warning printers;
- `data`: `sample`, `prepare`, `validate`, `split`, `augment`, `data track | push |
  pull`, `params show | check`;
- `annotations`: `annotations import | template | stats | prefill | diff`;
- `scrape`: `scrape` (with its progress bar), `scrape report`;
- `curate`: `curate serve | status | apply`;
- `model`: `train` (a bar per epoch), `evaluate`, `report`, `model register | history`,
  `export`;
- `predict`: `predict`, `predict-raster`;
- `flow`: `flow run | resume`, loading `flows/*.py`, the Prefect log filter;
- `retrain`: `retrain`, `schedule`.

Importing the package registers every group's commands on `app`; the stage modules
are imported inside each command, so `landslide --help` stays fast.
"""

from landslide.cli import (  # noqa: F401  (each registers its commands on app)
    annotations,
    curate,
    data,
    flow,
    model,
    predict,
    retrain,
    scrape,
)
from landslide.cli.root import app, main

__all__ = ["app", "main"]
