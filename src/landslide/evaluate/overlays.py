"""Overlays: photos drawn with their detections, framed by the image-level outcome.

`OverlayWriter` draws the first `evaluate.overlays` photos (test JSON order) with masks,
boxes, labels and scores, framed by outcome (TP green, FP red, FN orange, TN grey);
predict uses its `draw` for its own overlays.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from landslide.inference import at_threshold, best_score, is_detected, landslide_label
from landslide.io import write_bytes
from landslide.metrics import outcome

OUTCOMES = ("TP", "TN", "FP", "FN")
OUTCOME_COLOURS = {
    "TP": (0, 190, 0),
    "FP": (220, 0, 0),
    "FN": (255, 140, 0),
    "TN": (150, 150, 150),
}
FAINT_LABEL = (120, 120, 120)  # the label background of detections below the threshold
CLASS_COLOURS = [(255, 80, 20), (0, 150, 130), (30, 110, 255), (200, 60, 200), (240, 220, 0)]


class OverlayWriter:
    """The first `limit` photos drawn with their detections, framed by the decision.

    Detections at or above `threshold` (the ones that count) are drawn solid: mask, box
    and a label with class and score on the class colour. Those between `min_score` and
    the threshold (listed in predict's JSON, not counted) are drawn faint: a light mask, a
    thin box and the label on grey. The frame says the image-level decision: against the
    truth when the input has one (TP green, FP red, FN orange, TN grey), else green when a
    landslide is detected and grey when not.
    """

    def __init__(
        self,
        out_dir: Path,
        limit: int,
        classes: Sequence[str],
        threshold: float = 0.8,
        mask_threshold: float = 0.5,
        min_score: float | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.limit = limit
        self.classes = list(classes)
        self.threshold = threshold
        self.min_score = threshold if min_score is None else min_score
        self.mask_threshold = mask_threshold
        self.landslide_id = landslide_label(self.classes)
        self.reset()

    def reset(self) -> None:
        self.written: list[Path] = []
        if self.out_dir.is_dir():
            for old in self.out_dir.glob("*.jpg"):
                old.unlink()

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            if len(self.written) >= self.limit:
                return
            path = self.out_dir / f"{len(self.written) + 1:03d}_{Path(inp['file_name']).stem}.jpg"
            write_bytes(path, self.draw(inp, out))
            self.written.append(path)

    def draw(
        self, inp: Mapping[str, Any], out: Mapping[str, Any], detected: bool | None = None
    ) -> bytes:
        """JPEG bytes of `inp["image"]` with `out` drawn; `detected` defaults to the rule's."""
        from PIL import Image

        image = inp["image"]
        if image.dtype != torch.uint8:
            image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
        image = image.cpu()
        shown = at_threshold(out["scores"], self.min_score)
        solid = shown & at_threshold(out["scores"], self.threshold)
        image = self._instances(image, out, shown & ~solid, faint=True)
        image = self._instances(image, out, solid, faint=False)
        if detected is None:
            detected = is_detected(best_score(out, self.landslide_id), self.threshold)
        truth = inp.get("has_landslide")
        key = outcome(bool(truth), detected) if truth is not None else ("TP" if detected else "TN")
        image = image.clone()
        w = max(2, min(image.shape[-2:]) // 85)  # 6 px on a 512 x 512 photo
        for c, value in enumerate(OUTCOME_COLOURS[key]):
            image[c, :w, :] = value
            image[c, -w:, :] = value
            image[c, :, :w] = value
            image[c, :, -w:] = value
        buf = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    def _instances(
        self, image: torch.Tensor, out: Mapping[str, Any], keep: torch.Tensor, *, faint: bool
    ) -> torch.Tensor:
        from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

        labels = out["labels"][keep].cpu().tolist()
        if not labels:
            return image
        scores = out["scores"][keep].cpu().tolist()
        colours = [CLASS_COLOURS[(label - 1) % len(CLASS_COLOURS)] for label in labels]
        if "masks" in out:
            masks = (out["masks"][keep][:, 0] >= self.mask_threshold).cpu()
            image = draw_segmentation_masks(
                image, masks, alpha=0.15 if faint else 0.4, colors=colours
            )
        names = [
            f"{self.classes[label - 1] if 0 < label <= len(self.classes) else label} {s:.2f}"
            for label, s in zip(labels, scores, strict=True)
        ]
        return draw_bounding_boxes(
            image,
            out["boxes"][keep].cpu(),
            labels=names,
            colors=colours,
            width=1 if faint else 2,
            fill_labels=True,  # white text on the class colour (grey when faint): readable
            label_colors=(255, 255, 255),
            label_background_colors=[FAINT_LABEL] * len(labels) if faint else colours,
        )

    def evaluate(self) -> dict[str, Any]:
        return {"overlays": [p.name for p in self.written]}
