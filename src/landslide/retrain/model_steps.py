"""The cycle's model steps: train the challengers, find the champion, evaluate both on the
same test sets, and record the decision (register, tag, log; the alias moves last)."""

from __future__ import annotations

import contextlib
import json
import shutil

from landslide import stages as S
from landslide.errors import LandslideError, RetrainError
from landslide.retrain.common import FAILED, PROMOTED, REJECTED, TAG, utc_now
from landslide.retrain.cycle import Candidate, Cycle, write_state
from landslide.retrain.mlflow_log import log_cycle, tag_run, version_tags
from landslide.retrain.rule import Verdict, decide, metric_value
from landslide.tracking import mlflow_client


def clear_challengers(cycle: Cycle) -> None:
    """What an earlier (perhaps killed) cycle trained is never resumed nor compared."""
    shutil.rmtree(cycle.root / cycle.schedule.models_dir, ignore_errors=True)


def train_challenger(cycle: Cycle, backbone: str) -> Candidate:
    from landslide.train import TrainPaths, run_name, train

    root, params, set_name = cycle.root, cycle.params, cycle.schedule.set
    paths = TrainPaths.default(
        set_name,
        backbone,
        params,
        processed=root / "data" / "processed",
        models_dir=root / cycle.schedule.models_dir,
    )
    result = train(set_name, backbone, params, paths=paths)
    if result.run_id:
        mlflow_client(cycle.tracking_uri).set_tag(result.run_id, TAG + "cycle", cycle.id)
    candidate = Candidate(
        "challenger",
        f"challenger {backbone}",
        paths.out_dir,
        backbone,
        run_id=result.run_id,
    )
    cycle.challengers.append(candidate)
    cycle.notes.append(f"{run_name(backbone, set_name)}: {result.summary_line()}")
    return candidate


def find_champion(cycle: Cycle) -> Candidate | None:
    """The version the alias points at, downloaded (cached); None when there is none yet."""
    from mlflow.exceptions import MlflowException

    from landslide.registry import resolve_model

    p = cycle.params.predict
    client = mlflow_client(cycle.tracking_uri)
    try:
        registered = client.get_registered_model(p.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = registered.aliases.get(p.alias)
    if version is None:
        return None
    mv = client.get_model_version(p.model_name, str(version))
    model_pt = resolve_model(f"models:/{p.model_name}/{version}", cycle.tracking_uri)
    info = json.loads(model_pt.with_suffix(".json").read_text(encoding="utf-8"))
    cycle.champion = Candidate(
        "champion",
        f"champion v{version}",
        model_pt.parent,
        str(info.get("backbone", "")),
        run_id=mv.run_id,
        version=str(version),
    )
    return cycle.champion


def evaluate_candidate(cycle: Cycle, candidate: Candidate) -> Candidate:
    """Metrics on the fixed test set and on the new test photos (same files for all)."""
    from landslide.evaluate import evaluate

    assert cycle.tests is not None, "split first"
    tag = candidate.label.replace(" ", "-")
    images = cycle.root / S.PREPARED_IMAGES
    for which, test_json in (("fixed", cycle.tests.fixed), ("new", cycle.tests.new)):
        if test_json is None:
            continue
        result = evaluate(
            candidate.model_dir,
            test_json,
            images,
            cycle.dir / "eval" / f"{tag}-{which}",
            cycle.params,
            log_mlflow=False,
        )
        setattr(candidate, which, result.metrics)
    return candidate


def record_decision(cycle: Cycle) -> Cycle:
    """Decide, register every challenger, tag it, log the comparison; move the alias last.

    Until the alias moves the promoted version is tagged `pending`; a failure before (the
    tracking server gone) leaves the champion as it was and raises RetrainError.
    """
    from landslide.registry import register

    p, params = cycle.schedule, cycle.params
    assert cycle.version is not None and cycle.challengers
    name, model = p.promotion_metric, params.predict.model_name
    ranked = sorted(
        cycle.challengers,
        key=lambda c: (metric_value(c.fixed, name) or 0.0, metric_value(c.fixed, "recall") or 0.0),
        reverse=True,
    )
    best = ranked[0]
    verdict = decide(best.fixed or {}, cycle.champion.fixed if cycle.champion else None, p)
    best.decision, best.reason = verdict.decision, verdict.reason
    for other in ranked[1:]:
        other.decision = REJECTED
        other.reason = f"{best.label} scored higher on {name}"
    client = mlflow_client(cycle.tracking_uri)
    try:
        for c in ranked:
            if c.run_id is None:
                raise RetrainError(f"{c.label} has no MLflow run: it cannot be registered")
            pending = c.decision == PROMOTED
            c.version = register(
                c.run_id,
                params.predict,
                cycle.tracking_uri,
                classes=params.model_classes,
                tags=version_tags(cycle, c, "pending" if pending else c.decision),
                set_alias=False,
            ).version
            if not pending:
                tag_run(client, c)
        cycle.decision, cycle.reason = verdict.decision, _cycle_reason(cycle, best, verdict)
        log_cycle(cycle, client)
        if verdict.promote:  # the last write that matters: before it, nothing is promoted
            client.set_registered_model_alias(model, params.predict.alias, best.version)
    except LandslideError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cycle.reason = f"MLflow failed while recording the decision: {first}"
        if best.version is not None:
            with contextlib.suppress(Exception):
                client.set_model_version_tag(model, best.version, TAG + "decision", FAILED)
        raise RetrainError(
            f"{cycle.reason}; the champion alias was not moved",
            hint="check the tracking server (MLFLOW_TRACKING_URI) and run the cycle again",
        ) from None
    if verdict.promote:
        with contextlib.suppress(Exception):  # bookkeeping after the fact
            client.set_model_version_tag(model, best.version, TAG + "decision", PROMOTED)
            client.set_model_version_tag(model, best.version, TAG + "promoted_at", utc_now())
            tag_run(client, best)
    write_state(cycle)
    cycle.write_summary()
    return cycle


def _cycle_reason(cycle: Cycle, best: Candidate, verdict: Verdict) -> str:
    if verdict.promote:
        was = f" (replaces v{cycle.champion.version})" if cycle.champion else ""
        return f"{best.label} -> version {best.version} is the champion{was}: {verdict.reason}"
    keeps = f"v{cycle.champion.version} stays champion" if cycle.champion else "no champion"
    return f"{best.label} (version {best.version}) rejected, {keeps}: {verdict.reason}"
