"""Photos in: read upright (EXIF orientation applied), converted and stretched to the
model's input size as `prepare` does (the study's resize; Lanczos), run through a detector."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from PIL import Image, ImageOps

if TYPE_CHECKING:
    from landslide.inference.detector import Detector


def read_photo(path: Path, max_pixels: int) -> Image.Image:
    """The photo upright (EXIF orientation applied), decoded; BadImage when it is not one."""
    from landslide.annotations.images import BadImage, open_image

    image = open_image(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
    except Exception as exc:  # truncated or corrupt data
        image.close()
        raise BadImage(f"cannot decode: {exc}") from None
    return image


def model_input(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """An upright photo as the model takes it: RGB, stretched to `size` (w, h), CHW in [0, 1]."""
    from landslide.prepare import REDUCING_GAP, to_rgb

    rgb = to_rgb(image)
    if rgb.size != tuple(size):
        rgb = rgb.resize(tuple(size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)


def forward(detector: Detector, images: Sequence[Image.Image]) -> list[dict[str, torch.Tensor]]:
    """The detector's raw outputs (at its input size) for PIL images of any size."""
    if not images:
        return []
    size = tuple(detector.info.size)
    return detector([model_input(image, size) for image in images])  # type: ignore[arg-type]
