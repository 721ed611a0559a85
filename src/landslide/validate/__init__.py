"""Validation: great-expectations checks on the annotation table, before training.

`validate()` opens every image once, builds one table row per image and per region,
runs the suite over it and writes `reports/validation/`. Submodules:

- `stage`: `validate()` (the stage's steps), `load_prepared` and `require_inputs`;
- `table`: `build_table` (the rows, image reading, near-duplicates) and its `COLUMNS`;
- `suite`: the checks and why a row fails them, run as one great-expectations suite;
- `report`: `ValidationReport`, `Failure`, `CheckResult` and the files written.
"""

from landslide.validate.report import (
    JSON_NAME,
    MD_NAME,
    METRICS_NAME,
    TABLE_NAME,
    CheckResult,
    Failure,
    ValidationReport,
)
from landslide.validate.stage import load_prepared, require_inputs, validate
from landslide.validate.suite import REASONS
from landslide.validate.table import COLUMNS, _open_image, build_table

__all__ = [
    "COLUMNS",
    "JSON_NAME",
    "MD_NAME",
    "METRICS_NAME",
    "REASONS",
    "TABLE_NAME",
    "CheckResult",
    "Failure",
    "ValidationReport",
    "_open_image",
    "build_table",
    "load_prepared",
    "require_inputs",
    "validate",
]
