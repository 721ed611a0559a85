"""The saved model: `model.pt` (a plain state dict) plus `model.json` (`ModelInfo`).

    model, info = load_model(Path("models/resnet101-setA/model.pt"))

`ModelInfo` holds the classes, backbone, variant, input size, norm layer, epoch and
metrics; `load_model` reads both files and rebuilds the model exactly.
`check_compatible` refuses a model or checkpoint made for other classes or backbone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torchvision.models.detection.mask_rcnn import MaskRCNN

from landslide.errors import TrainError
from landslide.model.build import skeleton
from landslide.model.weights import read_state_dict
from landslide.params import BACKBONES, TrainParams

FORMAT_VERSION = 1


@dataclass
class ModelInfo:
    """`model.json`: what it takes to rebuild the model and what it was trained for."""

    classes: list[str]
    backbone: str
    variant: str
    size: tuple[int, int]  # width, height the model takes
    norm: str = "batch"  # backbone norm layer: batch | frozen
    bn_eps: float = 1e-5  # FrozenBatchNorm2d eps (not in the state dict)
    rpn_pre_nms_top_n_test: int = 1000
    rpn_post_nms_top_n_test: int = 1000
    box_detections_per_img: int = 100
    anchor_sizes: list[int] = field(default_factory=list)  # [] = torchvision's
    anchor_ratios: list[float] = field(default_factory=list)  # [] = torchvision's
    weights: str = "none"  # where training started
    epoch: int = 0  # the epoch whose weights model.pt holds
    epochs: int = 0
    best_epoch: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    format: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["size"] = list(self.size)
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], path: Path) -> ModelInfo:
        known = {f for f in cls.__dataclass_fields__}
        try:
            values = {k: v for k, v in data.items() if k in known}
            values["size"] = tuple(int(s) for s in values["size"])
            info = cls(**values)
        except (KeyError, TypeError, ValueError) as exc:
            raise TrainError(f"not a model description: {exc}", file=path) from None
        if info.backbone not in BACKBONES:
            raise TrainError(
                f"unknown backbone {info.backbone!r} (known: {', '.join(BACKBONES)})", file=path
            )
        return info


def load_model(
    path: str | Path,
    *,
    classes: Sequence[str] | None = None,
    backbone: str | None = None,
    map_location: str | torch.device = "cpu",
) -> tuple[MaskRCNN, ModelInfo]:
    """The trained model in `path` (model.pt) described by the `.json` beside it.

    `classes` / `backbone`, when given, must equal those the model was trained for.
    The model is returned in eval mode.
    """
    path = Path(path)
    meta = path.with_suffix(".json")
    if not meta.is_file():
        raise TrainError(
            f"model description {meta.name} not found beside the weights",
            file=path,
            hint="load the model.pt that `landslide train` wrote (with its model.json)",
        )
    try:
        info = ModelInfo.from_json(json.loads(meta.read_text(encoding="utf-8")), meta)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TrainError(f"not valid JSON: {exc}", file=meta) from None
    check_compatible(info.classes, info.backbone, classes, backbone, file=meta)
    tp = TrainParams(
        rpn_pre_nms_top_n_test=info.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=info.rpn_post_nms_top_n_test,
        box_detections_per_img=info.box_detections_per_img,
        anchor_sizes=info.anchor_sizes,
        anchor_ratios=info.anchor_ratios,
    )
    model = skeleton(
        info.backbone,
        len(info.classes),
        info.variant,
        info.size,
        norm=info.norm,
        bn_eps=info.bn_eps,
        p=tp,
    )
    state = read_state_dict(path)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise TrainError(
            f"weights do not match {meta.name} ({info.backbone} {info.variant}, "
            f"{len(info.classes)} classes): {first}",
            file=path,
        ) from None
    return model.to(map_location).eval(), info


def check_compatible(
    have_classes: Sequence[str],
    have_backbone: str,
    want_classes: Sequence[str] | None,
    want_backbone: str | None,
    *,
    file: Path | str | None,
) -> None:
    """TrainError when a model or checkpoint was made for other classes or backbone."""
    if want_backbone is not None and have_backbone != want_backbone:
        raise TrainError(
            f"made for backbone {have_backbone}, not {want_backbone}",
            file=file,
            hint=f"use --backbone {have_backbone}, or train {want_backbone} afresh",
        )
    if want_classes is not None and list(have_classes) != list(want_classes):
        raise TrainError(
            f"made for classes [{', '.join(have_classes)}], not [{', '.join(want_classes)}]",
            file=file,
            hint="classes in params.yaml must be those the model was trained with "
            "(same names, same order); train afresh without --resume otherwise",
        )
