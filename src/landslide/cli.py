"""`landslide` command line: one sub-command per stage, in pipeline order.

Each command reads Params, calls its stage function in one line and prints a
one-line summary. Bad input raises a `LandslideError`; it is printed as
`error: …` in one or two lines and the command exits with status 2
(`landslide --debug …` shows the traceback instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from landslide import __version__
from landslide.console import console, out, track
from landslide.errors import LandslideError
from landslide.params import Params, load_params

EXIT_USER_ERROR = 2


class _Group(TyperGroup):
    """Turns LandslideError into a short message and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # pipeline order, not alphabetical

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
params_app = typer.Typer(cls=_Group, help="Show and check the pipeline's parameters.")

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


# ---------------------------------------------------------------------------- sample


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the sample into.")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="Number of photos.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty --out.")] = False,
    params_file: ParamsOption = None,
) -> None:
    """Write the embedded synthetic sample: photos, a VIA project, provenance, decisions."""
    from landslide.sample import generate_sample

    params = load_params(params_file)
    p = params.sample.model_copy(
        update={k: v for k, v in {"n": n, "seed": seed}.items() if v is not None}
    )
    with track(p.n, "sample") as advance:
        s = generate_sample(out_dir, p, params.classes, force=force, progress=advance)
    regions = ", ".join(f"{k} {v}" for k, v in s.regions.items())
    out.print(
        f"sample: {s.images} photos ({s.landslide_images} landslide, {s.negative_images} "
        f"without; {s.exif_rotated} EXIF-rotated), regions: {regions} -> {s.out_dir}"
    )


# ---------------------------------------------------------------------------- params


@params_app.command("show")
def params_show(
    params_file: ParamsOption = None,
    section: Annotated[
        str | None, typer.Option("--section", "-s", help="Show one section only.")
    ] = None,
) -> None:
    """Print the resolved parameters (after `extends:` and validation) as YAML."""
    params = load_params(params_file)
    if section is None:
        out.print(params.to_yaml(), end="", markup=False)
        return
    if section not in Params.model_fields:
        raise LandslideError(
            f"unknown section '{section}' (known: {', '.join(Params.model_fields)})"
        )
    import yaml

    value = getattr(params, section)
    dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    out.print(yaml.safe_dump({section: dumped}, sort_keys=False), end="", markup=False)


@params_app.command("check")
def params_check(params_file: ParamsOption = None) -> None:
    """Validate a params file; exit 2 naming the first bad key."""
    load_params(params_file)
    out.print(f"params: ok ({params_file or 'params.yaml'})")


app.add_typer(params_app, name="params")


def main() -> None:  # pragma: no cover - console entry point
    app()
