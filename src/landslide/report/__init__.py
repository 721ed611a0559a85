"""Report: the study's tables regenerated from this run's files, as Markdown and HTML.

`report()` reads what train and evaluate left for each backbone x set and writes one
page beside the study's published figures. Submodules:

- `stage`: `report()`, `ReportResult`, `build` (the page's order), `load_study`;
- `runs`: `Run` and `collect_runs` (what each run left, its MLflow run);
- `tables`: Tables I to V and the metrics beyond the study, `pick_frames`;
- `sections`: the runs, how this run differs from the study, the overlays;
- `render`: `Block` and its makers, `render_markdown`, `render_html`, the loss plot.
"""

from landslide.report.render import (
    Block,
    data_uri,
    plot_losses,
    render_html,
    render_markdown,
)
from landslide.report.runs import BACKBONES, SETS, Run, collect_runs
from landslide.report.stage import TITLE, ReportResult, build, load_study, report
from landslide.report.tables import pick_frames

__all__ = [
    "BACKBONES",
    "SETS",
    "TITLE",
    "Block",
    "ReportResult",
    "Run",
    "build",
    "collect_runs",
    "data_uri",
    "load_study",
    "pick_frames",
    "plot_losses",
    "render_html",
    "render_markdown",
    "report",
]
