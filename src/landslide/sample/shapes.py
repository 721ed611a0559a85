"""Object outlines and where they go: landslide tongues, forest stands, lakes and rivers,
roads and houses; and rounding polygons to the valid integer polygons VIA stores.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from shapely import make_valid
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry

from landslide.sample.noise import line_noise
from landslide.sample.plan import F32, Rng
from landslide.sample.scene import Scene

LANDSLIDES_PER_IMAGE = ((1, 0.55), (2, 0.3), (3, 0.15))
MAX_LANDSLIDE_VERTICES = 40
MAX_VERTICES = 60


@dataclass(frozen=True)
class Tongue:
    """A landslide scar: its polygon and the flow frame that its texture follows."""

    polygon: Polygon
    head: tuple[float, float]
    down: tuple[float, float]  # unit vector head -> toe
    length: float
    ts: F32  # positions along the flow, 0..1
    half_width: F32  # half width at ts
    crown: tuple[float, float, float]  # how far the head arc reaches upslope, its half width, u


def blob(
    rng: Rng,
    centre: tuple[float, float],
    radii: tuple[float, float],
    rough: float,
    angle: float = 0.0,
    vertices: int = 28,
) -> Polygon:
    """A star-shaped irregular blob (always a valid polygon)."""
    theta = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = np.ones_like(theta)
    for j in range(2, 7):
        r += rough / j * rng.uniform(0.3, 1.0) * np.cos(j * theta + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.35, None)
    x, y = radii[0] * r * np.cos(theta), radii[1] * r * np.sin(theta)
    ca, sa = math.cos(angle), math.sin(angle)
    cx, cy = centre
    return Polygon(np.column_stack([cx + ca * x - sa * y, cy + sa * x + ca * y]))


def landslide_polygon(
    rng: Rng, head: tuple[float, float], length: float, width: float, angle: float
) -> Tongue:
    """A tongue running down-slope from `head`: narrow scarp, widening body, lobate toe.

    Built in a flow frame (s along the flow, u across), then turned by `angle` from
    straight down. At most 38 vertices.
    """
    toe_r = width / 2
    body = max(length - toe_r, 0.5 * length)
    ts = np.linspace(0.0, 1.0, 12, dtype=np.float32)
    narrow = rng.uniform(0.3, 0.5)  # head width / toe width
    ramp = ts ** rng.uniform(0.4, 0.9)
    neck = rng.uniform(0.0, 0.15) * np.sin(np.pi * np.clip(ts * 1.4, 0, 1))
    profile = np.clip(narrow + (1 - narrow) * ramp - neck, 0.25, 1).astype(np.float32)
    bow = rng.uniform(-0.15, 0.15) * body * np.sin(np.pi * ts)
    wobble_l = 1 + 0.2 * line_noise(rng, 12, 3, 2) + rng.normal(0, 0.04, 12)
    wobble_r = 1 + 0.2 * line_noise(rng, 12, 3, 2) + rng.normal(0, 0.04, 12)
    s = ts * body
    left = np.column_stack([s, bow - toe_r * profile * wobble_l])
    right = np.column_stack([s, bow + toe_r * profile * wobble_r])
    phi = np.linspace(-np.pi / 2, np.pi / 2, 11)[1:-1]  # toe arc, left -> right
    lobes = 1 + 0.25 * np.abs(np.sin(int(rng.integers(2, 4)) * (phi + np.pi / 2)))
    rx, ry = toe_r * rng.uniform(0.5, 0.9) * lobes, toe_r * lobes
    toe = np.column_stack([body + rx * np.cos(phi), bow[-1] + ry * np.sin(phi)])
    psi = np.linspace(np.pi / 2, -np.pi / 2, 7)[1:-1]  # crown arc, right -> left, upslope
    crown_half = toe_r * profile[0] * (wobble_l[0] + wobble_r[0]) / 2
    depth = rng.uniform(0.2, 0.45) * crown_half
    offset = (wobble_r[0] - wobble_l[0]) / 2 * toe_r * profile[0]
    crown = np.column_stack([-depth * np.cos(psi), offset + crown_half * np.sin(psi)])
    local = np.vstack([left, toe, right[::-1], crown])
    down = (math.sin(angle), math.cos(angle))
    across = (math.cos(angle), -math.sin(angle))
    x = head[0] + local[:, 0] * down[0] + local[:, 1] * across[0]
    y = head[1] + local[:, 0] * down[1] + local[:, 1] * across[1]
    polygon = Polygon(np.column_stack([x, y]))
    half = (toe_r * profile * (wobble_l + wobble_r) / 2).astype(np.float32)
    total = body + toe_r
    ts_total = (s / total).astype(np.float32)
    return Tongue(polygon, head, down, total, ts_total, half, (depth, crown_half, offset))


def _polygon_parts(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons in any geometry, largest first."""
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif hasattr(geometry, "geoms"):
        parts = [g for sub in geometry.geoms for g in _polygon_parts(sub)]
    else:
        parts = []
    return sorted((g for g in parts if not g.is_empty), key=lambda g: -g.area)


