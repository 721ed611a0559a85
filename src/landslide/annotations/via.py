"""VIA files of every version -> `Annotations`: format detection and one small reader per layout.

Known layouts (detected from the content, not the file name):

| layout | looks like |
| --- | --- |
| VIA 1.x JSON | `{"a.jpg123": {"fileref", "filename", "regions": {"0": {...}}}}` |
| VIA 2.x JSON export | `{"a.jpg123": {"filename", "size", "regions": [...]}}` |
| VIA 2.x project | `_via_settings`, `_via_img_metadata`, `_via_attributes`, ... |
| VIA 3.x project | `project`, `config`, `attribute`, `file`, `view`, `metadata` |
| VIA CSV export (1.x and 2.x) | header `filename,file_size,file_attributes,...` |

Each reader only walks its structure into `RawImage` records; `regions.build_annotations`
does the rest the same way for all (shapes, classes, images, clean-up)::

    ann = read_via(Path("via_project.json"), Path("images"), params.annotations, params.classes)

A VIA attributes file, a COCO file or anything else is refused with an
`AnnotationError` that says what the file is and which layouts are known.
"""

from __future__ import annotations

import csv
import gc
import io
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landslide.annotations.model import Annotations
from landslide.annotations.regions import (
    Options,
    RawImage,
    RawProject,
    build_annotations,
)
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams

LAYOUTS = (
    "VIA 1.x JSON",
    "VIA 2.x JSON export",
    "VIA 2.x project",
    "VIA 3.x project",
    "VIA CSV export",
)
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

# VIA 3 shape ids and the VIA 2 keys their `xy` numbers fill (None: vertices x1, y1, ...)
VIA3_SHAPES: dict[int, tuple[str, tuple[str, ...] | None]] = {
    1: ("point", ("cx", "cy")),
    2: ("rect", ("x", "y", "width", "height")),
    3: ("circle", ("cx", "cy", "r")),
    4: ("ellipse", ("cx", "cy", "rx", "ry")),
    5: ("line", None),
    6: ("polyline", None),
    7: ("polygon", None),
    8: ("extreme_rectangle", None),
    9: ("extreme_circle", None),
}
VIA3_CHECKBOX = 2


@dataclass(frozen=True)
class Document:
    """A parsed annotation file: JSON (`data`) or CSV (`text`)."""

    path: Path
    data: Any = None
    text: str | None = None


def read_via(
    path: str | Path,
    images_dir: Path | None,
    p: AnnotationsParams,
    classes: Sequence[str],
    *,
    review: str | None = None,
) -> Annotations:
    """Read any VIA file (layout auto-detected) into the internal model.

    `images_dir=None` skips the images: names are kept as written (normalised),
    sizes are None and only negative coordinates are clipped. `review` is the policy
    for regions a model pre-filled (`annotate.review`; None keeps every region).
    """
    with paused_gc():
        doc = load_document(path)
        return build_annotations(parse_via(doc), doc.path, images_dir, p, classes, review=review)


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


def parse_via(doc: Document) -> RawProject:
    """The layout of `doc` and its records; AnnotationError for an unknown layout."""
    if doc.text is not None:
        return _csv(doc.text, doc.path)
    return _Reader(doc.path).json(doc.data)


def unknown_layout(path: Path, what: str, *, coco: bool = False) -> AnnotationError:
    known = ", ".join(LAYOUTS + (("COCO instances JSON",) if coco else ()))
    return AnnotationError(f"unknown layout: {what} (known layouts: {known})", file=path)


def _describe_keys(data: dict[str, Any]) -> str:
    keys = [str(k) for k in list(data)[:5]]
    more = ", ..." if len(data) > 5 else ""
    return "top-level keys " + ", ".join(repr(k) for k in keys) + more


# ---------------------------------------------------------------------------- JSON layouts


