"""Painting objects into a photo: a polygon becomes a soft mask, the pixels under it take
the object's texture (forest, water, road, house, landslide debris).

Every object is painted through the raster of its integer polygon, and what is painted
is recorded, so the annotation is the visible pixels (see `photo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter
from shapely.geometry import Polygon

from landslide.sample.noise import contrast, dots, fbm, value_noise
from landslide.sample.palette import FOREST, GRASS, ROOFS, SOIL, WALLS, WATER
from landslide.sample.plan import F32, Rng
from landslide.sample.scene import Scene
from landslide.sample.shapes import (
    MAX_LANDSLIDE_VERTICES,
    MAX_VERTICES,
    Tongue,
    min_region_area,
    to_pixels,
)


@dataclass(frozen=True)
class Patch:
    """A soft mask over a window of the image: where and how much to paint."""

    x0: int
    y0: int
    alpha: F32  # (h, w) in 0..1

    @property
    def window(self) -> tuple[slice, slice]:
        h, w = self.alpha.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def grid(self) -> tuple[F32, F32]:
        """Image x and y coordinates of every pixel in the window."""
        h, w = self.alpha.shape
        ys, xs = np.mgrid[self.y0 : self.y0 + h, self.x0 : self.x0 + w]
        return xs.astype(np.float32), ys.astype(np.float32)


@dataclass
class Photo:
    """One photo being composed: geometry first, then paint, then annotation."""

    scene: Scene
    image: F32  # (h, w, 3), 0..255
    painted: list[tuple[str, Polygon]] = field(default_factory=list)  # class, as painted
    hard_negatives: list[str] = field(default_factory=list)


def rasterise(scene: Scene, geometry: Polygon, soft: float) -> Patch | None:
    """Rasterise a polygon into a soft mask over its bounding window."""
    pad = math.ceil(3 * soft) + 2
    minx, miny, maxx, maxy = geometry.bounds
    x0, y0 = max(0, math.floor(minx) - pad), max(0, math.floor(miny) - pad)
    x1 = min(scene.width, math.ceil(maxx) + pad + 1)
    y1 = min(scene.height, math.ceil(maxy) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    pts = [(float(x) - x0, float(y) - y0) for x, y in np.asarray(geometry.exterior.coords)]
    ImageDraw.Draw(mask).polygon(pts, fill=255)
    if soft > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(soft))
    return Patch(x0, y0, np.asarray(mask, dtype=np.float32) / 255.0)


def blend(photo: Photo, patch: Patch, colour: F32) -> None:
    window = photo.image[patch.window]
    window += (colour - window) * patch.alpha[..., None]


def jitter(rng: Rng, palette: F32, spread: float) -> F32:
    colour = palette[int(rng.integers(len(palette)))]
    return (colour + rng.normal(0, spread, 3)).astype(np.float32)


def paint_area(
    photo: Photo, label: str | None, polygon: Polygon, soft: float
) -> tuple[Patch, Polygon] | None:
    """Round a polygon to pixels, record it if annotated, and return its soft mask."""
    scene = photo.scene
    max_vertices = MAX_LANDSLIDE_VERTICES if label == "landslide" else MAX_VERTICES
    parts = to_pixels(polygon, scene.width, scene.height, min_region_area(scene), max_vertices)
    if not parts:
        return None
    pixel = parts[0]
    patch = rasterise(scene, pixel, soft)
    if patch is None:
        return None
    if label is not None:
        photo.painted.append((label, pixel))
    return patch, pixel


def paint_vegetation(rng: Rng, photo: Photo, polygon: Polygon) -> None:
    """Forest: dark green with tree crowns (bright tops, dark gaps) and a lit side."""
    done = paint_area(photo, "vegetation", polygon, soft=1.0)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    scale = photo.scene.scale_at(patch.y0 + h / 2)
    crown = max(1.0, rng.uniform(0.006, 0.012) * photo.scene.short * scale)
    crowns = value_noise(rng, h, w, crown) * 0.7 + value_noise(rng, h, w, crown / 2) * 0.3
    shade = 0.45 + 1.0 * crowns**1.5 - 0.2 * (crowns < 0.35)
    xs, ys = patch.grid()
    lit = 1 + 0.12 * np.sin((xs - ys) / max(1.0, crown) * 1.3)  # crown tops catch the light
    tone = contrast(fbm(rng, h, w, max(2.0, w / 4), octaves=2), 1.6)
    c1, c2 = jitter(rng, FOREST, 5), jitter(rng, FOREST, 5) * rng.uniform(1.0, 1.35)
    colour = (c1 + (c2 - c1) * tone[..., None]) * (shade * lit)[..., None]
    blend(photo, patch, colour.astype(np.float32))


def paint_water(rng: Rng, photo: Photo, polygon: Polygon, kind: str) -> None:
    """Water: dark blue-green, sky reflection toward the far bank, horizontal ripples."""
    done = paint_area(photo, "water_body", polygon, soft=0.8)
    if done is None:
        return
    patch, pixel = done
    h, w = patch.alpha.shape
    _, ys = patch.grid()
    deep = jitter(rng, WATER, 6)
    reflect = np.array([150, 170, 186], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
    miny, maxy = pixel.bounds[1], pixel.bounds[3]
    t = np.clip((ys - miny) / max(1.0, maxy - miny), 0, 1)
    reflection = rng.uniform(0.15, 0.45)
    amount = reflection * (1 - t) if kind == "lake" else np.full_like(t, reflection * 0.6)
    ripples = np.asarray(
        Image.fromarray(value_noise(rng, h, max(2, w // 10), cell=1.5)).resize(
            (w, h), Image.Resampling.BILINEAR
        )
    )
    colour = deep + (reflect - deep) * (amount + 0.2 * (ripples - 0.5))[..., None]
    blend(photo, patch, colour.astype(np.float32))


def paint_road(rng: Rng, photo: Photo, line: NDArray[np.float64], width: float) -> None:
    """A dirt road: a thin, pale soil line with soft edges (never annotated)."""
    scene = photo.scene
    mask = Image.new("L", (scene.width, scene.height), 0)
    pts = [(float(x), float(y)) for x, y in line]
    ImageDraw.Draw(mask).line(pts, fill=255, width=max(2, round(width)), joint="curve")
    alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(0.7)), np.float32) / 255.0
    alpha = alpha * (np.arange(scene.height)[:, None] > scene.ridge[None, :] + 2)
    colour = jitter(rng, SOIL, 8) * rng.uniform(1.0, 1.15)
    grain = 0.9 + 0.2 * value_noise(rng, scene.height, scene.width, 2.0)
    photo.image += (colour * grain[..., None] - photo.image) * alpha[..., None]
    if "dirt road" not in photo.hard_negatives:
        photo.hard_negatives.append("dirt road")


def paint_building(rng: Rng, photo: Photo, house: Polygon) -> None:
    """A house: wall colour, a roof over the top part, a dark door or windows."""
    done = paint_area(photo, "building", house, soft=0.0)
    if done is None:
        return
    patch, pixel = done
    xs, ys = patch.grid()
    miny, maxy = pixel.bounds[1], pixel.bounds[3]
    eave = miny + (maxy - miny) * rng.uniform(0.3, 0.45)
    wall, roof = jitter(rng, WALLS, 6), jitter(rng, ROOFS, 8)
    colour = np.where((ys < eave)[..., None], roof, wall)
    minx, maxx = pixel.bounds[0], pixel.bounds[2]
    door = (np.abs(xs - (minx + maxx) / 2) < max(1.0, (maxx - minx) / 10)) & (
        ys > maxy - (maxy - eave) * 0.55
    )
    colour = np.where(door[..., None], np.float32(0.35) * wall, colour)
    blend(photo, patch, colour.astype(np.float32))


def debris_style(rng: Rng) -> dict[str, Any]:
    """One photo's debris: two soil colours, a pale scarp, how streaky the flow is."""
    return {
        # fresh debris: a little brighter than the same soil weathered in a field
        "soil": (jitter(rng, SOIL, 10) * 1.08, jitter(rng, SOIL, 10) * 1.08),
        "scarp": np.array([206, 190, 160], np.float32) + rng.normal(0, 10, 3).astype(np.float32),
        "streaks": rng.uniform(0.3, 0.5),
        "regrowth": rng.uniform(0.1, 0.5),
    }


