"""The modelling sections: train, evaluate and predict.

Defaults equal the published method (Ullo et al. 2021): ResNet-50 and ResNet-101
backbones, 20 epochs at lr 0.001 and batch size 1, score threshold 0.8.
"""

# Pydantic copies field defaults per instance; ruff sees `Section` (another module) as a
# plain class and would ask for ClassVar on every list default.
# ruff: noqa: RUF012

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from landslide.params.base import BACKBONES, Probability, Section


class TrainParams(Section):
    """Mask R-CNN training (torchvision), transfer learning from COCO."""

    backbones: list[Literal["resnet50", "resnet101"]] = list(BACKBONES)
    sets: list[Literal["A", "B"]] = ["A", "B"]
    variant: Literal["v1", "v2"] = "v1"  # ResNet-50-FPN Mask R-CNN v1 or v2
    weights: str = "coco"  # coco | imagenet | none | path to a state dict
    # The classes the model learns, a subset of `classes` with landslide; [] = all of them.
    # [landslide]: landslide vs background (the image-level decision needs no other class).
    classes: list[str] = []
    trainable_layers: Annotated[int, Field(ge=0, le=5)] = 3
    train_heads_only: bool = False
    epochs: PositiveInt = 20
    # Epochs of some runs instead, by run name (resnet101-setB) or backbone (resnet101):
    # the demo trains ResNet-101 shorter to fit its time. Said in training's output.
    run_epochs: dict[str, PositiveInt] = {}
    optimizer: Literal["sgd", "adamw"] = "sgd"  # the study's SGD; AdamW learns faster from scratch
    lr: PositiveFloat = 0.001
    batch_size: PositiveInt = 1
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 0.0001
    warmup_iters: NonNegativeInt = 100
    lr_schedule: Literal["none", "step", "cosine"] = "none"
    lr_steps: list[PositiveInt] = []  # epochs at which a step schedule multiplies lr by gamma
    lr_gamma: Annotated[float, Field(gt=0, le=1)] = 0.1
    grad_clip: Annotated[float, Field(ge=0)] = 10.0  # max gradient norm; 0 = off
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, CUDA only
    # bfloat16 autocast on a CPU: ~1.4x faster a step where the CPU has AVX-512 BF16 or
    # AMX (README, "Training from scratch"), slower elsewhere; off by default.
    cpu_bf16: bool = False
    workers: NonNegativeInt = 0  # DataLoader workers
    seed: int = 42
    # torchvision's RPN/RoI sampling; the defaults are torchvision's, the demo lowers them.
    rpn_pre_nms_top_n_train: PositiveInt = 2000
    rpn_post_nms_top_n_train: PositiveInt = 2000
    rpn_pre_nms_top_n_test: PositiveInt = 1000
    rpn_post_nms_top_n_test: PositiveInt = 1000
    rpn_batch_size_per_image: PositiveInt = 256
    box_batch_size_per_image: PositiveInt = 512
    box_positive_fraction: float = Field(0.25, gt=0, lt=1)
    # RoIs overlapping an object by less than this IoU are background; between it and 0.5
    # they are left out of the classifier's loss (torchvision's 0.5: none left out).
    box_bg_iou_thresh: float = Field(0.5, gt=0, le=0.5)
    box_detections_per_img: PositiveInt = 100
    # How the new box and mask predictors start: torchvision's (nn.Linear's default and
    # Kaiming normal) or detectron2's (normal, std 0.01 class / 0.001 box and mask, zero
    # bias). From scratch, torchvision's mask logits start huge (initial mask loss ~10
    # against ln 2 = 0.69) and swamp the clipped gradient of the first epoch.
    head_init: Literal["torchvision", "detectron2"] = "torchvision"
    # An untrained backbone's residual blocks start as identities (the last BatchNorm of
    # each block at zero; Goyal et al. 2017): a deep ResNet from scratch trains steadier.
    # Pretrained weights overwrite it.
    zero_init_residual: bool = False
    # RPN anchor side per FPN level (5 values, pixels); [] = torchvision's (32, 64, 128, 256,
    # 512). Small prepared images need smaller anchors (the demo's 128 px: 8 ... 128).
    anchor_sizes: list[PositiveInt] = []
    # Anchor height/width ratios at every level; [] = torchvision's (0.5, 1, 2). Elongated
    # scars (the sample's landslides: median box 1:2.7, up to 1:9) fit 0.25 and 4 better.
    anchor_ratios: list[PositiveFloat] = []
    checkpoint_every: PositiveInt = 1  # epochs
    models_dir: Path = Path("models")

    @field_validator("anchor_sizes")
    @classmethod
    def _anchors(cls, v: list[int]) -> list[int]:
        if v and len(v) != 5:
            raise ValueError(f"one anchor size per FPN level: 5 values or [], got {len(v)}")
        return v


class EvaluateParams(Section):
    """Image-level metrics as in the study, plus COCO AP and pixel IoU."""

    threshold: Probability = 0.8
    sweep: tuple[Probability, Probability, PositiveFloat] = (0.05, 0.95, 0.05)
    mask_threshold: Probability = 0.5
    overlays: NonNegativeInt = 10  # test photos drawn with their detections
    split: Literal["test", "val"] = "test"
    calibrate: bool = False  # also report test metrics at the best-F1 threshold on val


class PredictParams(Section):
    """Inference on photos and on tiled orthomosaics."""

    threshold: Probability = 0.8  # image-level decision; raster polygons at or above it
    min_score: Probability = 0.5  # photo instances listed in the JSON and CSV
    mask_threshold: Probability = 0.5
    batch_size: PositiveInt = 4  # photos or tiles per forward pass
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    overlays: bool = True  # draw each photo with its detections
    overlay_max_side: PositiveInt = 1280  # overlays of larger photos are scaled down
    max_image_pixels: PositiveInt = 89_478_485  # larger photos are refused (decompression bomb)
    simplify: Annotated[float, Field(ge=0)] = 0.5  # polygon tolerance, pixels; 0 = exact
    tile_size: Annotated[int, Field(ge=64)] = 1024
    tile_overlap: NonNegativeInt = 128
    bands: list[PositiveInt] = []  # raster bands read as RGB; [] = 1, 2, 3 (1 for grey)
    uint16_scale: tuple[float, float] = (2.0, 98.0)  # percentile stretch for 16-bit rasters
    merge_iou: Probability = 0.5
    model_name: str = "landslide-maskrcnn"
    alias: str = "champion"

    @model_validator(mode="after")
    def _overlap(self) -> PredictParams:
        if self.tile_overlap >= self.tile_size:
            raise ValueError(
                f"tile_overlap ({self.tile_overlap}) must be smaller than "
                f"tile_size ({self.tile_size})"
            )
        lo, hi = self.uint16_scale
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"uint16_scale: percentiles 0 <= low < high <= 100, got {lo}, {hi}")
        if self.bands and len(self.bands) not in (1, 3):
            raise ValueError(f"bands: 1 (grey) or 3 (RGB) band numbers, got {len(self.bands)}")
        return self
