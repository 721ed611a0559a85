"""The cycle in MLflow: the tracking store checked before training (`check_tracking`),
the cycle's own run (`cycle_run`), the tags of a registered challenger and its run, and
the comparison logged to the cycle's run (`log_cycle`)."""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

from landslide.errors import RetrainError
from landslide.retrain.common import (
    FAILED,
    KIND_TAG,
    PROMOTED,
    SUMMARY_JSON,
    SUMMARY_MD,
    TAG,
)
from landslide.retrain.cycle import Candidate, Cycle, fail, headline
from landslide.retrain.rule import metric_value
from landslide.tracking import mlflow_client


def check_tracking(cycle: Cycle, timeout_s: float = 10.0) -> str:
    """RetrainError unless the tracking store answers (before anything is trained)."""
    uri = cycle.tracking_uri
    hint = (
        "start it (`mlflow server ...`) or point MLFLOW_TRACKING_URI / mlflow.tracking_uri "
        "at one that runs; nothing was trained and the champion is unchanged"
    )
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as r:
                r.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetrainError(
                f"the MLflow tracking server {uri} is unreachable ({reason})", hint=hint
            ) from None
    try:
        mlflow_client(uri).search_registered_models(max_results=1)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RetrainError(f"the MLflow tracking store {uri} fails: {first}", hint=hint) from None
    return f"mlflow: {uri} answers"


@contextlib.contextmanager
def cycle_run(cycle: Cycle) -> Iterator[str]:
    """The cycle's MLflow run; training runs nest under it. Ends FINISHED or FAILED."""
    import mlflow

    from landslide.tracking import git_commit, parent_env

    p = cycle.params.mlflow
    mlflow.set_tracking_uri(cycle.tracking_uri)
    experiment = mlflow.set_experiment(p.experiment)
    client = mlflow_client(cycle.tracking_uri)
    tags = {KIND_TAG: "retrain", TAG + "cycle": cycle.id}
    commit = git_commit(cycle.root)
    if commit:
        tags["git_commit"] = commit
    run = client.create_run(experiment.experiment_id, run_name=f"retrain-{cycle.id}", tags=tags)
    cycle.run_id = run.info.run_id
    cycle.lock.update(run_id=cycle.run_id)
    try:
        with parent_env(cycle.run_id):
            yield cycle.run_id
    except BaseException as exc:
        fail(cycle, exc)
        with contextlib.suppress(Exception):  # a server gone mid-cycle: the error says so
            client.set_tag(cycle.run_id, TAG + "decision", FAILED)
            client.set_tag(cycle.run_id, TAG + "reason", cycle.reason[:5000])
            client.log_artifact(cycle.run_id, str(cycle.dir / SUMMARY_JSON))
            client.log_artifact(cycle.run_id, str(cycle.dir / SUMMARY_MD))
        with contextlib.suppress(Exception):
            client.set_terminated(cycle.run_id, status="FAILED")
        raise
    client.set_terminated(cycle.run_id, status="FINISHED")


def version_tags(cycle: Cycle, c: Candidate, decision: str) -> dict[str, str]:
    assert cycle.version is not None
    name = cycle.schedule.promotion_metric
    value = metric_value(c.fixed, name)
    tags = {
        TAG + "cycle": cycle.id,
        TAG + "data_version": cycle.version.id,
        TAG + "metric": name,
        TAG + "value": "" if value is None else f"{value:.3f}",
        TAG + "decision": decision,
        TAG + "reason": c.reason[:5000],
    }
    if cycle.champion is not None:
        best = metric_value(cycle.champion.fixed, name)
        tags[TAG + "champion_version"] = str(cycle.champion.version)
        tags[TAG + "champion_value"] = "" if best is None else f"{best:.3f}"
    return tags


def tag_run(client: Any, c: Candidate) -> None:
    assert c.run_id is not None
    for key, value in ((TAG + "decision", c.decision), (TAG + "reason", c.reason)):
        client.set_tag(c.run_id, key, value[:5000])
    if c.version is not None:
        client.set_tag(c.run_id, TAG + "version", c.version)


def log_cycle(cycle: Cycle, client: Any) -> None:
    """Metrics of both models, the decision and data version as tags, the comparison."""
    assert cycle.run_id is not None and cycle.version is not None
    metrics: dict[str, float] = {}
    for c in [*([cycle.champion] if cycle.champion else []), *cycle.challengers]:
        key = "champion" if c.role == "champion" else f"challenger_{c.backbone}"
        for which in ("fixed", "new"):
            for k, v in (headline(getattr(c, which)) or {}).items():
                if isinstance(v, int | float):
                    metrics[f"{which}/{key}/{k}"] = float(v)
    from mlflow.entities import Metric, RunTag

    stamp = int(time.time() * 1000)
    tags = {
        TAG + "decision": cycle.decision,
        TAG + "reason": cycle.reason[:5000],
        TAG + "data_version": cycle.version.id,
        "data_version": cycle.version.id,
        TAG + "new_photos": str(len(cycle.arrivals.new) if cycle.arrivals else 0),
        TAG + "champion_before": cycle.champion.version if cycle.champion else "",
        TAG + "champion_after": next(
            (c.version for c in cycle.challengers if c.decision == PROMOTED),
            cycle.champion.version if cycle.champion else "",
        )
        or "",
    }
    client.log_batch(
        cycle.run_id,
        metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )
    cycle.write_summary()
    for name in (SUMMARY_JSON, SUMMARY_MD):
        client.log_artifact(cycle.run_id, str(cycle.dir / name))
