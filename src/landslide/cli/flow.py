"""`landslide flow run | resume`: the whole pipeline as a Prefect flow; loading a flow
from `flows/` and keeping Prefect's log lines about user errors to one line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.root import ParamsOption, _Group, app
from landslide.console import out
from landslide.errors import LandslideError
from landslide.params import load_params
from landslide.stages import PIPELINE

flow_app = typer.Typer(cls=_Group, help="Run the whole pipeline as a Prefect flow.")


def _load_flow(name: str) -> Any:
    """A flow object from `flows/<name>.py` of the project in the current directory."""
    import importlib.util

    path = Path("flows") / f"{name}.py"
    if not path.exists():
        raise LandslideError(
            "flow file not found", file=path, hint="run from the project root (where dvc.yaml is)"
        )
    spec = importlib.util.spec_from_file_location(f"landslide_flows_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task with its traceback, and the error's repr (`\\n` and all)
    in "Encountered exception" and "Finished in state Failed(...)" lines. A LandslideError
    (bad input, a failed validation) is the user's to fix and the CLI prints it in one or
    two lines itself: Prefect's lines about it lose the traceback and become one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LandslideError):
            record.exc_info, record.exc_text = None, None
        if record.name.startswith("prefect"):
            message = record.getMessage()
            if "\\n" in message or "\n" in message:  # a repr's escapes, or a real newline
                record.msg, record.args = " ".join(message.replace("\\n", " ").split()), ()
        return True


def _quiet_expected_errors() -> None:
    for name in ("", "prefect"):  # Prefect's console handler sits on the root logger
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_NoTracebackForUserErrors())


def _prefect_startup_timeout() -> None:
    # Prefect's temporary API gives up after 20 s; a busy 2-core machine needs longer
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")


FLOW_STAGES = PIPELINE


@flow_app.command("run")
def flow_run(
    params_file: ParamsOption = None,
    until: Annotated[
        str, typer.Option("--until", help=f"Stop after this stage ({', '.join(FLOW_STAGES)}).")
    ] = "report",
) -> None:
    """Checkpoint, prepare, validate, split, augment, train, evaluate, report.

    Finished stages are skipped (same fingerprints as `dvc repro`). Runs against a
    temporary local Prefect API, or against a Prefect server when PREFECT_API_URL is set.
    A stage's LandslideError (e.g. a failed validation) stops the flow and prints here.
    """
    load_params(params_file)  # bad params fail here, in one line, before Prefect starts
    _prefect_startup_timeout()
    if until not in FLOW_STAGES:
        raise LandslideError(f"--until: unknown stage {until!r} (known: {', '.join(FLOW_STAGES)})")
    module = _load_flow("pipeline")
    _quiet_expected_errors()
    results = module.pipeline(params_file=str(params_file) if params_file else None, until=until)
    for stage, result in results.items():
        out.print(f"{stage}: {result}", markup=False, soft_wrap=True)


@flow_app.command("resume")
def flow_resume(
    note: Annotated[str, typer.Option("--note", help="A note stored with the input.")] = "",
) -> None:
    """Resume the paused pipeline runs (needs a Prefect server: PREFECT_API_URL)."""
    import asyncio

    resumed = asyncio.run(_resume_paused(note))
    if not resumed:
        raise LandslideError(
            "no paused pipeline run found",
            hint="pause/resume across processes needs `prefect server start` and PREFECT_API_URL",
        )
    out.print(f"flow: resumed {', '.join(resumed)}", markup=False)


async def _resume_paused(note: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.flow_runs import aresume_flow_run

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["landslide-pipeline"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
            ),
        )
    for run in runs:
        await aresume_flow_run(run.id, run_input={"done": True, "note": note})
    return [run.name for run in runs]


app.add_typer(flow_app, name="flow")
