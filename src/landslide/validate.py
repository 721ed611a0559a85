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
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.regions import UNLISTED_LEFT_OUT, name_list
from landslide.errors import AnnotationError
from landslide.io import sha256_file, write_json, write_text
from landslide.params import ValidateParams
from landslide.prepare import RUN_PREPARE

JSON_NAME = "validation.json"
MD_NAME = "validation.md"
METRICS_NAME = "metrics.json"
TABLE_NAME = "table.csv"

IMAGE, REGION = "image", "region"
LANDSLIDE, NEGATIVE = "landslide", "negative"

# The table the expectations run on, column -> pandas dtype (nullable: image rows
# leave region columns empty and the other way round; expectations skip nulls).
COLUMNS: dict[str, str] = {
    "row": "int64",
    "kind": "object",  # image | region
    "file": "object",
    "region": "Int64",  # region id as in the source file
    "class": "object",
    "image_label": "object",  # landslide | negative (image rows)
    "vertices": "Int64",
    "area_fraction": "float64",
    "polygon_valid": "boolean",
    "polygon_issue": "object",
    "inside_image": "boolean",
    "xmin": "float64",
    "ymin": "float64",
    "xmax": "float64",
    "ymax": "float64",
    "readable": "boolean",
    "read_error": "object",
    "width": "Int64",  # upright size, as opened (region rows: their image's)
    "height": "Int64",
    "ann_width": "Int64",  # size the annotations claim
    "ann_height": "Int64",
    "size_matches": "boolean",
    "min_side": "Int64",
    "mode": "object",
    "sha256": "object",
    "same_bytes_as": "object",  # other files with this sha256
    "phash": "object",
    "near_duplicate_of": "object",
}

_EDGE = 1e-6  # a vertex exactly on the image border is inside


@dataclass(frozen=True)
class Failure:
    """One rejected row (or, with no file, a rejected property of the whole set)."""

    file: str | None
    region: int | None
    check: str
    reason: str

    def __str__(self) -> str:
        where = [self.file] if self.file else []
        if self.region is not None:
            where.append(f"region {self.region}")
        return ": ".join([*where, self.reason])


@dataclass(frozen=True)
class CheckResult:
    """One expectation's outcome."""

    check: str
    expectation: str
    column: str | None
    rows: str  # the rows it applies to: image | region | all
    success: bool
    unexpected: int


@dataclass
class ValidationReport:
    """What `validate()` found and where it wrote it."""

    out_dir: Path
    images: int
    regions: dict[str, int]
    landslide_images: int
    negatives: int
    failures: list[Failure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checks: list[CheckResult] = field(default_factory=list)
    unreviewed: int = 0  # regions still `source: model`: pre-filled, accepted unreviewed
    unlisted: list[str] = field(default_factory=list)  # folder photos the file lacks, left out

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def json_path(self) -> Path:
        return self.out_dir / JSON_NAME

    @property
    def md_path(self) -> Path:
        return self.out_dir / MD_NAME

    @property
    def metrics_path(self) -> Path:
        return self.out_dir / METRICS_NAME

    @property
    def table_path(self) -> Path:
        return self.out_dir / TABLE_NAME

    def metrics(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "regions": sum(self.regions.values()),
            "regions_per_class": dict(self.regions),
            "landslide_images": self.landslide_images,
            "negatives": self.negatives,
            "failures": len(self.failures),
            "failed_checks": sum(1 for c in self.checks if not c.success),
            "warnings": len(self.warnings),
            "unreviewed_model_regions": self.unreviewed,
            "unlisted": len(self.unlisted),
        }

    def summary_line(self) -> str:
        counts = (
            _plural(self.images, "image"),
            _plural(sum(self.regions.values()), "region"),
            _plural(len(self.failures), "failure"),
            _plural(len(self.warnings), "warning"),
        )
        unreviewed = (
            f" ({self.unreviewed} model regions accepted unreviewed)" if self.unreviewed else ""
        )
        unlisted = (
            f" ({_plural(len(self.unlisted), 'photo')} not in the annotations left out)"
            if self.unlisted
            else ""
        )
        return f"validate: {', '.join(counts)}{unreviewed}{unlisted} -> {self.md_path}"

    def raise_if_failed(self) -> None:
        """Raise `ValidationFailed` (count of failures, report path) unless every check passed."""
        if self.failures:
            from landslide.errors import ValidationFailed

            raise ValidationFailed(len(self.failures), self.md_path, first=str(self.failures[0]))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "summary": self.metrics(),
            "failures": [
                {"file": f.file, "region": f.region, "check": f.check, "reason": f.reason}
                for f in self.failures
            ],
            "warnings": list(self.warnings),
            "unlisted": list(self.unlisted),
            "checks": [asdict(c) for c in self.checks],
        }


