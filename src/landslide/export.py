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
from dataclasses import dataclass, field, replace
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
NOISE_FACTOR = 3.0  # two float32 runtimes each off by e from exact differ by up to 2e, + margin


@dataclass(frozen=True)
class Tolerance:
    """How close ONNX Runtime's detections must be to PyTorch's.

    A box coordinate may differ by `box_px` + `box_rel` x the box's longer side (float32
    rounding grows with the coordinates), a score by `score`, a mask (at 0.5) in `mask` of
    its pixels beyond a one-pixel band along its edge (`mask_diff`). `unmatched`: detections
    found by one runtime only (away from the score threshold) that are accepted.
    """

    box_px: float = 0.05
    box_rel: float = 1e-3
    score: float = 2e-3
    mask: float = 0.01
    unmatched: int = 0

    def box_bound(self, side: float) -> float:
        return self.box_px + self.box_rel * side

    def widened(self, noise: Parity, factor: float = NOISE_FACTOR) -> Tolerance:
        """At least `factor` times PyTorch's own float32 rounding noise (`noise`: PyTorch
        float32 against float64 on the same images)."""
        return Tolerance(
            box_px=max(self.box_px, factor * noise.box_px),
            box_rel=self.box_rel,
            score=max(self.score, factor * noise.score),
            mask=max(self.mask, factor * noise.mask),
            unmatched=max(self.unmatched, math.ceil(factor * len(noise.unmatched))),
        )


@dataclass
class Parity:
    """Differences between two runtimes' detections over the same images."""

    images: int = 0
    pairs: list[tuple[int, int, float, float, float, float]] = field(default_factory=list)
    # ^ (image, detection, box side px, max |diff| of box px, score, mask) per matched one
    unmatched: list[str] = field(default_factory=list)  # found by one runtime only
    borderline: int = 0  # found by one only, but at the score threshold or the per-image cap
    tolerance: Tolerance = Tolerance()
    noise: Parity | None = None  # PyTorch float32 against float64, when it was measured

    @property
    def detections(self) -> int:
        return len(self.pairs)

    @property
    def box_px(self) -> float:
        return max((p[3] for p in self.pairs), default=0.0)

    @property
    def score(self) -> float:
        return max((p[4] for p in self.pairs), default=0.0)

    @property
    def mask(self) -> float:
        return max((p[5] for p in self.pairs), default=0.0)

    @property
    def problems(self) -> list[str]:
        tol = self.tolerance
        out = list(self.unmatched) if len(self.unmatched) > tol.unmatched else []
        for image, i, side, box, score, mask in self.pairs:
            for name, value, bound in (
                ("box", box, tol.box_bound(side)),
                ("score", score, tol.score),
                ("mask", mask, tol.mask),
            ):
                if not value <= bound:  # NaN fails too
                    out.append(
                        f"image {image}: detection {i} {name} differs by {value:.3g} "
                        f"(> {bound:.3g})"
                    )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def within(self, tolerance: Tolerance) -> Parity:
        return replace(self, tolerance=tolerance)

    def line(self) -> str:
        text = (
            f"{self.images} images, {self.detections} detections: max |diff| boxes "
            f"{self.box_px:.2g} px, scores {self.score:.2g}, masks {self.mask:.2%} of pixels "
            "beyond the edge"
        )
        if self.noise is not None:
            text += (
                f" (within {NOISE_FACTOR:g}x PyTorch's own float32 noise: boxes "
                f"{self.noise.box_px:.2g} px, scores {self.noise.score:.2g}, masks "
                f"{self.noise.mask:.2%} against float64)"
            )
        return text


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


def check_parity(
    model: torch.nn.Module,
    detector: OnnxDetector,
    images: Sequence[Tensor],
    tolerance: Tolerance,
    score_thresh: float,
    cap: int,
) -> Parity:
    """`compare`; where differences exceed `tolerance`, measure PyTorch's own float32 noise
    on the same images (float32 against float64) and accept differences up to
    `NOISE_FACTOR` times it.

    A deep network amplifies rounding: on random-weight ResNet-101 at 512 px, PyTorch
    float32 and float64 disagree by ~0.4 px in boxes; ONNX Runtime is then judged by that.
    """
    parity = compare(model, detector, images, tolerance, score_thresh=score_thresh, cap=cap)
    if parity.ok:
        return parity
    noise = compare(model, float64(model), images, tolerance, score_thresh=score_thresh, cap=cap)
    widened = parity.within(tolerance.widened(noise))
    widened.noise = noise
    return widened


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
    """Run both on each image and match detections (same label, best box IoU >= 0.5).

    A detection found by one runtime only is borderline (not a problem) when its score is
    within `tolerance.score` of the score threshold, or of the lowest score kept where
    `cap` (`box_detections_per_img`) detections were kept: rounding decides those.
    """
    parity = Parity(tolerance=tolerance)
    for index, image in enumerate(images):
        with torch.no_grad():
            (ref,) = model([image])
        (got,) = onnx_model([image])
        parity.images += 1
        _match(index, ref, got, score_thresh, cap, parity)
    return parity


