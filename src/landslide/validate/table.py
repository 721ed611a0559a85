"""The table the expectations run on: one row per image and one per region.

Each image is opened once: readable, upright size, mode, sha256 and perceptual hash;
each region gives its class, vertex count, polygon validity, bounds and area fraction.
Near-duplicates (phashes within `validation.dup_distance` bits) are paired here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.io import sha256_file
from landslide.params import ValidateParams

IMAGE, REGION = "image", "region"
LANDSLIDE, NEGATIVE = "landslide", "negative"

# The table the expectations run on, column -> pandas dtype (nullable: image rows
# leave region columns empty and the other way round; expectations skip nulls).
COLUMNS: dict[str, str] = {
    "row": "int64",
    "kind": "object",  # image | region
    "file": "object",
    "region": "Int64",  # region id as in the source file
    "class": "object",
    "image_label": "object",  # landslide | negative (image rows)
    "vertices": "Int64",
    "area_fraction": "float64",
    "polygon_valid": "boolean",
    "polygon_issue": "object",
    "inside_image": "boolean",
    "xmin": "float64",
    "ymin": "float64",
    "xmax": "float64",
    "ymax": "float64",
    "readable": "boolean",
    "read_error": "object",
    "width": "Int64",  # upright size, as opened (region rows: their image's)
    "height": "Int64",
    "ann_width": "Int64",  # size the annotations claim
    "ann_height": "Int64",
    "size_matches": "boolean",
    "min_side": "Int64",
    "mode": "object",
    "sha256": "object",
    "same_bytes_as": "object",  # other files with this sha256
    "phash": "object",
    "near_duplicate_of": "object",
}

_EDGE = 1e-6  # a vertex exactly on the image border is inside


def build_table(
    ann: Annotations,
    images_dir: Path,
    p: ValidateParams,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[pd.DataFrame, list[tuple[str, str, int]]]:
    """One row per image and per region; also the near-duplicate pairs (a, b, distance)."""
    rows: list[dict[str, Any]] = []
    hashes: dict[int, np.ndarray] = {}  # image row -> phash bits
    seen: set[str] = set()
    for image in ann.images:
        info = _open_image(images_dir / image.file_name, hashed=image.file_name not in seen)
        seen.add(image.file_name)
        bits = info.pop("phash_bits", None)
        if bits is not None:
            hashes[len(rows)] = bits
        rows.append(_image_row(image, info))
        width, height = _size(rows[-1])
        rows.extend(_region_row(image, region, width, height) for region in image.regions)
        if progress is not None:
            progress(1)
    for i, row in enumerate(rows):
        row["row"] = i

    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table = table.astype(COLUMNS)
    pairs = _near_duplicates(table, hashes, p.dup_distance)
    partners: dict[str, list[str]] = {}
    for a, b, _ in pairs:
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    is_image = table["kind"] == IMAGE
    images = table.loc[is_image]
    table.loc[is_image, "near_duplicate_of"] = [
        ", ".join(partners[f]) if f in partners else None for f in images["file"]
    ]
    by_sha: dict[str, list[str]] = {}
    for file, sha in zip(images["file"], images["sha256"], strict=True):
        if isinstance(sha, str):  # not for unreadable or repeated files
            by_sha.setdefault(sha, []).append(file)
    table.loc[is_image, "same_bytes_as"] = [
        ", ".join(f for f in by_sha.get(sha, []) if f != file) or None
        for file, sha in zip(images["file"], images["sha256"], strict=True)
    ]
    return table, pairs


def _open_image(path: Path, *, hashed: bool) -> dict[str, Any]:
    """Readability, upright size, mode, sha256 and phash of one image file."""
    from PIL import Image, ImageOps

    from landslide.phash import phash

    if not path.is_file():
        return {"readable": False, "read_error": f"image file not found: {path}"}
    try:
        with Image.open(path) as im:
            mode = im.mode
            im.load()  # decode it all: truncated files fail here
            upright = ImageOps.exif_transpose(im)
            info: dict[str, Any] = {
                "readable": True,
                "width": upright.width,
                "height": upright.height,
                "mode": mode,
            }
            if hashed:
                h = phash(upright)
                info.update(phash=str(h), phash_bits=h.hash.flatten())
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return {"readable": False, "read_error": f"cannot read image: {exc}"}
    if hashed:
        info["sha256"] = sha256_file(path)
    return info


def _image_row(image: ImageAnn, info: dict[str, Any]) -> dict[str, Any]:
    width, height = info.get("width"), info.get("height")
    known = width is not None and image.width is not None and image.height is not None
    return {
        "kind": IMAGE,
        "file": image.file_name,
        "image_label": LANDSLIDE if image.has_landslide else NEGATIVE,
        "ann_width": image.width,
        "ann_height": image.height,
        "size_matches": (image.width, image.height) == (width, height) if known else None,
        "min_side": min(width, height) if width is not None else None,
        **info,
    }


def _size(image_row: dict[str, Any]) -> tuple[int | None, int | None]:
    """The size to judge regions by: as opened, else as annotated."""
    if image_row.get("width") is not None:
        return image_row["width"], image_row["height"]
    return image_row["ann_width"], image_row["ann_height"]


def _region_row(
    image: ImageAnn, region: Region, width: int | None, height: int | None
) -> dict[str, Any]:
    from shapely import Polygon
    from shapely.validation import explain_validity

    pts = region.polygon
    row: dict[str, Any] = {
        "kind": REGION,
        "file": image.file_name,
        "region": region.region_id,
        "class": region.label or None,
        "vertices": len(pts),
        "width": width,
        "height": height,
    }
    valid = False
    if len(pts) >= 3:
        poly = Polygon(pts)
        valid = bool(poly.is_valid)
        row["polygon_valid"] = valid
        row["polygon_issue"] = None if valid else explain_validity(poly)
    if pts:
        xs, ys = [x for x, _ in pts], [y for _, y in pts]
        xmin, ymin, xmax, ymax = min(xs), min(ys), max(xs), max(ys)
        row.update(xmin=xmin, ymin=ymin, xmax=xmax, ymax=ymax)
        if width and height:
            row["inside_image"] = bool(
                xmin >= -_EDGE
                and ymin >= -_EDGE
                and xmax <= width + _EDGE
                and ymax <= height + _EDGE
            )
            if valid:  # the area of a broken polygon means nothing; it fails as invalid
                row["area_fraction"] = region.area / (width * height)
    return row


def _near_duplicates(
    table: pd.DataFrame, hashes: dict[int, np.ndarray], distance: int
) -> list[tuple[str, str, int]]:
    """Pairs of files whose phashes differ in at most `distance` bits but whose bytes differ."""
    if len(hashes) < 2:
        return []
    rows = list(hashes)
    bits = np.stack([hashes[r] for r in rows])
    files = table.loc[rows, "file"].tolist()
    shas = table.loc[rows, "sha256"].tolist()
    pairs = []
    for i in range(len(rows) - 1):
        d = (bits[i + 1 :] != bits[i]).sum(axis=1)
        for j in np.flatnonzero(d <= distance):
            k = i + 1 + int(j)
            if shas[i] != shas[k]:  # identical bytes are the sha256 check's
                pairs.append((files[i], files[k], int(d[j])))
    return pairs
