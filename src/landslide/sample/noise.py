"""Noise textures in 0..1: value noise, fractal noise, soft dots and 1-D line noise."""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageFilter

from landslide.sample.plan import F32, Rng


def value_noise(rng: Rng, h: int, w: int, cell: float, stretch: float = 1.0) -> F32:
    """Value noise in 0..1: a random grid every `cell` pixels, upscaled bicubically.

    `stretch` > 1 makes features that many times taller than wide (gullies down a slope).
    """
    cell = max(1.0, cell)
    gh = max(2, math.ceil(h / (cell * stretch)) + 1)
    gw = max(2, math.ceil(w / cell) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    out = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))
    return np.clip(out, 0, 1).astype(np.float32)


def fbm(rng: Rng, h: int, w: int, cell: float, octaves: int) -> F32:
    """Fractal noise: octaves of value noise, each half the cell and half the weight."""
    total = np.zeros((h, w), np.float32)
    weight = 0.0
    for k in range(octaves):
        size = cell / 2**k
        if size < 1.0:
            break
        total += 0.5**k * value_noise(rng, h, w, size)
        weight += 0.5**k
    return total / max(weight, 1e-6)


def dots(rng: Rng, h: int, w: int, density: float | F32, radius: float) -> F32:
    """Sparse soft round dots in 0..1 (shrubs, boulders): random pixels, blurred."""
    seeds = np.where(rng.random((h, w), dtype=np.float32) < density, 255, 0).astype(np.uint8)
    blurred = Image.fromarray(seeds).filter(ImageFilter.GaussianBlur(radius))
    peak = 1.0 / (2 * np.pi * radius**2) if radius > 0.5 else 1.0
    return np.clip(np.asarray(blurred, np.float32) / 255 / min(1.0, peak * 1.5), 0, 1)


def contrast(x: F32, gain: float) -> F32:
    return np.clip((x - 0.5) * gain + 0.5, 0, 1).astype(np.float32)


def line_noise(rng: Rng, n: int, cells: int, octaves: int) -> F32:
    """1-D fractal noise in about -1..1 over n samples (skylines, banks, centre lines)."""
    x = np.arange(n, dtype=np.float32)
    out = np.zeros(n, np.float32)
    for k in range(octaves):
        m = cells * 2**k + 2
        out += 0.5**k * np.interp(x, np.linspace(0, n - 1, m), rng.uniform(-1, 1, m))
    return out / 1.6
