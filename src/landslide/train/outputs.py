"""What a training run leaves in `models/<backbone>-set<SET>/` besides its checkpoints.

* `model.pt` + `model.json`: the **final** epoch's weights (as the study, which reports
  its 20th-epoch models), a plain state dict, and `ModelInfo` (classes, backbone,
  variant, size, epoch, best_epoch, val metrics); `load_model()` reads them;
* `metrics.json` (final train losses, val losses and image-level metrics; DVC metrics),
  `losses.csv` (one row per epoch; DVC plots) and `losses.png`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from landslide.engine import LOSS_KEYS
from landslide.io import atomic_open, write_csv, write_json
from landslide.model import ModelInfo

VAL_METRICS = ("precision", "recall", "f1", "accuracy")


def write_model(model: torch.nn.Module, info: ModelInfo, path: Path) -> None:
    """`model.pt` (plain state dict) and `model.json`, each written atomically."""
    with atomic_open(path, "wb") as fh:
        torch.save(model.state_dict(), fh)
    write_json(path.with_suffix(".json"), info.to_json())


HISTORY_COLUMNS = (
    "epoch",
    *(f"train_{k}" for k in LOSS_KEYS),
    *(f"val_{k}" for k in LOSS_KEYS),
    *(f"val_{k}" for k in VAL_METRICS),
    "lr",
    "train_seconds",
)


def write_history(out_dir: Path, history: list[dict[str, float]]) -> None:
    """`losses.csv` (DVC plots) and `losses.png` (loss curves)."""
    rows = [{k: _fmt(row.get(k)) for k in HISTORY_COLUMNS} for row in history]
    write_csv(out_dir / "losses.csv", rows, HISTORY_COLUMNS)
    plot_losses(history, out_dir / "losses.png")


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    """Train and val losses per epoch, one panel per loss (matplotlib, no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3).flatten()
    epochs = [row["epoch"] for row in history]
    for ax, key in zip(axes, LOSS_KEYS, strict=True):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], "o-", label="train")
        if history and f"val_{key}" in history[0]:
            ax.plot(epochs, [row.get(f"val_{key}") for row in history], "s--", label="val")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=80)


def _metrics_json(row: dict[str, float], threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "epoch": int(row["epoch"]),
        "train": {k: row[f"train_{k}"] for k in LOSS_KEYS},
    }
    if "val_total" in row:
        out["val"] = {k: row[f"val_{k}"] for k in (*LOSS_KEYS, *VAL_METRICS)}
        out["val"]["threshold"] = threshold
    return out
