"""The plan of a sample, decided for all photos at once: names, upright sizes, which
photos are negatives and which are stored rotated; and the seeded random streams and
array types the other modules share.

Everything is seeded from (seed, purpose, photo index) through `seeded_rng`: each choice
draws from its own stream, so the same params give byte-identical files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from landslide.params import SampleParams

F32 = NDArray[np.float32]
RGB = NDArray[np.float32]  # shape (3,), 0..255
Rng = np.random.Generator
# Width:height; landscape dominates, as in photo collections, and a quarter are portrait.
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (4, 3), (3, 2), (2, 3))


@dataclass(frozen=True)
class Plan:
    """One photo's name, upright size and role, decided for the whole sample at once."""

    index: int
    name: str
    width: int
    height: int
    landslide: bool
    orientation: int  # EXIF orientation; 1 = stored upright, no tag


def seeded_rng(seed: int, *key: int) -> Rng:
    """A generator for one purpose of one sample: (seed, key...) -> independent stream."""
    return np.random.default_rng(np.random.SeedSequence(seed % 2**64, spawn_key=key))


def plan_photos(p: SampleParams) -> list[Plan]:
    """Names, sizes, which photos are negatives and which are stored rotated.

    Each choice draws from its own stream, so changing one fraction changes nothing else.
    """
    n_negative = min(p.n, round(p.n * p.negative_fraction))
    negatives = set(seeded_rng(p.seed, 0, 0).permutation(p.n)[:n_negative].tolist())
    n_exif = round(p.n * p.exif_fraction)
    if p.exif_fraction > 0 and p.n >= 10:
        n_exif = max(1, n_exif)
    rng = seeded_rng(p.seed, 0, 1)
    rotated = rng.permutation(p.n)[:n_exif].tolist()
    orientations = {i: int(rng.choice([6, 8, 3], p=[0.45, 0.4, 0.15])) for i in rotated}
    if rotated:
        orientations[rotated[0]] = 6  # at least one quarter turn: width and height swap
    rng = seeded_rng(p.seed, 0, 2)
    aspects = [ASPECTS[k] for _ in range(0, p.n, len(ASPECTS)) for k in rng.permutation(8)]
    plans = []
    for i in range(p.n):
        width, height = _size(rng, aspects[i], p.min_side, p.max_side)
        plans.append(
            Plan(
                index=i,
                name=f"sample_{i + 1:04d}.jpg",
                width=width,
                height=height,
                landslide=i not in negatives,
                orientation=orientations.get(i, 1),
            )
        )
    return plans


def _size(rng: Rng, aspect: tuple[int, int], min_side: int, max_side: int) -> tuple[int, int]:
    """Upright (width, height): longer side in [min_side, max_side], shorter >= min_side."""
    a, b = aspect
    ratio = max(a, b) / min(a, b)
    long_lo = min(max_side, math.ceil(min_side * ratio))
    long = int(rng.integers(long_lo, max_side + 1))
    short = min(long, max(min_side, round(long / ratio)))
    return (long, short) if a >= b else (short, long)
