"""Rendering: the page as blocks, as Markdown or self-contained HTML; the loss plot; cells."""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landslide.evaluate.outputs import markdown_table
from landslide.evaluate.plots import save_figure
from landslide.report.runs import Run

MISSING = "—"  # a run or an epoch this run does not have
UNDEFINED = "n/a"  # a metric the run has but that is undefined (zero division)


@dataclass
class Block:
    """One piece of the page: heading, paragraph, bullets, table or image."""

    kind: str
    text: str = ""
    level: int = 2
    items: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    image: Path | None = None


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level=level)


def para(text: str) -> Block:
    return Block("para", text)


def bullets(items: Iterable[str]) -> Block:
    return Block("bullets", items=list(items))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Block:
    return Block("table", headers=list(headers), rows=[list(r) for r in rows])


def image(path: Path, alt: str) -> Block:
    return Block("image", alt, image=path)


def render_markdown(blocks: Sequence[Block], base: Path) -> str:
    parts = []
    for b in blocks:
        if b.kind == "heading":
            parts.append(f"{'#' * b.level} {b.text}\n")
        elif b.kind == "para":
            parts.append(b.text + "\n")
        elif b.kind == "bullets":
            parts.append("".join(f"- {item}\n" for item in b.items))
        elif b.kind == "table":
            parts.append(markdown_table(b.headers, b.rows))
        elif b.kind == "image" and b.image is not None:
            rel = Path(os.path.relpath(b.image, base)).as_posix()
            parts.append(f"![{b.text}]({rel})\n")
    return "\n".join(parts)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1.2rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; margin: 0.3rem 0.3rem 0.3rem 0; vertical-align: top; }
figure { display: inline-block; margin: 0 0.6rem 0.6rem 0; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
    ]
    for b in blocks:
        if b.kind == "heading":
            parts.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
        elif b.kind == "para":
            parts.append(f"<p>{esc(b.text)}</p>")
        elif b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{esc(str(h))}</th>" for h in b.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "image" and b.image is not None and b.image.is_file():
            parts.append(
                f'<figure><img src="{data_uri(b.image)}" alt="{esc(b.text)}">'
                f"<figcaption>{esc(b.text)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def plot_losses(runs: Sequence[Run], path: Path) -> bool:
    """Every run's train (solid) and val (dashed) total loss on one plot; False if none."""
    curves = [(r, r.losses) for r in runs if r.losses]
    if not curves:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, (run, rows) in enumerate(curves):
        colour = f"C{i}"
        for column, style, suffix in (("train_total", "o-", "train"), ("val_total", "s--", "val")):
            points = [
                (float(row["epoch"]), float(row[column]))
                for row in rows
                if row.get(column) not in (None, "") and row.get("epoch") not in (None, "")
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, color=colour, ms=3, label=f"{run.name} {suffix}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("total loss")
    ax.set_title("Mask R-CNN training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return True


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any, digits: int, empty: str) -> str:
    if value is None or value == "":
        return empty
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _percent(value: Any) -> str:
    if value in (None, ""):
        return MISSING
    return f"{100 * float(value):.0f}%"


def _or(value: Any) -> str:
    return MISSING if value is None else str(value)


def _distinct(values: Iterable[str]) -> str:
    seen = list(dict.fromkeys(v for v in values if v and v != "None"))
    return ", ".join(seen) if seen else MISSING
