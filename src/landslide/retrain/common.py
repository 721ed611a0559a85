"""What the retraining modules share: file names, decisions, tag prefixes, the clock (the
MLflow client is `landslide.tracking.mlflow_client`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

STATE_NAME = "state.json"
CYCLES_DIR = "cycles"
SUMMARY_JSON, SUMMARY_MD = "comparison.json", "comparison.md"
PROMOTED, REJECTED, NOTHING, FAILED = "promoted", "rejected", "nothing to do", "failed"
TAG = "retrain."  # prefix of the tags a cycle sets on runs and model versions
KIND_TAG = "landslide.kind"


def cycle_dir(out_dir: Path, cycle_id: str, root: Path = Path(".")) -> Path:
    """Where cycle `cycle_id` writes (schedule.out_dir/cycles/<id>/): its comparison,
    its challengers' models and evaluations."""
    return root / out_dir / CYCLES_DIR / cycle_id


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
