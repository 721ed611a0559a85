"""Image-level metrics as in the study: is there a landslide in this photo or not?

An image is predicted "landslide" when its best landslide detection scores at least
`threshold` (the study's 0.8); the truth is whether it has a landslide region::

    m = image_level([0.95, 0.1, 0.85], [True, False, False], threshold=0.8)
    m["precision"], m["recall"], m["f1"]         # landslide as the positive class
    m["non_landslide_precision"], ...              # non-landslide as the positive class

Zero divisions are 0.0 (scikit-learn's `zero_division=0`): precision is 0.0 when nothing
was predicted positive, recall 0.0 when there are no positives, F1 0.0 when precision
and recall are both 0.0, accuracy 0.0 on no images. Every value is a plain number, so
the dict logs to MLflow and DVC as it is.
"""

from __future__ import annotations

from collections.abc import Sequence


def image_level(
    scores_per_image: Sequence[float], truths: Sequence[bool], threshold: float
) -> dict[str, float]:
    """Counts and P/R/F1/accuracy for landslide and for non-landslide images."""
    if len(scores_per_image) != len(truths):
        raise ValueError(f"{len(scores_per_image)} scores but {len(truths)} truths")
    predicted = [s >= threshold for s in scores_per_image]
    tp = sum(p and t for p, t in zip(predicted, truths, strict=True))
    fp = sum(p and not t for p, t in zip(predicted, truths, strict=True))
    fn = sum(t and not p for p, t in zip(predicted, truths, strict=True))
    tn = len(truths) - tp - fp - fn
    precision, recall, f1 = _prf(tp, fp, fn)
    neg_precision, neg_recall, neg_f1 = _prf(tn, fn, fp)
    return {
        "threshold": float(threshold),
        "images": float(len(truths)),
        "tp": float(tp),
        "tn": float(tn),
        "fp": float(fp),
        "fn": float(fn),
        "accuracy": _div(tp + tn, len(truths)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "non_landslide_precision": neg_precision,
        "non_landslide_recall": neg_recall,
        "non_landslide_f1": neg_f1,
    }


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = _div(tp, tp + fp)
    recall = _div(tp, tp + fn)
    return precision, recall, _div(2 * precision * recall, precision + recall)


def _div(a: float, b: float) -> float:
    return a / b if b else 0.0


# --------------------------------------------------------------------------- undefined values


def image_level_defined(
    scores_per_image: Sequence[float], truths: Sequence[bool], threshold: float
) -> tuple[dict[str, float | None], list[str]]:
    """`image_level`, but a ratio whose denominator is zero is None, with a warning saying why.

    What the evaluation stage reports (JSON null, never a silent 0.0)::

        m, warnings = image_level_defined([0.1, 0.2], [False, False], 0.8)
        m["precision"] is None    # nothing predicted landslide: TP + FP = 0
        m["recall"] is None       # no landslide image: TP + FN = 0

    F1 is 2 TP / (2 TP + FP + FN): it equals the harmonic mean of precision and recall
    wherever both are defined, and is undefined only when the class is neither present
    nor predicted (it is 0.0, not None, when precision alone is undefined but the class
    was missed).
    """
    m: dict[str, float | None] = dict(image_level(scores_per_image, truths, threshold))
    tp, tn, fp, fn = (int(m[k] or 0) for k in ("tp", "tn", "fp", "fn"))
    warnings: list[str] = []
    at = f"at threshold {threshold:g}"
    if not truths:
        m["accuracy"] = None
        warnings.append("accuracy undefined: no images")
    for prefix, label, pos, false_pos, false_neg in (
        ("", "landslide", tp, fp, fn),
        ("non_landslide_", "non-landslide", tn, fn, fp),
    ):
        if pos + false_pos == 0:
            m[f"{prefix}precision"] = None
            warnings.append(f"{label} precision undefined {at}: no image was predicted {label}")
        if pos + false_neg == 0:
            m[f"{prefix}recall"] = None
            warnings.append(f"{label} recall undefined: the images include no {label} image")
        denominator = 2 * pos + false_pos + false_neg
        m[f"{prefix}f1"] = 2 * pos / denominator if denominator else None
        if not denominator:
            warnings.append(f"{label} F1 undefined {at}: no {label} image, and none predicted")
    return m, warnings
