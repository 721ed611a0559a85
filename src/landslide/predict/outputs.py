"""What `predict` writes: predictions.json, summary.csv and the overlays, collected batch
by batch (see the package doc for the formats)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from PIL import Image

from landslide.inference import (
    LANDSLIDE,
    Detector,
    ImagePrediction,
    at_threshold,
    prediction_of,
    to_original,
)
from landslide.io import write_bytes, write_csv, write_json
from landslide.params import PredictParams

if TYPE_CHECKING:
    from landslide.model import ModelInfo
    from landslide.predict.inputs import Photo


SUMMARY_COLUMNS = (
    "image",
    "width",
    "height",
    "prediction",
    "max_score",
    "instances",
    "landslide_instances",
    "overlay",
)

Advance = Callable[[int], None]


@dataclass
class PredictSummary:
    out_dir: Path
    images: int = 0  # photos predicted
    detected: int = 0  # photos with a landslide at the threshold
    instances: int = 0  # instances listed (at or above min_score)
    threshold: float = 0.8
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary_line(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"predict: {self.images} photo{'s' if self.images != 1 else ''}, "
            f"{self.detected} with a landslide "
            f"(score >= {self.threshold:g}), {self.instances} instances{skipped}, "
            f"{self.seconds:.1f} s -> {self.out_dir}"
        )


class PredictOutputs:
    """What `predict` collects, batch by batch: JSON entries, CSV rows, overlays."""

    def __init__(
        self, out_dir: Path, info: ModelInfo, p: PredictParams, n: int, progress: Advance | None
    ) -> None:
        from landslide.evaluate import OverlayWriter

        self.out_dir, self.info, self.p, self.progress = out_dir, info, p, progress
        self.summary = PredictSummary(out_dir=out_dir, threshold=p.threshold)
        # reset() removes the overlays of an earlier run: they would mix with these
        self.overlays = OverlayWriter(
            out_dir / "overlays", n, info.classes, p.threshold, p.mask_threshold, p.min_score
        )
        self.names: set[str] = set()
        self.images: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []

    def write_batch(self, batch: Sequence[Photo], outputs: Sequence[dict]) -> None:
        p, info, classes = self.p, self.info, list(self.info.classes)
        readable = [photo for photo in batch if photo.image is not None]
        for photo, output in zip(readable, outputs, strict=True):
            image = photo.image
            assert image is not None
            image_id = len(self.images) + 1
            pred = prediction_of(
                output,
                info,
                image.size,
                threshold=p.threshold,
                min_score=p.min_score,
                mask_threshold=p.mask_threshold,
                simplify=p.simplify,
                file_name=str(photo.path),
            )
            overlay = ""
            if p.overlays:
                name = _unique(f"{photo.path.stem}.jpg", self.names)
                drawn = draw_overlay(self.overlays, image, output, info, p, pred.detected)
                write_bytes(self.out_dir / "overlays" / name, drawn)
                overlay = f"overlays/{name}"
            image.close()
            self.images.append(_image_entry(image_id, pred, overlay))
            self.results.extend(_results(image_id, pred, classes))
            self.rows.append(_summary_row(pred, classes, overlay))
            self.summary.images += 1
            self.summary.detected += int(pred.detected)
            self.summary.instances += len(pred.instances)
        self.summary.skipped.extend((str(ph.path), ph.reason) for ph in batch if ph.image is None)
        if self.progress is not None:
            self.progress(len(batch))

    def write_files(self, detector: Detector) -> list[Path]:
        """predictions.json and summary.csv, from what the batches gave."""
        p, summary, classes = self.p, self.summary, list(self.info.classes)
        document = {
            "model": _model_entry(detector),
            "threshold": p.threshold,
            "min_score": p.min_score,
            "mask_threshold": p.mask_threshold,
            "categories": [{"id": i, "name": c} for i, c in enumerate(classes, start=1)],
            "images": self.images,
            "results": self.results,
            "skipped": [{"file_name": f, "reason": r} for f, r in summary.skipped],
        }
        write_json(self.out_dir / "predictions.json", document)
        write_csv(self.out_dir / "summary.csv", self.rows, SUMMARY_COLUMNS)
        return [self.out_dir / "predictions.json", self.out_dir / "summary.csv"]


def draw_overlay(
    writer: Any,
    image: Image.Image,
    output: dict[str, torch.Tensor],
    info: ModelInfo,
    p: PredictParams,
    detected: bool,
) -> bytes:
    """JPEG bytes: the photo (at most `overlay_max_side`) with what predictions.json lists.

    Every instance scoring at least `min_score` is drawn (those below the threshold faint,
    with their scores); the frame says the image-level decision `detected`.
    """
    from landslide.prepare import REDUCING_GAP, to_rgb

    width, height = image.size
    scale = min(1.0, p.overlay_max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = to_rgb(image)
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
    dets = to_original(
        output, info.size, size, min_score=p.min_score, mask_threshold=p.mask_threshold
    )
    masks = torch.zeros((len(dets), 1, size[1], size[0]), dtype=torch.uint8)
    for i, det in enumerate(dets):
        masks[i, 0] = torch.from_numpy(det.full_mask(*size))
    drawn = {
        "boxes": torch.tensor([d.box for d in dets], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([d.label for d in dets], dtype=torch.int64),
        "scores": torch.tensor([d.score for d in dets], dtype=torch.float32),
        "masks": masks,
    }
    return writer.draw({"image": pixels}, drawn, detected=detected)


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix = name.rsplit(".", 1)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.{suffix}"
    taken.add(candidate)
    return candidate


def _image_entry(image_id: int, pred: ImagePrediction, overlay: str) -> dict[str, Any]:
    return {
        "id": image_id,
        "file_name": pred.file_name,
        "width": pred.width,
        "height": pred.height,
        "detected": pred.detected,
        "prediction": pred.prediction,
        "max_score": round(pred.max_score, 6),
        "instances": len(pred.instances),
        "overlay": overlay or None,
    }


def _results(image_id: int, pred: ImagePrediction, classes: Sequence[str]) -> list[dict]:
    """COCO results (image_id, category_id, bbox, score, segmentation) plus name and polygon."""
    return [
        {
            "image_id": image_id,
            "category_id": inst.label,
            "bbox": [round(v, 3) for v in inst.box],
            "score": round(inst.score, 6),
            "segmentation": dict(inst.rle),
            "area": inst.area,
            "category": inst.category,
            "polygon": inst.polygon,
        }
        for inst in pred.instances
    ]


def _summary_row(pred: ImagePrediction, classes: Sequence[str], overlay: str) -> dict[str, Any]:
    return {
        "image": pred.file_name,
        "width": pred.width,
        "height": pred.height,
        "prediction": pred.prediction,
        "max_score": round(pred.max_score, 4),
        "instances": len(pred.instances),
        "landslide_instances": sum(
            1
            for i in pred.instances
            if i.category == LANDSLIDE and at_threshold(i.score, pred.threshold)
        ),
        "overlay": overlay,
    }


def _model_entry(detector: Detector) -> dict[str, Any]:
    info = detector.info
    return {
        "source": getattr(detector, "source", None),
        "backbone": info.backbone,
        "variant": info.variant,
        "classes": list(info.classes),
        "size": list(info.size),
        "epoch": info.epoch,
        "device": str(getattr(detector, "device", "cpu")),
    }
