"""Building Mask R-CNN models: ResNet-50-FPN (v1, v2) and ResNet-101-FPN, for transfer learning.

    model, report = build_model("resnet101", params.classes, params.train, size=(512, 512))

Every model is torchvision's `MaskRCNN` on a ResNet-FPN backbone, built with
`num_classes = len(classes) + 1` (background is 0), so its box and mask predictors
are new for the project's classes: that is the fine-tuning recipe of torchvision's
tutorial (a COCO model whose predictors are replaced). The transform's `min_size` /
`max_size` equal the prepared image size, so prepared images are never resized.
Where the starting weights come from (`train.weights`) is `landslide.model.weights`'s.

Pretrained backbones use `FrozenBatchNorm2d`, as torchvision does; an untrained one
(`train.weights: none`) uses `nn.BatchNorm2d` (FrozenBatchNorm2d with random statistics
gives NaN).

Which layers train: `train.trainable_layers` (0-5) counts ResNet stages from the top
(layer4, layer3, ..., conv1), as torchvision's `trainable_backbone_layers`; an untrained
backbone always trains all five. `train.train_heads_only` freezes the backbone, FPN and
RPN and trains the RoI heads (box and mask branches) only. (matterport's `layers='heads'`,
which the study used, also trains its RPN and FPN; set `trainable_layers: 0` for that.)
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from torch import nn
from torchvision.models import resnet50, resnet101
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.models.detection.faster_rcnn import FastRCNNConvFCHead
from torchvision.models.detection.mask_rcnn import MaskRCNN, MaskRCNNHeads
from torchvision.models.detection.rpn import RPNHead
from torchvision.ops import FrozenBatchNorm2d

from landslide.errors import TrainError
from landslide.model.weights import LoadReport, _load_coco, _load_imagenet, _load_path
from landslide.params import BACKBONES, TrainParams

RESNETS = {"resnet50": resnet50, "resnet101": resnet101}
DEFAULT_ANCHORS = (32, 64, 128, 256, 512)  # torchvision's, per FPN level
DEFAULT_RATIOS = (0.5, 1.0, 2.0)  # torchvision's


def check_backbone(backbone: str) -> None:
    """TrainError for a backbone this project does not build."""
    if backbone not in BACKBONES:
        raise TrainError(
            f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})",
            hint="pass --backbone resnet50 or --backbone resnet101",
        )


def build_model(
    backbone: str,
    classes: Sequence[str],
    p: TrainParams,
    *,
    size: tuple[int, int],
    weights: str | None = None,
) -> tuple[MaskRCNN, LoadReport]:
    """A Mask R-CNN for `classes` on `backbone`, initialised from `weights` (default p.weights)."""
    check_backbone(backbone)
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
    if p.head_init == "detectron2":  # before loading: weights that hold predictors win
        init_predictors_like_detectron2(model)
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
    body = RESNETS[backbone](
        weights=None, norm_layer=norm_layer, zero_init_residual=p.zero_init_residual
    )
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
        "box_bg_iou_thresh": p.box_bg_iou_thresh,
        "box_detections_per_img": p.box_detections_per_img,
    }
    anchors = anchor_generator(p.anchor_sizes, p.anchor_ratios)
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


def anchor_generator(sizes: Sequence[int], ratios: Sequence[float] = ()) -> AnchorGenerator:
    """One anchor size per FPN level, the same ratios at each; `[]` gives torchvision's
    sizes 32 ... 512 and ratios 0.5, 1, 2."""
    sizes = tuple(sizes) or DEFAULT_ANCHORS
    ratios = tuple(float(r) for r in ratios) or DEFAULT_RATIOS
    return AnchorGenerator(tuple((s,) for s in sizes), (ratios,) * len(sizes))


def init_predictors_like_detectron2(model: MaskRCNN) -> None:
    """detectron2's start for the (new) predictors: class scores normal std 0.01, box
    deltas and mask logits std 0.001, zero biases (FastRCNNOutputLayers,
    MaskRCNNConvUpsampleHead). Every RoI then starts at a 50/50 landslide score and mask
    loss ln 2, whatever the backbone's feature scale; torchvision's Kaiming-initialised
    mask logits start at a mask loss of ~10 on an untrained backbone."""
    box, mask = model.roi_heads.box_predictor, model.roi_heads.mask_predictor
    for layer, std in (
        (box.cls_score, 0.01),
        (box.bbox_pred, 0.001),
        (mask.mask_fcn_logits, 0.001),
    ):
        nn.init.normal_(layer.weight, std=std)
        nn.init.zeros_(layer.bias)


def freeze_all_but_roi_heads(model: MaskRCNN) -> None:
    """The study's "train the heads": backbone, FPN and RPN frozen."""
    for module in (model.backbone, model.rpn):
        for parameter in module.parameters():
            parameter.requires_grad_(False)


def norm_of(model: nn.Module) -> tuple[str, float]:
    """('frozen', eps) or ('batch', 1e-5): the backbone's norm layer, for model.json."""
    for module in model.modules():
        if isinstance(module, FrozenBatchNorm2d):
            return "frozen", float(module.eps)
    return "batch", 1e-5
