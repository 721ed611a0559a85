"""Where a new model's starting weights come from (`train.weights`), and reading weight files.

* `coco`: torchvision's COCO Mask R-CNN (`MaskRCNN_ResNet50_FPN_Weights.COCO_V1`, or
  `MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1` for variant v2), everything but the two
  predictors. ResNet-101 has no COCO Mask R-CNN in torchvision: its backbone body comes
  from ImageNet (`ResNet101_Weights.IMAGENET1K_V1`) and the COCO-trained FPN, RPN and
  RoI heads (except the predictors) from the ResNet-50 COCO checkpoint, whose shapes
  match; the load report says which parts came from where.
* `imagenet`: the backbone body only (`ResNet50_Weights` / `ResNet101_Weights`
  `.IMAGENET1K_V1`); FPN, RPN and heads start random.
* `none`: all random. The backbone then uses `nn.BatchNorm2d` (FrozenBatchNorm2d with
  random statistics gives NaN) and every layer trains.
* a path: a state dict (or one of our checkpoints, or a torchvision checkpoint file
  downloaded by hand) read with `torch.load(..., weights_only=True)`. Predictor tensors
  whose shapes differ (another number of classes) are skipped, as for `coco`; any other
  missing, unexpected or mis-shaped key is a `TrainError` listing them.

Weights that cannot be fetched (no network) raise `TrainError` telling the user to pass
`--weights PATH` or `train.weights: none`.
"""

from __future__ import annotations

import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, ResNet101_Weights
from torchvision.models._api import WeightsEnum
from torchvision.models.detection import (
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
)
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.mask_rcnn import MaskRCNN

from landslide.errors import TrainError

PREDICTORS = (
    "roi_heads.box_predictor.",
    "roi_heads.mask_predictor.mask_fcn_logits.",
)
COCO = {
    "v1": MaskRCNN_ResNet50_FPN_Weights.COCO_V1,
    "v2": MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1,
}
IMAGENET = {
    "resnet50": ResNet50_Weights.IMAGENET1K_V1,
    "resnet101": ResNet101_Weights.IMAGENET1K_V1,
}
COCO_V1_EPS = 0.0  # torchvision's COCO_V1 weights were trained with FrozenBatchNorm eps 0
SHOW_KEYS = 8  # keys listed in an error before "... and N more"


@dataclass
class LoadReport:
    """What `build_model` loaded from where; `lines()` is what the CLI prints."""

    weights: str
    loaded: dict[str, int] = field(default_factory=dict)  # source -> tensors loaded
    skipped: list[str] = field(default_factory=list)  # keys left as initialised
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{source}: {n} tensors" for source, n in self.loaded.items()]
        if self.skipped:
            out.append(f"kept new ({len(self.skipped)} tensors): {_short(self.skipped)}")
        return out + self.notes


def fetch(weights: WeightsEnum) -> dict[str, torch.Tensor]:
    """torchvision's weights (downloaded once into the torch hub cache), or a TrainError."""
    try:
        return weights.get_state_dict(progress=False, check_hash=True)
    except (URLError, OSError, RuntimeError, ValueError) as exc:
        raise TrainError(
            f"cannot fetch {weights} ({weights.url}): {exc}",
            hint="without network, download that file elsewhere and pass --weights PATH "
            "(train.weights: PATH), or train from scratch with --weights none",
        ) from None


def _load_coco(model: MaskRCNN, backbone: str, variant: str, report: LoadReport) -> None:
    coco = COCO[variant]
    state = fetch(coco)
    if backbone == "resnet50":
        keep = {k: v for k, v in state.items() if not k.startswith(PREDICTORS)}
        _load_matching(model, keep, report, source=str(coco))
    else:
        _load_imagenet(model, backbone, report)
        parts = {
            k: v for k, v in state.items() if not k.startswith(("backbone.body.", *PREDICTORS))
        }
        _load_matching(
            model,
            parts,
            report,
            source=f"{coco} (FPN, RPN, RoI heads; no {backbone} COCO model in torchvision)",
            partial_ok=True,
        )
    if coco is MaskRCNN_ResNet50_FPN_Weights.COCO_V1 and backbone == "resnet50":
        overwrite_eps(model, COCO_V1_EPS)


