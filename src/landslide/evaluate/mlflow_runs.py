"""MLflow: log an evaluation to the model's run, find that run, read a metrics.json back."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from landslide.params import MlflowParams


def flat_metrics(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """`{'landslide': {'f1': 0.9}}` -> `{'test/landslide_f1': 0.9}`; nulls and lists left out."""
    out: dict[str, float] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}_{k}" if key else str(k))
        elif isinstance(value, bool):
            return
        elif isinstance(value, int | float) and math.isfinite(value):
            out[f"{prefix}/{key}"] = float(value)

    walk(metrics, "")
    return out


def log_to_mlflow(
    name: str,
    model_json: Mapping[str, Any],
    out_dir: Path,
    metrics: Mapping[str, Any],
    p: MlflowParams,
    split: str = "test",
) -> tuple[str | None, list[str]]:
    """Log metrics and files to the model's run: (run id or None, warnings).

    Metrics are named `test/<name>` (`eval-val/<name>` for the val split: training already
    logs per-epoch `val/<loss>` and `val/f1` curves); files go under `evaluation/<split>`.
    """
    from mlflow.exceptions import MlflowException

    from landslide.tracking import tracking_uri

    uri = tracking_uri(p)
    try:
        client = mlflow_client(uri)
        if client is None:
            return None, [f"MLflow store {uri} not found: results not logged"]
        run_id = find_run(client, name, p.experiment, model_json)
        if run_id is None:
            return None, [
                f"no MLflow run named {name!r} in experiment {p.experiment!r} ({uri}): "
                "results not logged"
            ]
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        prefix = "test" if split == "test" else f"eval-{split}"
        values = [Metric(k, v, stamp, 0) for k, v in flat_metrics(metrics, prefix).items()]
        client.log_batch(run_id, metrics=values)
        client.log_artifacts(run_id, str(out_dir), artifact_path=f"evaluation/{split}")
    except (MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [f"MLflow logging failed ({uri}): {first}"]
    return run_id, []


def mlflow_client(uri: str) -> Any:
    """An MlflowClient, or None when a local store does not exist (never create one here)."""
    from mlflow import MlflowClient

    if uri.startswith("sqlite:///"):
        exists = Path(uri.removeprefix("sqlite:///")).is_file()
    elif uri.startswith("file:") or "://" not in uri:
        exists = Path(uri.removeprefix("file://").removeprefix("file:")).is_dir()
    else:
        exists = True  # a server: errors surface when it is called
    if not exists:
        return None
    return MlflowClient(tracking_uri=uri)


def find_run(client: Any, name: str, experiment: str, model_json: Mapping[str, Any]) -> str | None:
    """The run id model.json records, else the latest run named `name` in `experiment`."""
    from mlflow.exceptions import MlflowException

    for key in ("mlflow_run_id", "run_id"):
        run_id = model_json.get(key) or (model_json.get("metrics") or {}).get(key)
        if isinstance(run_id, str) and run_id:
            try:
                client.get_run(run_id)
                return run_id
            except MlflowException:
                pass
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`mlflow.runName` = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def read_metrics(path: Path) -> dict[str, Any] | None:
    """An evaluation's metrics.json, or None when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None
