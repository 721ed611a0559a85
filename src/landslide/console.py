"""Terminal output shared by the CLI: one rich console on stderr, progress bars.

Stage functions stay free of rich; they accept a `progress` callback, and the
CLI passes the one `track()` yields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)  # stdout, for results a user may pipe


@contextmanager
def track(total: int, description: str) -> Iterator[Callable[[int], None]]:
    """A progress bar; yields `advance(n)` for the stage to call."""
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)
