"""Training data: COCO JSON + images -> (image, target) pairs for torchvision's Mask R-CNN.

detectron2's shape: `dataset_dicts(json, images_dir, classes)` returns one plain dict per
image (path, size, instances as polygons with category ids), and `DetectionDataset`
maps one dict to tensors (the mapper: read the image, rasterise the polygons, apply
the optional transform)::

    ds = DetectionDataset(dataset_dicts(Path("train.json"), Path("images"), params.classes),
                          transform=OnlineAugment(params.augment))
    loader = DataLoader(ds, batch_size=4, shuffle=True, collate_fn=collate_fn)

One sample is `(image, target)`: `image` float32 3 x H x W in [0, 1]; `target` with
`boxes` (N x 4 float32, XYXY, pixel edges), `labels` (N int64, category ids 1..N in the
order of Params' classes), `masks` (N x H x W uint8), `image_id` (int64 scalar, the
image's index in the dataset), `area` (N float32, mask pixels) and `iscrowd` (N int64).
A negative (no regions) has `boxes` 0 x 4, `labels` and `area` 0, `masks` 0 x H x W.
Instances whose polygon covers no pixel centre are dropped (a box of zero width
would stop torchvision's Mask R-CNN).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from torch.utils.data import Dataset

from landslide.annotations.coco import read_coco
from landslide.annotations.images import image_path
from landslide.augment import mask_boxes, rasterize
from landslide.errors import AnnotationError

Sample = tuple[torch.Tensor, dict[str, torch.Tensor]]
Transform = Callable[[torch.Tensor, dict[str, Any]], tuple[torch.Tensor, dict[str, Any]]]


def dataset_dicts(
    json_path: Path,
    images_dir: Path,
    classes: Sequence[str],
    *,
    keep: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """One dict per image: file_name (path), image_id, width, height, annotations.

    Each annotation: `category_id` (1..N in `classes` order) and `polygon` [(x, y), ...].
    Labels that are not in `classes` are an AnnotationError; images must exist. With
    `keep` (a model's classes, a subset of `classes`: train.classes), regions of the
    other classes are left out (they are background to it) and category ids are 1..N in
    `keep` order.
    """
    json_path, images_dir = Path(json_path), Path(images_dir)
    ann = read_coco(json_path)
    known = set(classes)
    ids = {name: i for i, name in enumerate(keep if keep is not None else classes, start=1)}
    out = []
    for index, image in enumerate(ann.images):
        path = image_path(images_dir, image.file_name, json_path)
        annotations = []
        for region in image.regions:
            if region.label not in known:
                raise AnnotationError(
                    f"class {region.label!r} is not one of the classes ({', '.join(classes)})",
                    file=json_path,
                    where=f"image {image.file_name!r} region {region.region_id}",
                )
            if region.label in ids:
                annotations.append({"category_id": ids[region.label], "polygon": region.polygon})
        out.append(
            {
                "file_name": str(path),
                "image_id": index,
                "width": image.width,
                "height": image.height,
                "annotations": annotations,
                "has_landslide": image.has_landslide,
            }
        )
    return out


def read_image(path: str | Path) -> torch.Tensor:
    """uint8 3 x H x W, upright (EXIF orientation applied), RGB."""
    try:
        with Image.open(path) as raw:
            rgb = ImageOps.exif_transpose(raw).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise AnnotationError(f"cannot read image: {exc}", file=path) from None
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()


def make_target(record: dict[str, Any], height: int, width: int) -> dict[str, torch.Tensor]:
    """Masks rasterised from the polygons; boxes are the masks' bounding boxes."""
    instances = record["annotations"]
    masks = np.zeros((len(instances), height, width), dtype=np.uint8)
    for i, inst in enumerate(instances):
        masks[i] = rasterize(inst["polygon"], height, width)
    masks_t = torch.from_numpy(masks)
    areas = masks_t.flatten(1).sum(1).to(torch.float32)
    keep = areas > 0
    masks_t = masks_t[keep]
    labels = torch.tensor([a["category_id"] for a in instances], dtype=torch.int64)[keep]
    return {
        "boxes": mask_boxes(masks_t),
        "labels": labels,
        "masks": masks_t,
        "image_id": torch.tensor(record["image_id"], dtype=torch.int64),
        "area": areas[keep],
        "iscrowd": torch.zeros(len(labels), dtype=torch.int64),
    }


class DetectionDataset(Dataset[Sample]):
    """The mapper over `dataset_dicts`: reads, rasterises, transforms (uint8), scales to [0, 1]."""

    def __init__(self, records: Sequence[dict[str, Any]], transform: Transform | None = None):
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Sample:
        record = self.records[index]
        image = read_image(record["file_name"])
        height, width = image.shape[-2:]
        if record["width"] is not None and (width, height) != (record["width"], record["height"]):
            raise AnnotationError(
                f"image is {width}x{height} but the annotations say "
                f"{record['width']}x{record['height']}",
                file=record["file_name"],
                hint="train on the prepared images the split's JSON was written for",
            )
        target = make_target(record, height, width)
        if self.transform is not None:
            image, target = self.transform(image, target)
            image = image.as_subclass(torch.Tensor)
            target = {
                k: v.as_subclass(torch.Tensor) if isinstance(v, torch.Tensor) else v
                for k, v in target.items()
            }
            target["boxes"] = target["boxes"].to(torch.float32).reshape(-1, 4)
            target["labels"] = target["labels"].to(torch.int64)
            target["masks"] = target["masks"].to(torch.uint8)
            target["iscrowd"] = target["iscrowd"].to(torch.int64)
        if image.dtype == torch.uint8:
            image = image.to(torch.float32).div_(255.0)
        return image, target

    def has_landslide(self, index: int) -> bool:
        return bool(self.records[index]["has_landslide"])


def collate_fn(batch: Sequence[Sample]) -> tuple[tuple[torch.Tensor, ...], tuple[dict, ...]]:
    """Images of different sizes stay a tuple (Mask R-CNN batches them itself)."""
    return tuple(zip(*batch, strict=True))  # type: ignore[return-value]
