"""An annotation file read and parsed, for the VIA and COCO readers alike.

`load_document` reads a file as JSON or CSV (the first character decides) and turns every
read, decode and parse failure into an `AnnotationError` naming the line and column;
`paused_gc` speeds up building the large tree of a big file; `unknown_layout` is the
error for a file of no known layout, listing the layouts there are.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landslide.errors import AnnotationError

LAYOUTS = (
    "VIA 1.x JSON",
    "VIA 2.x JSON export",
    "VIA 2.x project",
    "VIA 3.x project",
    "VIA CSV export",
)


@dataclass(frozen=True)
class Document:
    """A parsed annotation file: JSON (`data`) or CSV (`text`)."""

    path: Path
    data: Any = None
    text: str | None = None


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large, acyclic tree is built.

    Parsing and converting a big file allocates millions of small containers and
    none of them form cycles; without the pause, collections triggered by the
    allocations traverse the growing tree again and again (about half the time).
    The pause is process-wide and ends with the block, whatever happens in it.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_document(path: str | Path) -> Document:
    """Read and parse a file as JSON or CSV; AnnotationError names the line and column."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AnnotationError(f"cannot read: {exc.strerror or exc}", file=path) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AnnotationError(
            f"not UTF-8 text (bad byte at offset {exc.start}): not a VIA or COCO file", file=path
        ) from None
    head = text.lstrip()
    if not head:
        raise AnnotationError("the file is empty", file=path)
    if head[0] in "{[":
        return Document(path, data=_parse_json(text, path))
    return Document(path, text=text)


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at_end = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        truncated = " (the file looks truncated)" if at_end else ""
        raise AnnotationError(
            f"not valid JSON: {exc.msg}{truncated}",
            file=path,
            where=f"line {exc.lineno}, column {exc.colno}",
        ) from None
    except RecursionError:
        raise AnnotationError("not valid JSON: nested too deeply", file=path) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise AnnotationError(f"not valid JSON: {exc}", file=path) from None


def unknown_layout(path: Path, what: str, *, coco: bool = False) -> AnnotationError:
    known = ", ".join(LAYOUTS + (("COCO instances JSON",) if coco else ()))
    return AnnotationError(f"unknown layout: {what} (known layouts: {known})", file=path)
