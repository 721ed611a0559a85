"""The one decision rule and the one inference loop, shared by every stage that runs a model.

    detector = TorchDetector(model, info, device)          # or OnnxDetector, or any Detector
    outputs = detector(images)                             # CHW float [0, 1] -> CPU outputs
    best = best_score(outputs[0], landslide_label(info.classes))
    is_detected(best, 0.8)                                 # the study's image-level decision

The study's rule, written once here:

* an **instance counts** at a threshold when its score is at least the threshold
  (`at_threshold`);
* a **photo is "landslide detected"** when its best landslide instance counts
  (`best_score` + `is_detected`); a photo with no landslide instance has best score 0.0.

Training's per-epoch validation, evaluate, predict (photos, JSON, overlays), raster
tiles, prefill and retraining (through evaluate) all decide with these functions, and all
run their models through a `Detector`: `TorchDetector` puts the model in eval mode for the
call only (so a model being trained goes back to train mode), runs it under
`torch.inference_mode` on its device and returns the outputs on the CPU.
`inference_on_dataset` is the loop over a data loader that feeds detectron2-style
evaluators (`reset`, `process(inputs, outputs)`, `evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from landslide.errors import TrainError

if TYPE_CHECKING:
    from landslide.model import ModelInfo

LANDSLIDE = "landslide"

Advance = Callable[[int], None]
Outputs = Mapping[str, torch.Tensor]


# --------------------------------------------------------------------------- the rule


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


# --------------------------------------------------------------------------- detectors


def resolve_device(spec: str, local_rank: int | None = None) -> torch.device:
    """`auto` -> CUDA when present, else CPU; CUDA asked for but absent -> TrainError."""
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(spec)
    except RuntimeError:
        raise TrainError(
            f"unknown device {spec!r}", hint="train.device is auto, cpu, cuda or cuda:N"
        ) from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise TrainError(
                f"device {spec!r} requested but CUDA is not available on this machine",
                hint="use --device cpu (or train.device: auto)",
            )
        index = device.index if device.index is not None else (local_rank or 0)
        if index >= torch.cuda.device_count():
            raise TrainError(
                f"device cuda:{index} requested but only {torch.cuda.device_count()} "
                "CUDA devices exist"
            )
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


class Detector(Protocol):
    """CHW float images in [0, 1] at `info.size` -> torchvision's Mask R-CNN eval outputs
    (`boxes`, `labels`, `scores`, `masks` N x 1 x H x W probabilities) on the CPU."""

    info: ModelInfo

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]: ...


class TorchDetector:
    """A PyTorch Mask R-CNN as a `Detector`: eval mode for the call only, outputs on the CPU."""

    def __init__(
        self,
        model: torch.nn.Module,
        info: ModelInfo | None = None,
        device: torch.device | str = "cpu",
        source: str | None = None,
    ) -> None:
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.info = info  # type: ignore[assignment]
        self.source = source

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode():
                outputs = self.model([image.to(self.device) for image in images])
        finally:
            self.model.train(was_training)
        return [{k: v.cpu() for k, v in out.items()} for out in outputs]


# --------------------------------------------------------------------------- the loop


class Evaluator(Protocol):
    """detectron2's evaluator interface: what the inference loop feeds."""

    def reset(self) -> None: ...

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None: ...

    def evaluate(self) -> dict[str, Any]: ...


def inference_on_dataset(
    detector: Callable[[list[torch.Tensor]], list[dict[str, torch.Tensor]]],
    loader: Iterable[tuple[Sequence[torch.Tensor], Sequence[dict]]],
    evaluators: Sequence[Evaluator],
    inputs_of: Callable[[Sequence[torch.Tensor], Sequence[dict]], list[dict[str, Any]]],
    *,
    progress: Advance | None = None,
) -> list[dict[str, Any]]:
    """Run `detector` once over `loader` (batches of images and targets), feed every
    evaluator with `inputs_of(images, targets)` and the outputs, return their results."""
    for evaluator in evaluators:
        evaluator.reset()
    for images, targets in loader:
        outputs = detector(list(images))
        inputs = inputs_of(images, targets)
        for evaluator in evaluators:
            evaluator.process(inputs, outputs)
        if progress is not None:
            progress(len(images))
    return [evaluator.evaluate() for evaluator in evaluators]


__all__ = [
    "LANDSLIDE",
    "Detector",
    "Evaluator",
    "TorchDetector",
    "at_threshold",
    "best_score",
    "inference_on_dataset",
    "is_detected",
    "landslide_label",
    "landslide_scores",
    "resolve_device",
]