def _without_holes(polygon: Polygon) -> Polygon:
    """Cut a polygon with holes through each hole and keep the largest piece (VIA has no holes)."""
    for _ in range(8):
        if not polygon.interiors:
            return polygon
        x = Polygon(polygon.interiors[0]).representative_point().x
        _, y0, _, y1 = polygon.bounds
        pieces = _polygon_parts(polygon.difference(box(x - 0.5, y0 - 1, x + 0.5, y1 + 1)))
        if not pieces:
            break
        polygon = pieces[0]
    return Polygon(polygon.exterior)


def to_pixels(
    geometry: BaseGeometry, width: int, height: int, min_area: float, max_vertices: int
) -> list[Polygon]:
    """Clip to the image, drop holes, round to integer pixels; the valid parts worth keeping."""
    clipped = make_valid(geometry).intersection(box(0, 0, width - 1, height - 1))
    out = []
    for part in _polygon_parts(clipped):
        if part.area < min_area:
            break
        pixel = _round(_without_holes(part), max_vertices)
        if pixel is not None and pixel.area >= min_area:
            out.append(pixel)
    return out


def _round(polygon: Polygon, max_vertices: int) -> Polygon | None:
    """Integer vertices, at most max_vertices, still a valid polygon (or None)."""
    tolerance = 0.5
    for _ in range(6):
        simple = polygon.simplify(tolerance, preserve_topology=True)
        coords = np.rint(np.asarray(simple.exterior.coords)[:-1]).astype(int)
        keep = np.any(coords != np.roll(coords, 1, axis=0), axis=1)
        coords = coords[keep]
        if len(coords) > max_vertices:
            tolerance *= 2
            continue
        if len(np.unique(coords, axis=0)) < 3:
            return None
        candidate = Polygon(coords)
        if candidate.is_valid and candidate.area > 0:
            return candidate
        parts = _polygon_parts(make_valid(candidate))
        if not parts:
            return None
        polygon, tolerance = parts[0], tolerance * 1.5
    return None


def int_points(polygon: Polygon) -> list[tuple[int, int]]:
    return [(int(x), int(y)) for x, y in np.asarray(polygon.exterior.coords)[:-1]]


def is_free(candidate: Polygon, taken: Sequence[Polygon], gap: float) -> bool:
    """True when the candidate keeps at least `gap` pixels from everything taken."""
    return not any(candidate.distance(other) < gap for other in taken)


def min_region_area(scene: Scene) -> float:
    return max(12.0, 2e-4 * scene.width * scene.height)


