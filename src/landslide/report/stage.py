"""Report stage: the study's tables regenerated from this run, with the study's figures beside.

    result = report(Path("reports/report.md"), params)    # and reports/report.html

Reads, for each backbone x set of the study (ResNet-50 / ResNet-101 x Set A / Set B):
`models/<run>/losses.csv` and `model.json` (what `landslide train` writes) and
`reports/eval/<run>/metrics.json`, `eval.json`, `frames.csv`, `overlays/` (what
`landslide evaluate` writes). The study's figures come from one file,
`landslide/study_results.yaml` (package data); none is written in this module.

Writes one Markdown page, the same page as self-contained HTML (inline CSS, images as
base64 data URIs; nothing is fetched), and `<stem>_losses.png` (every run's loss curves
on one plot) beside them. Sections: the runs found (and which are missing: not trained,
not evaluated, no MLflow run), how this run differs from the study (data, weights,
device, epochs, image size, ...), Table I (training loss at the study's epochs; an
epoch the run does not have is "—"), Tables II and III (image-level precision, recall,
F1 for the landslide and non-landslide class, ours beside the study's), Tables IV and V
(ten test frames drawn with `params.seed`, the study's frames beside for reference),
COCO AP and pixel IoU (beyond the study), loss curves and a few overlays. A missing run
never stops the report: its cells are "—" and the runs section names it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from landslide.io import write_text
from landslide.params import Params
from landslide.report.render import (
    UNDEFINED,
    Block,
    heading,
    image,
    para,
    plot_losses,
    render_html,
    render_markdown,
)
from landslide.report.runs import BACKBONES, SETS, Run, collect_runs
from landslide.report.sections import differences_section, overlays_section, runs_section
from landslide.report.tables import beyond_section, frames_tables, prf_table, table_1

STUDY_FILE = "study_results.yaml"


def load_study() -> dict[str, Any]:
    """The study's published figures (Ullo et al. 2021), from the package's YAML file."""
    text = resources.files("landslide").joinpath(STUDY_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


@dataclass
class ReportResult:
    markdown: Path
    html: Path
    figure: Path | None
    runs: list[str]  # every backbone x set of the study
    present: list[str]  # those evaluated
    missing: dict[str, list[str]]  # run -> what it lacks

    def summary_line(self) -> str:
        missing = (
            " (missing: "
            + "; ".join(f"{name}: {', '.join(why)}" for name, why in self.missing.items())
            + ")"
            if self.missing
            else ""
        )
        return (
            f"report: {len(self.present)} of {len(self.runs)} runs evaluated{missing} "
            f"-> {self.markdown}, {self.html}"
        )


def report(
    out: Path,
    params: Params,
    *,
    models_dir: Path | None = None,
    eval_dir: Path = Path("reports/eval"),
    splits_summary: Path = Path("data/processed/splits/summary.json"),
    provenance: Path = Path("data/raw/provenance.csv"),
    check_mlflow: bool = True,
) -> ReportResult:
    """Write `out` (Markdown), `out` with .html, and the loss plot beside them."""
    out = Path(out)
    study = load_study()
    runs = collect_runs(
        models_dir or params.train.models_dir, eval_dir, params, check_mlflow=check_mlflow
    )
    figure = out.with_name(f"{out.stem}_losses.png")
    figure = figure if plot_losses(runs, figure) else None
    blocks = build(runs, study, params, figure, splits_summary, provenance)
    write_text(out, render_markdown(blocks, out.parent))
    html_path = out.with_suffix(".html")
    write_text(html_path, render_html(blocks, TITLE))
    return ReportResult(
        markdown=out,
        html=html_path,
        figure=figure,
        runs=[r.name for r in runs],
        present=[r.name for r in runs if r.evaluated],
        missing={r.name: r.missing() for r in runs if r.missing()},
    )


TITLE = "Landslide detection: this run beside Ullo et al. 2021"


def build(
    runs: Sequence[Run],
    study: Mapping[str, Any],
    params: Params,
    figure: Path | None,
    splits_summary: Path,
    provenance: Path,
) -> list[Block]:
    threshold = params.evaluate.threshold
    blocks = [
        heading(TITLE, 1),
        para(
            'The tables of Ullo et al. 2021 ("A New Mask R-CNN-Based Method for Improved '
            "Landslide Detection\", IEEE JSTARS 14) regenerated from this run's files, with "
            'the study\'s published figures beside them. "—" marks a run or epoch this run '
            f'does not have; "{UNDEFINED}" a metric that is undefined (a zero division, '
            "e.g. precision when no photo was predicted landslide)."
        ),
    ]
    blocks += runs_section(runs)
    blocks += differences_section(runs, study, params, splits_summary, provenance)
    blocks += table_1(runs, study)
    for set_name in SETS:
        blocks += prf_table(runs, study, set_name, threshold)
    for backbone in BACKBONES:
        blocks += frames_tables(runs, study, backbone, params.seed)
    blocks += beyond_section(runs)
    blocks.append(heading("Loss curves"))
    if figure is not None:
        blocks.append(image(figure, "training (solid) and validation (dashed) total loss"))
    else:
        blocks.append(para("No run has a losses.csv yet."))
    blocks += overlays_section(runs)
    return blocks
