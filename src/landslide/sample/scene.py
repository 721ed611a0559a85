"""The upright canvas of one photo: the skyline, a sky with clouds, the far ridge and the
textured near slope with relief shading; then aerial haze and the camera's touch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from shapely.geometry import Polygon

from landslide.sample.noise import contrast, dots, fbm, line_noise, value_noise
from landslide.sample.palette import GRASS
from landslide.sample.plan import F32, RGB, Rng


@dataclass(frozen=True)
class Scene:
    """The upright canvas: ridge line per column and the perspective it implies."""

    width: int
    height: int
    ridge: F32  # y of the skyline per column; < 0 where the photo shows no sky
    horizon: float  # mean ridge y clamped to the image (0 for a photo without sky)

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    def scale_at(self, y: float) -> float:
        """Object scale at row y: small near the horizon, 1 at the bottom edge."""
        depth = (y - self.horizon) / max(1.0, self.height - self.horizon)
        return 0.35 + 0.65 * float(np.clip(depth, 0.0, 1.0))

    def ground_y(self, rng: Rng, x: float, lo: float, hi: float) -> float:
        """A row below the ridge at column x, between fractions lo..hi of the slope."""
        top = max(0.0, float(self.ridge[int(np.clip(x, 0, self.width - 1))]))
        return top + float(rng.uniform(lo, hi)) * (self.height - top)

    def terrain(self) -> Polygon:
        """The ground below the ridge, as a polygon (used to keep objects off the sky)."""
        xs = np.linspace(0, self.width - 1, 48)
        ys = np.interp(xs, np.arange(self.width), self.ridge)
        top = [(float(x), float(y) + 1.0) for x, y in zip(xs, ys, strict=True)]
        bottom = [(self.width + 1.0, self.height + 1.0), (-1.0, self.height + 1.0)]
        return Polygon([(-1.0, top[0][1]), *top, (self.width + 1.0, top[-1][1]), *bottom])


def new_scene(rng: Rng, width: int, height: int) -> Scene:
    """A skyline: a fractal ridge a fifth to two fifths down, or none (a photo of the slope)."""
    if rng.random() < 0.2:
        ridge = np.full(width, -1.0, dtype=np.float32)
        return Scene(width, height, ridge, 0.0)
    base = rng.uniform(0.14, 0.4) * height
    amp = rng.uniform(0.05, 0.14) * height
    tilt = rng.uniform(-0.08, 0.08) * height * np.linspace(-1, 1, width)
    ridge = base + amp * line_noise(rng, width, cells=3, octaves=5) + tilt
    ridge = np.clip(ridge, 0.04 * height, 0.6 * height).astype(np.float32)
    return Scene(width, height, ridge, float(np.clip(ridge.mean(), 0, height)))


def sky_and_haze(rng: Rng, scene: Scene) -> tuple[F32, RGB]:
    """Sky gradient (deep blue on top, pale at the horizon), soft clouds; and the haze colour."""
    w, h = scene.width, scene.height
    overcast = rng.random() < 0.25
    if overcast:
        top = np.array([150, 160, 172], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
        low = np.array([200, 204, 208], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    else:
        top = np.array([72, 122, 196], np.float32) + rng.normal(0, 12, 3).astype(np.float32)
        low = np.array([196, 212, 228], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    span = max(1.0, scene.horizon + 0.05 * h)
    t = np.clip(np.arange(h, dtype=np.float32) / span, 0, 1) ** 0.8
    sky = top + (low - top) * t[:, None, None]
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    clouds = contrast(fbm(rng, h, w, cell=max(w, h) / 3, octaves=5), 2.2)
    amount = np.clip(clouds - rng.uniform(0.45, 0.65), 0, 1)[..., None] * (1.6 if overcast else 1.2)
    sky += (np.array([245, 246, 248], np.float32) - sky) * np.clip(amount, 0, 0.85)
    return sky, low


def composite_terrain(rng: Rng, scene: Scene, sky_haze: tuple[F32, RGB]) -> F32:
    """Sky, a hazy distant ridge, and the near slope below the ridge line."""
    sky, haze = sky_haze
    w, h = scene.width, scene.height
    rows = np.arange(h, dtype=np.float32)[:, None]
    image = sky.copy()
    if scene.horizon > 0:
        far = scene.ridge - rng.uniform(0.03, 0.1) * h * (1 + line_noise(rng, w, 4, 4))
        far_colour = haze * 0.74 + np.array([34, 42, 54], np.float32) * rng.uniform(0.7, 1.1)
        shade = 0.92 + 0.12 * fbm(rng, h, w, cell=max(4.0, w / 30), octaves=3)
        alpha = np.clip(rows - far[None, :] + 0.5, 0, 1)[..., None]
        image += (far_colour * shade[..., None] - image) * alpha
    ground = _terrain(rng, scene)
    alpha = np.clip(rows - scene.ridge[None, :] + 0.5, 0, 1)[..., None]
    image += (ground - image) * alpha
    return image.astype(np.float32)


def _terrain(rng: Rng, scene: Scene) -> F32:
    """Grass and scrub: two greens mixed by low-frequency noise, grain, relief shading."""
    w, h = scene.width, scene.height
    pick = rng.choice(len(GRASS), 2, replace=False)
    c1, c2 = (GRASS[i] + rng.normal(0, 7, 3).astype(np.float32) for i in pick)
    rows = _ground_rows(scene)
    mix = contrast(fbm(rng, h, w, cell=max(w, h) / 3, octaves=4), 2.0)[rows]
    grain = fbm(rng, h, w, cell=max(3.0, scene.short / 45), octaves=3)[rows]
    fine = value_noise(rng, h, w, cell=max(1.0, scene.short / 200))[rows]
    height_field = fbm(rng, h, w, cell=scene.short / 2.2, octaves=2)
    gullies = value_noise(rng, h, w, scene.short / rng.uniform(8, 16), stretch=rng.uniform(2, 3))
    height_field = height_field + rng.uniform(0.04, 0.12) * gullies[rows]
    colour = c1 + (c2 - c1) * mix[..., None]
    light = (0.82 + 0.3 * grain + 0.1 * fine) * _relief(rng, height_field, scene.short)
    colour = colour * light[..., None]
    # scattered shrubs and lone trees, denser in places
    density = fbm(rng, h, w, cell=max(w, h) / 4, octaves=2)
    dark = dots(rng, h, w, rng.uniform(0.002, 0.012) * density, max(0.6, scene.short / 500))
    colour *= (1 - 0.4 * dark)[..., None]
    return colour.astype(np.float32)


def _relief(rng: Rng, height_field: F32, short: int) -> F32:
    """Hill shading of a height field lit from the upper left or right."""
    gy, gx = np.gradient(height_field * short * rng.uniform(0.3, 0.5))
    lx = rng.choice([-1.0, 1.0]) * 0.7
    shade = 1.0 + 0.4 * (gx * lx + gy * -0.7) / np.sqrt(1 + gx**2 + gy**2)
    return np.clip(shade, 0.7, 1.25).astype(np.float32)


def _ground_rows(scene: Scene) -> NDArray[np.intp]:
    """Row index map that compresses texture toward the horizon (perspective)."""
    h, hz = scene.height, scene.horizon
    y = np.arange(h, dtype=np.float32)
    depth = np.clip((y - hz) / max(1.0, h - 1 - hz), 0, 1)
    mapped = np.where(y > hz, hz + (h - 1 - hz) * depth**0.6, y)
    return np.clip(np.rint(mapped), 0, h - 1).astype(np.intp)


def apply_haze(rng: Rng, image: F32, scene: Scene, sky_haze: tuple[F32, RGB]) -> None:
    """Aerial perspective: the ground fades toward the haze colour near the horizon."""
    if scene.horizon <= 0:
        return
    haze = sky_haze[1]
    rows = np.arange(scene.height, dtype=np.float32)[:, None]
    below = rows - scene.ridge[None, :]
    reach = rng.uniform(0.15, 0.35) * (scene.height - scene.horizon)
    weight = rng.uniform(0.35, 0.6) * np.exp(-np.clip(below, 0, None) / reach)
    weight = np.where(below > 0, weight, 0.0)[..., None]
    image += (haze - image) * weight


def apply_camera(rng: Rng, image: F32) -> None:
    """A camera's touch: colour cast, vignetting and sensor noise."""
    h, w, _ = image.shape
    image *= (1 + rng.normal(0, 0.03, 3)).astype(np.float32)
    yy, xx = np.ogrid[-1 : 1 : complex(0, h), -1 : 1 : complex(0, w)]
    image *= (1 - rng.uniform(0.05, 0.18) * (xx**2 + yy**2) / 2)[..., None].astype(np.float32)
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)
