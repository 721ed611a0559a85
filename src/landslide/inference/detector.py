"""Detectors: what runs a model on a batch of photos, the device it runs on, the check
that a model was made for the project's classes.

`TorchDetector` puts the model in eval mode for the call only (so a model being trained
goes back to train mode), runs it under `torch.inference_mode` on its device and returns
the outputs on the CPU; `landslide.export.OnnxDetector` runs an ONNX export.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import torch

from landslide.errors import PredictError, TrainError
from landslide.inference.rule import LANDSLIDE

if TYPE_CHECKING:
    from landslide.model import ModelInfo


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


def check_classes(info: ModelInfo, classes: Sequence[str], file: str | Path | None) -> None:
    """PredictError for a model without the landslide class or made for other classes."""
    if LANDSLIDE not in info.classes:
        raise PredictError(
            f"the model's classes [{', '.join(info.classes)}] have no {LANDSLIDE!r}: "
            "no image-level decision can be made",
            file=file,
            hint="predict with a model trained by `landslide train`",
        )
    if list(info.classes) != list(classes):
        raise PredictError(
            f"the model was made for classes [{', '.join(info.classes)}], "
            f"params.yaml has [{', '.join(classes)}]",
            file=file,
            hint="set `classes:` (or `train.classes:`) in params.yaml to the model's (same "
            "names, same order), or predict with a model trained with these classes",
        )
