"""ONNX export of a trained model, and a detector that runs the exported file.

    summary = export_onnx(Path("models/resnet101-setA/model.pt"), Path("model.onnx"))
    detector = OnnxDetector(Path("model.onnx"))
    (out,) = detector([image])  # CHW float in [0, 1]; out: boxes, labels, scores, masks

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
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from landslide.errors import ExportError
from landslide.io import atomic_open
from landslide.model import ModelInfo, load_model
from landslide.params import Params

FORMATS = ("onnx",)
OPSET = 17
INPUT = "image"
OUTPUTS = ("boxes", "labels", "scores", "masks")
META_INFO = "landslide.model_info"
META_SCORE = "landslide.score_thresh"
META_SOURCE = "landslide.source"
CHECK_IMAGES = 3  # synthetic images the export is checked on when none are given
MAX_PIXELS = 89_478_485  # photos read for the check: Pillow's decompression-bomb limit


@dataclass(frozen=True)
class Tolerance:
    """How close ONNX Runtime's detections must be to PyTorch's (absolute).

    Masks are compared allowing a one-pixel move (see `mask_diff`).
    """

    box_px: float = 0.05  # pixels, each coordinate
    score: float = 2e-3
    mask: float = 2e-2  # mask probability, each pixel


@dataclass
class Parity:
    """The largest differences between ONNX Runtime and PyTorch over the checked images."""

    images: int = 0
    detections: int = 0  # matched detections (PyTorch's), over all images
    box_px: float = 0.0
    score: float = 0.0
    mask: float = 0.0
    borderline: int = 0  # detections at the score threshold found by one runtime only
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def line(self) -> str:
        return (
            f"{self.images} images, {self.detections} detections: max |diff| boxes "
            f"{self.box_px:.2g} px, scores {self.score:.2g}, masks {self.mask:.2g}"
        )


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
    URI (`runs:/…`, `models:/…`, downloaded by `landslide.serving.resolve_model`)."""
    text = str(spec)
    if text.startswith(("runs:/", "models:/")):
        from landslide.serving import resolve_model
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
        model_pt, out, classes=params.classes, check=check, check_images=check_images
    )


