"""Colours (RGB, 0..255) the scenes and objects are painted with."""

from __future__ import annotations

import numpy as np

# Palettes (RGB). Landslide debris and hard negatives share the soil colours on purpose:
# what tells them apart is shape, scarp, streaks and orientation, not a colour channel.
SOIL = np.array(
    [[150, 124, 90], [124, 102, 78], [166, 144, 106], [140, 132, 118], [148, 118, 86]],
    dtype=np.float32,
)
GRASS = np.array(
    [[96, 128, 58], [118, 138, 70], [138, 140, 84], [82, 112, 54], [108, 122, 62]],
    dtype=np.float32,
)
FOREST = np.array([[40, 64, 32], [50, 74, 38], [34, 56, 36], [56, 70, 34]], dtype=np.float32)
ROCK = np.array([[128, 126, 120], [112, 110, 106], [146, 140, 130]], dtype=np.float32)
WATER = np.array([[44, 72, 92], [52, 84, 96], [38, 64, 78]], dtype=np.float32)
WALLS = np.array([[226, 220, 204], [210, 196, 170], [236, 232, 224], [190, 176, 150]], np.float32)
ROOFS = np.array([[160, 70, 50], [120, 60, 45], [90, 88, 90], [176, 96, 60]], dtype=np.float32)
