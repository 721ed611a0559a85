"""The MLflow model: logged by each training run, registered under an alias, served.

    log_pyfunc_model(Path("models/resnet101-setA/model.pt"), info, params.predict)  # in a run

Registering it under an alias and resolving `models:/…` URIs to a local model.pt is
`landslide.registry` (`register`, `resolve_model`).

Each training run logs an MLflow pyfunc model named `model` (`runs:/<run_id>/model`; MLflow 3
keeps it as a logged model of the run, beside the run's own `model/` artifacts). It holds
`model.pt` and `model.json` as artifacts, the input and output signature, an input
example, the pinned requirements, and a three-line loader (MLflow's "models from code",
so no pickled Python object is stored): the class `LandslideModel` below, imported from
the installed `landslide` package. `load_context` rebuilds the network with
`landslide.model.load_model` (weights read with `torch.load(weights_only=True)`), and
`predict` takes a DataFrame with a column `image` (base64 of the image file's bytes: JPEG,
PNG, TIFF, ...) and an optional column `threshold`, decodes each photo upright and returns
for each row the `ImagePrediction.to_json()` of `landslide.inference.detect`. Inference
params `threshold`, `min_score`, `mask_threshold` and `simplify` default to params.yaml's
`predict` section at training time.

Serving (`mlflow models serve -m models:/landslide-maskrcnn@champion --env-manager local`)
answers `POST /invocations` with `{"predictions": [...]}`; a payload that is not JSON,
not base64, not an image, or too large is an HTTP 400 with the reason, and the server goes on.
"""

from __future__ import annotations

import base64
import binascii
import io
import tempfile
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature
from mlflow.types.schema import Array, ColSpec, Object, ParamSchema, ParamSpec, Property, Schema

from landslide.errors import ServingError
from landslide.model import ModelInfo
from landslide.params import PredictParams
from landslide.registry import DESCRIPTION, PYFUNC_NAME, WEIGHTS

MAX_IMAGE_BYTES = 50_000_000  # one encoded photo in a request
MAX_IMAGE_PIXELS = 89_478_485  # Pillow's decompression-bomb limit, as predict's default
REQUIREMENTS = (
    "torch",
    "torchvision",
    "mlflow",
    "pillow",
    "numpy",
    "pandas",
    "pycocotools",
    "shapely",
)
_LOADER = """\
# The landslide Mask R-CNN pyfunc: the class lives in the installed `landslide` package.
import mlflow

from landslide.serving import LandslideModel

mlflow.models.set_model(LandslideModel())
"""


# --------------------------------------------------------------------------- the pyfunc


class LandslideModel(mlflow.pyfunc.PythonModel):
    """Photos (base64) in, `ImagePrediction` JSON out; see the module doc."""

    def load_context(self, context: Any) -> None:
        from landslide.inference import TorchDetector
        from landslide.model import load_model

        model, info = load_model(Path(context.artifacts[WEIGHTS]))
        self.detector = TorchDetector(model, info, "cpu", source="mlflow pyfunc")

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict | None = None) -> Any:
        from landslide.inference import detect

        frame = _frame(model_input)
        defaults = {**_param_defaults(PredictParams()), **(params or {})}
        thresholds = _thresholds(frame, float(defaults["threshold"]))
        images = [_image(value, row) for row, value in enumerate(frame["image"])]
        out = []
        for image, threshold in zip(images, thresholds, strict=True):
            (pred,) = detect(
                self.detector,
                [image],
                threshold=threshold,
                mask_threshold=float(defaults["mask_threshold"]),
                min_score=min(float(defaults["min_score"]), threshold),
                simplify=float(defaults["simplify"]),
            )
            out.append(pred.to_json())
            image.close()
        return out


def _invalid(message: str) -> MlflowException:
    """What the scoring server turns into HTTP 400 with `message`."""
    return MlflowException.invalid_parameter_value(message)


def _frame(model_input: Any) -> pd.DataFrame:
    if isinstance(model_input, pd.DataFrame):
        frame = model_input
    elif isinstance(model_input, dict | list):
        try:
            frame = pd.DataFrame(model_input)
        except ValueError as exc:
            raise _invalid(f"expected rows with an 'image' column: {exc}") from None
    else:
        raise _invalid(f"expected a table with an 'image' column, got {type(model_input).__name__}")
    if "image" not in frame.columns:
        raise _invalid(
            f"missing column 'image' (base64 of an image file); got {list(frame.columns)}"
        )
    return frame


def _thresholds(frame: pd.DataFrame, default: float) -> list[float]:
    if "threshold" not in frame.columns:
        return [default] * len(frame)
    out = []
    for row, value in enumerate(frame["threshold"]):
        if value is None or pd.isna(value):
            out.append(default)
            continue
        try:
            threshold = float(value)
        except (TypeError, ValueError):
            raise _invalid(f"row {row}: threshold {value!r} is not a number") from None
        if not 0.0 <= threshold <= 1.0:
            raise _invalid(f"row {row}: threshold {threshold} is not in [0, 1]")
        out.append(threshold)
    return out