def _load_imagenet(model: MaskRCNN, backbone: str, report: LoadReport) -> None:
    enum = IMAGENET[backbone]
    state = {f"backbone.body.{k}": v for k, v in fetch(enum).items() if not k.startswith("fc.")}
    _load_matching(model, state, report, source=f"{enum} (backbone body)", partial_ok=True)


def _load_path(model: MaskRCNN, path: Path, report: LoadReport) -> None:
    state = read_state_dict(path)
    _load_matching(model, state, report, source=str(path), where=path)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a file: plain, or under 'model' (our checkpoints, torchvision's)."""
    if not path.is_file():
        raise TrainError(
            "weights file not found",
            file=path,
            hint="train.weights is coco, imagenet, none or the path of a state dict",
        )
    data = safe_load(path)
    if isinstance(data, dict) and isinstance(data.get("model"), dict):
        data = data["model"]
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()
    ):
        raise TrainError("not a state dict (names -> tensors)", file=path)
    return data


def safe_load(path: Path) -> Any:
    """`torch.load(weights_only=True)` on CPU; corrupt or truncated files -> TrainError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (
        RuntimeError,
        EOFError,
        OSError,
        ValueError,
        zipfile.BadZipFile,
        pickle.UnpicklingError,
        KeyError,
    ) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TrainError(
            f"cannot read weights (corrupt, truncated or not a torch file): {first}",
            file=path,
            hint="delete it and train again, or point to an intact file",
        ) from None


def _load_matching(
    model: nn.Module,
    state: Mapping[str, torch.Tensor],
    report: LoadReport,
    *,
    source: str,
    partial_ok: bool = False,
    where: Path | None = None,
) -> None:
    """Copy the tensors of `state` whose names and shapes match; report or refuse the rest.

    Predictor tensors of another shape are skipped (another number of classes). With
    `partial_ok` the model may have more keys than `state` (a backbone-only source).
    Otherwise missing, unexpected and mis-shaped keys are a TrainError listing them.
    """
    own = model.state_dict()
    ignorable = ("num_batches_tracked",)  # BatchNorm2d counters: absent from FrozenBN files
    matched: dict[str, torch.Tensor] = {}
    mismatched: list[str] = []
    unexpected: list[str] = []
    for key, value in state.items():
        if key.endswith(ignorable):
            continue
        if key not in own:
            unexpected.append(key)
        elif own[key].shape != value.shape:
            if key.startswith(PREDICTORS):
                report.skipped.append(key)
            else:
                mismatched.append(f"{key} {tuple(value.shape)} != {tuple(own[key].shape)}")
        else:
            matched[key] = value
    missing = [
        k
        for k in own
        if k not in state and not k.endswith(ignorable) and not k.startswith(PREDICTORS)
    ]
    problems = []
    if mismatched:
        problems.append(f"{len(mismatched)} of another shape: {_short(mismatched)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected: {_short(unexpected)}")
    if missing and not partial_ok:
        problems.append(f"{len(missing)} missing: {_short(missing)}")
    if problems:
        raise TrainError(
            f"weights do not fit this model ({len(matched)} tensors match); " + "; ".join(problems),
            file=where,
            hint="check --backbone and train.variant against the file, "
            "or start from --weights coco|imagenet|none",
        )
    if not matched:
        raise TrainError("no tensor of the weights fits this model", file=where)
    model.load_state_dict(matched, strict=False)
    report.loaded[source] = len(matched)
    report.skipped.extend(k for k in own if k.startswith(PREDICTORS) and k not in matched)
    report.skipped = sorted(set(report.skipped))


def _short(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:SHOW_KEYS])
    return shown + (f", ... and {len(keys) - SHOW_KEYS} more" if len(keys) > SHOW_KEYS else "")
