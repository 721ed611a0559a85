"""The inference primitives: the one decision rule, the detectors, reading a photo upright,
running a model on it and mapping its masks back to polygons in the photo's own pixels.

    detector = TorchDetector(model, info, device)          # or OnnxDetector, or any Detector
    outputs = detector(images)                             # CHW float [0, 1] -> CPU outputs
    best = best_score(outputs[0], landslide_label(info.classes))
    is_detected(best, 0.8)                                 # the study's image-level decision
    preds = detect(detector, [read_photo(path, max_pixels)], threshold=0.8)

Training's per-epoch validation, evaluate, predict (photos, JSON, overlays), raster
tiles, prefill, serving and retraining (through evaluate) all decide with these functions,
and all run their models through a `Detector`. Nothing here imports above the modelling
layer.

Modules:

* `rule`: the study's rule (`at_threshold`, `best_score`, `is_detected`, `landslide_label`);
* `detector`: the `Detector` protocol, `TorchDetector`, `resolve_device`, `check_classes`;
* `loading`: `load_detector` (a model.pt, a model directory, an `.onnx` file, `runs:/…` or
  `models:/…`) and `default_model` (the registry alias used when no model is named);
* `onnx`: `OnnxDetector`, a file written by `landslide export` run with ONNX Runtime
  (imported by name: it is the only module here that needs onnxruntime);
* `loop`: `inference_on_dataset`, the loop over a data loader that feeds detectron2-style
  evaluators (`reset`, `process(inputs, outputs)`, `evaluate`);
* `photos`: `read_photo` (upright, decoded), `model_input` (the study's resize), `forward`;
* `masks`: `to_original` (outputs back in the photo's pixels), `resample_mask`,
  `mask_geometry` and `coco_polygons` (masks as polygons);
* `instances`: `Instance` and `ImagePrediction` (what JSON lists), `detect` (PIL images of
  any size -> `ImagePrediction`s).
"""

from landslide.inference.detector import Detector, TorchDetector, check_classes, resolve_device
from landslide.inference.instances import (
    ImagePrediction,
    Instance,
    detect,
    instance_of,
    prediction_of,
)
from landslide.inference.loading import default_model, load_detector
from landslide.inference.loop import Evaluator, inference_on_dataset
from landslide.inference.masks import (
    Detection,
    coco_polygons,
    mask_geometry,
    resample_mask,
    to_original,
)
from landslide.inference.photos import forward, model_input, read_photo
from landslide.inference.rule import (
    LANDSLIDE,
    at_threshold,
    best_score,
    is_detected,
    landslide_label,
    landslide_scores,
)

__all__ = [
    "LANDSLIDE",
    "Detection",
    "Detector",
    "Evaluator",
    "ImagePrediction",
    "Instance",
    "TorchDetector",
    "at_threshold",
    "best_score",
    "check_classes",
    "coco_polygons",
    "default_model",
    "detect",
    "forward",
    "inference_on_dataset",
    "instance_of",
    "is_detected",
    "landslide_label",
    "landslide_scores",
    "load_detector",
    "mask_geometry",
    "model_input",
    "prediction_of",
    "read_photo",
    "resample_mask",
    "resolve_device",
    "to_original",
]
