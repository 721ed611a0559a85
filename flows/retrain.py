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
(a run scheduled while one is still running is cancelled). `landslide retrain --now` takes
the lock before Prefect starts (`R.hold_lock`): a second cycle is refused there in one
line, before any flow run; the flow's `open_cycle` uses the lock that process holds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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

    Schedules need a Prefect server: the one of PREFECT_API_URL, else a local server that
    this process starts (and stops on exit). The deployment allows one run at a time; a
    run scheduled while another is running is cancelled (the lock file refuses it too).
    """
    import sys
    import types

    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy

    if retrain.__module__ not in sys.modules:  # loaded by path (`landslide schedule`): Prefect
        stub = types.ModuleType(retrain.__module__)  # finds the entrypoint file by module
        stub.__file__ = __file__
        sys.modules[retrain.__module__] = stub
    _warn_if_the_scheduler_cannot_work()
    with prefect_api():
        retrain.serve(
            name=name,
            cron=cron,
            parameters={"params_file": params_file},
            global_limit=ConcurrencyLimitConfig(
                limit=1, collision_strategy=ConcurrencyLimitStrategy.CANCEL_NEW
            ),
            limit=1,
            description="Retrain the landslide detector on new photos; promote it if better.",
        )


def _warn_if_the_scheduler_cannot_work() -> None:
    """Prefect 3.8's scheduler service fails on SQLAlchemy 2.1 ("Can't evaluate bulk DML
    statement"): the deployment is served but no scheduled run is ever created."""
    from importlib.metadata import version

    major, minor = (int(x) for x in version("sqlalchemy").split(".")[:2])
    if (major, minor) >= (2, 1) and version("prefect").startswith("3."):
        print(
            f"warning: SQLAlchemy {version('sqlalchemy')} is installed; Prefect "
            f"{version('prefect')}'s scheduler fails with it and creates no scheduled run: "
            "install SQLAlchemy<2.1 where the Prefect server runs",
            flush=True,
        )


@contextmanager
def prefect_api(timeout_s: float = 180.0) -> Iterator[str]:
    """PREFECT_API_URL, else a Prefect server started here for as long as the block runs.

    Prefect's temporary API (what `landslide flow run` uses) has no scheduler, so a
    served deployment would never run on its own.
    """
    import shutil
    import socket
    import subprocess
    import sys
    import tempfile
    import time
    import urllib.request

    from prefect.settings import PREFECT_API_URL, temporary_settings

    from landslide.errors import RetrainError

    configured = PREFECT_API_URL.value()
    if configured:
        yield configured
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/api"
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent)) or "prefect"
    command = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=5):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        tail = log.read().decode(errors="replace").strip().splitlines()[-3:]
                        raise RetrainError(
                            "could not start a local Prefect server: " + " | ".join(tail),
                            hint="start one (`prefect server start`) and set PREFECT_API_URL",
                        ) from None
                    time.sleep(1)
            print(
                f"schedule: started a Prefect server on {url.removesuffix('/api')} (UI); "
                "it stops with this command",
                flush=True,
            )
            with temporary_settings({PREFECT_API_URL: url}):
                yield url
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


if __name__ == "__main__":
    import sys

    serve(sys.argv[1] if len(sys.argv) > 1 else load_params().schedule.cron)
