"""VIA files of every version -> `Annotations`: format detection and one small reader per layout.

Known layouts (detected from the content, not the file name):

| layout | looks like |
| --- | --- |
| VIA 1.x JSON | `{"a.jpg123": {"fileref", "filename", "regions": {"0": {...}}}}` |
| VIA 2.x JSON export | `{"a.jpg123": {"filename", "size", "regions": [...]}}` |
| VIA 2.x project | `_via_settings`, `_via_img_metadata`, `_via_attributes`, ... |
| VIA 3.x project | `project`, `config`, `attribute`, `file`, `view`, `metadata` |
| VIA CSV export (1.x and 2.x) | header `filename,file_size,file_attributes,...` |

The file is read and parsed by `document.load_document`; the JSON layouts are read here,
the CSV export in `via_csv`. Each reader only walks its structure into `RawImage` records
(`records`); `regions.build_annotations` does the rest the same way for all (shapes,
classes, images, clean-up)::

    ann = read_via(Path("via_project.json"), Path("images"), params.annotations, params.classes)

A VIA attributes file, a COCO file or anything else is refused with an
`AnnotationError` that says what the file is and which layouts are known.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

# load_document and paused_gc are imported from here too (coco, stage, benchmarks)
from landslide.annotations.document import Document, load_document, paused_gc, unknown_layout
from landslide.annotations.model import Annotations
from landslide.annotations.records import Options, RawImage, RawProject
from landslide.annotations.regions import build_annotations
from landslide.annotations.via_csv import parse_csv
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams

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


def parse_via(doc: Document) -> RawProject:
    """The layout of `doc` and its records; AnnotationError for an unknown layout."""
    if doc.text is not None:
        return parse_csv(doc.text, doc.path)
    return _Reader(doc.path).json(doc.data)


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
