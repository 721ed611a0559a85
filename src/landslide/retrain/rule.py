"""The promotion rule: promote the challenger or not, from both models' metrics on the
same test set (`decide`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from landslide.params import ScheduleParams
from landslide.retrain.common import PROMOTED, REJECTED

EPS = 1e-9  # metric comparisons: 0.1 + 0.2 beats 0.3 by nothing, not by 5e-17


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str

    @property
    def decision(self) -> str:
        return PROMOTED if self.promote else REJECTED


def metric_value(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    """`f1`, `precision`, `recall` (landslide) or `accuracy` of a metrics.json dict."""
    if not metrics:
        return None
    value = metrics.get("accuracy") if name == "accuracy" else metrics["landslide"].get(name)
    return None if value is None else float(value)


def decide(
    challenger: Mapping[str, Any], champion: Mapping[str, Any] | None, p: ScheduleParams
) -> Verdict:
    """Promote the challenger or not, from both models' metrics on the same test set.

    Undefined values (JSON null) count as 0. With a champion the challenger must beat it by
    `p.min_margin` (a tie never promotes, whatever the margin) and keep its recall within
    `p.recall_tolerance` of the champion's; it must always reach `p.floor` (what lets the
    first challenger in). The reason names the first rule that fails.
    """
    name = p.promotion_metric
    value = metric_value(challenger, name) or 0.0
    below_floor = Verdict(False, f"{name} {value:.3f} is below the floor {p.floor:g}")
    if champion is None:
        if value + EPS < p.floor:
            return below_floor
        return Verdict(True, f"no champion yet; {name} {value:.3f} reaches the floor {p.floor:g}")
    best = metric_value(champion, name) or 0.0
    gain = value - best
    if gain <= EPS or gain + EPS < p.min_margin:
        verb = "ties" if abs(gain) <= EPS else ("is below" if gain < 0 else "does not beat")
        return Verdict(
            False,
            f"{name} {value:.3f} {verb} the champion's {best:.3f}"
            + (f" by the margin {p.min_margin:g}" if verb == "does not beat" else ""),
        )
    recall = metric_value(challenger, "recall") or 0.0
    champion_recall = metric_value(champion, "recall") or 0.0
    if champion_recall - recall > p.recall_tolerance + EPS:
        return Verdict(
            False,
            f"{name} {value:.3f} beats {best:.3f}, but recall drops from "
            f"{champion_recall:.3f} to {recall:.3f} (tolerance {p.recall_tolerance:g})",
        )
    if value + EPS < p.floor:
        return below_floor
    return Verdict(
        True,
        f"{name} {value:.3f} beats the champion's {best:.3f} by {gain:.3f} "
        f"(margin {p.min_margin:g}); recall {recall:.3f} vs {champion_recall:.3f}",
    )
