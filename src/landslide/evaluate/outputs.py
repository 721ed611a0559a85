"""The stage's files: metrics.json, eval.json, the frames, sweep and PR tables, the figures."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from landslide.evaluate.plots import plot_confusion, plot_pr
from landslide.io import write_csv, write_json, write_text
from landslide.metrics import PR_COLUMNS, SWEEP_COLUMNS

FRAME_COLUMNS = ("image", "ground_truth", "confidence", "prediction", "outcome", "instances")
AP_KEYS = ("AP", "AP50", "AP75")


def _metrics_json(
    il: dict[str, Any],
    ap: dict[str, Any],
    px: dict[str, Any],
    threshold: float,
    warnings: list[str],
    calibrated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json: the headline numbers (DVC metrics); undefined values are null."""
    m = il["metrics"]
    best = il["best"] or {}
    return {
        "threshold": threshold,
        "images": int(m["images"] or 0),
        "landslide": {k: m[k] for k in ("precision", "recall", "f1")},
        "non_landslide": {k: m[f"non_landslide_{k}"] for k in ("precision", "recall", "f1")},
        "accuracy": m["accuracy"],
        **{k: int(m[k] or 0) for k in ("tp", "tn", "fp", "fn")},
        "best": {"threshold": best.get("threshold"), "f1": best.get("f1")},
        "calibrated": calibrated,
        "coco": {kind: {k: ap[kind][k] for k in AP_KEYS} for kind in ("box", "mask")},
        "pixel": {k: px[k] for k in ("iou", "precision", "recall", "f1")},
        "warnings": warnings,
    }


def write_outputs(
    out_dir: Path, metrics: dict[str, Any], details: dict[str, Any], il: dict[str, Any]
) -> list[Path]:
    """Every file but the overlays; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.json",
        "eval": out_dir / "eval.json",
        "frames_csv": out_dir / "frames.csv",
        "frames_md": out_dir / "frames.md",
        "sweep": out_dir / "sweep.csv",
        "pr": out_dir / "pr.csv",
        "confusion": out_dir / "confusion.png",
        "pr_png": out_dir / "pr.png",
    }
    write_json(paths["metrics"], metrics)
    write_json(paths["eval"], details)
    write_csv(paths["frames_csv"], il["frames"], FRAME_COLUMNS)
    write_text(paths["frames_md"], frames_markdown(il["frames"], details))
    write_csv(paths["sweep"], [_csv_row(r) for r in il["sweep"]], SWEEP_COLUMNS)
    write_csv(paths["pr"], [_csv_row(r) for r in il["pr"]], PR_COLUMNS)
    plot_confusion(il["metrics"], paths["confusion"])
    plot_pr(il["pr"], il["metrics"], il["best"], paths["pr_png"])
    return list(paths.values())


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: ("" if v is None else round(v, 6) if isinstance(v, float) else v) for k, v in row.items()
    }


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; `|` in cells is escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def frames_markdown(frames: Sequence[Mapping[str, Any]], details: Mapping[str, Any]) -> str:
    head = (
        f"# Per-frame results: {details['name']} ({details['split']} split)\n\n"
        f"A photo is predicted landslide when a landslide detection scores at least "
        f"{details['threshold']:g}. Confidence: the highest landslide score; instances: "
        f"landslide detections at or above the threshold.\n\n"
    )
    rows = [
        (
            i,
            f["image"],
            f["ground_truth"],
            f"{100 * f['confidence']:.0f}%",
            f["prediction"],
            f["outcome"],
            f["instances"],
        )
        for i, f in enumerate(frames, start=1)
    ]
    return head + markdown_table(
        ("frame", "image", "ground truth", "confidence", "prediction", "outcome", "instances"),
        rows,
    )