def read_images(
    folder: Path, size: tuple[int, int], max_pixels: int = MAX_PIXELS, limit: int = 8
) -> list[Tensor]:
    """Up to `limit` photos of `folder` (sorted), as the model takes them (predict's input)."""
    from landslide.annotations.images import BadImage
    from landslide.predict import model_input, read_photo

    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            photo = read_photo(path, max_pixels)
        except (BadImage, OSError):
            continue
        out.append(model_input(photo, size))
        photo.close()
        if len(out) == limit:
            break
    if not out:
        raise ExportError("no readable photo in the folder", file=folder)
    return out


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
            parity = compare(
                model,
                detector,
                images,
                tolerance,
                score_thresh=thresh,
                cap=info.box_detections_per_img,
            )
            if not parity.ok:
                raise ExportError(
                    "ONNX Runtime's detections differ from PyTorch's: "
                    + "; ".join(parity.problems[:3]),
                    file=model_pt,
                    hint=f"tolerance {tolerance}; report it with the torch and onnxruntime "
                    "versions",
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


def synthetic_images(size: tuple[int, int], n: int = CHECK_IMAGES, seed: int = 0) -> list[Tensor]:
    """Deterministic images at `size` (width, height): smooth terrain-like noise with a
    bright elongated patch, plus fine noise, so the heads see structure."""
    width, height = size
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        coarse = torch.rand(3, max(2, height // 16), max(2, width // 16), generator=g)
        image = torch.nn.functional.interpolate(
            coarse[None], size=(height, width), mode="bilinear", align_corners=False
        )[0]
        image = 0.2 + 0.4 * image + 0.05 * torch.rand(3, height, width, generator=g)
        x0, y0 = (
            int(v) for v in torch.randint(0, max(1, min(width, height) // 2), (2,), generator=g)
        )
        image[:, y0 : y0 + height // 3, x0 : x0 + width // 6] = torch.tensor([0.8, 0.7, 0.55])[
            :, None, None
        ]
        out.append(image.clamp(0, 1))
    return out


# --------------------------------------------------------------------------- parity


def compare(
    model: Callable[[list[Tensor]], list[dict[str, Tensor]]],
    onnx_model: Callable[[list[Tensor]], list[dict[str, Tensor]]],
    images: Sequence[Tensor],
    tolerance: Tolerance = Tolerance(),
    *,
    score_thresh: float = 0.05,
    cap: int = 100,
) -> Parity:
    """Run both on each image and match detections (same label, best box IoU).

    A detection found by one runtime only is tolerated when its score is within
    `tolerance.score` of the score threshold, or of the lowest score kept where `cap`
    (`box_detections_per_img`) detections were kept: rounding decides those, not the export.
    """
    parity = Parity()
    for index, image in enumerate(images):
        with torch.no_grad():
            (ref,) = model([image])
        (got,) = onnx_model([image])
        parity.images += 1
        _match(index, ref, got, tolerance, score_thresh, cap, parity)
    return parity


def _match(
    index: int,
    ref: dict[str, Tensor],
    got: dict[str, Tensor],
    tol: Tolerance,
    score_thresh: float,
    cap: int,
    parity: Parity,
) -> None:
    from torchvision.ops import box_iou

    n_ref, n_got = len(ref["scores"]), len(got["scores"])
    # where a runtime kept `cap` detections, its lowest score is where the cap cut
    floors = [float(o["scores"].min()) for o in (ref, got) if len(o["scores"]) >= cap > 0]

    def borderline(score: float) -> bool:
        near = [score_thresh, *floors]
        return any(abs(score - edge) <= tol.score for edge in near)

    used: set[int] = set()
    iou = box_iou(ref["boxes"], got["boxes"]) if n_ref and n_got else None
    for i in range(n_ref):
        candidates = [
            j
            for j in range(n_got)
            if j not in used and int(got["labels"][j]) == int(ref["labels"][i])
        ]
        if iou is None or not candidates:
            j = None
        else:
            j = max(candidates, key=lambda c: float(iou[i, c]))
            if float(iou[i, j]) < 0.5:
                j = None
        score = float(ref["scores"][i])
        if j is None:
            if borderline(score):
                parity.borderline += 1
            else:
                parity.problems.append(
                    f"image {index}: detection {i} (label {int(ref['labels'][i])}, score "
                    f"{score:.4f}) missing from ONNX Runtime's output"
                )
            continue
        used.add(j)
        parity.detections += 1
        box = float((ref["boxes"][i] - got["boxes"][j]).abs().max())
        sc = abs(score - float(got["scores"][j]))
        mask = mask_diff(ref["masks"][i], got["masks"][j], ref["boxes"][i])
        parity.box_px, parity.score = max(parity.box_px, box), max(parity.score, sc)
        parity.mask = max(parity.mask, mask)
        for name, value, bound in (
            ("box", box, tol.box_px),
            ("score", sc, tol.score),
            ("mask", mask, tol.mask),
        ):
            if not value <= bound:  # NaN fails too
                parity.problems.append(
                    f"image {index}: detection {i} {name} differs by {value:.3g} (> {bound})"
                )
    for j in range(n_got):
        if j not in used:
            score = float(got["scores"][j])
            if borderline(score):
                parity.borderline += 1
            else:
                parity.problems.append(
                    f"image {index}: ONNX Runtime found a detection PyTorch did not "
                    f"(label {int(got['labels'][j])}, score {score:.4f})"
                )


def mask_diff(a: Tensor, b: Tensor, box: Tensor) -> float:
    """max |a - b| of two (1, H, W) mask probabilities over `box` (+2 px), the smaller of `b`
    in place and `b` moved by one pixel in x and/or y.

    torchvision pastes each mask at its box's corners truncated to integers; a corner a
    rounding error away from an integer lands on the next pixel in one runtime, which moves
    the whole mask by a pixel. Boxes under 2 px wide or high are not compared (0.0): there
    the same rounding changes the size the mask is resampled to.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return 0.0
    a, b = a[0].float(), b[0].float()
    height, width = a.shape
    left, top = max(int(x0) - 2, 0), max(int(y0) - 2, 0)
    right, bottom = min(math.ceil(x1) + 3, width), min(math.ceil(y1) + 3, height)
    region = a[top:bottom, left:right]
    padded = torch.nn.functional.pad(b, (1, 1, 1, 1))
    best = math.inf
    for dy in (0, -1, 1):
        for dx in (0, -1, 1):
            moved = padded[top + 1 + dy : bottom + 1 + dy, left + 1 + dx : right + 1 + dx]
            best = min(best, float((region - moved).abs().max()))
            if best == 0.0:
                return best
    return best


# --------------------------------------------------------------------------- running


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