def paint_landslide(rng: Rng, photo: Photo, tongue: Tongue, style: dict[str, Any]) -> None:
    """Debris in the flow frame: pale scarp at the head, streaks along the flow, dark rims."""
    scene = photo.scene
    soft = max(0.8, 0.004 * scene.short)
    done = paint_area(photo, "landslide", tongue.polygon, soft=soft)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    xs, ys = patch.grid()
    dx, dy = xs - tongue.head[0], ys - tongue.head[1]
    s = dx * tongue.down[0] + dy * tongue.down[1]
    u = dx * tongue.down[1] - dy * tongue.down[0]
    t = np.clip(s / tongue.length, 0, 1)
    half = np.interp(t, tongue.ts, tongue.half_width).astype(np.float32)
    q = u / np.maximum(half, 1.0)  # -1..1 across the body
    c1, c2 = style["soil"]
    mottle = fbm(rng, h, w, max(3.0, min(h, w) / 3), octaves=3)
    colour = c1 + (c2 - c1) * mottle[..., None]
    colour = colour * (1 + 0.1 * np.clip(1 - np.abs(q), 0, 1))[..., None]  # paler centre line
    wmax = float(tongue.half_width.max())
    skew = rng.uniform(-0.12, 0.12)  # streaks fan out a little toward the toe
    along = u * (1 - 0.35 * t) - skew * s
    streak = _streaks(rng, along, wmax, 5) + 0.5 * _streaks(rng, along, wmax, 14)
    streak = streak / 1.5 - 0.5
    grain = fbm(rng, h, w, max(1.5, 0.008 * scene.short), octaves=2)
    boulders = dots(rng, h, w, 0.01, max(0.5, 0.0015 * scene.short))
    pebbles = dots(rng, h, w, 0.008, max(0.5, 0.0015 * scene.short))
    light = (1 - style["streaks"] * 1.6 * streak) * (0.92 + 0.16 * grain)
    light *= (1 - 0.35 * boulders) * (1 + 0.2 * pebbles)
    light *= np.where(q > 0, 1 - 0.3 * np.clip((q - 0.55) / 0.45, 0, 1), 1.0)  # shaded rim
    light *= np.where(q < 0, 1 + 0.12 * np.clip((-q - 0.55) / 0.45, 0, 1), 1.0)  # lit rim
    colour = colour * light[..., None]
    # the scarp: a pale band that follows the head arc, a faint shadow at its foot
    depth, crown_half, offset = tongue.crown
    arc = -depth * np.sqrt(np.clip(1 - ((u - offset) / crown_half) ** 2, 0, 1))
    below_crown = (s - arc) / tongue.length
    reach = rng.uniform(0.08, 0.16)
    scarp = np.clip(1.2 - below_crown / reach, 0, 1)[..., None] * 0.85
    colour += (style["scarp"] * (0.88 + 0.24 * grain[..., None]) - colour) * scarp
    colour *= 1 - 0.15 * np.exp(-(((below_crown - reach * 1.2) / 0.02) ** 2))[..., None]
    toe = np.clip((t - 0.7) / 0.3, 0, 1)[..., None]
    tufts = value_noise(rng, h, w, max(1.0, 0.008 * scene.short))
    toe_colour = np.where((tufts > 0.7)[..., None], GRASS[3] * 0.8, colour * 0.85)
    colour += (toe_colour - colour) * toe * style["regrowth"] * (0.5 + tufts[..., None])
    colour = stand_out(photo.image[patch.window], patch.alpha, colour)
    blend(photo, patch, colour.astype(np.float32))


def stand_out(background: F32, alpha: F32, colour: F32, margin: float = 22.0) -> F32:
    """Brighten debris that would vanish into dry grass: fresh scars are lighter than it."""
    outside, inside = alpha < 0.05, alpha > 0.5
    if not outside.any() or not inside.any():
        return colour
    luma = np.array([0.3, 0.59, 0.11], np.float32)
    gap = float(background[outside].mean(0) @ luma) + margin - float(colour[inside].mean(0) @ luma)
    return colour + gap if gap > 0 else colour


def _streaks(rng: Rng, across: F32, half_width: float, count: float) -> F32:
    """Bands along the flow: 1-D noise across it, about `count` bands per half width."""
    step = max(1.5, half_width / count)
    knots = np.arange(-2.5 * half_width, 2.5 * half_width + step, step)
    return np.interp(across, knots, rng.random(len(knots))).astype(np.float32)
