"""The great-expectations suite: one expectation per check, run over the table in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from landslide.params import ValidateParams
from landslide.validate.table import IMAGE, LANDSLIDE, NEGATIVE, REGION

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
