"""Polygon clean-up: numbers checked, vertices clipped, degenerate regions dropped.

`clean(outline, ...)` is the rule, for one polygon: every coordinate a finite
number (else `ShapeError`); repeated consecutive vertices and a closing vertex
equal to the first removed; vertices outside the image clipped to its border (a
note says how many); fewer than 3 distinct points or zero area dropped;
a self-intersecting polygon repaired with shapely's `make_valid` keeping the
largest part (or dropped when nothing is left); an area below the minimum dropped.

`clean_mask(outlines, ...)` finds, with a few numpy passes (a star-shape test
proves most polygons simple) and one vectorised shapely validity check over the
rest, the outlines that `clean` would return unchanged; the reader calls `clean`
only for the others. That keeps the import of tens of thousands of regions within
a small factor of `json.load`.

`shape_of(points)` and `iou(a, b)` measure how much two regions overlap (prefill drops
a model region over an existing one; `diff` matches the annotator's regions to the
model's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import shapely
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from landslide.annotations.model import Point
from landslide.annotations.shapes import ShapeError, finite

_NUMBER_TYPES = {int, float}


@dataclass(slots=True)
class Outline:
    """Vertices of one region before clean-up, and the upright size of its image."""

    xs: list[Any]
    ys: list[Any]
    width: int | None = None  # None: size unknown, only negative coordinates are clipped
    height: int | None = None
    convex: bool = False  # rect, circle, ellipse: no self-intersection check needed


@dataclass(slots=True)
class Cleaned:
    polygon: tuple[Point, ...] | None  # None: the region is dropped
    notes: list[str] = field(default_factory=list)  # what was changed or why it was dropped


def clean(o: Outline, min_area: float) -> Cleaned:
    """The polygon of `o` as the reader keeps it, or None with the reason."""
    pts = _dedupe(_points(o.xs, o.ys))
    notes: list[str] = []
    pts, clip_note = _clip(pts, o.width, o.height)
    if clip_note:
        notes.append(clip_note)
        pts = _dedupe(pts)
    if len(set(pts)) < 3:
        return Cleaned(None, [*notes, f"dropped: {len(set(pts))} distinct points, 3 needed"])
    area = shoelace(pts)
    if area == 0:
        return Cleaned(None, [*notes, "dropped: zero area (all points on a line)"])
    if not o.convex and len(pts) >= 4:
        poly = Polygon(pts)
        if not poly.is_valid:
            repaired = _repair(poly)
            if repaired is None:
                return Cleaned(None, [*notes, "dropped: self-intersecting beyond repair"])
            pts, repair_note = repaired
            notes.append(repair_note)
            area = shoelace(pts)
    if area < min_area:
        return Cleaned(
            None,
            [
                *notes,
                f"dropped: area {area:g} px² below annotations.min_region_area ({min_area:g})",
            ],
        )
    return Cleaned(tuple(pts), notes)


def shoelace(pts: Sequence[Point]) -> float:
    s = 0.0
    for (x0, y0), (x1, y1) in zip(pts, [*pts[1:], pts[0]], strict=True):
        s += x0 * y1 - x1 * y0
    return abs(s) / 2.0


def _points(xs: list[Any], ys: list[Any]) -> list[Point]:
    pts = []
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        pts.append((_coordinate(x, f"x of vertex {i}"), _coordinate(y, f"y of vertex {i}")))
    return pts


def _coordinate(value: Any, what: str) -> Any:
    if type(value) is int and abs(value) < 2**53:
        return value
    if type(value) in _NUMBER_TYPES:
        return finite(value, what)
    raise ShapeError(f"{what} is not a number: {value!r}")


def _dedupe(pts: list[Point]) -> list[Point]:
    """Drop vertices equal to the previous one, and a last vertex equal to the first."""
    out: list[Point] = []
    for p in pts:
        if not out or p != out[-1]:
            out.append(p)
    while len(out) > 1 and out[-1] == out[0]:
        out.pop()
    return out


def _clip(pts: list[Point], width: int | None, height: int | None) -> tuple[list[Point], str]:
    hi_x = width if width is not None else float("inf")
    hi_y = height if height is not None else float("inf")
    outside = [(x, y) for x, y in pts if not (0 <= x <= hi_x and 0 <= y <= hi_y)]
    if not outside:
        return pts, ""
    clipped = [(min(max(x, 0), hi_x), min(max(y, 0), hi_y)) for x, y in pts]
    x, y = outside[0]
    where = f"the {width}x{height} image" if width is not None else "the image (negative)"
    n = len(outside)
    noun = "vertex" if n == 1 else "vertices"
    return clipped, f"{n} {noun} outside {where} clipped to its border (first: ({x:g}, {y:g}))"


def _repair(poly: Polygon) -> tuple[list[Point], str] | None:
    parts = polygon_parts(shapely.make_valid(poly))
    parts = [p for p in parts if p.area > 0]
    if not parts:
        return None
    best = max(parts, key=lambda p: p.area)
    pts = _dedupe([(float(x), float(y)) for x, y in best.exterior.coords])
    if len(pts) < 3:
        return None
    total = sum(p.area for p in parts)
    kept = f"kept the largest of {len(parts)} parts" if len(parts) > 1 else "kept its outline"
    holes = " (holes dropped)" if best.interiors else ""
    return pts, (f"self-intersecting: repaired, {kept}{holes}, {best.area:g} of {total:g} px²")


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """The polygons of a geometry, in order (those of collections and multi-polygons)."""
    if isinstance(geom, Polygon):
        return [geom]
    return [p for g in getattr(geom, "geoms", ()) for p in polygon_parts(g)]


# ---------------------------------------------------------------------------- overlap


def shape_of(points: Sequence[Point]) -> Any:
    """A valid shapely (Multi)Polygon of a polygon's area (None when it has none)."""
    if len(points) < 3:
        return None
    geom = Polygon(points)
    if not geom.is_valid:
        parts = polygon_parts(shapely.make_valid(geom))
        geom = shapely.MultiPolygon(parts) if len(parts) != 1 else parts[0]
    return geom if geom.area > 0 else None