def _image(value: Any, row: int) -> Any:
    """The photo of one row, decoded and upright; bad input -> INVALID_PARAMETER_VALUE."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    elif isinstance(value, str):
        if len(value) > MAX_IMAGE_BYTES * 4 // 3 + 4:
            raise _invalid(f"row {row}: image larger than {MAX_IMAGE_BYTES} bytes")
        try:
            raw = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise _invalid(
                f"row {row}: 'image' is not base64 (of a JPEG, PNG, TIFF, ...)"
            ) from None
    else:
        raise _invalid(f"row {row}: 'image' must be a base64 string, got {type(value).__name__}")
    if not raw:
        raise _invalid(f"row {row}: 'image' is empty")
    if len(raw) > MAX_IMAGE_BYTES:
        raise _invalid(f"row {row}: image larger than {MAX_IMAGE_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise _invalid(
                    f"row {row}: image of {image.width}x{image.height} pixels exceeds "
                    f"{MAX_IMAGE_PIXELS} pixels"
                )
            image.load()
            return ImageOps.exif_transpose(image)
    except (UnidentifiedImageError, Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _invalid(f"row {row}: 'image' is not an image Pillow can read") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _invalid(f"row {row}: cannot decode the image: {exc}") from None


# --------------------------------------------------------------------------- logging


def _param_defaults(p: PredictParams) -> dict[str, float]:
    return {
        "threshold": p.threshold,
        "min_score": p.min_score,
        "mask_threshold": p.mask_threshold,
        "simplify": p.simplify,
    }


def signature(p: PredictParams | None = None) -> ModelSignature:
    """Input: `image` (base64 string), optional `threshold`; output: one object per photo."""
    p = p or PredictParams()
    inputs = Schema([ColSpec("string", "image"), ColSpec("double", "threshold", required=False)])
    instance = Object(
        [
            Property("category", "string"),
            Property("label", "long"),
            Property("score", "double"),
            Property("box", Array("double")),
            Property("area", "long"),
            Property(
                "rle", Object([Property("size", Array("long")), Property("counts", "string")])
            ),
            Property("polygon", Array(Array("double"))),
        ]
    )
    outputs = Schema(
        [
            ColSpec("long", "width"),
            ColSpec("long", "height"),
            ColSpec("boolean", "detected"),
            ColSpec("string", "prediction"),
            ColSpec("double", "max_score"),
            ColSpec("double", "threshold"),
            ColSpec(Array(instance), "instances"),
        ]
    )
    params = ParamSchema(
        [ParamSpec(name, "double", value) for name, value in _param_defaults(p).items()]
    )
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def input_example(size: tuple[int, int] = (64, 48)) -> pd.DataFrame:
    """One small PNG (a bright patch on a darker slope), base64, with a threshold."""
    import numpy as np
    from PIL import Image

    width, height = size
    pixels = np.full((height, width, 3), (96, 110, 70), dtype=np.uint8)
    pixels[height // 4 : height * 3 // 4, width // 3 : width // 2] = (200, 180, 150)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return pd.DataFrame(
        {"image": [base64.b64encode(buf.getvalue()).decode("ascii")], "threshold": [0.5]}
    )


def requirements() -> list[str]:
    """The serving environment: the pinned versions installed here (local parts dropped)."""
    out = []
    for name in REQUIREMENTS:
        try:
            out.append(f"{name}=={metadata.version(name).split('+')[0]}")
        except metadata.PackageNotFoundError:
            out.append(name)
    return out


def log_pyfunc_model(
    model_pt: Path,
    info: ModelInfo,
    p: PredictParams | None = None,
    *,
    name: str = PYFUNC_NAME,
) -> str:
    """Log the MLflow pyfunc model of `model_pt` (model.json beside it) in the active run.

    Returns its URI (`models:/<model_id>`).
    """
    model_pt = Path(model_pt)
    meta = model_pt.with_suffix(".json")
    for path in (model_pt, meta):
        if not path.is_file():
            raise ServingError("not found", file=path, hint="log the model `landslide train` wrote")
    with tempfile.TemporaryDirectory(prefix="landslide-pyfunc-") as tmp:
        loader = Path(tmp) / "landslide_model.py"
        loader.write_text(_LOADER, encoding="utf-8")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MLflow's notes on pandas and type hints
            logged = mlflow.pyfunc.log_model(
                name=name,
                python_model=str(loader),
                artifacts={WEIGHTS: str(model_pt), DESCRIPTION: str(meta)},
                signature=signature(p),
                input_example=input_example(),
                pip_requirements=requirements(),
                metadata={
                    "landslide": {
                        "classes": list(info.classes),
                        "backbone": info.backbone,
                        "variant": info.variant,
                        "size": list(info.size),
                        "epoch": info.epoch,
                    }
                },
                tags={"backbone": info.backbone, "classes": ",".join(info.classes)},
            )
    return str(logged.model_uri)


__all__ = ["LandslideModel", "input_example", "log_pyfunc_model", "requirements", "signature"]
