"""What each run of the study left: models/<run>/ (training), reports/eval/<run>/ (evaluation)."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landslide.evaluate.mlflow_runs import read_metrics
from landslide.params import Params

BACKBONES = ("resnet50", "resnet101")
SETS = ("A", "B")
LABELS = {"resnet50": "ResNet-50", "resnet101": "ResNet-101"}


@dataclass
class Run:
    backbone: str
    set_name: str
    losses: list[dict[str, str]] | None = None  # losses.csv rows
    model: dict[str, Any] | None = None  # model.json
    metrics: dict[str, Any] | None = None  # evaluation metrics.json
    details: dict[str, Any] | None = None  # evaluation eval.json
    frames: list[dict[str, str]] | None = None  # frames.csv rows
    overlays: list[Path] = field(default_factory=list)
    run_id: str | None = None
    mlflow: str = "not checked"  # found | missing | not checked
    device: str | None = None  # the training device, from the MLflow run's tags

    @property
    def name(self) -> str:
        return f"{self.backbone}-set{self.set_name}"

    @property
    def label(self) -> str:
        return f"{LABELS.get(self.backbone, self.backbone)} Set {self.set_name}"

    @property
    def trained(self) -> bool:
        return self.model is not None or bool(self.losses)

    @property
    def evaluated(self) -> bool:
        return self.metrics is not None

    def missing(self) -> list[str]:
        out = []
        if not self.trained:
            out.append("not trained")
        if not self.evaluated:
            out.append("not evaluated")
        if self.mlflow == "missing":
            out.append("no MLflow run")
        return out


def collect_runs(
    models_dir: Path, eval_dir: Path, params: Params, *, check_mlflow: bool = True
) -> list[Run]:
    """Every backbone x set of the study, with whatever files each left."""
    runs = []
    for backbone in BACKBONES:
        for set_name in SETS:
            run = Run(backbone, set_name)
            model_dir, ev = models_dir / run.name, eval_dir / run.name
            run.losses = _read_csv(model_dir / "losses.csv")
            run.model = read_metrics(model_dir / "model.json")
            run.metrics = read_metrics(ev / "metrics.json")
            run.details = read_metrics(ev / "eval.json")
            run.frames = _read_csv(ev / "frames.csv")
            run.overlays = sorted((ev / "overlays").glob("*.jpg")) if ev.is_dir() else []
            runs.append(run)
    if check_mlflow:
        _find_mlflow_runs(runs, params)
    return runs


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _find_mlflow_runs(runs: Sequence[Run], params: Params) -> None:
    from mlflow.exceptions import MlflowException

    from landslide.evaluate.mlflow_runs import find_run, mlflow_client
    from landslide.tracking import tracking_uri

    try:
        client = mlflow_client(tracking_uri(params.mlflow))
        if client is None:
            return
        for run in runs:
            run.run_id = find_run(client, run.name, params.mlflow.experiment, run.model or {})
            run.mlflow = "found" if run.run_id else "missing"
            if run.run_id:
                run.device = client.get_run(run.run_id).data.tags.get("device")
    except (MlflowException, OSError):
        return
