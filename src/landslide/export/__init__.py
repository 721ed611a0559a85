"""ONNX export of a trained model, and a detector that runs the exported file.

    summary = export_onnx(Path("models/resnet101-setA/model.pt"), Path("model.onnx"))
    detector = OnnxDetector(Path("model.onnx"))
    (out,) = detector([image])  # CHW float in [0, 1]; out: boxes, labels, scores, masks

- `exporter`: `landslide export`: the model a `--model` names, the export, its metadata.
- `parity`: the check that ONNX Runtime's detections match PyTorch's (`Tolerance`,
  `Parity`, `compare`, `mask_diff`) and the images it runs on.
- `detector`: `OnnxDetector` (an exported file run with ONNX Runtime), `is_onnx`, and the
  file's contract (input / output names, metadata keys).
"""

from landslide.export.exporter import ExportSummary, export, export_onnx, model_file
from landslide.export.parity import (
    Parity,
    Tolerance,
    check_parity,
    compare,
    float64,
    mask_diff,
    read_images,
    synthetic_images,
)
from landslide.inference.onnx import META_INFO, OnnxDetector, is_onnx

__all__ = [
    "META_INFO",
    "ExportSummary",
    "OnnxDetector",
    "Parity",
    "Tolerance",
    "check_parity",
    "compare",
    "export",
    "export_onnx",
    "float64",
    "is_onnx",
    "mask_diff",
    "model_file",
    "read_images",
    "synthetic_images",
]