# ------------------------------------------------------------------------------ the stage


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

    warnings = list(ann.warnings)
    if ann.unlisted and not any(UNLISTED_LEFT_OUT in w for w in warnings):
        warnings.append(_unlisted_warning(ann))
    if p.allow_duplicates:
        warnings += [
            f"{a}: perceptual duplicate of {b} (phash distance {d}), allowed"
            for a, b, d in dup_pairs
        ]

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


def _unlisted_warning(ann: Annotations) -> str:
    names = ann.unlisted
    shown = name_list(names)
    return (
        f"{_plural(len(names), 'photo')} of the images folder not in the annotation file, "
        f"left out (unknown, not negatives; annotations.unlisted: skip): {shown}"
    )


def require_inputs(annotations: Path, images_dir: Path) -> None:
    """An AnnotationError for the first input that does not exist, saying to run prepare.

    validate (and split) read the prepared set; run before prepare, its files are missing.
    """
    for path in (Path(annotations), Path(images_dir)):
        if not path.exists():
            raise AnnotationError(f"{path} not found: {RUN_PREPARE}")


# ------------------------------------------------------------------------------ the table


def build_table(
    ann: Annotations,
    images_dir: Path,
    p: ValidateParams,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str, int]]]:
    """One row per image and per region; also the near-duplicate pairs (a, b, distance)."""
    rows: list[dict[str, Any]] = []
    hashes: dict[int, np.ndarray] = {}  # image row -> phash bits
    seen: set[str] = set()
    for image in ann.images:
        info = _open_image(images_dir / image.file_name, hashed=image.file_name not in seen)
        seen.add(image.file_name)
        bits = info.pop("phash_bits", None)
        if bits is not None:
            hashes[len(rows)] = bits
        rows.append(_image_row(image, info))
        width, height = _size(rows[-1])
        rows.extend(_region_row(image, region, width, height) for region in image.regions)
        if progress is not None:
            progress(1)
    for i, row in enumerate(rows):
        row["row"] = i

    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.astype(COLUMNS)
    pairs = _near_duplicates(table, hashes, p.dup_distance)
    partners: dict[str, list[str]] = {}
    for a, b, _ in pairs:
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    is_image = table["kind"] == IMAGE
    images = table.loc[is_image]
    table.loc[is_image, "near_duplicate_of"] = [
        ", ".join(partners[f]) if f in partners else None for f in images["file"]
    ]
    by_sha: dict[str, list[str]] = {}
    for file, sha in zip(images["file"], images["sha256"], strict=True):
        if isinstance(sha, str):  # not for unreadable or repeated files
            by_sha.setdefault(sha, []).append(file)
    table.loc[is_image, "same_bytes_as"] = [
        ", ".join(f for f in by_sha.get(sha, []) if f != file) or None
        for file, sha in zip(images["file"], images["sha256"], strict=True)
    ]
    return table, pairs


def _open_image(path: Path, *, hashed: bool) -> dict[str, Any]:
    """Readability, upright size, mode, sha256 and phash of one image file."""
    from PIL import Image, ImageOps

    from landslide.phash import phash

    if not path.is_file():
        return {"readable": False, "read_error": f"image file not found: {path}"}
    try:
        with Image.open(path) as im:
            mode = im.mode
            im.load()  # decode it all: truncated files fail here
            upright = ImageOps.exif_transpose(im)
            info: dict[str, Any] = {
                "readable": True,
                "width": upright.width,
                "height": upright.height,
                "mode": mode,
            }
            if hashed:
                h = phash(upright)
                info.update(phash=str(h), phash_bits=h.hash.flatten())
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return {"readable": False, "read_error": f"cannot read image: {exc}"}
    if hashed:
        info["sha256"] = sha256_file(path)
    return info


