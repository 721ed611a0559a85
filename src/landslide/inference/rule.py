"""The study's decision rule, written once: which instances count, which photos are
"landslide detected".

* an **instance counts** at a threshold when its score is at least the threshold
  (`at_threshold`);
* a **photo is "landslide detected"** when its best landslide instance counts
  (`best_score` + `is_detected`); a photo with no landslide instance has best score 0.0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

LANDSLIDE = "landslide"

Outputs = Mapping[str, torch.Tensor]


def landslide_label(classes: Sequence[str]) -> int:
    """The model label of the landslide class (labels are 1-based; 0 is background)."""
    return list(classes).index(LANDSLIDE) + 1


def at_threshold(scores: Any, threshold: float) -> Any:
    """Which instances count at `threshold`: score at least the threshold (a bool tensor for
    a tensor of scores, a bool for one score)."""
    return scores >= threshold


def landslide_scores(output: Outputs, label: int) -> list[float]:
    """The scores of the instances of class `label`, best first."""
    scores = output["scores"][output["labels"] == label]
    return sorted((float(s) for s in scores), reverse=True)


def best_score(output: Outputs, label: int) -> float:
    """The best score of an instance of class `label`; 0.0 when there is none."""
    scores = output["scores"][output["labels"] == label]
    return float(scores.max()) if len(scores) else 0.0


def is_detected(best: float, threshold: float) -> bool:
    """The study's image-level decision: the best landslide score reaches the threshold."""
    return best >= threshold
