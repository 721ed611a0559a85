"""Augmented copies of the training split: pixels, masks, boxes and polygons move together.

Two ways to use it (`augment.mode` in params.yaml): **offline** (default), `augment()`
writes the originals plus `copies` JPEG copies of each training photo and their COCO
JSON; **online**, `augment()` writes the originals only and training applies
`OnlineAugment(p)` to each sample. Only training splits are ever augmented.

- `transforms`: the torchvision v2 pipeline (`build_transforms`) and per-copy seeding.
- `geometry`: one image and its polygons through the pipeline, clipped to the image
  (`augment_image`), and masks from polygons / boxes from masks (`rasterize`, `mask_boxes`).
- `online`: `OnlineAugment`, the same transforms on a training sample's masks.
- `copies`: the offline copies of one image (run in worker processes), named `copy_name`.
- `offline`: the `augment` stage: every image, its summary, the directory swapped in;
  `augment_set` (one set with its paths and params, as dvc.yaml runs it).
"""

from landslide.augment.copies import copy_name
from landslide.augment.geometry import AugmentedImage, augment_image, mask_boxes, rasterize
from landslide.augment.offline import AugmentSummary, augment, augment_set, resolve_workers
from landslide.augment.online import OnlineAugment
from landslide.augment.transforms import build_transforms, sample_seed, seeded

__all__ = [
    "AugmentSummary",
    "AugmentedImage",
    "OnlineAugment",
    "augment",
    "augment_image",
    "augment_set",
    "build_transforms",
    "copy_name",
    "mask_boxes",
    "rasterize",
    "resolve_workers",
    "sample_seed",
    "seeded",
]
