"""Online augmentation (`augment.mode: online`): training applies `OnlineAugment(p)` to
each sample in its Dataset::

    aug = OnlineAugment(params.augment) if params.augment.mode == "online" else None
    ...
    def __getitem__(self, i):
        image, target = read_sample(i)       # uint8 or float CxHxW, masks/boxes/labels
        if aug is not None:
            image, target = aug(image, target)
        return image, target

The DataLoader's per-worker torch seeds (set from `train.seed`) make the draws
reproducible. Validation and test samples never go through it.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision import tv_tensors

from landslide.augment.geometry import MIN_AREA, mask_boxes
from landslide.augment.transforms import build_transforms
from landslide.params import AugmentParams


class OnlineAugment:
    """The same transforms on the fly: `(image, target) -> (image, target)` for a Dataset.

    `image`: uint8 or float tensor C x H x W (or `tv_tensors.Image`). `target`: `masks`
    (N x H x W), `labels` (N), optionally `boxes` (N x 4, XYXY), `area`, `iscrowd`, and
    per-image entries such as `image_id` that pass through. Instances whose mask keeps
    fewer than `min_area` pixels are dropped from every per-instance entry; `boxes`
    (and `area`) are recomputed from the moved masks. No polygons: training reads masks.
    """

    PER_INSTANCE = ("masks", "boxes", "labels", "area", "iscrowd")

    def __init__(self, p: AugmentParams, *, min_area: float = MIN_AREA) -> None:
        self.transforms = build_transforms(p)
        self.min_area = min_area

    def __call__(
        self, image: torch.Tensor, target: dict[str, Any]
    ) -> tuple[tv_tensors.Image, dict[str, Any]]:
        height, width = image.shape[-2:]
        target = dict(target)
        masks = torch.as_tensor(target["masks"])
        if masks.dtype == torch.bool:
            masks = masks.to(torch.uint8)
        target["masks"] = tv_tensors.Mask(masks)
        boxes = target.get("boxes")
        target["boxes"] = tv_tensors.BoundingBoxes(
            mask_boxes(masks) if boxes is None else torch.as_tensor(boxes, dtype=torch.float32),
            format="XYXY",
            canvas_size=(height, width),
        )
        out_image, out = self.transforms(tv_tensors.Image(image), target)
        moved = out["masks"]
        areas = moved.as_subclass(torch.Tensor).flatten(1).sum(1) if len(moved) else None
        keep = areas >= self.min_area if areas is not None else torch.zeros(0, dtype=torch.bool)
        for key in self.PER_INSTANCE:
            if key in out and isinstance(out[key], torch.Tensor) and len(out[key]) == len(keep):
                out[key] = out[key][keep]  # indexing unwraps tv_tensors: plain tensors here
        out["masks"] = tv_tensors.Mask(out["masks"])
        out["boxes"] = tv_tensors.BoundingBoxes(
            mask_boxes(out["masks"].as_subclass(torch.Tensor)),
            format="XYXY",
            canvas_size=tuple(out_image.shape[-2:]),
        )
        if "area" in out and areas is not None:
            out["area"] = areas[keep].to(torch.float32)
        return out_image, out
