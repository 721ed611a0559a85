"""`landslide scrape` (search, download, check, de-duplicate: the default command, with
its progress bar) and `landslide scrape report` (what was collected)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.root import ParamsOption, _Group, _print_notes, app
from landslide.console import console, out
from landslide.params import load_params

scrape_app = typer.Typer(
    cls=_Group,
    help="Collect photos from Wikimedia Commons, Openverse and Bing (default command), "
    "with provenance and licences; `report` counts what was collected.",
)


@scrape_app.callback(invoke_without_command=True)
def scrape_cmd(
    ctx: typer.Context,
    queries: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            "-q",
            help="Search text (repeatable; default scrape.queries). "
            "'Category:Landslides' lists a Commons category.",
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            help="commons, openverse, bing: comma-separated or repeated (default scrape.sources).",
        ),
    ] = None,
    max_results: Annotated[
        int | None,
        typer.Option(
            "--max", min=1, help="Search results per query from each source (scrape.max_per_query)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the photos and manifest.csv (scrape.out_dir)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Search, download, check and de-duplicate photos into data/raw/incoming/."""
    if ctx.invoked_subcommand is not None:
        return
    from landslide.scrape import scrape

    p = load_params(params_file).scrape
    names = [n.strip() for s in sources or [] for n in s.split(",") if n.strip()]
    with _scrape_bar() as progress:
        s = scrape(
            out_dir or p.out_dir,
            p,
            queries=queries,
            sources=names or None,
            max_per_query=max_results,
            progress=progress,
        )
    _print_notes(s.notes)
    for error in s.errors:
        console.print(f"[yellow]warning:[/] {error}", markup=True, soft_wrap=True, highlight=False)
    out.print(s.summary_line(), markup=False, soft_wrap=True)


@contextmanager
def _scrape_bar() -> Iterator[Callable[[Any], None]]:
    """Candidates handled of candidates found, with downloaded / duplicates / rejected."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("[bold]scrape"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with bar:
        task = bar.add_task("scrape", total=None, counts="searching")

        def update(c: Any) -> None:
            bar.update(
                task,
                total=c.candidates,
                completed=c.done,
                counts=f"downloaded {c.downloaded}, duplicates {c.duplicates}, "
                f"rejected {c.rejected}, known {c.known}",
            )

        yield update


@scrape_app.command("report")
def scrape_report(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder holding manifest.csv (scrape.out_dir).")
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Photos collected so far per source, licence and query (from manifest.csv)."""
    from rich.table import Table

    from landslide.scrape import manifest_report

    r = manifest_report(out_dir or load_params(params_file).scrape.out_dir)
    for key, counts in r.counts.items():
        table = Table(title=f"photos per {key}")
        table.add_column(key)
        table.add_column("photos", justify="right")
        for name, n in counts.most_common():
            table.add_row(name, str(n))
        out.print(table)
    out.print(r.summary_line(), markup=False, soft_wrap=True)


app.add_typer(scrape_app, name="scrape")
