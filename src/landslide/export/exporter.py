"""ONNX export of a trained model (`landslide export`).

    summary = export_onnx(Path("models/resnet101-setA/model.pt"), Path("model.onnx"))

The exporter is torch.onnx's TorchScript-based one (`dynamo=False`, opset 17), the one
torchvision's own ONNX tests use for Mask R-CNN. torch 2.14's default exporter (through
`torch.export`) stops on Mask R-CNN: the number of boxes after NMS is data-dependent and
`torchvision.ops.boxes._batched_nms_coordinate_trick` guards on it
(`GuardOnDataDependentSymNode: Eq(4*u1, 0)`).

The file holds the whole model: the transform (normalisation; resizing to the model's
size), backbone, RPN, RoI heads with NMS, and mask pasting. Its input `image` is one
float32 CHW image in [0, 1] with any height and width (the model resizes it as PyTorch
does; the model's own `ModelInfo.size` needs no resizing); its outputs are those of
torchvision's Mask R-CNN in eval mode: `boxes` (N, 4) XYXY in input pixels, `labels` (N,)
int64, `scores` (N,) and `masks` (N, 1, H, W) probabilities. The RPN/RoI settings of
`model.json` and the score threshold below which detections are dropped
(`roi_heads.score_thresh`, torchvision's 0.05) are fixed in the graph. `model.json`
travels inside the file (metadata `landslide.model_info`), so a `.onnx` needs nothing
beside it.

After writing, the export is checked: ONNX Runtime and PyTorch run the same images and
every detection must match (same label, boxes, scores and mask probabilities within
`Tolerance`); a mismatch is an `ExportError` and no file is left behind.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from landslide.errors import ExportError
from landslide.export.parity import (
    Parity,
    Tolerance,
    check_parity,
    read_images,
    synthetic_images,
)
from landslide.inference.onnx import (
    INPUT,
    META_INFO,
    META_SCORE,
    META_SOURCE,
    OUTPUTS,
    OnnxDetector,
    is_onnx,
)
from landslide.io import atomic_open
from landslide.model import ModelInfo, load_model
from landslide.params import Params

FORMATS = ("onnx",)
OPSET = 17


@dataclass
class ExportSummary:
    out: Path
    format: str
    opset: int
    bytes: int
    info: ModelInfo
    score_thresh: float
    parity: Parity | None
    seconds: float

    def summary_line(self) -> str:
        check = f"; checked: {self.parity.line()}" if self.parity else "; not checked"
        return (
            f"export: {self.info.backbone} {self.info.variant} ({', '.join(self.info.classes)}) "
            f"-> {self.out} ({self.format} opset {self.opset}, {self.bytes / 1e6:.0f} MB, "
            f"{self.seconds:.0f} s){check}"
        )


# --------------------------------------------------------------------------- export


def model_file(spec: str | Path, params: Params) -> Path:
    """The model.pt a `--model` names: a file, a directory holding model.pt, or an MLflow
    URI (`runs:/…`, `models:/…`, downloaded by `landslide.registry.resolve_model`)."""
    text = str(spec)
    if text.startswith(("runs:/", "models:/")):
        from landslide.registry import resolve_model
        from landslide.tracking import tracking_uri

        return resolve_model(text, tracking_uri(params.mlflow))
    path = Path(spec)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise ExportError(
            "model not found",
            file=spec,
            hint="pass the model.pt `landslide train` wrote (or its directory), "
            "runs:/<run_id>/model or models:/<name>@<alias>",
        )
    if is_onnx(path):
        raise ExportError("already an ONNX model", file=path, hint="export a model.pt")
    return path


def export(
    model_pt: Path,
    out: Path,
    fmt: str,
    params: Params,
    *,
    check: bool = True,
    check_images: Path | None = None,
) -> ExportSummary:
    """`landslide export`: the format checked, the model's classes checked against
    params.yaml's, `check_images` (a folder of photos) read at the model's size."""
    if fmt.lower() not in FORMATS:
        raise ExportError(
            f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})",
            hint="pass --format onnx",
        )
    if out.suffix.lower() != ".onnx":
        raise ExportError("the output of --format onnx must end in .onnx", file=out)
    if check_images is not None and not check_images.is_dir():
        raise ExportError("not a folder of photos", file=check_images)
    return export_onnx(
        model_pt, out, classes=params.model_classes, check=check, check_images=check_images
    )


def export_onnx(
    model_pt: Path,
    out: Path,
    *,
    classes: Sequence[str] | None = None,
    score_thresh: float | None = None,
    check: bool = True,
    check_images: Sequence[Tensor] | Path | None = None,
    tolerance: Tolerance = Tolerance(),
    opset: int = OPSET,
) -> ExportSummary:
    """Export `model_pt` (with its model.json) to ONNX at `out`, checked against PyTorch.

    `classes`, when given, must be those the model was trained for. `score_thresh` replaces
    the model's `roi_heads.score_thresh` (fixed in the graph). `check_images` are CHW float
    images in [0, 1] or a folder of photos (read as `predict` reads them; default: a few
    synthetic images at the model's size).
    """
    import time

    start = time.perf_counter()
    model, info = load_model(model_pt, classes=classes)
    if score_thresh is not None:
        model.roi_heads.score_thresh = float(score_thresh)
    thresh = float(model.roi_heads.score_thresh)
    example = synthetic_images(info.size, 1)[0]
    data = _export_bytes(model, example, opset)
    data = _with_metadata(data, info, thresh, source=str(model_pt))
    tmp = out.with_name(f".{out.name}.export")
    try:
        with atomic_open(tmp, "wb") as fh:
            fh.write(data)
        parity = None
        if check:
            detector = OnnxDetector(tmp)
            if isinstance(check_images, Path):
                images = read_images(check_images, info.size)
            else:
                images = list(check_images) if check_images else synthetic_images(info.size)
            parity = check_parity(
                model, detector, images, tolerance, thresh, info.box_detections_per_img
            )
            if not parity.ok:
                raise ExportError(
                    f"ONNX Runtime's detections differ from PyTorch's ({len(parity.problems)} "
                    "beyond tolerance): " + "; ".join(parity.problems[:3]),
                    file=model_pt,
                    hint=f"{parity.tolerance}; export with --no-check to keep the file, and "
                    "report it with the torch and onnxruntime versions",
                )
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportSummary(
        out=out,
        format="onnx",
        opset=opset,
        bytes=out.stat().st_size,
        info=info,
        score_thresh=thresh,
        parity=parity,
        seconds=time.perf_counter() - start,
    )


def _export_bytes(model: torch.nn.Module, example: Tensor, opset: int) -> bytes:
    import io

    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        # the TorchScript exporter is deprecated in favour of torch.export (which cannot
        # export Mask R-CNN yet) and warns about each traced Python value; none applies here
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            ([example],),
            buf,
            dynamo=False,
            opset_version=opset,
            input_names=[INPUT],
            output_names=list(OUTPUTS),
            dynamic_axes={INPUT: {1: "height", 2: "width"}},
            do_constant_folding=True,
        )
    return buf.getvalue()


def _with_metadata(data: bytes, info: ModelInfo, score_thresh: float, *, source: str) -> bytes:
    import onnx

    proto = onnx.load_model_from_string(data)
    props = {
        META_INFO: json.dumps(info.to_json()),
        META_SCORE: repr(score_thresh),
        META_SOURCE: source,
    }
    for key, value in props.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.producer_name = "landslide"
    proto.doc_string = (
        f"Mask R-CNN {info.backbone} {info.variant} for {', '.join(info.classes)}; "
        f"input {INPUT}: float32 CHW in [0, 1]"
    )
    return proto.SerializeToString()
