"""The internal model <-> COCO instance JSON (what pycocotools and torchvision read).

`to_coco` gives image ids 1..N in the order of `Annotations.images` (images without
regions are kept: they are the negatives), category ids 1..N in the order of the
classes of Params (0 is the implicit background), annotation ids 1..M in image then
region order, polygon segmentation `[[x1, y1, x2, y2, ...]]`, shoelace area, bbox
`[x, y, w, h]` and `iscrowd` 0. The same annotations always give the same bytes.
VIA attributes, when there are any, travel in an extra `attributes` object that
COCO readers ignore and `read_coco` restores; so do the photos of the folder that the
annotation file did not list (`Annotations.unlisted`), in `info.unlisted`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import chain
from operator import mul
from pathlib import Path
from typing import Any

from landslide.annotations.images import UnsafeName, safe_name
from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.via import load_document, paused_gc
from landslide.errors import AnnotationError
from landslide.io import write_json

SUPERCATEGORY = "scene"
COCO_KEYS = ("images", "annotations", "categories")


def is_coco(data: Any) -> bool:
    return isinstance(data, dict) and all(k in data for k in COCO_KEYS)


def to_coco(ann: Annotations, classes: Sequence[str]) -> dict[str, Any]:
    """COCO instances for `ann`; every image needs its size, every label a class."""
    ids = {name: i for i, name in enumerate(classes, start=1)}
    images, annotations = [], []
    for image_id, image in enumerate(ann.images, start=1):
        images.append(_image(image_id, image, ann.source))
        for region in image.regions:
            category = ids.get(region.label)
            if category is None:
                raise AnnotationError(
                    f"class {region.label!r} is not one of the classes ({', '.join(classes)})",
                    file=ann.source or None,
                    where=f"image {image.file_name!r} region {region.region_id}",
                )
            annotations.append(_annotation(len(annotations) + 1, image_id, category, region))
    info: dict[str, Any] = {"description": "landslide annotations", "version": "1.0"}
    if ann.unlisted:  # left out, but the validation report names them
        info["unlisted"] = list(ann.unlisted)
    return {
        "info": info,
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": [
            {"id": i, "name": name, "supercategory": SUPERCATEGORY} for name, i in ids.items()
        ],
    }


def write_coco(ann: Annotations, path: str | Path, classes: Sequence[str]) -> None:
    """Write `to_coco(ann, classes)` atomically (compact JSON)."""
    with paused_gc():
        write_json(path, to_coco(ann, classes), indent=None)


def _image(image_id: int, image: ImageAnn, source: str) -> dict[str, Any]:
    if image.width is None or image.height is None:
        raise AnnotationError(
            "image size unknown: COCO needs width and height",
            file=source or None,
            where=f"image {image.file_name!r}",
            hint="read the annotations with the images directory (--images DIR)",
        )
    out: dict[str, Any] = {
        "id": image_id,
        "file_name": image.file_name,
        "width": image.width,
        "height": image.height,
    }
    if image.attributes:
        out["attributes"] = dict(image.attributes)
    return out


def _annotation(ann_id: int, image_id: int, category: int, region: Region) -> dict[str, Any]:
    flat = list(chain.from_iterable(region.polygon))
    xs, ys = flat[0::2], flat[1::2]
    x0, y0 = min(xs), min(ys)
    out: dict[str, Any] = {
        "id": ann_id,
        "image_id": image_id,
        "category_id": category,
        "segmentation": [flat],
        "area": _shoelace(xs, ys),
        "bbox": [x0, y0, max(xs) - x0, max(ys) - y0],
        "iscrowd": 0,
    }
    if region.attributes:
        out["attributes"] = dict(region.attributes)
    return out


def _shoelace(xs: list[Any], ys: list[Any]) -> float:
    """Polygon area (as `Region.area`, in C-speed passes)."""
    twice = sum(map(mul, xs, ys[1:] + ys[:1])) - sum(map(mul, xs[1:] + xs[:1], ys))
    return abs(twice) / 2.0


# ---------------------------------------------------------------------------- reading


def read_coco(path: str | Path) -> Annotations:
    """A COCO instances file back into the model (labels are the category names)."""
    with paused_gc():
        doc = load_document(path)
        return parse_coco(doc.data, doc.path)


def parse_coco(data: Any, path: str | Path) -> Annotations:
    if not is_coco(data):
        raise AnnotationError(
            f"not a COCO instances file: it needs the keys {', '.join(COCO_KEYS)}", file=path
        )
    reader = _CocoReader(str(path))
    categories = reader.categories(data["categories"])
    images = reader.images(data["images"])
    regions = reader.annotations(data["annotations"], categories, images)
    return Annotations(
        images=[
            ImageAnn(im.file_name, im.width, im.height, tuple(regions[i]), im.attributes)
            for i, im in images.items()
        ],
        source=str(path),
        warnings=reader.warnings,
        unlisted=_unlisted(data.get("info")),
    )


def _unlisted(info: Any) -> list[str]:
    names = info.get("unlisted") if isinstance(info, dict) else None
    if not isinstance(names, list):
        return []
    return [n for n in names if isinstance(n, str)]


class _CocoReader:
    def __init__(self, source: str) -> None:
        self.source = source
        self.warnings: list[str] = []

    def error(self, message: str, where: str) -> AnnotationError:
        return AnnotationError(message, file=self.source, where=where)

    def records(self, value: Any, key: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.error("expected a list", key)
        for i, record in enumerate(value):
            if not isinstance(record, dict):
                raise self.error("expected an object", f"{key}[{i}]")
        return value

    def ident(self, record: dict[str, Any], key: str, where: str) -> int:
        value = record.get(key)
        if type(value) is not int:
            raise self.error(f"'{key}' must be an integer, got {value!r}", where)
        return value

    def categories(self, value: Any) -> dict[int, str]:
        out: dict[int, str] = {}
        for i, c in enumerate(self.records(value, "categories")):
            where = f"categories[{i}]"
            name = c.get("name")
            if not isinstance(name, str) or not name:
                raise self.error(f"'name' must be a string, got {name!r}", where)
            out[self.ident(c, "id", where)] = name
        return out

    def images(self, value: Any) -> dict[int, ImageAnn]:
        out: dict[int, ImageAnn] = {}
        names: set[str] = set()
        for i, im in enumerate(self.records(value, "images")):
            where = f"images[{i}]"
            image_id = self.ident(im, "id", where)
            name = im.get("file_name")
            if not isinstance(name, str):
                raise self.error(f"'file_name' must be a string, got {name!r}", where)
            try:
                name, _ = safe_name(name)
            except UnsafeName as exc:
                raise self.error(str(exc), where) from None
            if image_id in out or name in names:
                raise self.error(f"image id {image_id} or file {name!r} listed twice", where)
            names.add(name)
            width, height = self.size(im, "width", where), self.size(im, "height", where)
            attributes = im.get("attributes")
            attrs = (
                tuple((str(k), str(v)) for k, v in attributes.items())
                if isinstance(attributes, dict)
                else ()
            )
            out[image_id] = ImageAnn(name, width, height, (), attrs)
        return out

    def size(self, record: dict[str, Any], key: str, where: str) -> int | None:
        value = record.get(key)
        if value is None:
            return None
        if type(value) is not int or value < 1:
            raise self.error(f"'{key}' must be a positive integer, got {value!r}", where)
        return value

    def annotations(
        self, value: Any, categories: dict[int, str], images: dict[int, ImageAnn]
    ) -> dict[int, list[Region]]:
        regions: dict[int, list[Region]] = {i: [] for i in images}
        for i, a in enumerate(self.records(value, "annotations")):
            where = f"annotations[{i}]"
            image_id = self.ident(a, "image_id", where)
            category = self.ident(a, "category_id", where)
            if image_id not in images:
                raise self.error(f"image_id {image_id} is not in 'images'", where)
            if category not in categories:
                raise self.error(f"category_id {category} is not in 'categories'", where)
            attributes = a.get("attributes")
            attrs = (
                tuple((str(k), str(v)) for k, v in attributes.items())
                if isinstance(attributes, dict)
                else ()
            )
            out = regions[image_id]
            for polygon in self.polygons(a.get("segmentation"), where):
                out.append(Region(categories[category], polygon, len(out), "polygon", attrs))
        return regions

    def polygons(self, segmentation: Any, where: str) -> list[tuple[tuple[float, float], ...]]:
        if isinstance(segmentation, dict):
            self.warnings.append(f"{self.source}: {where}: RLE segmentation skipped")
            return []
        if not isinstance(segmentation, list) or not segmentation:
            raise self.error("'segmentation' must be a non-empty list of polygons", where)
        if len(segmentation) > 1:
            self.warnings.append(
                f"{self.source}: {where}: {len(segmentation)} polygons read as separate regions"
            )
        out = []
        for flat in segmentation:
            if not isinstance(flat, list) or len(flat) < 6 or len(flat) % 2:
                raise self.error("a polygon must be a list of at least 3 x, y pairs", where)
            if not set(map(type, flat)) <= {int, float} or not math.isfinite(sum(flat)):
                raise self.error("polygon coordinates must be finite numbers", where)
            out.append(tuple(zip(flat[0::2], flat[1::2], strict=True)))
        return out
