"""The root `landslide` app: pipeline-order listing, short errors, shared options.

A `LandslideError` raised by any command is printed as `error: …` in one or two
lines and the command exits with status 2 (`landslide --debug …` shows the
traceback instead). The command groups (`landslide.cli.data`, …) register their
commands on `app` and share `ParamsOption` and the warning printers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from landslide import __version__
from landslide.console import console, out
from landslide.errors import LandslideError

EXIT_USER_ERROR = 2
PIPELINE_ORDER = (
    "sample",
    "scrape",
    "curate",
    "data",
    "annotations",
    "prepare",
    "validate",
    "split",
    "augment",
    "train",
    "evaluate",
    "report",
    "predict",
    "predict-raster",
    "model",
    "export",
    "flow",
    "retrain",
    "schedule",
    "params",
)


class _Group(TyperGroup):
    """Turns LandslideError into a short message and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Pipeline order, not alphabetical."""
        known = {name: i for i, name in enumerate(PIPELINE_ORDER)}
        return sorted(self.commands, key=lambda name: known.get(name, len(known)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LandslideError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            first, *rest = exc.render().splitlines()
            console.print(f"[bold red]error:[/] {first}", markup=True, soft_wrap=True)
            for line in rest:
                console.print(line, markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None


app = typer.Typer(
    cls=_Group,
    help="Landslide detection with Mask R-CNN: sample, prepare, train, evaluate, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Options several commands share (same flag, same help).
PhotosOption = Annotated[Path, typer.Option("--images", help="Directory holding the photos.")]
BackboneOption = Annotated[str, typer.Option("--backbone", "-b", help="resnet50 or resnet101.")]
SetOption = Annotated[str, typer.Option("--set", help="Set A or B.")]
ModelsOption = Annotated[
    Path | None, typer.Option("--models", help="Models root (default train.models_dir).")
]
DeviceOption = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        "-p",
        envvar="LANDSLIDE_PARAMS",
        help="Params file (default params.yaml; params.demo.yaml for the demo profile).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"landslide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="LANDSLIDE_DEBUG", help="Show tracebacks.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}


# ---------------------------------------------------------------------------- warnings

MAX_WARNINGS = 20


def _print_warnings(warnings: list[str]) -> None:
    for line in warnings[:MAX_WARNINGS]:
        console.print(f"[yellow]warning:[/] {line}", markup=True, soft_wrap=True, highlight=False)
    if len(warnings) > MAX_WARNINGS:
        console.print(f"... and {len(warnings) - MAX_WARNINGS} more warnings", soft_wrap=True)


def _print_plain_warnings(warnings: list[str]) -> None:
    from rich.markup import escape

    _print_warnings([escape(w) for w in warnings])


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)


def main() -> None:  # pragma: no cover - console entry point
    app()
