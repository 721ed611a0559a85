"""VIA CSV exports (1.x and 2.x) -> `RawProject`: one row per region, JSON in the cells.

The header names the columns (`filename,file_size,file_attributes,...`); rows of the same
file name are one image, a row with an empty shape is an image without regions.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from landslide.annotations.document import unknown_layout
from landslide.annotations.records import RawImage, RawProject
from landslide.errors import AnnotationError

CSV_COLUMNS = (
    "filename",
    "file_size",
    "file_attributes",
    "region_count",
    "region_id",
    "region_shape_attributes",
    "region_attributes",
)
CSV_REQUIRED = ("filename", "region_shape_attributes", "region_attributes")


def parse_csv(text: str, path: Path) -> RawProject:
    """The records of a VIA CSV export; AnnotationError names the line."""
    try:
        return _csv_records(text, path)
    except csv.Error as exc:
        raise AnnotationError(f"not a readable CSV file: {exc}", file=path) from None


def _csv_records(text: str, path: Path) -> RawProject:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = [h.strip() for h in next(reader)]
    if header:
        header[0] = header[0].lstrip("#").strip()
    missing = [c for c in CSV_REQUIRED if c not in header]
    if missing:
        looks_csv = len(header) > 1 or any(c in header for c in CSV_COLUMNS)
        if not looks_csv:
            first = text.lstrip().splitlines()[0][:40]
            raise unknown_layout(path, f"neither JSON nor a VIA CSV export (starts {first!r})")
        raise AnnotationError(
            f"CSV is missing the column(s) {', '.join(missing)} "
            f"(found: {', '.join(header)}; a VIA CSV export has {', '.join(CSV_COLUMNS)})",
            file=path,
            where="line 1",
        )
    images: dict[str, RawImage] = {}
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue
        line = reader.line_num
        if len(row) != len(header):
            raise AnnotationError(
                f"expected {len(header)} columns, got {len(row)}", file=path, where=f"line {line}"
            )
        record = dict(zip(header, row, strict=True))
        _csv_row(record, line, images, path)
    return RawProject("VIA CSV export", list(images.values()))


def _csv_row(record: dict[str, str], line: int, images: dict[str, RawImage], path: Path) -> None:
    name = record["filename"]
    image = images.get(name)
    if image is None:
        file_attributes = _cell(
            record.get("file_attributes") or "{}", "file_attributes", line, path
        )
        image = RawImage(name, f"line {line}", [], file_attributes, lines=[])
        images[name] = image
    shape = _cell(record["region_shape_attributes"], "region_shape_attributes", line, path)
    attributes = _cell(record["region_attributes"], "region_attributes", line, path)
    if shape == {} or shape is None:
        return  # a row for an image without regions
    # Regions are numbered by position, as in the JSON: exports of merged projects repeat
    # region_id 0 for the same photo on several lines.
    image.regions.append({"shape_attributes": shape, "region_attributes": attributes})
    image.lines.append(line)


def _cell(text: str, column: str, line: int, path: Path) -> Any:
    if not text.strip():
        return {}
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not valid JSON"
        raise AnnotationError(
            f"column {column} is not valid JSON: {detail}", file=path, where=f"line {line}"
        ) from None