def iou(a: Any, b: Any) -> float:
    """Intersection over union of two shapely geometries (0 when both are empty)."""
    if not a.intersects(b):
        return 0.0
    inter = a.intersection(b).area
    union = a.area + b.area - inter
    return float(inter / union) if union > 0 else 0.0


# ---------------------------------------------------------------------------- fast path


def clean_mask(outlines: Sequence[Outline], min_area: float) -> np.ndarray:
    """True where `clean(o)` would return `o`'s vertices unchanged (checked in bulk)."""
    mask = np.zeros(len(outlines), dtype=bool)
    lens = np.fromiter((len(o.xs) for o in outlines), dtype=np.intp, count=len(outlines))
    idx = np.flatnonzero(lens >= 3)
    if idx.size == 0:
        return mask
    some = [outlines[i] for i in idx]
    coords = _coordinates(some)
    if coords is None:
        return mask  # a non-number somewhere: `clean` finds and names it
    x, y = coords
    lens = lens[idx]
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    nxt = np.arange(1, x.size + 1)
    nxt[starts + lens - 1] = starts
    ok = ~np.logical_or.reduceat((x == x[nxt]) & (y == y[nxt]), starts)
    ok &= _inside(x, y, starts, some)
    area = np.abs(np.add.reduceat(x * y[nxt] - x[nxt] * y, starts)) / 2
    ok &= area >= min_area
    check = ok & (lens >= 4) & ~np.fromiter((o.convex for o in some), bool, len(some))
    check &= ~_star_shaped(x, y, starts, lens, nxt)
    if check.any():
        ok[check] = _simple(x, y, starts, lens, check)
    mask[idx] = ok
    return mask


def _star_shaped(
    x: np.ndarray, y: np.ndarray, starts: np.ndarray, lens: np.ndarray, nxt: np.ndarray
) -> np.ndarray:
    """Polygons star-shaped around the mean of their vertices, hence simple (no shapely).

    Seen from the mean, each edge turns strictly the same way and the turns add up to
    one full circle: the edges then lie in disjoint angular sectors and cannot cross.
    """
    rx = x - np.repeat(np.add.reduceat(x, starts) / lens, lens)
    ry = y - np.repeat(np.add.reduceat(y, starts) / lens, lens)
    cross = rx * ry[nxt] - rx[nxt] * ry
    norm2 = rx * rx + ry * ry
    clear = cross * cross > 1e-18 * norm2 * norm2[nxt]  # not collinear with the mean
    same_way = np.logical_and.reduceat(clear & (cross > 0), starts) | np.logical_and.reduceat(
        clear & (cross < 0), starts
    )
    turns = np.add.reduceat(np.arctan2(cross, rx * rx[nxt] + ry * ry[nxt]), starts)
    return same_way & (np.abs(np.abs(turns) - 2 * np.pi) < 1e-6)


def _coordinates(outlines: Sequence[Outline]) -> tuple[np.ndarray, np.ndarray] | None:
    xs = list(chain.from_iterable(o.xs for o in outlines))
    ys = list(chain.from_iterable(o.ys for o in outlines))
    types = set(map(type, xs))
    types.update(map(type, ys))
    if not types <= _NUMBER_TYPES:
        return None
    try:
        x, y = np.array(xs, dtype=float), np.array(ys, dtype=float)
    except OverflowError:
        return None
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        return None
    return x, y


def _inside(x: np.ndarray, y: np.ndarray, starts: np.ndarray, outlines: Sequence[Outline]):
    n = len(outlines)
    width = np.fromiter((np.inf if o.width is None else o.width for o in outlines), float, n)
    height = np.fromiter((np.inf if o.height is None else o.height for o in outlines), float, n)
    return (
        (np.minimum.reduceat(x, starts) >= 0)
        & (np.minimum.reduceat(y, starts) >= 0)
        & (np.maximum.reduceat(x, starts) <= width)
        & (np.maximum.reduceat(y, starts) <= height)
    )


def _simple(
    x: np.ndarray, y: np.ndarray, starts: np.ndarray, lens: np.ndarray, which: np.ndarray
) -> np.ndarray:
    """shapely validity of the polygons selected by `which`, built in one call."""
    points = np.repeat(which, lens)
    sub_x, sub_y, sub_lens = x[points], y[points], lens[which]
    sub_starts = np.concatenate(([0], np.cumsum(sub_lens)[:-1]))
    ends = sub_starts + sub_lens
    closed = np.column_stack(
        (np.insert(sub_x, ends, sub_x[sub_starts]), np.insert(sub_y, ends, sub_y[sub_starts]))
    )
    offsets = (np.concatenate(([0], np.cumsum(sub_lens + 1))), np.arange(sub_lens.size + 1))
    polys = shapely.from_ragged_array(shapely.GeometryType.POLYGON, closed, offsets)
    return shapely.is_valid(polys)