def place_landslides(rng: Rng, scene: Scene) -> list[Tongue]:
    """1-3 tongues, a few % to a quarter of the photo each, heads on the upper slope."""
    counts, weights = zip(*LANDSLIDES_PER_IMAGE, strict=True)
    wanted = int(rng.choice(counts, p=weights))
    terrain = scene.terrain()
    area = scene.width * scene.height
    placed: list[Tongue] = []
    for attempt in range(60):
        if len(placed) == wanted:
            break
        shrink = 0.6 if attempt > 30 else 1.0
        x = rng.uniform(-0.03, 1.03) * scene.width
        y = scene.ground_y(rng, x, 0.02, 0.45)
        scale = scene.scale_at(y)
        frac = math.exp(rng.uniform(math.log(0.02), math.log(0.25))) * (0.45 + 0.55 * scale) ** 2
        elongation = rng.uniform(2.0, 4.5)
        width = math.sqrt(frac * shrink * area / (0.7 * elongation))
        spread = 0.4 if scene.horizon > 0 else 0.7
        tongue = landslide_polygon(
            rng, (x, y), elongation * width, width, rng.uniform(-spread, spread)
        )
        body = tongue.polygon.intersection(terrain)
        if body.area < 0.7 * tongue.polygon.area or body.area < 0.008 * area:
            continue
        if is_free(tongue.polygon, [t.polygon for t in placed], gap=0.02 * scene.short):
            placed.append(tongue)
    if not placed:  # a last resort that always fits: a modest tongue mid-slope
        x = scene.width / 2
        y = scene.ground_y(rng, x, 0.15, 0.2)
        width = 0.2 * scene.short
        placed.append(landslide_polygon(rng, (x, y), 2.5 * width, width, 0.0))
    return placed


def place_vegetation(rng: Rng, scene: Scene, count: int) -> list[Polygon]:
    """Forest stands off the sky; landslides may cut through them (scars in a forest)."""
    terrain = scene.terrain()
    out: list[Polygon] = []
    for _ in range(count * 6):
        if len(out) == count:
            break
        poly = _vegetation_polygon(rng, scene)
        if poly.intersection(terrain).area > 0.8 * poly.area and is_free(poly, out, 2.0):
            out.append(poly)
    return out


def _vegetation_polygon(rng: Rng, scene: Scene) -> Polygon:
    """A forest stand: a large rough blob, wider than deep (seen obliquely)."""
    x = rng.uniform(0, 1) * scene.width
    y = scene.ground_y(rng, x, 0.05, 0.85)
    size = math.sqrt(rng.uniform(0.03, 0.16) * scene.width * scene.height) * scene.scale_at(y)
    aspect = rng.uniform(1.0, 2.2)
    return blob(rng, (x, y), (size * aspect / 1.6, size / 1.6), 0.45, rng.uniform(-0.3, 0.3))


def place_water(rng: Rng, scene: Scene, taken: list[Polygon]) -> list[tuple[Polygon, str]]:
    """A lake on the lower slope or a river winding down to the bottom edge."""
    for _ in range(12):
        if rng.random() < 0.5:
            poly, kind = _lake_polygon(rng, scene), "lake"
        else:
            poly, kind = _river_polygon(rng, scene), "river"
        inside = poly.intersection(scene.terrain()).area > 0.9 * poly.area
        if inside and is_free(poly, taken, gap=0.01 * scene.short):
            return [(poly, kind)]
    return []


def _lake_polygon(rng: Rng, scene: Scene) -> Polygon:
    x = rng.uniform(0.1, 0.9) * scene.width
    y = scene.ground_y(rng, x, 0.25, 0.9)
    size = math.sqrt(rng.uniform(0.02, 0.08) * scene.width * scene.height) * scene.scale_at(y)
    flat = rng.uniform(0.3, 0.55) if scene.horizon > 0 else rng.uniform(0.6, 1.0)
    return blob(rng, (x, y), (size, size * flat), 0.22, rng.uniform(-0.15, 0.15))