def _image_row(image: ImageAnn, info: dict[str, Any]) -> dict[str, Any]:
    width, height = info.get("width"), info.get("height")
    known = width is not None and image.width is not None and image.height is not None
    return {
        "kind": IMAGE,
        "file": image.file_name,
        "image_label": LANDSLIDE if image.has_landslide else NEGATIVE,
        "ann_width": image.width,
        "ann_height": image.height,
        "size_matches": (image.width, image.height) == (width, height) if known else None,
        "min_side": min(width, height) if width is not None else None,
        **info,
    }


def _size(image_row: dict[str, Any]) -> tuple[int | None, int | None]:
    """The size to judge regions by: as opened, else as annotated."""
    if image_row.get("width") is not None:
        return image_row["width"], image_row["height"]
    return image_row["ann_width"], image_row["ann_height"]


def _region_row(
    image: ImageAnn, region: Region, width: int | None, height: int | None
) -> dict[str, Any]:
    from shapely import Polygon
    from shapely.validation import explain_validity

    pts = region.polygon
    row: dict[str, Any] = {
        "kind": REGION,
        "file": image.file_name,
        "region": region.region_id,
        "class": region.label or None,
        "vertices": len(pts),
        "width": width,
        "height": height,
    }
    valid = False
    if len(pts) >= 3:
        poly = Polygon(pts)
        valid = bool(poly.is_valid)
        row["polygon_valid"] = valid
        row["polygon_issue"] = None if valid else explain_validity(poly)
    if pts:
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        xmin, ymin, xmax, ymax = min(xs), min(ys), max(xs), max(ys)
        row.update(xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
        if width and height:
            row["inside_image"] = bool(
                xmin >= -_EDGE
                and ymin >= -_EDGE
                and xmax <= width + _EDGE
                and ymax <= height + _EDGE
            )
            if valid:  # the area of a broken polygon means nothing; it fails as invalid
                row["area_fraction"] = region.area / (width * height)
    return row


def _near_duplicates(
    table: pd.DataFrame, hashes: dict[int, np.ndarray], distance: int
) -> list[tuple[str, str, int]]:
    """Pairs of files whose phashes differ in at most `distance` bits but whose bytes differ."""
    if len(hashes) < 2:
        return []
    rows = list(hashes)
    bits = np.stack([hashes[r] for r in rows])
    files = table.loc[rows, "file"].tolist()
    shas = table.loc[rows, "sha256"].tolist()
    pairs = []
    for i in range(len(rows) - 1):
        d = (bits[i + 1 :] != bits[i]).sum(axis=1)
        for j in np.flatnonzero(d <= distance):
            k = i + 1 + int(j)
            if shas[i] != shas[k]:  # identical bytes are the sha256 check's
                pairs.append((files[i], files[k], int(d[j])))
    return pairs


# ------------------------------------------------------------------------------ the suite

ROW_COUNT = "ExpectTableRowCountToBeBetween"
IN_SET = "ExpectColumnValuesToBeInSet"
BETWEEN = "ExpectColumnValuesToBeBetween"
UNIQUE = "ExpectColumnValuesToBeUnique"
NULL = "ExpectColumnValuesToBeNull"
NOT_NULL = "ExpectColumnValuesToNotBeNull"

# Why a row was rejected, per check: formatted with the row's columns (table-level
# checks have none), `known` (the classes) and `p` (ValidateParams).
REASONS = {
    "images": "no images in the annotations",
    "file_unique": "listed more than once in the annotations",
    "readable": "{read_error}",
    "size_matches": (
        "annotated as {ann_width}x{ann_height} but the upright image is {width}x{height}"
    ),
    "min_image_side": "image is {width}x{height}, smaller than {p.min_image_side} px a side",
    "duplicate_bytes": "identical bytes to {same_bytes_as} (sha256 {sha256:.12}…)",
    "duplicate_image": (
        "perceptual duplicate of {near_duplicate_of} (phash distance <= {p.dup_distance})"
    ),
    "class_known": "class '{class}' unknown (known: {known})",
    "class_present": "no class (known: {known})",
    "min_vertices": "{vertices} vertices, a polygon needs at least {p.min_vertices}",
    "polygon_valid": "invalid polygon: {polygon_issue}",
    "inside_image": (
        "polygon spans x {xmin:g}..{xmax:g}, y {ymin:g}..{ymax:g}, "
        "outside the {width}x{height} image"
    ),
    "area_fraction": (
        "area is {area_fraction:.3g} of the image, "
        "outside {p.min_area_fraction:g}..{p.max_area_fraction:g}"
    ),
    "has_landslide": "no image with a landslide region (need at least one)",
    "has_negative": "no image without a landslide (need at least one negative)",
}


@dataclass(frozen=True)
class _Check:
    key: str  # also the key of its reason in REASONS
    expectation: str  # a great_expectations.expectations class
    rows: str  # the rows it runs on: image | region | landslide (images) | negative (images)
    column: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    def reason(self, row: pd.Series | None, p: ValidateParams, classes: Sequence[str]) -> str:
        values = {} if row is None else row.to_dict()
        return REASONS[self.key].format(**values, known=", ".join(classes), p=p)


def _checks(p: ValidateParams, classes: Sequence[str]) -> list[_Check]:
    area = {"min_value": p.min_area_fraction, "max_value": p.max_area_fraction}
    checks = [
        _Check("images", ROW_COUNT, IMAGE, kwargs={"min_value": 1}),
        _Check("file_unique", UNIQUE, IMAGE, "file"),
        _Check("readable", IN_SET, IMAGE, "readable", {"value_set": [True]}),
        _Check("size_matches", IN_SET, IMAGE, "size_matches", {"value_set": [True]}),
        _Check("min_image_side", BETWEEN, IMAGE, "min_side", {"min_value": p.min_image_side}),
        _Check("duplicate_bytes", UNIQUE, IMAGE, "sha256"),  # always: identical files
        _Check("duplicate_image", NULL, IMAGE, "near_duplicate_of"),
        _Check("class_known", IN_SET, REGION, "class", {"value_set": list(classes)}),
        _Check("class_present", NOT_NULL, REGION, "class"),
        _Check("min_vertices", BETWEEN, REGION, "vertices", {"min_value": p.min_vertices}),
        _Check("polygon_valid", IN_SET, REGION, "polygon_valid", {"value_set": [True]}),
        _Check("inside_image", IN_SET, REGION, "inside_image", {"value_set": [True]}),
        _Check("area_fraction", BETWEEN, REGION, "area_fraction", area),
        _Check("has_landslide", ROW_COUNT, LANDSLIDE, kwargs={"min_value": 1}),
        _Check("has_negative", ROW_COUNT, NEGATIVE, kwargs={"min_value": 1}),
    ]
    skip = {
        "duplicate_image": p.allow_duplicates,
        "has_landslide": not p.require_landslide,
        "has_negative": not p.require_negative,
    }
    return [c for c in checks if not skip.get(c.key, False)]


def _run_suite(
    table: pd.DataFrame, checks: list[_Check]
) -> list[tuple[bool, list[int], str | None]]:
    """Run the checks as one great-expectations suite over `table`.

    Returns, per check: success, the table rows it rejected (by the `row`
    column) and the error if the expectation could not run.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.expectations.row_conditions import Column

    config = DataContextConfig(
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    batch = (
        context.data_sources.add_pandas("annotations")
        .add_dataframe_asset("table")
        .add_batch_definition_whole_dataframe("all rows")
    )
    kind = Column("kind")
    conditions = {
        IMAGE: kind == IMAGE,
        REGION: kind == REGION,
        LANDSLIDE: (kind == IMAGE) & (Column("image_label") == LANDSLIDE),
        NEGATIVE: (kind == IMAGE) & (Column("image_label") == NEGATIVE),
    }
    suite = gx.ExpectationSuite(name="landslide-annotations")
    for check in checks:
        kwargs = dict(check.kwargs)
        if check.column is not None:
            kwargs["column"] = check.column
        expectation = getattr(gxe, check.expectation)(
            **kwargs, row_condition=conditions[check.rows], meta={"check": check.key}
        )
        suite.add_expectation(expectation)
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="validate", data=batch, suite=suite)
    )
    result = definition.run(
        batch_parameters={"dataframe": table},
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": ["row"]},
    )

    by_key = {r.expectation_config.meta["check"]: r for r in result.results}
    outcomes = []
    for check in checks:
        r = by_key[check.key]
        rows = [int(u["row"]) for u in (r.result or {}).get("unexpected_index_list") or []]
        outcomes.append((bool(r.success), sorted(set(rows)), _exception(r.exception_info)))
    return outcomes


def _exception(info: dict[str, Any] | None) -> str | None:
    """The message of an expectation that raised (flat, or keyed by metric in GX 1.x)."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") or "error" if info["raised_exception"] else None
    messages = [_exception(v) for v in info.values() if isinstance(v, dict)]
    return "; ".join(m for m in messages if m) or None


