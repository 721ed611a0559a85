"""The augmentation pipeline and its seeding.

The study multiplied its training photos with Keras' ImageDataGenerator (rotations,
shifts, flips, zoom, brightness). Here the same kinds of change come from
torchvision.transforms.v2, each applied with a probability from `AugmentParams`:
horizontal and vertical flip, rotation, affine shift and scale, resized crop (zoom
in), then, on the pixels only, colour jitter, Gaussian blur and Gaussian noise.

torchvision 0.29 flips KeyPoints as pixel indices (x -> W - 1 - x) while every other
geometric kernel (rotate, affine, resize, crop) treats them as continuous
coordinates, as polygons are; the flips here therefore flip KeyPoints as
x -> W - x (y -> H - y), so a flipped polygon lands exactly on its flipped pixels.

Copy k of image f is drawn from a torch seed hashed from (seed, f, k) (`sample_seed`):
the same params give the same bytes, with any number of worker processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from landslide.params import AugmentParams

CROP_SCALE = (0.6, 1.0)  # resized crop: fraction of the image kept, then zoomed back
CROP_RATIO = (3 / 4, 4 / 3)
BLUR_KERNEL = 5
BLUR_SIGMA = (0.1, 1.5)
NOISE_SIGMA = 0.03  # on the [0, 1] scale


def _flip_keypoints(inpt: tv_tensors.KeyPoints, axis: int) -> Any:
    """KeyPoints flipped as continuous coordinates: x -> W - x (axis 0), y -> H - y (1)."""
    out = inpt.as_subclass(torch.Tensor).clone()
    out[..., axis] = inpt.canvas_size[1 - axis] - out[..., axis]
    return tv_tensors.wrap(out, like=inpt)


class _HorizontalFlip(v2.RandomHorizontalFlip):
    """RandomHorizontalFlip that flips KeyPoints as continuous coordinates (x -> W - x)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.KeyPoints):
            return _flip_keypoints(inpt, 0)
        return super().transform(inpt, params)


class _VerticalFlip(v2.RandomVerticalFlip):
    """RandomVerticalFlip that flips KeyPoints as continuous coordinates (y -> H - y)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.KeyPoints):
            return _flip_keypoints(inpt, 1)
        return super().transform(inpt, params)


class _ZoomCrop(v2.RandomResizedCrop):
    """RandomResizedCrop resized back to the input's own size, whatever that is."""

    def __init__(self, scale: tuple[float, float], ratio: tuple[float, float]) -> None:
        super().__init__(size=(1, 1), scale=scale, ratio=ratio, antialias=True)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        params = super().make_params(flat_inputs)
        params["size"] = list(v2.query_size(flat_inputs))
        return params

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.resized_crop, inpt, **params, interpolation=self.interpolation, antialias=True
        )


def build_transforms(p: AugmentParams) -> v2.Compose:
    """The augmentation pipeline: geometric transforms, then photometric ones (image only)."""
    bilinear = v2.InterpolationMode.BILINEAR
    lo, hi = sorted(p.scale)
    return v2.Compose(
        [
            _HorizontalFlip(p=p.hflip),
            _VerticalFlip(p=p.vflip),
            v2.RandomApply([v2.RandomRotation(p.max_degrees, interpolation=bilinear)], p=p.rotate),
            v2.RandomApply(
                [
                    v2.RandomAffine(
                        degrees=0,
                        translate=(p.max_shift, p.max_shift),
                        scale=(lo, hi),
                        interpolation=bilinear,
                    )
                ],
                p=p.affine,
            ),
            v2.RandomApply([_ZoomCrop(CROP_SCALE, CROP_RATIO)], p=p.resized_crop),
            v2.RandomApply(
                [v2.ColorJitter(p.brightness, p.contrast, p.saturation)], p=p.color_jitter
            ),
            v2.RandomApply([v2.GaussianBlur(BLUR_KERNEL, BLUR_SIGMA)], p=p.blur),
            v2.RandomApply([v2.GaussianNoise(sigma=NOISE_SIGMA)], p=p.noise),
        ]
    )


def sample_seed(seed: int, file_name: str, copy: int) -> int:
    """The torch seed of copy `copy` of `file_name`: stable across runs, processes and platforms."""
    digest = hashlib.sha256(f"{seed}\0{file_name}\0{copy}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's CPU generator seeded with `seed` inside, restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
