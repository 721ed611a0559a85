"""Image-level metrics as in the study: is there a landslide in this photo or not?

A photo is predicted "landslide" when its best landslide detection reaches the threshold
(`landslide.inference.is_detected`, the study's 0.8); the truth is whether it has a
landslide region. One definition, used by training's per-epoch validation, evaluate,
calibration and retraining alike::

    m, warnings = image_level([0.95, 0.1, 0.85], [True, False, False], threshold=0.8)
    m["precision"], m["recall"], m["f1"]         # landslide as the positive class
    m["non_landslide_precision"], ...              # non-landslide as the positive class

A ratio whose denominator is zero is None (JSON null, never a silent 0.0), with a warning
saying why: precision when nothing was predicted positive, recall when there are no
positives, accuracy on no images. F1 is 2 TP / (2 TP + FP + FN): the harmonic mean of
precision and recall wherever both are defined, 0.0 (not None) when precision alone is
undefined but the class was missed, None only when the class is neither present nor
predicted.

`ImageLevelEvaluator` is the detectron2-style evaluator of this decision: metrics at the
threshold, a threshold sweep with the best-F1 threshold, precision/recall points and the
per-frame table (the study's Tables II-V).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from landslide.inference import is_detected, landslide_scores

SWEEP_COLUMNS = ("threshold", "precision", "recall", "f1", "accuracy")
PR_COLUMNS = ("threshold", "precision", "recall", "f1")

Metrics = dict[str, float | None]


def image_level(
    scores_per_image: Sequence[float], truths: Sequence[bool], threshold: float
) -> tuple[Metrics, list[str]]:
    """Counts and P/R/F1/accuracy for landslide and non-landslide images, and why any is None."""
    if len(scores_per_image) != len(truths):
        raise ValueError(f"{len(scores_per_image)} scores but {len(truths)} truths")
    predicted = [is_detected(s, threshold) for s in scores_per_image]
    tp = sum(p and t for p, t in zip(predicted, truths, strict=True))
    fp = sum(p and not t for p, t in zip(predicted, truths, strict=True))
    fn = sum(t and not p for p, t in zip(predicted, truths, strict=True))
    tn = len(truths) - tp - fp - fn
    m: Metrics = {
        "threshold": float(threshold),
        "images": float(len(truths)),
        "tp": float(tp),
        "tn": float(tn),
        "fp": float(fp),
        "fn": float(fn),
        "accuracy": (tp + tn) / len(truths) if truths else None,
    }
    warnings = [] if truths else ["accuracy undefined: no images"]
    at = f"at threshold {threshold:g}"
    for prefix, label, pos, false_pos, false_neg in (
        ("", "landslide", tp, fp, fn),
        ("non_landslide_", "non-landslide", tn, fn, fp),
    ):
        m[f"{prefix}precision"] = pos / (pos + false_pos) if pos + false_pos else None
        if m[f"{prefix}precision"] is None:
            warnings.append(f"{label} precision undefined {at}: no image was predicted {label}")
        m[f"{prefix}recall"] = pos / (pos + false_neg) if pos + false_neg else None
        if m[f"{prefix}recall"] is None:
            warnings.append(f"{label} recall undefined: the images include no {label} image")
        denominator = 2 * pos + false_pos + false_neg
        m[f"{prefix}f1"] = 2 * pos / denominator if denominator else None
        if not denominator:
            warnings.append(f"{label} F1 undefined {at}: no {label} image, and none predicted")
    return m, warnings


def outcome(truth: bool, predicted: bool) -> str:
    if truth:
        return "TP" if predicted else "FN"
    return "FP" if predicted else "TN"


# --------------------------------------------------------------------------- the evaluator


class ImageLevelEvaluator:
    """The study's image-level decision at `threshold`, its sweep and the per-frame table.

    inputs: one dict per image with `file_name` and `has_landslide`; outputs: torchvision's
    Mask R-CNN outputs (`scores`, `labels`, ...).
    """

    def __init__(
        self,
        landslide_id: int,
        threshold: float = 0.8,
        sweep: tuple[float, float, float] | None = (0.05, 0.95, 0.05),
    ) -> None:
        """`sweep`: (start, stop, step) of the threshold sweep; None for no sweep."""
        self.landslide_id = landslide_id
        self.threshold = threshold
        self.sweep = sweep
        self.reset()

    def reset(self) -> None:
        self._images: list[str] = []
        self._truths: list[bool] = []
        self._scores: list[list[float]] = []  # landslide detection scores, best first

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            self._images.append(str(inp["file_name"]))
            self._truths.append(bool(inp["has_landslide"]))
            self._scores.append(landslide_scores(out, self.landslide_id))

    @property
    def best(self) -> list[float]:
        return [s[0] if s else 0.0 for s in self._scores]

    @property
    def truths(self) -> list[bool]:
        return list(self._truths)

    def evaluate(self) -> dict[str, Any]:
        metrics, warnings = image_level(self.best, self._truths, self.threshold)
        thresholds = sweep_thresholds(*self.sweep) if self.sweep else []
        sweep = sweep_rows(self.best, self._truths, thresholds)
        best = best_threshold(sweep, self.threshold)
        if best is None and sweep:
            warnings.append("best threshold undefined: F1 is undefined at every swept threshold")
        return {
            "metrics": metrics,
            "sweep": sweep,
            "best": best,
            "pr": pr_points(self.best, self._truths),
            "frames": self.frames(),
            "warnings": warnings,
        }

    def frames(self) -> list[dict[str, Any]]:
        """Tables IV and V: one row per photo, in the order processed."""
        rows = []
        for image, truth, scores in zip(self._images, self._truths, self._scores, strict=True):
            best = scores[0] if scores else 0.0
            predicted = is_detected(best, self.threshold)
            rows.append(
                {
                    "image": image,
                    "ground_truth": "landslide" if truth else "non_landslide",
                    "confidence": round(best, 4),
                    "prediction": "landslide" if predicted else "non_landslide",
                    "outcome": outcome(truth, predicted),
                    "instances": sum(1 for s in scores if is_detected(s, self.threshold)),
                }
            )
        return rows


def sweep_thresholds(start: float, stop: float, step: float) -> list[float]:
    """start, start + step, ... up to stop inclusive, rounded (no 0.30000000000000004)."""
    if step <= 0 or stop < start:
        return []
    n = math.floor((stop - start) / step + 1e-9) + 1
    return [round(start + i * step, 6) for i in range(n)]


def sweep_rows(
    best: Sequence[float], truths: Sequence[bool], thresholds: Iterable[float]
) -> list[dict[str, float | None]]:
    rows = []
    for t in thresholds:
        m, _ = image_level(best, truths, t)
        rows.append({k: (t if k == "threshold" else m[k]) for k in SWEEP_COLUMNS})
    return rows


def best_threshold(
    rows: Sequence[Mapping[str, float | None]], headline: float
) -> dict[str, float] | None:
    """The swept threshold with the highest F1; ties go to the one nearest the headline."""
    defined = [r for r in rows if r["f1"] is not None]
    if not defined:
        return None
    top = max(r["f1"] for r in defined)  # type: ignore[type-var]
    tied = [r for r in defined if r["f1"] == top]
    pick = min(tied, key=lambda r: (abs(r["threshold"] - headline), -r["threshold"]))  # type: ignore[operator]
    return {k: pick[k] for k in SWEEP_COLUMNS}  # type: ignore[misc]


def pr_points(best: Sequence[float], truths: Sequence[bool]) -> list[dict[str, float | None]]:
    """Precision and recall with each distinct best score (> 0) as the threshold, high first."""
    points = []
    for t in sorted({s for s in best if s > 0}, reverse=True):
        m, _ = image_level(best, truths, t)
        points.append({"threshold": round(t, 6), **{k: m[k] for k in PR_COLUMNS[1:]}})
    return points


__all__ = [
    "PR_COLUMNS",
    "SWEEP_COLUMNS",
    "ImageLevelEvaluator",
    "best_threshold",
    "image_level",
    "outcome",
    "pr_points",
    "sweep_rows",
    "sweep_thresholds",
]