def _match(
    index: int,
    ref: dict[str, Tensor],
    got: dict[str, Tensor],
    score_thresh: float,
    cap: int,
    parity: Parity,
) -> None:
    from torchvision.ops import box_iou

    n_ref, n_got = len(ref["scores"]), len(got["scores"])
    # where a runtime kept `cap` detections, its lowest score is where the cap cut
    edges = [score_thresh]
    edges += [float(o["scores"].min()) for o in (ref, got) if len(o["scores"]) >= cap > 0]

    def one_sided(score: float, label: int, text: str) -> None:
        if any(abs(score - edge) <= parity.tolerance.score for edge in edges):
            parity.borderline += 1
        else:
            parity.unmatched.append(f"image {index}: {text} (label {label}, score {score:.4f})")

    used: set[int] = set()
    iou = box_iou(ref["boxes"], got["boxes"]) if n_ref and n_got else None
    for i in range(n_ref):
        label = int(ref["labels"][i])
        candidates = [j for j in range(n_got) if j not in used and int(got["labels"][j]) == label]
        j = (
            max(candidates, key=lambda c: float(iou[i, c]))
            if iou is not None and candidates
            else None
        )
        if j is None or float(iou[i, j]) < 0.5:  # type: ignore[index]
            one_sided(
                float(ref["scores"][i]), label, f"detection {i} missing from ONNX Runtime's output"
            )
            continue
        used.add(j)
        box = ref["boxes"][i]
        parity.pairs.append(
            (
                index,
                i,
                float(max(box[2] - box[0], box[3] - box[1])),
                float((box - got["boxes"][j]).abs().max()),
                abs(float(ref["scores"][i]) - float(got["scores"][j])),
                mask_diff(ref["masks"][i], got["masks"][j]),
            )
        )
    for j in range(n_got):
        if j not in used:
            text = "ONNX Runtime found a detection PyTorch did not"
            one_sided(float(got["scores"][j]), int(got["labels"][j]), text)


def float64(model: torch.nn.Module) -> Callable[[list[Tensor]], list[dict[str, Tensor]]]:
    """`model` computing in float64 (a copy), outputs back in float32: the reference that
    shows how far PyTorch's own float32 results are from exact."""
    import copy

    wide = copy.deepcopy(model).double().eval()

    def run(images: list[Tensor]) -> list[dict[str, Tensor]]:
        with torch.no_grad():
            outs = wide([image.double() for image in images])
        return [{k: v.float() if v.is_floating_point() else v for k, v in o.items()} for o in outs]

    return run


def mask_diff(a: Tensor, b: Tensor, threshold: float = 0.5) -> float:
    """How much two (1, H, W) mask probabilities disagree as masks: the pixels on one side of
    `threshold` in one and on the other in the other, leaving out a one-pixel band along
    `a`'s edge, as a fraction of the larger mask's pixels (0.0: equal up to the edge).

    torchvision pastes each mask at its box's corners truncated to integers: a corner a
    rounding error away from an integer moves the mask, or resamples it one pixel wider,
    which changes probabilities along the edge a lot and nowhere else.
    """
    ma, mb = a[0] >= threshold, b[0] >= threshold
    either = ma | mb
    if not bool(either.any()):
        return 0.0
    rows, cols = either.any(dim=1).nonzero(), either.any(dim=0).nonzero()
    top, bottom = max(int(rows.min()) - 1, 0), int(rows.max()) + 2
    left, right = max(int(cols.min()) - 1, 0), int(cols.max()) + 2
    ma, mb = ma[top:bottom, left:right], mb[top:bottom, left:right]

    def grow(m: Tensor) -> Tensor:
        return torch.nn.functional.max_pool2d(m[None, None].float(), 3, 1, 1)[0, 0] > 0

    band = grow(ma) & grow(~ma)  # pixels within one pixel of a's edge, both sides
    off = (ma ^ mb) & ~band
    return float(off.sum()) / max(int(ma.sum()), int(mb.sum()), 1)


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