def _river_polygon(rng: Rng, scene: Scene) -> Polygon:
    """A band between two banks, from mid-slope to past the bottom edge, wider when near."""
    w, h = scene.width, scene.height
    x0 = rng.uniform(0.15, 0.85) * w
    y0 = scene.ground_y(rng, x0, 0.2, 0.5)
    ys = np.linspace(y0, h + 0.05 * h, 16)
    t = (ys - y0) / (ys[-1] - y0)
    centre = x0 + rng.uniform(0.05, 0.15) * w * np.sin(rng.uniform(2, 5) * t + rng.uniform(0, 6))
    centre += rng.uniform(-0.2, 0.2) * w * t
    half = w * (rng.uniform(0.004, 0.01) + rng.uniform(0.015, 0.04) * t)
    half *= 1 + 0.15 * line_noise(rng, 16, 2, 2)
    left = np.column_stack([centre - half, ys])
    right = np.column_stack([centre + half, ys])[::-1]
    return Polygon(np.vstack([left, right]))


def place_roads(rng: Rng, scene: Scene, landslide: bool) -> list[tuple[NDArray[np.float64], float]]:
    """0-2 dirt roads: contour roads across the slope or a serpentine down it."""
    count = int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15] if landslide else [0.35, 0.4, 0.25]))
    return [_road_line(rng, scene) for _ in range(count)]


def _road_line(rng: Rng, scene: Scene) -> tuple[NDArray[np.float64], float]:
    w, h = scene.width, scene.height
    if rng.random() < 0.6:  # along the contour, gently winding
        xs = np.linspace(-0.05 * w, 1.05 * w, 24)
        y0 = scene.ground_y(rng, w / 2, 0.15, 0.9)
        ys = y0 + rng.uniform(-0.15, 0.15) * h * np.linspace(-1, 1, 24)
        ys += rng.uniform(0.02, 0.06) * h * np.sin(rng.uniform(2, 6) * xs / w + rng.uniform(0, 6))
    else:  # down the slope in wide bends
        ys = np.linspace(scene.ground_y(rng, w / 2, 0.05, 0.3), 1.05 * h, 24)
        t = np.linspace(0, 1, 24)
        xs = rng.uniform(0.2, 0.8) * w + rng.uniform(0.08, 0.2) * w * np.sin(
            rng.uniform(4, 9) * t + rng.uniform(0, 6)
        )
    width = max(1.5, rng.uniform(0.004, 0.01) * scene.short * scene.scale_at(float(ys.mean())))
    return np.column_stack([xs, ys]), width


def place_buildings(rng: Rng, scene: Scene, taken: list[Polygon]) -> list[Polygon]:
    """0-6 houses in a loose cluster on open ground."""
    count = int(rng.choice([0, 0, 1, 2, 3, 4, 6]))
    if count == 0:
        return []
    cx = rng.uniform(0.1, 0.9) * scene.width
    cy = scene.ground_y(rng, cx, 0.3, 0.85)
    terrain = scene.terrain()
    houses: list[Polygon] = []
    for _ in range(count * 8):
        if len(houses) == count:
            break
        x = cx + rng.normal(0, 0.08) * scene.width
        y = cy + rng.normal(0, 0.05) * scene.height
        house = _house_polygon(rng, scene, x, y)
        if not terrain.contains(house):
            continue
        if is_free(house, [*taken, *houses], gap=0.006 * scene.short + 1):
            houses.append(house)
    return houses


def _house_polygon(rng: Rng, scene: Scene, x: float, y: float) -> Polygon:
    """A house front: a wall rectangle with a gable (5 corners) or a flat roof (4)."""
    bw = max(6.0, rng.uniform(0.025, 0.055) * scene.short * scene.scale_at(y) * 1.4)
    bh = bw * rng.uniform(0.55, 0.85)
    if rng.random() < 0.7:
        roof = bw * rng.uniform(0.3, 0.5)
        pts = [(x, y + bh), (x + bw, y + bh), (x + bw, y), (x + bw / 2, y - roof), (x, y)]
    else:
        pts = [(x, y + bh), (x + bw, y + bh), (x + bw, y - 0.1 * bh), (x, y - 0.1 * bh)]
    return Polygon(pts)
