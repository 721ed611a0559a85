"""Mask R-CNN models: ResNet-50-FPN (v1, v2) and ResNet-101-FPN, with transfer learning.

    model, report = build_model("resnet101", params.classes, params.train, size=(512, 512))
    model, info = load_model(Path("models/resnet101-setA/model.pt"))

Every model is torchvision's `MaskRCNN` on a ResNet-FPN backbone, built with
`num_classes = len(classes) + 1` (background is 0), so its box and mask predictors
are new for the project's classes: that is the fine-tuning recipe of torchvision's
tutorial (a COCO model whose predictors are replaced). The transform's `min_size` /
`max_size` equal the prepared image size, so prepared images are never resized.

Where the starting weights come from (`train.weights`):

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

Pretrained backbones use `FrozenBatchNorm2d`, as torchvision does. Weights that cannot be
fetched (no network) raise `TrainError` telling the user to pass `--weights PATH` or
`train.weights: none`.

Which layers train: `train.trainable_layers` (0-5) counts ResNet stages from the top
(layer4, layer3, ..., conv1), as torchvision's `trainable_backbone_layers`; an untrained
backbone always trains all five. `train.train_heads_only` freezes the backbone, FPN and
RPN and trains the RoI heads (box and mask branches) only. (matterport's `layers='heads'`,
which the study used, also trains its RPN and FPN; set `trainable_layers: 0` for that.)

The final model is `model.pt` (a plain state dict) plus `model.json` (`ModelInfo`:
classes, backbone, variant, input size, norm layer, epoch, metrics); `load_model` reads
both and rebuilds the model exactly.
"""

from __future__ import annotations

import json
import pickle
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any
from urllib.error import URLError

import torch
from torch import nn
from torchvision.models import ResNet50_Weights, ResNet101_Weights, resnet50, resnet101
from torchvision.models._api import WeightsEnum
from torchvision.models.detection import (
    MaskRCNN_ResNet50_FPN_V2_Weights,
    MaskRCNN_ResNet50_FPN_Weights,
)
from torchvision.models.detection._utils import overwrite_eps
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import FrozenBatchNorm2d

from landslide.errors import TrainError
from landslide.params import BACKBONES, TrainParams

FORMAT_VERSION = 1
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
RESNETS = {"resnet50": resnet50, "resnet101": resnet101}
COCO_V1_EPS = 0.0  # torchvision's COCO_V1 weights were trained with FrozenBatchNorm eps 0
DEFAULT_ANCHORS = (32, 64, 128, 256, 512)  # torchvision's, per FPN level
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


# --------------------------------------------------------------------------- building


def build_model(
    backbone: str,
    classes: Sequence[str],
    p: TrainParams,
    *,
    size: tuple[int, int],
    weights: str | None = None,
) -> tuple[MaskRCNN, LoadReport]:
    """A Mask R-CNN for `classes` on `backbone`, initialised from `weights` (default p.weights)."""
    if backbone not in BACKBONES:
        raise TrainError(
            f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})",
            hint="pass --backbone resnet50 or --backbone resnet101",
        )
    weights = p.weights if weights is None else weights
    report = LoadReport(weights)
    pretrained = weights != "none"
    trainable = p.trainable_layers if pretrained else 5
    if not pretrained and p.trainable_layers != 5:
        report.notes.append(
            f"untrained backbone: all 5 layers train (train.trainable_layers "
            f"{p.trainable_layers} applies to pretrained weights)"
        )
    model = skeleton(
        backbone,
        len(classes),
        p.variant,
        size,
        norm="frozen" if pretrained else "batch",
        trainable_layers=trainable,
        p=p,
    )
    if weights == "coco":
        _load_coco(model, backbone, p.variant, report)
    elif weights == "imagenet":
        _load_imagenet(model, backbone, report)
    elif pretrained:
        _load_path(model, Path(weights), report)
    if p.train_heads_only:
        freeze_all_but_roi_heads(model)
        report.notes.append("train_heads_only: backbone, FPN and RPN frozen; RoI heads train")
    return model, report


def skeleton(
    backbone: str,
    num_classes: int,
    variant: str,
    size: tuple[int, int],
    *,
    norm: str = "batch",
    bn_eps: float = 1e-5,
    trainable_layers: int = 5,
    p: TrainParams | None = None,
) -> MaskRCNN:
    """The architecture with random weights (`num_classes` without background)."""
    p = p or TrainParams()
    norm_layer: Any = nn.BatchNorm2d if norm == "batch" else partial(FrozenBatchNorm2d, eps=bn_eps)
    body = RESNETS[backbone](weights=None, norm_layer=norm_layer)
    kwargs: dict[str, Any] = {
        "min_size": min(size),
        "max_size": max(size),
        "rpn_pre_nms_top_n_train": p.rpn_pre_nms_top_n_train,
        "rpn_post_nms_top_n_train": p.rpn_post_nms_top_n_train,
        "rpn_pre_nms_top_n_test": p.rpn_pre_nms_top_n_test,
        "rpn_post_nms_top_n_test": p.rpn_post_nms_top_n_test,
        "rpn_batch_size_per_image": p.rpn_batch_size_per_image,
        "box_batch_size_per_image": p.box_batch_size_per_image,
        "box_positive_fraction": p.box_positive_fraction,
        "box_detections_per_img": p.box_detections_per_img,
    }
    anchors = anchor_generator(p.anchor_sizes)
    if variant == "v1":
        fpn = _resnet_fpn_extractor(body, trainable_layers)
        return MaskRCNN(fpn, num_classes=num_classes + 1, rpn_anchor_generator=anchors, **kwargs)
    # v2 (Li et al. 2021, "Benchmarking detection transfer learning with ViTs"): FPN and
    # heads with BatchNorm, a two-conv RPN head, a four-conv box head.
    fpn = _resnet_fpn_extractor(body, trainable_layers, norm_layer=nn.BatchNorm2d)
    return MaskRCNN(
        fpn,
        num_classes=num_classes + 1,
        rpn_anchor_generator=anchors,
        rpn_head=RPNHead(fpn.out_channels, anchors.num_anchors_per_location()[0], conv_depth=2),
        box_head=FastRCNNConvFCHead(
            (fpn.out_channels, 7, 7), [256, 256, 256, 256], [1024], norm_layer=nn.BatchNorm2d
        ),
        mask_head=MaskRCNNHeads(
            fpn.out_channels, [256, 256, 256, 256], 1, norm_layer=nn.BatchNorm2d
        ),
        **kwargs,
    )


def anchor_generator(sizes: Sequence[int]) -> AnchorGenerator:
    """One anchor size per FPN level, ratios 0.5/1/2; `[]` gives torchvision's 32 ... 512."""
    sizes = tuple(sizes) or DEFAULT_ANCHORS
    return AnchorGenerator(tuple((s,) for s in sizes), ((0.5, 1.0, 2.0),) * len(sizes))


def freeze_all_but_roi_heads(model: MaskRCNN) -> None:
    """The study's "train the heads": backbone, FPN and RPN frozen."""
    for module in (model.backbone, model.rpn):
        for parameter in module.parameters():
            parameter.requires_grad_(False)


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


def norm_of(model: nn.Module) -> tuple[str, float]:
    """('frozen', eps) or ('batch', 1e-5): the backbone's norm layer, for model.json."""
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d):
            return "frozen", float(module.eps)
    return "batch", 1e-5


# --------------------------------------------------------------------------- loading


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
