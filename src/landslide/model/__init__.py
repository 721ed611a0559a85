"""Mask R-CNN models: ResNet-50-FPN (v1, v2) and ResNet-101-FPN, with transfer learning.

    model, report = build_model("resnet101", params.classes, params.train, size=(512, 512))
    model, info = load_model(Path("models/resnet101-setA/model.pt"))

* `build`: the architecture (`skeleton`, anchors), `build_model`, which layers train;
* `weights`: where the starting weights come from (coco, imagenet, none, a path), the
  `LoadReport`, reading weight files safely (`safe_load`, `read_state_dict`);
* `saved`: `model.pt` + `model.json` (`ModelInfo`), `load_model`, `check_compatible`.
"""

from landslide.model.build import (
    anchor_generator,
    build_model,
    check_backbone,
    freeze_all_but_roi_heads,
    norm_of,
    skeleton,
)
from landslide.model.saved import ModelInfo, check_compatible, load_model
from landslide.model.weights import LoadReport, fetch, read_state_dict, safe_load

__all__ = [
    "LoadReport",
    "ModelInfo",
    "anchor_generator",
    "build_model",
    "check_backbone",
    "check_compatible",
    "fetch",
    "freeze_all_but_roi_heads",
    "load_model",
    "norm_of",
    "read_state_dict",
    "safe_load",
    "skeleton",
]
