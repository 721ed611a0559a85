"""MLflow logging of a training run (rank 0).

A run named `<backbone>-set<SET>` (nested under an active parent run or
`$LANDSLIDE_PARENT_RUN_ID`), params (train.*, prepare.size, augment.mode, set, backbone),
per-epoch metrics with step = epoch (`train/<loss>`, `val/<loss>`, `val/precision`,
`val/recall`, `val/f1`, `val/accuracy`, `lr`), tags (git commit, data version, device,
backbone, set) and the output files as artifacts, the model also as an MLflow pyfunc
model. A resumed run continues the same run.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from landslide.engine import LOSS_KEYS
from landslide.model import ModelInfo
from landslide.params import Params
from landslide.train.outputs import VAL_METRICS
from landslide.train.progress import TrainPaths


class _Tracker:
    """One MLflow run for the training run, or nothing (disabled, or not rank 0)."""

    def __init__(
        self,
        *,
        enabled: bool,
        name: str,
        params: Params,
        set_name: str,
        backbone: str,
        device: torch.device,
        paths: TrainPaths,
        run_id: str | None,
        weights: str,
    ) -> None:
        self.enabled = enabled
        self.name = name
        self.params = params
        self.set_name = set_name
        self.backbone = backbone
        self.device = device
        self.paths = paths
        self.run_id = run_id
        self.weights = weights
        self.seen: set[int] = set()
        self._ctx: Any = None

    def __enter__(self) -> _Tracker:
        if not self.enabled:
            return self
        import mlflow

        from landslide.tracking import data_version, flatten, git_commit, start_run

        tags = {
            "backbone": self.backbone,
            "set": self.set_name,
            "device": str(self.device),
            "data_version": data_version(self.paths.train_json),
        }
        commit = git_commit()
        if commit:
            tags["git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        self._ctx = start_run(self.name, self.params.mlflow, tags=tags, run_id=self.run_id)
        run = self._ctx.__enter__()
        resumed = self.run_id == run.info.run_id
        self.run_id = run.info.run_id
        if not resumed:
            values = flatten("train", self.params.train.model_dump(mode="json"))
            values.update(
                {
                    "train.weights": self.weights,
                    "prepare.size": str(list(self.params.prepare.size)),
                    "augment.mode": self.params.augment.mode,
                    "classes": ",".join(self.params.model_classes),
                    "evaluate.threshold": str(self.params.evaluate.threshold),
                    "set": self.set_name,
                    "backbone": self.backbone,
                }
            )
            mlflow.log_params(values)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)

    def log_epoch(self, row: dict[str, float]) -> None:
        epoch = int(row["epoch"])
        if not self.enabled or epoch in self.seen:
            return
        import mlflow

        metrics = {"lr": row["lr"], "train/seconds": row["train_seconds"]}
        for key, value in row.items():
            for split in ("train", "val"):
                name = key.removeprefix(f"{split}_")
                if key.startswith(f"{split}_") and name in (*LOSS_KEYS, *VAL_METRICS):
                    # an undefined ratio (None) is NaN in MLflow: a gap, never a false 0.0
                    metrics[f"{split}/{name}"] = math.nan if value is None else value
        mlflow.log_metrics(metrics, step=epoch)
        self.seen.add(epoch)

    def log_outputs(self, out_dir: Path, info: ModelInfo | None = None) -> None:
        if not self.enabled:
            return
        import mlflow

        # the weights travel once, inside the pyfunc model (hundreds of MB per run)
        names = ["model.json", "metrics.json", "losses.csv", "losses.png"]
        if info is None:
            names.insert(0, "model.pt")
        for name in names:
            if (out_dir / name).is_file():
                mlflow.log_artifact(str(out_dir / name), artifact_path="model")
        if info is not None:  # the MLflow pyfunc model: runs:/<run_id>/model, registrable
            from landslide.serving import log_pyfunc_model

            log_pyfunc_model(out_dir / "model.pt", info, self.params.predict)