class _Reader:
    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, message: str, where: str | None = None) -> AnnotationError:
        return AnnotationError(message, file=self.path, where=where)

    def json(self, data: Any) -> RawProject:
        if not isinstance(data, dict):
            raise unknown_layout(self.path, f"a JSON {type(data).__name__} at the top level")
        if "_via_img_metadata" in data:
            return self.via2_project(data)
        if {"project", "file", "metadata"} <= data.keys():
            return self.via3_project(data)
        if {"images", "annotations", "categories"} <= data.keys():
            raise AnnotationError(
                "this is a COCO file, not a VIA file",
                file=self.path,
                hint="read it with load_annotations or read_coco",
            )
        if _is_attributes_file(data):
            raise self.error(
                "this is a VIA attributes file (definitions of region and file attributes), "
                "not annotations: it lists no images or regions. Save the VIA project "
                "(Project > Save) or export the annotations (Annotation > Export as JSON)"
            )
        if not data or any(
            isinstance(v, dict) and ("filename" in v or "regions" in v) for v in data.values()
        ):
            return self.via_export(data)
        raise unknown_layout(self.path, _describe_keys(data))

    def via_export(self, data: dict[str, Any]) -> RawProject:
        images = self.entries(data, "")
        version1 = any(
            isinstance(v, dict)
            and ("fileref" in v or "base64_img_data" in v or isinstance(v.get("regions"), dict))
            for v in data.values()
        )
        return RawProject("VIA 1.x JSON" if version1 else "VIA 2.x JSON export", images)

    def via2_project(self, data: dict[str, Any]) -> RawProject:
        metadata = data["_via_img_metadata"]
        if not isinstance(metadata, dict):
            raise self.error("_via_img_metadata is not an object", "_via_img_metadata")
        attributes = data.get("_via_attributes")
        attributes = attributes if isinstance(attributes, dict) else {}
        return RawProject(
            "VIA 2.x project",
            self.entries(metadata, "_via_img_metadata"),
            region_options=_via2_options(attributes.get("region")),
            file_options=_via2_options(attributes.get("file")),
        )

    def entries(self, metadata: dict[str, Any], parent: str) -> list[RawImage]:
        """VIA 1/2 image entries (`filename`, `regions` as a list or a dict)."""
        images = []
        for key, entry in metadata.items():
            where = f"{parent}.{key}" if parent else f"entry {key!r}"
            if not isinstance(entry, dict):
                raise self.error(f"expected an image object, got {_kind(entry)}", where)
            regions, indices = entry.get("regions", []), None
            if isinstance(regions, dict):  # VIA 1: {"0": {...}, "1": {...}}
                indices = [_index(k, i) for i, k in enumerate(regions)]
                regions = list(regions.values())
            elif not isinstance(regions, list):
                raise self.error(f"'regions' must be a list, got {_kind(regions)}", where)
            attributes = entry.get("file_attributes")
            images.append(RawImage(entry.get("filename"), where, regions, attributes, indices))
        return images

    def via3_project(self, data: dict[str, Any]) -> RawProject:
        files, views, metadata = (self.section(data, k) for k in ("file", "view", "metadata"))
        attributes = data.get("attribute")
        attributes = attributes if isinstance(attributes, dict) else {}
        names, options, checkbox = _via3_attributes(attributes)
        images = {}
        for fid, f in files.items():
            if not isinstance(f, dict):
                raise self.error(f"expected a file object, got {_kind(f)}", f"file {fid}")
            images[str(fid)] = RawImage(f.get("fname"), f"file {fid}", [], {})
        by_view = self.via3_views(views, images)
        warnings = []
        for mid, m in metadata.items():
            where = f"metadata {mid!r}"
            if not isinstance(m, dict):
                raise self.error(f"expected an object, got {_kind(m)}", where)
            image = by_view.get(str(m.get("vid")))
            if image is None:
                raise self.error(f"view {m.get('vid')!r} not found in 'view'", where)
            av = m.get("av", {})
            if not isinstance(av, dict):
                raise self.error(f"'av' must be an object, got {_kind(av)}", where)
            values = {
                names.get(k, k): _via3_value(v, checkbox.get(k, False)) for k, v in av.items()
            }
            xy, z = m.get("xy", []), m.get("z", [])
            if z:
                warnings.append(f"{self.path}: {where}: temporal segment (z) skipped")
            elif not xy:
                image.attributes.update(values)
            else:
                shape = self.via3_shape(xy, where)
                image.regions.append({"shape_attributes": shape, "region_attributes": values})
        return RawProject(
            "VIA 3.x project", list(images.values()), options, options, warnings=warnings
        )

    def section(self, data: dict[str, Any], key: str) -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.error(f"'{key}' must be an object, got {_kind(value)}", key)
        return value

    def via3_views(self, views: dict[str, Any], images: dict[str, RawImage]) -> dict[str, RawImage]:
        by_view = {}
        for vid, view in views.items():
            fids = view.get("fid_list") if isinstance(view, dict) else None
            if not isinstance(fids, list) or not fids:
                raise self.error("expected an object with a non-empty 'fid_list'", f"view {vid}")
            image = images.get(str(fids[0]))
            if image is None:
                raise self.error(f"file {fids[0]!r} not found in 'file'", f"view {vid}")
            by_view[str(vid)] = image
        return by_view

    def via3_shape(self, xy: Any, where: str) -> dict[str, Any]:
        if not isinstance(xy, list) or type(xy[0]) is not int or xy[0] not in VIA3_SHAPES:
            raise self.error(
                f"'xy' must start with a shape id 1-9, got {str(xy)[:40]}",
                where,
            )
        name, keys = VIA3_SHAPES[xy[0]]
        values = xy[1:]
        if keys is not None:
            if len(values) != len(keys):
                raise self.error(
                    f"a {name} needs {len(keys)} numbers in 'xy' ({', '.join(keys)}), "
                    f"got {len(values)}",
                    where,
                )
            return {"name": name, **dict(zip(keys, values, strict=True))}
        if len(values) % 2:
            raise self.error(f"a {name} needs x, y pairs in 'xy', got {len(values)} numbers", where)
        return {"name": name, "all_points_x": values[0::2], "all_points_y": values[1::2]}


