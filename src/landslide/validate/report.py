"""The validation report: failures, warnings and each check's outcome, as JSON, Markdown, CSV."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from landslide.annotations.model import Annotations
from landslide.io import write_json, write_text
from landslide.params import ValidateParams

JSON_NAME = "validation.json"
MD_NAME = "validation.md"
METRICS_NAME = "metrics.json"
TABLE_NAME = "table.csv"


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
