"""Which detector a model spec names: a model.pt path (model.json beside it), a directory
holding model.pt, an `.onnx` file, `runs:/<run_id>/<path>` or `models:/<name>@<alias>` /
`models:/<name>/<version>` (resolved to a local model.pt by `landslide.registry`).

An `.onnx` file (written by `landslide export`) runs with `landslide.inference.onnx`.
"""

from __future__ import annotations

import re
from pathlib import Path

from landslide.errors import PredictError, TrainError
from landslide.inference.detector import Detector, TorchDetector, check_classes, resolve_device
from landslide.params import Params, PredictParams

URI_SCHEMES = ("runs:/", "models:/")
_URI = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/")  # two letters at least: not a drive
MODEL_HINT = (
    "pass a model.pt (model.json beside it), a model directory, an .onnx file, "
    "runs:/<run_id>/<path> or models:/<name>@<alias>"
)


def load_detector(spec: str | Path, params: Params) -> Detector:
    """The detector `spec` names (see the module doc), checked against
    `params.model_classes` (train.classes, else classes)."""
    from landslide.model import load_model

    text = str(spec)
    scheme = _URI.match(text)
    if scheme and not text.startswith(URI_SCHEMES):
        raise PredictError(
            f"unknown model URI scheme {scheme.group(1)!r}", file=text, hint=MODEL_HINT
        )
    if text.startswith(URI_SCHEMES):
        path = _resolve_uri(text, params)
    else:
        path = Path(spec)
        if path.is_dir():
            onnx = sorted(path.glob("*.onnx"))
            path = path / "model.pt" if (path / "model.pt").is_file() or not onnx else onnx[0]
        if not path.is_file():
            raise PredictError("model not found", file=spec, hint=MODEL_HINT)
        if path.suffix.lower() == ".onnx":
            try:
                from landslide.inference.onnx import OnnxDetector
            except ImportError as exc:
                raise PredictError(
                    f"ONNX models need landslide.export ({exc})", file=path
                ) from None
            detector: Detector = OnnxDetector(path)
            check_classes(detector.info, params.model_classes, path)
            return detector
    try:
        device = resolve_device(params.predict.device)
    except TrainError as exc:
        raise PredictError(
            exc.message, hint="set predict.device (or --device) to auto or cpu"
        ) from None
    model, info = load_model(path, map_location=device)
    check_classes(info, params.model_classes, path.with_suffix(".json"))
    return TorchDetector(model, info, device, source=text)


def _resolve_uri(uri: str, params: Params) -> Path:
    try:
        from landslide.registry import resolve_model
    except ImportError as exc:
        raise PredictError(
            f"MLflow model URIs need landslide.registry ({exc})", file=uri, hint=MODEL_HINT
        ) from None
    from landslide.tracking import tracking_uri

    return Path(resolve_model(uri, tracking_uri(params.mlflow)))


def default_model(p: PredictParams) -> str:
    """The registry alias predictions use when no --model is given."""
    return f"models:/{p.model_name}@{p.alias}"
