"""Figures: the image-level confusion matrix and the precision / recall curve (matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landslide.io import atomic_open


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path, dpi: int = 100) -> None:
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)


def plot_confusion(m: Mapping[str, Any], path: Path) -> None:
    """The 2 x 2 image-level confusion matrix at the threshold."""
    fig = _figure((4.2, 3.6))
    ax = fig.subplots()
    cells = np.array([[m["tp"], m["fn"]], [m["fp"], m["tn"]]], dtype=float)
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=max(1.0, cells.max()))
    names = [["TP", "FN"], ["FP", "TN"]]
    for r in range(2):
        for c in range(2):
            dark = cells[r, c] > cells.max() / 2
            ax.text(
                c,
                r,
                f"{names[r][c]}\n{int(cells[r, c])}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=12,
            )
    ax.set_xticks([0, 1], ["landslide", "non-landslide"])
    ax.set_yticks([0, 1], ["landslide", "non-landslide"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(f"image level @ {m['threshold']:g}")
    save_figure(fig, path)


def plot_pr(
    points: Sequence[Mapping[str, Any]],
    m: Mapping[str, Any],
    best: Mapping[str, Any] | None,
    path: Path,
) -> None:
    """Precision against recall over score thresholds, the headline and best-F1 points."""
    fig = _figure((4.8, 4.0))
    ax = fig.subplots()
    pts = [(q["recall"], q["precision"]) for q in points if q["precision"] is not None]
    if pts:
        rec, prec = zip(*pts, strict=True)
        ax.plot(rec, prec, "o-", ms=3, label="image level")
    if m["precision"] is not None and m["recall"] is not None:
        _mark(ax, m, "s", "black", 8, f"threshold {m['threshold']:g}")
    if best and best.get("precision") is not None and best.get("recall") is not None:
        _mark(ax, best, "*", "crimson", 12, f"best F1 @ {best['threshold']:g}")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("landslide precision / recall")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, path)


def _mark(
    ax: Any, point: Mapping[str, Any], marker: str, colour: str, size: int, label: str
) -> None:
    """One (recall, precision) point of the PR plot."""
    ax.plot([point["recall"]], [point["precision"]], marker, color=colour, ms=size, label=label)
