"""Predictions as JSON sees them: each photo's image-level decision and its instances
(class, score, box, RLE and polygons) in the photo's own pixels.

`detect(detector, images, threshold=…)`: PIL images of any size -> `ImagePrediction`s.
Each photo is stretched to the model's input size as `prepare` does (the study's
resize; Lanczos), the outputs are mapped back to the photo's own pixels (`masks`). Each
instance carries its class, score, box (x, y, w, h), an RLE (pycocotools, counts as str)
and polygons (outer rings of the mask, simplified by `predict.simplify` pixels). The
image-level decision is the study's (`rule`): a landslide detection scoring at least the
threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from landslide.inference.masks import Detection, coco_polygons, mask_geometry, to_original
from landslide.inference.photos import forward
from landslide.inference.rule import LANDSLIDE, best_score, is_detected, landslide_label

if TYPE_CHECKING:
    from landslide.inference.detector import Detector
    from landslide.model import ModelInfo


@dataclass
class Instance:
    """One detection as JSON sees it: class, score, box (x, y, w, h), RLE and polygons."""

    category: str
    label: int
    score: float
    box: list[float]  # x, y, width, height in the photo's pixels
    rle: dict[str, Any]  # {"size": [height, width], "counts": str}
    polygon: list[list[float]]  # outer rings, [x0, y0, x1, y1, ...] each (COCO polygons)
    area: int  # mask pixels

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "label": self.label,
            "score": round(self.score, 6),
            "box": [round(v, 3) for v in self.box],
            "area": self.area,
            "rle": dict(self.rle),
            "polygon": [list(ring) for ring in self.polygon],
        }


@dataclass
class ImagePrediction:
    """One photo: its size, the image-level decision at the threshold, its instances."""

    width: int
    height: int
    detected: bool  # a landslide detection scores at least the threshold
    max_score: float  # the best landslide score (0 when none)
    instances: list[Instance] = field(default_factory=list)
    threshold: float = 0.8
    file_name: str | None = None

    @property
    def prediction(self) -> str:
        return LANDSLIDE if self.detected else f"non_{LANDSLIDE}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file_name": self.file_name} if self.file_name else {}
        out.update(
            {
                "width": self.width,
                "height": self.height,
                "detected": self.detected,
                "prediction": self.prediction,
                "max_score": round(self.max_score, 6),
                "threshold": self.threshold,
                "instances": [inst.to_json() for inst in self.instances],
            }
        )
        return out


def instance_of(det: Detection, classes: Sequence[str], size: tuple[int, int], simplify: float):
    """A Detection (photo pixels) as an `Instance` with RLE and polygons."""
    from pycocotools import mask as mask_util

    width, height = size
    rle = mask_util.encode(det.full_mask(width, height))
    rle["counts"] = rle["counts"].decode("ascii")
    rle["size"] = [int(v) for v in rle["size"]]
    x0, y0, x1, y1 = det.box
    name = classes[det.label - 1] if 0 < det.label <= len(classes) else str(det.label)
    return Instance(
        category=name,
        label=det.label,
        score=det.score,
        box=[x0, y0, x1 - x0, y1 - y0],
        rle=rle,
        polygon=coco_polygons(mask_geometry(det.mask, det.x, det.y, simplify)),
        area=int(det.mask.sum()),
    )


def prediction_of(
    output: dict[str, torch.Tensor],
    info: ModelInfo,
    size: tuple[int, int],
    *,
    threshold: float,
    min_score: float,
    mask_threshold: float,
    simplify: float = 0.0,
    file_name: str | None = None,
) -> ImagePrediction:
    """One photo's `ImagePrediction` from the detector's output at the model's input size."""
    best = best_score(output, landslide_label(info.classes))
    detections = to_original(
        output, info.size, size, min_score=min_score, mask_threshold=mask_threshold
    )
    return ImagePrediction(
        width=int(size[0]),
        height=int(size[1]),
        detected=is_detected(best, threshold),
        max_score=best,
        instances=[instance_of(d, info.classes, size, simplify) for d in detections],
        threshold=threshold,
        file_name=file_name,
    )


def detect(
    detector: Detector,
    images: Sequence[Image.Image],
    *,
    threshold: float,
    mask_threshold: float = 0.5,
    min_score: float | None = None,
    simplify: float = 0.0,
) -> list[ImagePrediction]:
    """Predictions for upright PIL images of any size, in their own pixels.

    Instances listed: those scoring at least `min_score` (default: the threshold).
    """
    outputs = forward(detector, images)
    floor = threshold if min_score is None else min_score
    return [
        prediction_of(
            out,
            detector.info,
            image.size,
            threshold=threshold,
            min_score=floor,
            mask_threshold=mask_threshold,
            simplify=simplify,
        )
        for image, out in zip(images, outputs, strict=True)
    ]
