"""Outputs back in the photo's own pixels: boxes scaled, mask probabilities resampled
bilinearly (exactly what `F.interpolate(..., "bilinear")` to the full photo would give,
computed only around each mask) and cut at the mask threshold; masks as polygons."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from landslide.inference.rule import at_threshold


@dataclass
class Detection:
    """One instance in the pixels of the image it was found in: its mask as a crop."""

    label: int
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (pixel edges)
    mask: np.ndarray  # bool, the crop of the binary mask whose top-left pixel is (x, y)
    x: int = 0
    y: int = 0

    def full_mask(self, width: int, height: int) -> np.ndarray:
        out = np.zeros((height, width), dtype=np.uint8, order="F")
        h, w = self.mask.shape
        out[self.y : self.y + h, self.x : self.x + w] = self.mask
        return out


def to_original(
    output: dict[str, torch.Tensor],
    model_size: tuple[int, int],
    size: tuple[int, int],
    *,
    min_score: float,
    mask_threshold: float = 0.5,
) -> list[Detection]:
    """The detections scoring at least `min_score`, mapped from `model_size` to `size` (w, h)."""
    w, h = (int(v) for v in model_size)
    width, height = (int(v) for v in size)
    sx, sy = width / w, height / h
    scores = output["scores"].detach().cpu().to(torch.float32)
    keep = at_threshold(scores, min_score).nonzero().flatten().tolist()
    boxes = output["boxes"].detach().cpu().to(torch.float64)
    labels = output["labels"].detach().cpu()
    masks = output.get("masks")
    out = []
    for i in keep:
        x0, y0, x1, y1 = boxes[i].tolist()
        box = (
            min(max(x0 * sx, 0.0), width),
            min(max(y0 * sy, 0.0), height),
            min(max(x1 * sx, 0.0), width),
            min(max(y1 * sy, 0.0), height),
        )
        if masks is not None:
            prob = masks[i, 0].detach().cpu().to(torch.float32).numpy()
            crop, mx, my = resample_mask(prob, width, height, mask_threshold)
        else:  # a box-only detector: the box is the mask
            crop, mx, my = _box_mask(box)
        out.append(Detection(int(labels[i]), float(scores[i]), box, crop, mx, my))
    return out


def resample_mask(
    prob: np.ndarray, width: int, height: int, threshold: float
) -> tuple[np.ndarray, int, int]:
    """(crop, x, y): `prob` (h x w) resized bilinearly to width x height, cut at `threshold`.

    Equal to thresholding `F.interpolate(prob, (height, width), mode="bilinear",
    align_corners=False)`, but only the output pixels whose bilinear neighbours include a
    source pixel at or above the threshold are computed (a bilinear value is a convex
    combination of its neighbours), as two small matrix products. The crop is trimmed to
    the pixels that are set; an empty mask is a 0 x 0 crop.
    """
    h, w = prob.shape
    hot = prob >= threshold
    if not hot.any():
        return np.zeros((0, 0), dtype=bool), 0, 0
    rows = np.flatnonzero(hot.any(axis=1))
    cols = np.flatnonzero(hot.any(axis=0))
    ys, wy, ry = _axis(int(rows[0]), int(rows[-1]), h, height)
    xs, wx, rx = _axis(int(cols[0]), int(cols[-1]), w, width)
    part = prob[ry[0] : ry[1], rx[0] : rx[1]].astype(np.float64)
    values = wy @ part @ wx.T
    binary = values >= threshold
    if not binary.any():
        return np.zeros((0, 0), dtype=bool), 0, 0
    r = np.flatnonzero(binary.any(axis=1))
    c = np.flatnonzero(binary.any(axis=0))
    crop = binary[r[0] : r[-1] + 1, c[0] : c[-1] + 1]
    return np.ascontiguousarray(crop), int(xs[0] + c[0]), int(ys[0] + r[0])


def _axis(
    first: int, last: int, n_in: int, n_out: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Output indices whose bilinear sources touch [first, last], their weights, source span."""
    scale = n_in / n_out
    lo = max(0, math.floor((first - 1 + 0.5) / scale - 0.5) - 1)
    hi = min(n_out, math.ceil((last + 1 + 0.5) / scale - 0.5) + 2)
    out = np.arange(lo, hi)
    src = np.maximum((out + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    start, stop = int(i0.min()), int(i1.max()) + 1
    weights = np.zeros((len(out), stop - start))
    rows = np.arange(len(out))
    np.add.at(weights, (rows, i0 - start), 1.0 - frac)
    np.add.at(weights, (rows, i1 - start), frac)
    return out, weights, (start, stop)


def _box_mask(box: tuple[float, float, float, float]) -> tuple[np.ndarray, int, int]:
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    return np.ones((max(0, y1 - y0), max(0, x1 - x0)), dtype=bool), x0, y0


def mask_geometry(mask: np.ndarray, x: int = 0, y: int = 0, simplify: float = 0.0) -> Any:
    """The pixel-edge outline of a binary crop at (x, y) as a shapely (Multi)Polygon.

    Holes are kept; `simplify` (pixels) removes staircase vertices, topology preserved.
    """
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from shapely import MultiPolygon, Polygon, make_valid
    from shapely.geometry import shape

    if mask.size == 0 or not mask.any():
        return MultiPolygon()
    polygons = [
        shape(geom)
        for geom, value in shapes(
            mask.astype(np.uint8), mask=mask, transform=Affine.translation(x, y)
        )
        if value
    ]
    geom = MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]
    if simplify > 0:
        geom = geom.simplify(simplify, preserve_topology=True)
    if not geom.is_valid:
        geom = make_valid(geom)
    return geom if isinstance(geom, Polygon | MultiPolygon) else _polygons_of(geom)


def _polygons_of(geom: Any) -> Any:
    from shapely import MultiPolygon

    from landslide.annotations.geometry import polygon_parts

    flat = polygon_parts(geom)
    return MultiPolygon(flat) if len(flat) != 1 else flat[0]


def coco_polygons(geom: Any) -> list[list[float]]:
    """Outer rings of a (Multi)Polygon as COCO polygons: [x0, y0, x1, y1, ...] per ring."""
    rings = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.is_empty:
            continue
        coords = list(polygon.exterior.coords)[:-1]  # COCO rings are not closed
        rings.append([round(float(v), 3) for xy in coords for v in xy])
    return rings
