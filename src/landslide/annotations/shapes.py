"""VIA shapes -> polygon outlines (x and y lists, pixels of the upright image).

`outline(shape)` takes a VIA 1/2 `shape_attributes` object (VIA 3 `xy` arrays are
converted to that form by their reader) and returns the vertices of an area:

- polygon and polyline: the vertices as drawn (a polyline is read as closed);
- rect: its four corners, exact;
- circle and ellipse (with VIA 2's optional rotation `theta`): a regular polygon
  whose vertex count grows with the size (32 to 256) and whose radii are scaled so
  that its area equals the ellipse's.

Point and line have no area: `NoArea` says so and the reader skips them with a
warning. Bad values raise `ShapeError` (a ValueError) with a message naming the key.
Numbers of polygons are not checked here: the geometry step checks them all at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

Outline = tuple[list[Any], list[Any]]
Shape = tuple[str, list[Any], list[Any]]  # name, xs, ys

NO_AREA = ("point", "line")
CONVEX = ("rect", "circle", "ellipse")  # never self-intersecting
MIN_VERTICES, MAX_VERTICES = 32, 256
VERTEX_SPACING = 4.0  # pixels of perimeter per vertex, between the bounds above


class ShapeError(ValueError):
    """A shape whose values cannot make a polygon (missing key, not a number, ...)."""


class NoArea(Exception):
    """A shape that is not an area (point, line) or that this reader does not know."""


def shape_name(shape: Mapping[str, Any]) -> str:
    name = shape.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ShapeError(f"shape has no 'name' (got {name!r})")
    return name.strip().lower()


def outline(shape: Mapping[str, Any]) -> Shape:
    """(name, xs, ys) of a VIA shape; raises NoArea (skip) or ShapeError (bad values)."""
    name = shape.get("name")
    build = _BUILDERS.get(name) if type(name) is str else None
    if build is None:
        name = shape_name(shape)
        build = _BUILDERS.get(name)
        if build is None:
            reason = "has no area" if name in NO_AREA else "is not a shape this reader knows"
            raise NoArea(f"{name} skipped: {reason}")
    return (name, *build(shape))


def number(shape: Mapping[str, Any], key: str) -> int | float:
    """A finite number from `shape[key]`; ints stay ints so integer shapes stay exact."""
    value = shape.get(key)
    if type(value) is int and abs(value) < 2**53:
        return value
    if type(value) in (int, float):
        return finite(value, f"'{key}'")
    if value is None:
        raise ShapeError(f"'{key}' is missing")
    raise ShapeError(f"'{key}' is not a number: {_short(value)}")


def finite(value: float, what: str) -> float:
    """`value` as a float; ShapeError if it is NaN, infinite or too large for a float."""
    try:
        f = float(value)
    except OverflowError:
        f = math.inf
    if not math.isfinite(f):
        raise ShapeError(f"{what} is not a finite number: {_short(value)}")
    return f


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def polygon(shape: Mapping[str, Any]) -> Outline:
    xs, ys = shape.get("all_points_x"), shape.get("all_points_y")
    if not isinstance(xs, list) or not isinstance(ys, list):
        raise ShapeError(
            f"'all_points_x' and 'all_points_y' must be lists, got "
            f"{type(xs).__name__} and {type(ys).__name__}"
        )
    if len(xs) != len(ys):
        raise ShapeError(
            f"all_points_x has {len(xs)} values but all_points_y has {len(ys)}: "
            "each vertex needs both"
        )
    return xs, ys


def rect(shape: Mapping[str, Any]) -> Outline:
    x, y = number(shape, "x"), number(shape, "y")
    w, h = number(shape, "width"), number(shape, "height")
    x0, x1 = sorted((x, x + w))
    y0, y1 = sorted((y, y + h))
    return [x0, x1, x1, x0], [y0, y0, y1, y1]


def circle(shape: Mapping[str, Any]) -> Outline:
    r = abs(number(shape, "r"))
    return ellipse_outline(number(shape, "cx"), number(shape, "cy"), r, r)


def ellipse(shape: Mapping[str, Any]) -> Outline:
    theta = number(shape, "theta") if shape.get("theta") is not None else 0.0
    return ellipse_outline(
        number(shape, "cx"),
        number(shape, "cy"),
        abs(number(shape, "rx")),
        abs(number(shape, "ry")),
        theta,
    )


def ellipse_outline(
    cx: float, cy: float, rx: float, ry: float, theta: float = 0.0
) -> tuple[list[float], list[float]]:
    """A regular polygon with the ellipse's area, rotated by `theta` radians."""
    n = vertex_count(rx, ry)
    scale = math.sqrt(2 * math.pi / (n * math.sin(2 * math.pi / n)))
    ax, ay = rx * scale, ry * scale
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    xs, ys = [], []
    for k in range(n):
        a = 2 * math.pi * k / n
        ex, ey = ax * math.cos(a), ay * math.sin(a)
        xs.append(cx + ex * cos_t - ey * sin_t)
        ys.append(cy + ex * sin_t + ey * cos_t)
    return xs, ys


def vertex_count(rx: float, ry: float) -> int:
    """Vertices for an ellipse: one per few pixels of perimeter (Ramanujan), bounded."""
    h = ((rx - ry) / (rx + ry)) ** 2 if rx + ry > 0 else 0.0
    perimeter = math.pi * (rx + ry) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h)))
    return max(MIN_VERTICES, min(MAX_VERTICES, math.ceil(perimeter / VERTEX_SPACING)))


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], Outline]] = {
    "polygon": polygon,
    "polyline": polygon,
    "rect": rect,
    "circle": circle,
    "ellipse": ellipse,
}
