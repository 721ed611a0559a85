"""Retraining as photos arrive, as a Prefect flow: challenger vs champion, promotion by alias.

    landslide retrain --now [--params FILE]         # one cycle, now
    landslide schedule [--cron "0 3 * * 1"]         # serve it on a schedule (flow.serve)
    python flows/retrain.py [CRON]                  # the same as `landslide schedule`

Tasks are thin: each calls one step of `landslide.retrain` (see its module doc for what a
cycle does and guarantees). The flow ends in a Completed state named after the decision:
`Promoted`, `Rejected` or `Nothing to do`; a cycle that cannot go on (another cycle holds
the lock, new photos fail validation, MLflow unreachable) fails with the reason, and the
champion alias is left where it was.

Two cycles never run at once: the lock file of `schedule.lock` (owner's PID; a stale lock
from a killed cycle is broken), and, when served, the deployment's concurrency limit of 1
(a run scheduled while one is still running is cancelled).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.states import Completed

from landslide import retrain as R
from landslide.params import load_params

ROOT = Path(".")
DEPLOYMENT = "landslide-retrain"
STATE_NAMES = {R.PROMOTED: "Promoted", R.REJECTED: "Rejected", R.NOTHING: "Nothing to do"}


# ------------------------------------------------------------------------------ tasks


@task(retries=2, retry_delay_seconds=[10, 60], cache_policy=NO_CACHE)
def scrape_photos(cycle: R.Cycle) -> str:
    """New photos from the web into scrape.out_dir (network-bound, so retried)."""
    from landslide.scrape import scrape

    params = cycle.params
    return scrape(cycle.root / params.scrape.out_dir, params.scrape).summary_line()


@task(cache_policy=NO_CACHE)
def look_for_arrivals(cycle: R.Cycle, force: bool) -> R.Arrivals:
    return R.find_arrivals(cycle.params, cycle.root, force=force)


@task(cache_policy=NO_CACHE)
def prefill_waiting(cycle: R.Cycle, arrivals: R.Arrivals) -> str:
    return R.prefill_waiting(cycle, arrivals)


@task(cache_policy=NO_CACHE)
def check_tracking(cycle: R.Cycle) -> str:
    return R.check_tracking(cycle)


@task(cache_policy=NO_CACHE)
def prepare_photos(cycle: R.Cycle, arrivals: R.Arrivals) -> str:
    return R.prepare_photos(cycle, arrivals)


@task(cache_policy=NO_CACHE)
def validate_photos(cycle: R.Cycle, arrivals: R.Arrivals) -> str:
    return R.validate_photos(cycle, arrivals)


@task(cache_policy=NO_CACHE)
def split_photos(cycle: R.Cycle) -> str:
    return R.split_photos(cycle).summary_line()


@task(cache_policy=NO_CACHE)
def version_data(cycle: R.Cycle) -> str:
    return R.version_data(cycle).summary_line()


@task(cache_policy=NO_CACHE)
def augment_photos(cycle: R.Cycle) -> str:
    return R.augment_photos(cycle)


@task(cache_policy=NO_CACHE)
def train_challenger(cycle: R.Cycle, backbone: str) -> R.Candidate:
    return R.train_challenger(cycle, backbone)


@task(cache_policy=NO_CACHE)
def find_champion(cycle: R.Cycle) -> R.Candidate | None:
    return R.find_champion(cycle)


@task(cache_policy=NO_CACHE)
def evaluate_model(cycle: R.Cycle, candidate: R.Candidate) -> R.Candidate:
    return R.evaluate_candidate(cycle, candidate)


@task(cache_policy=NO_CACHE)
def promote_or_reject(cycle: R.Cycle) -> str:
    return R.record_decision(cycle).summary_line()


# ------------------------------------------------------------------------------- flow


@flow(name="landslide-retrain")
def retrain(params_file: str | None = None, force: bool = False) -> Any:
    """Arrivals -> prepare -> validate -> split -> version -> augment -> train -> evaluate
    champion and challengers on the fixed test set -> promote or reject.

    `force` trains even with fewer new photos than `schedule.min_new_images`.
    """
    logger = get_run_logger()
    params = load_params(params_file)
    with R.open_cycle(params, ROOT) as cycle:
        for note in cycle.notes:
            logger.warning(note)
        if params.schedule.scrape_first:
            logger.info(scrape_photos(cycle))
        arrivals = look_for_arrivals(cycle, force)
        logger.info(arrivals.summary_line())
        logger.info(prefill_waiting(cycle, arrivals))
        if not arrivals.enough:
            line = R.nothing_to_do(cycle, arrivals)
            logger.info(line)
            return Completed(name=STATE_NAMES[R.NOTHING], message=line, data=cycle.to_json())
        logger.info(check_tracking(cycle))
        with R.cycle_run(cycle):
            logger.info(prepare_photos(cycle, arrivals))
            logger.info(validate_photos(cycle, arrivals))
            logger.info(split_photos(cycle))
            logger.info(version_data(cycle))
            logger.info(augment_photos(cycle))
            R.clear_challengers(cycle)
            challengers = [train_challenger(cycle, b) for b in params.schedule.backbones]
            champion = find_champion(cycle)
            for candidate in [*([champion] if champion else []), *challengers]:
                evaluate_model(cycle, candidate)
            line = promote_or_reject(cycle)
        logger.info(line)
        return Completed(name=STATE_NAMES[cycle.decision], message=line, data=cycle.to_json())


def serve(cron: str, params_file: str | None = None, name: str = DEPLOYMENT) -> None:
    """Serve the flow on `cron` from this process (one machine); blocks until stopped.

    The deployment allows one run at a time; a run scheduled while another is running
    is cancelled (the lock file refuses it too).
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    retrain.serve(
        name=name,
        cron=cron,
        parameters={"params_file": params_file},
        global_limit=ConcurrencyLimitConfig(
            limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
        ),
        limit=1,
        description="Retrain the landslide detector on new photos; promote it if it is better.",
    )


if __name__ == "__main__":
    import sys

    serve(sys.argv[1] if len(sys.argv) > 1 else load_params().schedule.cron)
