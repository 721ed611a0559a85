"""COCO AP and pixel IoU: evaluators with detectron2's interface, fed by `inference_on_dataset`.

* `CocoEvaluator`: pycocotools' COCOeval, box and mask AP / AP50 / AP75, overall and
  per class; ground truth from the test JSON, results as RLE (`pycocotools.mask.encode`).
* `PixelEvaluator`: landslide pixel IoU, precision, recall and F1 over the whole split:
  the union of the masks (at `mask_threshold`) of landslide detections scoring at least
  `threshold` against the union of the ground-truth landslide masks.

The image-level evaluator (the study's decision) is `landslide.metrics.ImageLevelEvaluator`.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from landslide.inference import at_threshold

AP_KEYS = ("AP", "AP50", "AP75")


# inputs: one dict per image, as `inference_on_dataset` builds them:
#   image_id (the test JSON's id), file_name (as in the JSON), has_landslide (bool),
#   target (DetectionDataset's: masks, labels, boxes), image (float 3 x H x W in [0, 1])
# outputs: torchvision's Mask R-CNN outputs (boxes, labels, scores, masks N x 1 x H x W)


class CocoEvaluator:
    """COCO box and mask AP / AP50 / AP75 (pycocotools), overall and per class."""

    def __init__(
        self,
        gt: dict[str, Any],
        category_of_label: Mapping[int, int],
        mask_threshold: float = 0.5,
    ) -> None:
        """`gt`: the COCO instances dict; `category_of_label`: model label -> category id."""
        self.gt = _coco_ground_truth(gt)
        self.category_of_label = dict(category_of_label)
        self.mask_threshold = mask_threshold
        self.reset()

    def reset(self) -> None:
        self._boxes: list[dict[str, Any]] = []
        self._segms: list[dict[str, Any]] = []

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        from pycocotools import mask as mask_util

        for inp, out in zip(inputs, outputs, strict=True):
            image_id = int(inp["image_id"])
            boxes = out["boxes"].detach().cpu().to(torch.float64).numpy()
            labels = out["labels"].detach().cpu().tolist()
            scores = out["scores"].detach().cpu().tolist()
            masks = out.get("masks")
            binary = (
                (masks[:, 0] >= self.mask_threshold).cpu().numpy().astype(np.uint8)
                if masks is not None
                else None
            )
            for i, (label, score) in enumerate(zip(labels, scores, strict=True)):
                category = self.category_of_label.get(int(label))
                if category is None:
                    continue
                x0, y0, x1, y1 = boxes[i]
                common = {"image_id": image_id, "category_id": category, "score": float(score)}
                self._boxes.append(
                    {**common, "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]}
                )
                if binary is not None:
                    rle = mask_util.encode(np.asfortranarray(binary[i]))
                    rle["counts"] = rle["counts"].decode("ascii")
                    self._segms.append({**common, "segmentation": rle})

    def evaluate(self) -> dict[str, Any]:
        # the categories the model predicts (all, or those of train.classes)
        predicted = set(self.category_of_label.values())
        names = {c["id"]: c["name"] for c in self.gt.dataset["categories"] if c["id"] in predicted}
        with_gt = {a["category_id"] for a in self.gt.dataset["annotations"]} & set(names)
        out: dict[str, Any] = {}
        warnings: list[str] = []
        if not with_gt:
            warnings.append("COCO AP undefined: the split has no ground-truth instances")
        for kind, results in (("box", self._boxes), ("mask", self._segms)):
            out[kind] = _coco_eval(self.gt, results, kind, names, with_gt)
        return {**out, "warnings": warnings}


def _coco_ground_truth(data: Mapping[str, Any]) -> Any:
    from pycocotools.coco import COCO

    dataset = json.loads(json.dumps(data))  # a private copy pycocotools may annotate
    for ann in dataset.get("annotations", []):
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    gt = COCO()
    gt.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _coco_eval(
    gt: Any,
    results: list[dict[str, Any]],
    kind: str,
    names: Mapping[int, str],
    with_gt: set[int],
) -> dict[str, Any]:
    """{AP, AP50, AP75, per_class: {name: {AP, AP50, AP75}}}; None where COCO gives -1."""
    from pycocotools.cocoeval import COCOeval

    empty = {k: (0.0 if with_gt else None) for k in AP_KEYS}
    per_class = {
        names[c]: {k: (0.0 if c in with_gt else None) for k in AP_KEYS} for c in sorted(names)
    }
    if not results or not with_gt:
        return {**empty, "per_class": per_class}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([dict(r) for r in results])
        e = COCOeval(gt, dt, iouType="bbox" if kind == "box" else "segm")
        e.params.catIds = sorted(names)
        e.evaluate()
        e.accumulate()
        e.summarize()
    overall = {k: _ap(v) for k, v in zip(AP_KEYS, e.stats[:3], strict=True)}
    precision = e.eval["precision"]  # T x R x K x A x M; area 'all' is 0, maxDets 100 is -1
    iou = list(np.round(e.params.iouThrs, 2))
    for k, cat in enumerate(e.params.catIds):
        per_class[names[cat]] = {
            "AP": _mean_defined(precision[:, :, k, 0, -1]),
            "AP50": _mean_defined(precision[iou.index(0.5), :, k, 0, -1]),
            "AP75": _mean_defined(precision[iou.index(0.75), :, k, 0, -1]),
        }
    return {**overall, "per_class": per_class}


def _ap(value: float) -> float | None:
    return None if value < 0 else float(value)


def _mean_defined(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


class PixelEvaluator:
    """Landslide pixel IoU, precision, recall, F1 over the split (sums, not per-image means)."""

    def __init__(self, landslide_id: int, threshold: float = 0.8, mask_threshold: float = 0.5):
        self.landslide_id = landslide_id
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.reset()

    def reset(self) -> None:
        self.intersection = 0
        self.predicted = 0
        self.truth = 0

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            target = inp["target"]
            gt_masks = target["masks"][target["labels"] == self.landslide_id].bool()
            height, width = target["masks"].shape[-2:]
            truth = gt_masks.any(0) if len(gt_masks) else torch.zeros(height, width, dtype=bool)
            counted = at_threshold(out["scores"], self.threshold)
            keep = (out["labels"] == self.landslide_id) & counted
            masks = out["masks"][keep][:, 0] >= self.mask_threshold
            pred = masks.any(0).cpu() if len(masks) else torch.zeros_like(truth)
            self.intersection += int((pred & truth).sum())
            self.predicted += int(pred.sum())
            self.truth += int(truth.sum())

    def evaluate(self) -> dict[str, Any]:
        i, p, t = self.intersection, self.predicted, self.truth
        union = p + t - i
        warnings = []
        if union == 0:
            warnings.append("pixel IoU and F1 undefined: no landslide pixel, none predicted")
        elif p == 0:
            warnings.append("pixel precision undefined: no landslide pixel predicted")
        elif t == 0:
            warnings.append("pixel recall undefined: the split has no landslide pixel")
        return {
            "iou": i / union if union else None,
            "precision": i / p if p else None,
            "recall": i / t if t else None,
            "f1": 2 * i / (p + t) if p + t else None,
            "pixels": {"intersection": i, "predicted": p, "truth": t},
            "warnings": warnings,
        }