def _is_attributes_file(data: dict[str, Any]) -> bool:
    """A VIA 2 attributes export: only `region` and/or `file`, each of attribute definitions."""
    if not data or not data.keys() <= {"region", "file"}:
        return False
    return all(
        isinstance(defs, dict) and all(isinstance(d, dict) and "type" in d for d in defs.values())
        for defs in data.values()
    )


def _via2_options(definitions: Any) -> Options:
    """Option id -> label of each dropdown, radio and checkbox attribute."""
    if not isinstance(definitions, dict):
        return {}
    out: Options = {}
    for name, d in definitions.items():
        options = d.get("options") if isinstance(d, dict) else None
        if isinstance(options, dict):
            out[str(name)] = {str(k): v for k, v in options.items() if isinstance(v, str)}
    return out


def _via3_attributes(
    attributes: dict[str, Any],
) -> tuple[dict[str, str], Options, dict[str, bool]]:
    names, options, checkbox = {}, {}, {}
    for aid, d in attributes.items():
        if not isinstance(d, dict):
            continue
        name = d.get("aname")
        names[aid] = name = name if isinstance(name, str) and name else str(aid)
        opts = d.get("options")
        if isinstance(opts, dict) and opts:
            options[name] = {str(k): v for k, v in opts.items() if isinstance(v, str)}
        checkbox[aid] = d.get("type") == VIA3_CHECKBOX
    return names, options, checkbox


def _via3_value(value: Any, checkbox: bool) -> Any:
    """A VIA 3 checkbox value `"id1,id2"` as a VIA 2 checkbox object."""
    if checkbox and isinstance(value, str):
        return {part: True for part in value.split(",") if part}
    return value


def _index(key: Any, position: int) -> int:
    return int(key) if isinstance(key, str) and key.isdigit() and len(key) < 10 else position


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


# ---------------------------------------------------------------------------- CSV


def _csv(text: str, path: Path) -> RawProject:
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
