"""Where a training run reads and writes, what it shows while it runs, what it returns.

Inputs (`TrainPaths`):

* train: `data/processed/augmented/<SET>/train.json` + its `images/` (augment.mode
  offline), or `data/processed/splits/<SET>/train.json` + `data/processed/prepared/images`
  through `OnlineAugment` (augment.mode online);
* val: `data/processed/splits/<SET>/val.json` + `data/processed/prepared/images`.

Outputs go to `models/<backbone>-set<SET>/` (`run_name`); `landslide.train.outputs` says
what they are. `TrainProgress` is what a driver is told (the CLI's bar, `LogProgress`
for Prefect), `epoch_line` the one line per epoch, `TrainResult` what `train()` returns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landslide.errors import TrainError
from landslide.params import Params

SETS = ("A", "B")

# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class TrainPaths:
    train_json: Path
    train_images: Path
    val_json: Path | None
    val_images: Path | None
    out_dir: Path

    @classmethod
    def default(
        cls,
        set_name: str,
        backbone: str,
        params: Params,
        *,
        processed: Path = Path("data/processed"),
        models_dir: Path | None = None,
    ) -> TrainPaths:
        """The paths of dvc.yaml's `train@<backbone>-<SET>` stage under `processed`."""
        check_set(set_name)
        prepared = processed / "prepared" / "images"
        if params.augment.mode == "online":
            train_json, train_images = processed / "splits" / set_name / "train.json", prepared
        else:
            augmented = processed / "augmented" / set_name
            train_json, train_images = augmented / "train.json", augmented / "images"
        return cls(
            train_json=train_json,
            train_images=train_images,
            val_json=processed / "splits" / set_name / "val.json",
            val_images=prepared,
            out_dir=(models_dir or params.train.models_dir) / run_name(backbone, set_name),
        )


def run_name(backbone: str, set_name: str) -> str:
    return f"{backbone}-set{set_name}"


def check_set(set_name: str) -> None:
    """TrainError for a set other than A or B."""
    if set_name not in SETS:
        raise TrainError(
            f"unknown set {set_name!r} (known: {', '.join(SETS)})",
            hint="pass --set A or --set B",
        )


# --------------------------------------------------------------------------- progress


class TrainProgress:
    """What the CLI shows while training; every hook does nothing by default."""

    def start(self, lines: Sequence[str]) -> None:
        """Once, before the first epoch: device, data, what the weights were loaded from."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, step: int, steps: int, losses: dict[str, float], images_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict[str, float]) -> None:
        pass


def epoch_line(row: dict[str, float], epochs: int) -> str:
    """The one-line summary of an epoch: the study's loss names, val metrics, lr, time."""
    val = (
        f" | val total {row['val_total']:.3f} P {_num(row['val_precision'])} "
        f"R {_num(row['val_recall'])} F1 {_num(row['val_f1'])}"
        if "val_total" in row
        else ""
    )
    return (
        f"epoch {int(row['epoch'])}/{epochs}: train total {row['train_total']:.3f} "
        f"(rpn_class {row['train_rpn_class']:.3f}, rpn_bbox {row['train_rpn_bbox']:.3f}, "
        f"mrcnn_class {row['train_mrcnn_class']:.3f}, mrcnn_bbox "
        f"{row['train_mrcnn_bbox']:.3f}, mrcnn_mask {row['train_mrcnn_mask']:.3f}){val}, "
        f"lr {row['lr']:.2g}, {row['train_seconds']:.0f} s"
    )


def _num(value: float | None) -> str:
    """A metric for a log line: two decimals, or n/a when undefined (None)."""
    return "n/a" if value is None else f"{value:.2f}"


class LogProgress(TrainProgress):
    """One log line per epoch, for drivers without a terminal of their own (Prefect)."""

    def __init__(self, log: Callable[[str], Any], name: str) -> None:
        self.log, self.name, self.epochs = log, name, 0

    def start(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.log(f"{self.name}: {line}")

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs

    def epoch_end(self, row: dict[str, float]) -> None:
        self.log(f"{self.name} {epoch_line(row, self.epochs)}")


@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path
    epochs: int
    start_epoch: int  # 1 on a fresh run; the first epoch trained after --resume
    history: list[dict[str, float]]
    best_epoch: int | None
    seconds: float
    device: str
    run_id: str | None = None
    load_report: list[str] = field(default_factory=list)

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}

    def summary_line(self) -> str:
        last = self.final
        val = (
            f", val total {last['val_total']:.3f}, P/R/F1 {_num(last['val_precision'])}/"
            f"{_num(last['val_recall'])}/{_num(last['val_f1'])}"
            if "val_total" in last
            else ""
        )
        trained = self.epochs - self.start_epoch + 1
        if trained <= 0:
            return f"train: nothing left to train (epoch {self.epochs} done) -> {self.model_path}"
        return (
            f"train: {trained} epochs ({self.start_epoch}-{self.epochs}) in {self.seconds:.0f} s "
            f"on {self.device}, train total {last.get('train_total', float('nan')):.3f}{val} "
            f"-> {self.model_path}"
        )
