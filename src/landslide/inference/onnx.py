"""`OnnxDetector`: a file written by `landslide export` run with ONNX Runtime on the CPU.

Its input `image` is one float32 CHW image in [0, 1] with any height and width; its
outputs are those of torchvision's Mask R-CNN in eval mode (`boxes`, `labels`, `scores`,
`masks`). `model.json` travels inside the file (metadata `landslide.model_info`), so a
`.onnx` needs nothing beside it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landslide.errors import ExportError
from landslide.model import ModelInfo

INPUT = "image"
OUTPUTS = ("boxes", "labels", "scores", "masks")
META_INFO = "landslide.model_info"
META_SCORE = "landslide.score_thresh"
META_SOURCE = "landslide.source"


class OnnxDetector:
    """An exported model run with ONNX Runtime, called like torchvision's Mask R-CNN in eval
    mode: `detector(images) -> [{"boxes", "labels", "scores", "masks"}, ...]`.

    `classes`, when given, must be those the model was trained for. `threads` sets ONNX
    Runtime's intra-op threads (default: torch's thread count, so both compare fairly).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        classes: Sequence[str] | None = None,
        threads: int | None = None,
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.source = str(self.path)  # what predictions.json names as the model
        if not self.path.is_file():
            raise ExportError(
                "ONNX model not found", file=self.path, hint="write one with `landslide export`"
            )
        options = ort.SessionOptions()
        options.log_severity_level = 3  # shape-inference notes on data-dependent outputs
        options.intra_op_num_threads = threads or torch.get_num_threads()
        try:
            self.session = ort.InferenceSession(
                str(self.path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own pybind classes
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExportError(
                f"cannot read the ONNX model (corrupt, truncated or not ONNX): {first}",
                file=self.path,
                hint="export it again with `landslide export --format onnx`",
            ) from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if META_INFO not in meta:
            raise ExportError(
                f"an ONNX model without a landslide model description (metadata {META_INFO})",
                file=self.path,
                hint="use a file written by `landslide export --format onnx`",
            )
        try:
            info_json = json.loads(meta[META_INFO])
        except json.JSONDecodeError as exc:
            raise ExportError(
                f"metadata {META_INFO} is not valid JSON: {exc}", file=self.path
            ) from None
        self.info = _info(info_json, self.path)
        self.score_thresh = float(meta.get(META_SCORE, "nan"))
        inputs = [i.name for i in self.session.get_inputs()]
        outputs = [o.name for o in self.session.get_outputs()]
        if inputs != [INPUT] or outputs != list(OUTPUTS):
            raise ExportError(
                f"unexpected inputs {inputs} / outputs {outputs} (expected [{INPUT}] / "
                f"{list(OUTPUTS)})",
                file=self.path,
            )
        if classes is not None and list(classes) != list(self.info.classes):
            raise ExportError(
                f"made for classes [{', '.join(self.info.classes)}], not [{', '.join(classes)}]",
                file=self.path,
                hint="classes in params.yaml must be those the model was trained with",
            )

    def __call__(self, images: Sequence[Tensor]) -> list[dict[str, Tensor]]:
        out = []
        for image in images:
            if image.ndim != 3 or image.shape[0] != 3:
                raise ExportError(
                    f"expected a CHW image with 3 channels, got shape {tuple(image.shape)}",
                    file=self.path,
                )
            array = np.ascontiguousarray(image.detach().to("cpu", torch.float32).numpy())
            values = self.session.run(None, {INPUT: array})
            result = {name: torch.from_numpy(v) for name, v in zip(OUTPUTS, values, strict=True)}
            result["labels"] = result["labels"].to(torch.int64)
            out.append(result)
        return out

    def __repr__(self) -> str:
        return f"OnnxDetector({str(self.path)!r}, {self.info.backbone}, {self.info.size})"


def _info(data: Any, path: Path) -> ModelInfo:
    from landslide.errors import TrainError

    try:
        return ModelInfo.from_json(data, path)
    except TrainError as exc:
        raise ExportError(exc.message, file=path, where=f"metadata {META_INFO}") from None


def is_onnx(path: str | Path) -> bool:
    """Whether `path` names an ONNX file (by its suffix)."""
    return Path(path).suffix.lower() == ".onnx"
