"""Sweep and calibration: the score threshold chosen on the validation split, applied to test.

With `evaluate.calibrate` and a val split, the best-F1 row of the threshold sweep on the
validation split gives a threshold; the test split's image-level metrics at it are
metrics.json `calibrated`. The study's threshold stays the headline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from landslide.inference import TorchDetector, inference_on_dataset, landslide_label
from landslide.metrics import ImageLevelEvaluator, image_level


def _calibration(
    detector: TorchDetector,
    test: ImageLevelEvaluator,
    test_json: Path,
    val_json: Path | None,
    images_dir: Path,
    annotation_classes: list[str],
    model_classes: list[str],
    p: Any,
) -> tuple[dict[str, Any] | None, list[str]]:
    """metrics.json `calibrated` (None when off or undefined), and its warnings."""
    if not (p.calibrate and val_json is not None and Path(val_json) != test_json):
        return None, []
    val_best = _val_threshold(
        detector, Path(val_json), Path(images_dir), annotation_classes, model_classes, p
    )
    if val_best is None:
        return None, [f"calibration skipped: no defined F1 on {val_json}"]
    return _calibrated(test, val_best, Path(val_json)), []


def _val_threshold(
    detector: TorchDetector,
    val_json: Path,
    images_dir: Path,
    annotation_classes: list[str],
    model_classes: list[str],
    p: Any,
) -> dict[str, float] | None:
    """The best-F1 row of the threshold sweep on the validation split (None if undefined)."""
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn, dataset_dicts

    records = dataset_dicts(val_json, images_dir, annotation_classes, keep=model_classes)
    if not records:
        return None
    dataset = DetectionDataset(records)

    def inputs_of(images: Sequence[torch.Tensor], targets: Sequence[dict]) -> list[dict]:
        rows = [records[int(t["image_id"])] for t in targets]
        return [{"file_name": r["file_name"], "has_landslide": r["has_landslide"]} for r in rows]

    loader = DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=collate_fn)
    evaluator = ImageLevelEvaluator(landslide_label(model_classes), p.threshold, p.sweep)
    (result,) = inference_on_dataset(detector, loader, [evaluator], inputs_of)
    return result["best"]


def _calibrated(
    test: ImageLevelEvaluator, val_best: Mapping[str, Any], val_json: Path
) -> dict[str, Any]:
    """The test split's image-level metrics at the threshold chosen on the validation split."""
    t = float(val_best["threshold"])
    m, _ = image_level(test.best, test.truths, t)
    return {
        "threshold": t,
        "chosen_on": str(val_json),
        "val_f1": val_best["f1"],
        "landslide": {k: m[k] for k in ("precision", "recall", "f1")},
        "accuracy": m["accuracy"],
    }
