"""`landslide retrain` (one retraining cycle, the Prefect flow flows/retrain.py) and
`landslide schedule` (serve that flow on a cron schedule)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.flow import _load_flow, _prefect_startup_timeout, _quiet_expected_errors
from landslide.cli.root import ParamsOption, app
from landslide.console import out
from landslide.errors import LandslideError
from landslide.params import Params, load_params


@app.command("retrain")
def retrain_cmd(
    now: Annotated[bool, typer.Option("--now", help="Run one retraining cycle now.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Train even with fewer new photos than min_new_images."),
    ] = False,
    params_file: ParamsOption = None,
) -> None:
    """One retraining cycle: new photos -> challenger vs champion -> promote or reject.

    Runs the Prefect flow flows/retrain.py (a temporary local API, or the Prefect server
    of PREFECT_API_URL). Exit 2 when the cycle cannot go on (another cycle runs, new
    photos fail validation, MLflow unreachable); the champion is then unchanged.
    """
    if not now:
        raise LandslideError(
            "say when: --now runs one cycle",
            hint="`landslide retrain --now`, or `landslide schedule` to run cycles on "
            "schedule.cron",
        )
    from landslide.retrain import hold_lock

    params = load_params(params_file)  # bad params fail here, in one line, before Prefect
    _prefect_startup_timeout()
    module = _load_flow("retrain")
    # the lock first: a cycle already running is refused here, in one line, before Prefect
    # starts (inside the flow the refusal would be a failed flow run, logged by Prefect)
    with hold_lock(params, Path(".")):
        _quiet_expected_errors()
        summary = module.retrain(params_file=str(params_file) if params_file else None, force=force)
    _print_cycle(summary, params)


def _print_cycle(summary: dict[str, Any], params: Params) -> None:
    """The decision, the data version, each model's scores, where the comparison is."""
    decision = summary.get("decision", "")
    out.print(
        f"retrain {summary.get('cycle')}: {decision}: {summary.get('reason')}",
        markup=False,
        soft_wrap=True,
    )
    version = summary.get("data_version")
    if version:
        out.print(
            f"data version {version['id']} ({version['method']}; {version['note']})",
            markup=False,
            soft_wrap=True,
        )
    metric = summary["rule"]["metric"]
    for model in [summary.get("champion"), *summary.get("challengers", [])]:
        scores = [
            f"{which} test ({m['images']} photos) {metric} {_score(m, metric)}, "
            f"recall {_score(m, 'recall')}"
            for which in ("fixed", "new")
            if (m := (model or {}).get(which))
        ]
        if scores:
            out.print(f"  {model['label']}: {'; '.join(scores)}", markup=False, soft_wrap=True)
    if summary.get("decision") not in (None, "nothing to do"):
        from landslide.retrain import SUMMARY_MD, cycle_dir

        where = cycle_dir(params.schedule.out_dir, str(summary["cycle"])) / SUMMARY_MD
        out.print(f"comparison: {where}", markup=False, soft_wrap=True)


def _score(metrics: dict[str, Any], name: str) -> str:
    value = metrics.get(name)
    return "n/a" if value is None else f"{value:.3f}"


@app.command("schedule")
def schedule_cmd(
    cron: Annotated[
        str | None, typer.Option("--cron", help="When to run, a cron line [schedule.cron].")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "landslide-retrain",
    params_file: ParamsOption = None,
) -> None:
    """Serve the retraining flow on a cron schedule from this process (Ctrl+C stops it)."""
    params = load_params(params_file).with_values("schedule", validated_as="--cron", cron=cron)
    module = _load_flow("retrain")
    module.serve(params.schedule.cron, str(params_file) if params_file else None, name)
