"""Validation stage: great-expectations checks on the annotation table.

`validate()` opens every image once and builds a table with one row per image
and one row per region (file, region, class, vertex count, area fraction,
polygon validity, inside the image, readable, size, mode, sha256 and
perceptual hash). A great-expectations suite runs over that table; every row
an expectation rejects becomes a `Failure` naming the file, the region and
why::

    report = validate(ann, Path("data/images"), Path("reports/validation"),
                      params.validation, params.classes)
    report.raise_if_failed()   # ValidationFailed: count of failures + report path

It writes, atomically, into `out_dir`:

- `validation.json`: the whole report (failures, warnings, each check's outcome);
- `validation.md`: the same for people;
- `metrics.json`: images, regions per class, negatives, failures, warnings (for DVC);
- `table.csv`: the table the expectations ran on.

Warnings (those the readers collected in `Annotations.warnings`, and tolerated
near-duplicates) are reported but never fail the stage. So is the number of regions a
model pre-filled that were accepted unreviewed (still `source: model`, read with
`annotate.review: accept`): `unreviewed_model_regions` in the metrics. So are the
photos of the images folder that the annotation file does not list, left out by
`annotations.unlisted: skip` (`Annotations.unlisted`, carried by prepare in the COCO
file): a warning, `unlisted` in the metrics and the report names every one
(`annotations.unlisted: error` stops before, when the annotations are read).

Run before prepare, the CLI says so (`require_inputs`): "<file> not found: run
`landslide prepare` first (or `dvc repro prepare`)".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from landslide.annotations.model import Annotations
from landslide.annotations.regions import UNLISTED_LEFT_OUT, name_list
from landslide.errors import AnnotationError, LandslideError
from landslide.params import Params, ValidateParams
from landslide.prepare import RUN_PREPARE
from landslide.validate.report import CheckResult, Failure, ValidationReport, _plural, _write
from landslide.validate.suite import _Check, _checks, _run_suite
from landslide.validate.table import IMAGE, LANDSLIDE, NEGATIVE, build_table


def validate(
    ann: Annotations,
    images_dir: Path,
    out_dir: Path,
    p: ValidateParams,
    classes: Sequence[str],
    *,
    progress: Callable[[int], None] | None = None,
) -> ValidationReport:
    """Check `ann` and its images against `p`; write the report into `out_dir`.

    Never raises for bad data: failures are in the returned report (call
    `raise_if_failed()` to stop a pipeline). `progress(1)` is called per image.
    """
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    table, dup_pairs = build_table(ann, images_dir, p, progress=progress)
    checks = _checks(p, classes)
    outcomes = _run_suite(table, checks)
    failures, results = _failures(table, checks, outcomes, p, classes)
    warnings = _warnings(ann, p, dup_pairs)

    labels = table.loc[table["kind"] == IMAGE, "image_label"]
    report = ValidationReport(
        out_dir=out_dir,
        images=int((table["kind"] == IMAGE).sum()),
        regions=ann.counts(),
        landslide_images=int((labels == LANDSLIDE).sum()),
        negatives=int((labels == NEGATIVE).sum()),
        failures=failures,
        warnings=warnings,
        checks=results,
        unreviewed=sum(r.unreviewed for image in ann.images for r in image.regions),
        unlisted=list(ann.unlisted),
    )
    _write(report, table, ann, images_dir, p, classes)
    return report


def _failures(
    table: pd.DataFrame,
    checks: list[_Check],
    outcomes: list[tuple[bool, list[int], str | None]],
    p: ValidateParams,
    classes: Sequence[str],
) -> tuple[list[Failure], list[CheckResult]]:
    """Each rejected row as a `Failure` (sorted by file, region, check), each check's result."""
    failures: list[Failure] = []
    results: list[CheckResult] = []
    for check, (success, rows, error) in zip(checks, outcomes, strict=True):
        results.append(
            CheckResult(check.key, check.expectation, check.column, check.rows, success, len(rows))
        )
        if success:
            continue
        if error:
            failures.append(Failure(None, None, check.key, f"check could not run: {error}"))
        elif rows:
            for i in rows:
                row = table.loc[i]
                region = None if pd.isna(row["region"]) else int(row["region"])
                reason = check.reason(row, p, classes)
                failures.append(Failure(row["file"], region, check.key, reason))
        else:
            failures.append(Failure(None, None, check.key, check.reason(None, p, classes)))
    order = {c.key: i for i, c in enumerate(checks)}
    failures.sort(
        key=lambda f: (
            f.file is not None,
            f.file or "",
            -1 if f.region is None else f.region,
            order[f.check],
        )
    )
    return failures, results


def _warnings(
    ann: Annotations, p: ValidateParams, dup_pairs: list[tuple[str, str, int]]
) -> list[str]:
    """The readers' warnings, the unlisted photos left out, the near-duplicates allowed."""
    warnings = list(ann.warnings)
    if ann.unlisted and not any(UNLISTED_LEFT_OUT in w for w in warnings):
        warnings.append(_unlisted_warning(ann))
    if p.allow_duplicates:
        warnings += [
            f"{a}: perceptual duplicate of {b} (phash distance {d}), allowed"
            for a, b, d in dup_pairs
        ]
    return warnings


def _unlisted_warning(ann: Annotations) -> str:
    names = ann.unlisted
    shown = name_list(names)
    return (
        f"{_plural(len(names), 'photo')} of the images folder not in the annotation file, "
        f"left out (unknown, not negatives; annotations.unlisted: skip): {shown}"
    )


def load_prepared(annotations: Path, images_dir: Path, params: Params) -> Annotations:
    """The annotations to validate; when they cannot be read because prepare has not run
    yet, the error says to run it (`require_inputs`)."""
    from landslide.annotations import load_annotations

    try:
        return load_annotations(annotations, images_dir, params)
    except LandslideError:
        require_inputs(annotations, images_dir)  # not there: run prepare first
        raise


def require_inputs(annotations: Path, images_dir: Path) -> None:
    """An AnnotationError for the first input that does not exist, saying to run prepare.

    validate (and split) read the prepared set; run before prepare, its files are missing.
    """
    for path in (Path(annotations), Path(images_dir)):
        if not path.exists():
            raise AnnotationError(f"{path} not found: {RUN_PREPARE}")
