"""Hard negatives: soil-coloured look-alikes of a landslide that are never annotated
(ploughed fields, rock outcrops, round bare-soil patches; dirt roads come from `paint`).
They share the debris colours; shape, texture and orientation tell them apart.
"""

from __future__ import annotations

import math

import numpy as np
from shapely.geometry import Polygon

from landslide.sample.noise import contrast, fbm, value_noise
from landslide.sample.paint import Photo, blend, jitter, paint_area, stand_out
from landslide.sample.palette import GRASS, ROCK, SOIL
from landslide.sample.plan import Rng
from landslide.sample.scene import Scene
from landslide.sample.shapes import blob, is_free


def paint_hard_negatives(
    rng: Rng, photo: Photo, taken: list[Polygon], landslide: bool, has_road: bool
) -> None:
    """Soil-coloured look-alikes that are not landslides: fields, rock, bare patches.

    Every photo without a landslide gets at least one look-alike (a road counts);
    about half of the landslide photos get some too.
    """
    if landslide and rng.random() < 0.5:
        return
    kinds = ["ploughed field", "rock outcrop", "bare soil"]
    wanted = int(rng.integers(1, 4)) if not landslide else int(rng.integers(1, 3))
    if not landslide and has_road:
        wanted = max(0, wanted - 1)
    scene = photo.scene
    terrain = scene.terrain()
    placed: list[Polygon] = []
    for _ in range(wanted * 10):
        if len(placed) == wanted:
            break
        kind = str(rng.choice(kinds, p=[0.4, 0.25, 0.35]))
        poly = _look_alike_polygon(rng, scene, kind)
        if poly.intersection(terrain).area < 0.9 * poly.area:
            continue
        if not is_free(poly, [*taken, *placed], gap=0.01 * scene.short):
            continue
        placed.append(poly)
        painter = {"ploughed field": _paint_field, "rock outcrop": _paint_rock}
        painter.get(kind, _paint_bare)(rng, photo, poly)
        if kind not in photo.hard_negatives:
            photo.hard_negatives.append(kind)


def _look_alike_polygon(rng: Rng, scene: Scene, kind: str) -> Polygon:
    x = rng.uniform(0.05, 0.95) * scene.width
    y = scene.ground_y(rng, x, 0.1, 0.9)
    size = math.sqrt(rng.uniform(0.015, 0.12) * scene.width * scene.height) * scene.scale_at(y)
    if kind == "ploughed field":
        return _field_polygon(rng, x, y, size)
    if kind == "rock outcrop":
        return blob(rng, (x, y), (size * 0.55, size * 0.45), 0.6, rng.uniform(0, np.pi))
    ratio = rng.uniform(1.0, 1.6)  # round to oval, never tongue-like
    return blob(rng, (x, y), (size * 0.6 * ratio, size * 0.6), 0.35, rng.uniform(0, np.pi))


def _field_polygon(rng: Rng, x: float, y: float, size: float) -> Polygon:
    """A parallelogram, wider than deep, sheared as if seen on a slope."""
    a = rng.uniform(-0.25, 0.25)
    wide, deep = size * rng.uniform(0.8, 1.4), size * rng.uniform(0.35, 0.7)
    e1 = np.array([math.cos(a), math.sin(a)]) * wide / 2
    e2 = np.array([rng.uniform(-0.5, 0.5), 1.0]) * deep / 2
    c = np.array([x, y])
    return Polygon([c - e1 - e2, c + e1 - e2, c + e1 + e2, c - e1 + e2])


def _paint_field(rng: Rng, photo: Photo, polygon: Polygon) -> None:
    """Ploughed field: soil with regular parallel furrows along one side."""
    done = paint_area(photo, None, polygon, soft=0.7)
    if done is None:
        return
    patch, pixel = done
    xs, ys = patch.grid()
    coords = np.asarray(pixel.exterior.coords)
    edge = coords[1] - coords[0] if rng.random() < 0.6 else coords[2] - coords[1]
    normal = np.array([-edge[1], edge[0]]) / max(1e-6, float(np.hypot(*edge)))
    scale = photo.scene.scale_at(float(ys.mean()))
    period = max(2.5, rng.uniform(0.008, 0.016) * photo.scene.short * scale)
    furrow = 0.5 + 0.5 * np.sin(2 * np.pi * (xs * normal[0] + ys * normal[1]) / period)
    h, w = patch.alpha.shape
    grain = value_noise(rng, h, w, max(1.0, 0.004 * photo.scene.short))
    base = jitter(rng, SOIL, 10)
    green = rng.random() < 0.3
    colour = base * (0.78 + 0.3 * furrow + 0.1 * grain)[..., None]
    if green:  # a sprouting crop along the ridges
        colour += (np.array([104, 128, 60], np.float32) - colour) * (0.5 * furrow)[..., None]
    margin = float(rng.uniform(0, 25))  # as light as a scar, or not: brightness is no cue
    colour = stand_out(photo.image[patch.window], patch.alpha, colour, margin)
    blend(photo, patch, colour.astype(np.float32))


def _paint_rock(rng: Rng, photo: Photo, polygon: Polygon) -> None:
    """Rock outcrop: grey, craggy, with dark cracks and a lit side."""
    done = paint_area(photo, None, polygon, soft=0.8)
    if done is None:
        return
    patch, pixel = done
    h, w = patch.alpha.shape
    xs, ys = patch.grid()
    crag = fbm(rng, h, w, max(2.0, min(h, w) / 8), octaves=4)
    facets = fbm(rng, h, w, max(2.0, min(h, w) / 4), octaves=2)
    cracks = np.abs(facets - 0.5) < 0.02
    cx, cy = pixel.centroid.x, pixel.centroid.y
    lit = np.clip(1 - 0.4 * ((xs - cx) + (ys - cy)) / max(1.0, math.sqrt(pixel.area)), 0.7, 1.3)
    light = (0.6 + 0.7 * crag) * (0.85 + 0.3 * (facets > 0.5)) * lit * np.where(cracks, 0.75, 1)
    colour = jitter(rng, ROCK, 8) * light[..., None]
    blend(photo, patch, colour.astype(np.float32))


def _paint_bare(rng: Rng, photo: Photo, polygon: Polygon) -> None:
    """Bare soil: mottled soil colour, grainy, no scarp, no streaks, no direction."""
    done = paint_area(photo, None, polygon, soft=1.5)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    c1, c2 = jitter(rng, SOIL, 10), jitter(rng, SOIL, 10)
    mottle = contrast(fbm(rng, h, w, max(3.0, min(h, w) / 3), octaves=3), 1.8)
    grain = value_noise(rng, h, w, max(1.0, 0.004 * photo.scene.short))
    tufts = value_noise(rng, h, w, max(1.0, 0.01 * photo.scene.short)) > 0.75
    colour = (c1 + (c2 - c1) * mottle[..., None]) * (0.88 + 0.24 * grain)[..., None]
    colour = np.where(tufts[..., None], colour * 0.6 + GRASS[0] * 0.4, colour)
    margin = float(rng.uniform(0, 25))  # as light as a scar, or not: brightness is no cue
    colour = stand_out(photo.image[patch.window], patch.alpha, colour, margin)
    blend(photo, patch, colour.astype(np.float32))
