"""The internal model -> VIA files (2.x project, 1.x JSON, 3.x project).

`via2_project` builds exactly the structure VIA 2.0.10 saves (`_via_settings`,
`_via_img_metadata` keyed by filename + byte size, `_via_attributes` with the class
attribute as a dropdown of the classes, `_via_data_format_version`,
`_via_image_id_list`); regions are labelled and coloured by class. Rect regions
that are still axis-aligned rectangles are written as rects, every other region
as a polygon (polylines stay polylines where the format has them); other region
and file attributes are written as text attributes (but a `source` attribute of
model-assisted annotation, model or human, is a dropdown defaulting to human, so that the
regions an annotator draws are marked human). Reading a written file gives
back the same regions (`read_via(write_via2(ann)) == ann` for integer polygons).

`template_project` writes a VIA 2 project listing the photos of a directory with no
regions (or those of an existing annotation file), ready to annotate: open VIA
2.0.10, Project > Load, and add the photos with Add Files if VIA cannot find them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from landslide.annotations.images import ImageDir
from landslide.annotations.model import (
    HUMAN_SOURCE,
    MODEL_SOURCE,
    SOURCE_ATTRIBUTE,
    Annotations,
    ImageAnn,
    Region,
)
from landslide.io import write_json

VIA2_VERSION = "2.0.10"
VIA3_VERSION = "3.1.1"
VIA_CREATOR = "VGG Image Annotator (http://www.robots.ox.ac.uk/~vgg/software/via)"
VIA3_SHAPE_IDS = {"rect": 2, "polyline": 6, "polygon": 7}
VIA3_TEXT, VIA3_SELECT = 1, 4
VIA3_IMAGE, VIA3_LOCAL = 2, 1


# ---------------------------------------------------------------------------- shapes


def shape_attributes(region: Region, *, polyline: bool = True) -> dict[str, Any]:
    """VIA 1/2 `shape_attributes` of a region."""
    box = _rect(region)
    if box is not None:
        x, y, w, h = box
        return {"name": "rect", "x": x, "y": y, "width": w, "height": h}
    name = "polyline" if polyline and region.shape == "polyline" else "polygon"
    return {
        "name": name,
        "all_points_x": [p[0] for p in region.polygon],
        "all_points_y": [p[1] for p in region.polygon],
    }


def _rect(region: Region) -> tuple[Any, Any, Any, Any] | None:
    """(x, y, w, h) when a rect region is still the rectangle the reader made of it."""
    if region.shape != "rect" or len(region.polygon) != 4:
        return None
    (x0, y0), (x1, y1), (x2, y2), (x3, y3) = region.polygon
    if (y1, x2, x3, y3) == (y0, x1, x0, y2) and x1 > x0 and y2 > y0:
        return x0, y0, x1 - x0, y2 - y0
    return None


def _region_attributes(region: Region, class_attribute: str) -> dict[str, str]:
    out = {class_attribute: region.label}
    for name, value in region.attributes:
        out.setdefault(name, value)
    return out


def _attribute_names(pairs: Iterable[tuple[str, str]], exclude: str = "") -> list[str]:
    return [n for n in dict.fromkeys(name for name, _ in pairs) if n != exclude]


# ---------------------------------------------------------------------------- VIA 2


def via2_project(
    ann: Annotations,
    classes: Sequence[str],
    class_attribute: str,
    *,
    sizes: dict[str, int] | None = None,
    default_filepath: str = "",
    name: str = "landslide",
) -> dict[str, Any]:
    """A VIA 2.0.10 project; `sizes` gives byte sizes for the keys (-1 when unknown)."""
    sizes = sizes or {}
    metadata = {}
    for image in ann.images:
        size = sizes.get(image.file_name, -1)
        metadata[f"{image.file_name}{size}"] = {
            "filename": image.file_name,
            "size": size,
            "regions": [
                {
                    "shape_attributes": shape_attributes(r),
                    "region_attributes": _region_attributes(r, class_attribute),
                }
                for r in image.regions
            ],
            "file_attributes": dict(image.attributes),
        }
    return {
        "_via_settings": _via2_settings(class_attribute, default_filepath, name),
        "_via_img_metadata": metadata,
        "_via_attributes": _via2_attributes(ann, classes, class_attribute),
        "_via_data_format_version": VIA2_VERSION,
        "_via_image_id_list": list(metadata),
    }


def _via2_settings(class_attribute: str, default_filepath: str, name: str) -> dict[str, Any]:
    return {
        "ui": {
            "annotation_editor_height": 25,
            "annotation_editor_fontsize": 0.8,
            "leftsidebar_width": 18,
            "image_grid": {
                "img_height": 80,
                "rshape_fill": "none",
                "rshape_fill_opacity": 0.3,
                "rshape_stroke": "yellow",
                "rshape_stroke_width": 2,
                "show_region_shape": True,
                "show_image_policy": "all",
            },
            "image": {
                "region_label": class_attribute,
                "region_color": class_attribute,
                "region_label_font": "10px Sans",
                "on_image_annotation_editor_placement": "NEAR_REGION",
            },
        },
        "core": {"buffer_size": 18, "filepath": {}, "default_filepath": default_filepath},
        "project": {"name": name},
    }


def _via2_attributes(
    ann: Annotations, classes: Sequence[str], class_attribute: str
) -> dict[str, Any]:
    text = {"type": "text", "description": "", "default_value": ""}
    region = {
        class_attribute: {
            "type": "dropdown",
            "description": "what the region shows",
            "options": {c: c for c in classes},
            "default_options": {},
        }
    }
    region_pairs = list(chain.from_iterable(r.attributes for im in ann.images for r in im.regions))
    for name in _attribute_names(region_pairs, class_attribute):
        region[name] = dict(text)
    if SOURCE_ATTRIBUTE in region and _review_values(region_pairs):
        region[SOURCE_ATTRIBUTE] = {
            "type": "dropdown",
            "description": "model: pre-filled, not checked yet; human: checked or drawn",
            "options": {MODEL_SOURCE: MODEL_SOURCE, HUMAN_SOURCE: HUMAN_SOURCE},
            "default_options": {HUMAN_SOURCE: True},  # regions the annotator draws
        }
    file_pairs = chain.from_iterable(im.attributes for im in ann.images)
    return {"region": region, "file": {n: dict(text) for n in _attribute_names(file_pairs)}}


def _review_values(pairs: Iterable[tuple[str, str]]) -> bool:
    """Whether every `source` value is model or human (then it is written as a dropdown)."""
    known = {MODEL_SOURCE, HUMAN_SOURCE, ""}
    return all(value in known for name, value in pairs if name == SOURCE_ATTRIBUTE)


def write_via2(
    ann: Annotations,
    path: str | Path,
    classes: Sequence[str],
    class_attribute: str,
    *,
    images_dir: Path | None = None,
) -> None:
    """Write a VIA 2.0.10 project (keys use the byte sizes of `images_dir`'s files)."""
    path = Path(path)
    sizes = _byte_sizes(ann, images_dir) if images_dir is not None else None
    project = via2_project(
        ann,
        classes,
        class_attribute,
        sizes=sizes,
        default_filepath=_default_filepath(path, images_dir),
        name=path.stem,
    )
    write_json(path, project, indent=None)


def _byte_sizes(ann: Annotations, images_dir: Path) -> dict[str, int]:
    out = {}
    for image in ann.images:
        file = images_dir / image.file_name
        if file.is_file():
            out[image.file_name] = file.stat().st_size
    return out


def _default_filepath(project: Path, images_dir: Path | None) -> str:
    """The images directory relative to the project, with a trailing slash (VIA's form)."""
    if images_dir is None:
        return ""
    try:
        rel = os.path.relpath(Path(images_dir).resolve(), project.resolve().parent)
    except ValueError:  # another drive on Windows
        rel = str(Path(images_dir).resolve())
    return Path(rel).as_posix().rstrip("/") + "/"


def template_project(
    images_dir: Path,
    out: str | Path,
    classes: Sequence[str],
    class_attribute: str,
    ann: Annotations | None = None,
) -> Annotations:
    """Write a VIA 2 project for the photos of `images_dir`, ready to annotate.

    Without `ann` every photo is listed with no regions; with `ann` its images and
    regions are written (the keys still use the byte sizes of the files).
    """
    if ann is None:
        names = ImageDir(Path(images_dir)).images()
        ann = Annotations(images=[ImageAnn(n) for n in names], source=str(images_dir))
    write_via2(ann, out, classes, class_attribute, images_dir=Path(images_dir))
    return ann


# ---------------------------------------------------------------------------- VIA 1


def via1_json(ann: Annotations, class_attribute: str) -> dict[str, Any]:
    """VIA 1.x JSON: regions keyed "0", "1", ...; polygons closed as VIA 1 writes them."""
    out = {}
    for image in ann.images:
        regions = {}
        for i, region in enumerate(image.regions):
            shape = shape_attributes(region, polyline=False)
            if shape["name"] == "polygon":
                shape["all_points_x"].append(shape["all_points_x"][0])
                shape["all_points_y"].append(shape["all_points_y"][0])
            regions[str(i)] = {
                "shape_attributes": shape,
                "region_attributes": _region_attributes(region, class_attribute),
            }
        out[f"{image.file_name}-1"] = {
            "fileref": "",
            "size": -1,
            "filename": image.file_name,
            "base64_img_data": "",
            "file_attributes": dict(image.attributes),
            "regions": regions,
        }
    return out


def write_via1(ann: Annotations, path: str | Path, class_attribute: str) -> None:
    write_json(path, via1_json(ann, class_attribute), indent=None)


# ---------------------------------------------------------------------------- VIA 3


def via3_project(
    ann: Annotations, classes: Sequence[str], class_attribute: str, *, name: str = "landslide"
) -> dict[str, Any]:
    """A VIA 3.x project: one view per image, the class a select attribute (id "1")."""
    attribute, region_ids, file_ids = _via3_attributes(ann, classes, class_attribute)
    files, views, metadata = {}, {}, {}
    for n, image in enumerate(ann.images, start=1):
        fid = vid = str(n)
        files[fid] = {"fid": fid, "fname": image.file_name, "type": VIA3_IMAGE, "loc": VIA3_LOCAL}
        files[fid]["src"] = ""
        views[vid] = {"fid_list": [fid]}
        if image.attributes:
            av = {file_ids[k]: v for k, v in image.attributes}
            metadata[f"{vid}_file"] = {"vid": vid, "flg": 0, "z": [], "xy": [], "av": av}
        for k, region in enumerate(image.regions):
            av = {region_ids[a]: v for a, v in _region_attributes(region, class_attribute).items()}
            metadata[f"{vid}_{k:06d}"] = {
                "vid": vid,
                "flg": 0,
                "z": [],
                "xy": _via3_xy(region),
                "av": av,
            }
    return {
        "project": {
            "pid": "__VIA_PROJECT_ID__",
            "rev": "__VIA_PROJECT_REV_ID__",
            "rev_timestamp": "__VIA_PROJECT_REV_TIMESTAMP__",
            "pname": name,
            "data_format_version": VIA3_VERSION,
            "creator": VIA_CREATOR,
            "created": 0,
            "vid_list": list(views),
        },
        "config": {
            "file": {"loc_prefix": {"1": "", "2": "", "3": "", "4": ""}},
            "ui": {"file_content_align": "center", "spatial_region_label_attribute_id": "1"},
        },
        "attribute": attribute,
        "file": files,
        "metadata": metadata,
        "view": views,
    }


def _via3_attributes(
    ann: Annotations, classes: Sequence[str], class_attribute: str
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    def attr(aname: str, anchor: str, kind: int, options: dict[str, str]) -> dict[str, Any]:
        return {
            "aname": aname,
            "anchor_id": anchor,
            "type": kind,
            "desc": "",
            "options": options,
            "default_option_id": "",
        }

    attributes = {"1": attr(class_attribute, "FILE1_Z0_XY1", VIA3_SELECT, {c: c for c in classes})}
    region_ids = {class_attribute: "1"}
    region_pairs = chain.from_iterable(r.attributes for im in ann.images for r in im.regions)
    for name in _attribute_names(region_pairs, class_attribute):
        region_ids[name] = aid = str(len(attributes) + 1)
        attributes[aid] = attr(name, "FILE1_Z0_XY1", VIA3_TEXT, {})
    file_ids = {}
    for name in _attribute_names(chain.from_iterable(im.attributes for im in ann.images)):
        file_ids[name] = aid = str(len(attributes) + 1)
        attributes[aid] = attr(name, "FILE1_Z0_XY0", VIA3_TEXT, {})
    return attributes, region_ids, file_ids


def _via3_xy(region: Region) -> list[Any]:
    box = _rect(region)
    if box is not None:
        return [VIA3_SHAPE_IDS["rect"], *box]
    shape = VIA3_SHAPE_IDS["polyline" if region.shape == "polyline" else "polygon"]
    return [shape, *chain.from_iterable(region.polygon)]


def write_via3(
    ann: Annotations, path: str | Path, classes: Sequence[str], class_attribute: str
) -> None:
    write_json(path, via3_project(ann, classes, class_attribute, name=Path(path).stem), indent=None)