# ------------------------------------------------------------------------------ the report


def _write(
    report: ValidationReport,
    table: pd.DataFrame,
    ann: Annotations,
    images_dir: Path,
    p: ValidateParams,
    classes: Sequence[str],
) -> None:
    data = {
        **report.to_dict(),
        "annotations": ann.source or None,
        "images_dir": str(images_dir),
        "classes": list(classes),
        "params": p.model_dump(mode="json"),
    }
    write_text(report.table_path, table.to_csv(index=False))
    write_json(report.metrics_path, report.metrics())
    write_json(report.json_path, data)
    write_text(report.md_path, _markdown(report, ann, images_dir))


def _markdown(report: ValidationReport, ann: Annotations, images_dir: Path) -> str:
    status = "PASSED" if report.passed else f"FAILED ({_plural(len(report.failures), 'failure')})"
    m = report.metrics()
    per_class = ", ".join(f"{k} {v}" for k, v in sorted(report.regions.items())) or "none"
    lines = [
        "# Annotation validation",
        "",
        f"**{status}**",
        "",
        f"- annotations: `{ann.source or '(in memory)'}`",
        f"- images: `{images_dir}`",
        f"- {m['images']} images ({m['landslide_images']} with a landslide, "
        f"{m['negatives']} without), {m['regions']} regions: {per_class}",
        f"- {m['failed_checks']} of {len(report.checks)} checks failed, "
        f"{_plural(m['warnings'], 'warning')}",
        f"- {_plural(report.unreviewed, 'region')} pre-filled by a model accepted unreviewed "
        "(still `source: model`; `annotate.review: accept`)",
        f"- {_plural(len(report.unlisted), 'photo')} of the images folder not in the annotation "
        "file, left out (`annotations.unlisted: skip`)",
        "",
        "## Failures",
        "",
    ]
    if report.failures:
        lines += ["| file | region | check | reason |", "| --- | --- | --- | --- |"]
        lines += [
            f"| {_cell(f.file or '(all)')} | {'' if f.region is None else f.region} "
            f"| {f.check} | {_cell(f.reason)} |"
            for f in report.failures
        ]
    else:
        lines.append("None.")
    lines += ["", "## Warnings", ""]
    lines += [f"- {_cell(w)}" for w in report.warnings] or ["None."]
    if report.unlisted:
        lines += [
            "",
            "## Photos not in the annotation file",
            "",
            f"{_plural(len(report.unlisted), 'photo')} of the images folder, left out of "
            "training and evaluation: add them to the VIA project, or set "
            "`annotations.unlisted: negative` if they are photos without a landslide.",
            "",
        ]
        lines += [f"- `{name}`" for name in report.unlisted]
    lines += [
        "",
        "## Checks",
        "",
        "| check | expectation | column | rows | result | rejected |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {c.check} | {c.expectation} | {c.column or ''} | {c.rows} "
        f"| {'pass' if c.success else 'FAIL'} | {c.unexpected} |"
        for c in report.checks
    ]
    return "\n".join(lines) + "\n"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
