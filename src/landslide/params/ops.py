"""The operations sections: scheduled retraining (schedule) and MLflow tracking (mlflow)."""

# Pydantic copies field defaults per instance; ruff sees `Section` (another module) as a
# plain class and would ask for ClassVar on every list default.
# ruff: noqa: RUF012

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, PositiveInt, field_validator

from landslide.params.base import Probability, Section


class ScheduleParams(Section):
    """Scheduled retraining: challenger vs champion on a fixed test set."""

    cron: str = "0 3 * * 1"  # Mondays 03:00
    min_new_images: PositiveInt = 20
    scrape_first: bool = False
    backbones: list[Literal["resnet50", "resnet101"]] = ["resnet101"]
    set: Literal["A", "B"] = "A"  # the challengers train on this set's train split
    promotion_metric: Literal["f1", "recall", "precision", "accuracy"] = "f1"
    min_margin: Annotated[float, Field(ge=0, le=1)] = 0.01
    recall_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02
    # The promotion metric every champion must reach, the first one (no champion yet) included.
    floor: Probability = 0.5
    push: bool = True  # `dvc push` each new data version to the default remote
    prefill: bool = True  # pre-outline photos waiting for a polygon with the champion
    out_dir: Path = Path("reports/retrain")  # cycle reports; state.json: the last data version
    lock: Path = Path("reports/retrain/retrain.lock")  # one cycle at a time (owner's PID inside)
    models_dir: Path = Path("models/challengers")  # this cycle's challengers (emptied each cycle)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5:
            raise ValueError(
                f"expected a cron line of 5 fields (minute hour day month weekday), got {v!r}"
            )
        return " ".join(fields)

    @field_validator("backbones")
    @classmethod
    def _backbones(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one backbone is required (resnet50, resnet101)")
        return list(dict.fromkeys(v))


class MlflowParams(Section):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "landslide"
