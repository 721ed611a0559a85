"""`landslide curate serve | status | apply`: the curation checkpoint (the gallery page,
what still waits for a person, accepted photos into the curated set)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.root import ParamsOption, _Group, _print_notes, _print_warnings, app
from landslide.console import console, out
from landslide.params import load_params

curate_app = typer.Typer(
    cls=_Group,
    help="The curation checkpoint: a gallery to accept, reject and label photos; apply.",
    no_args_is_help=True,
)


@curate_app.command("serve")
def curate_serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind [curate.host, 127.0.0.1]; others warn."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port [curate.port]; 0 = any free port."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Serve the gallery page on 127.0.0.1 and print its URL (Ctrl+C to stop)."""
    from landslide.curate.app import is_loopback, serve

    params = load_params(params_file)
    host = host or params.curate.host
    if not is_loopback(host):
        console.print(
            f"[yellow]warning:[/] binding {host}: anyone who can reach this address can "
            "change the decisions (the page has no login)",
            markup=True,
            soft_wrap=True,
        )

    def ready(url: str, catalogue: Any) -> None:
        _print_warnings(catalogue.warnings)
        out.print(
            f"curate: {len(catalogue.photos)} photos at {url} (Ctrl+C to stop)",
            markup=False,
            soft_wrap=True,
        )

    serve(
        params,
        Path("."),
        host=host,
        port=params.curate.port if port is None else port,
        on_ready=ready,
    )


@curate_app.command("status")
def curate_status(params_file: ParamsOption = None) -> None:
    """Count decided, undecided and unannotated photos (curated set and scrape manifest)."""
    from landslide.curate import checkpoint

    params = load_params(params_file)
    s = checkpoint(params, Path("."))
    labels = ", ".join(f"{k} {v}" for k, v in sorted(s.labels.items())) or "none"
    out.print(
        f"photos: {s.photos} ({s.incoming} scraped, not in the curated set)\n"
        f"accepted: {s.accepted}\nrejected: {s.rejected}\nundecided: {len(s.undecided)}\n"
        f"labels: {labels}\n"
        f"accepted, not applied: {len(s.unapplied)}\n"
        f"accepted landslide photos without a polygon: {len(s.unannotated)}\n"
        f"waiting for a person: {s.waiting}",
        markup=False,
        soft_wrap=True,
    )


@curate_app.command("apply")
def curate_apply(
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Move rejected photos out of the curated set (rejected/)."),
    ] = False,
    prefill: Annotated[
        str | None,
        typer.Option(
            "--prefill",
            help="Model that outlines the new photos (model.pt, runs:/…, models:/name@alias) "
            "(default annotate.prefill_model; '' = off).",
            show_default=False,
        ),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Copy accepted photos into data/raw/images, extend provenance.csv and the VIA project."""
    from landslide.curate import CurationPaths, apply_decisions

    params = load_params(params_file)
    paths = CurationPaths.from_params(params, Path("."))
    s = apply_decisions(paths, params, prune=prune, prefill=prefill)
    _print_notes(s.notes)
    if s.rejected_in_set:
        names = ", ".join(s.rejected_in_set[:5]) + (" ..." if len(s.rejected_in_set) > 5 else "")
        console.print(
            f"[yellow]warning:[/] {len(s.rejected_in_set)} rejected photos are still in "
            f"{paths.images_dir} ({names}); --prune moves them out",
            markup=True,
            soft_wrap=True,
        )
    out.print(s.summary_line(), markup=False, soft_wrap=True)


app.add_typer(curate_app, name="curate")
