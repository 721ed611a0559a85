"""Prediction on photos: files, folders and globs to overlays, one JSON and a CSV summary.

    detector = load_detector("models/resnet101-setA", params)      # or runs:/…, models:/…, .onnx
    summary = predict([Path("photos/")], detector, Path("predictions"), params.predict)
    summary.summary_line()

The pieces other modules build on (`landslide.raster` tiles orthomosaics with them, the
MLflow pyfunc model of `landslide.serving` calls `detect`):

* `Detector` (`landslide.inference`): anything with `.info` (`ModelInfo`: classes, input
  size) that maps a list of CHW float images in [0, 1] at the model's input size to
  torchvision's Mask R-CNN eval outputs (`boxes`, `labels`, `scores`, `masks` N x 1 x H x W
  probabilities) on the CPU. `TorchDetector` (same module) wraps `load_model`'s MaskRCNN
  under `torch.inference_mode` on the chosen device; `landslide.export.OnnxDetector` runs
  an ONNX export.
* `load_detector(spec, params)`: a model.pt path (model.json beside it), a directory
  holding model.pt, an `.onnx` file, `runs:/<run_id>/<path>` or `models:/<name>@<alias>` /
  `models:/<name>/<version>` (resolved to a local model.pt by `landslide.serving`).
* `detect(detector, images, threshold=…)`: PIL images of any size -> `ImagePrediction`s.
  Each photo is stretched to the model's input size as `prepare` does (the study's
  resize; Lanczos), the outputs are mapped back to the photo's own pixels: boxes scaled,
  mask probabilities resampled bilinearly (exactly what `F.interpolate(…, "bilinear")`
  to the full photo would give, computed only around each mask) and cut at the mask
  threshold. Each instance carries its class, score, box (x, y, w, h), an RLE
  (pycocotools, counts as str) and polygons (outer rings of the mask, simplified by
  `predict.simplify` pixels). The image-level decision is the study's, from
  `landslide.inference` (the one rule train and evaluate use): a landslide detection
  scoring at least the threshold.

The stage `predict` reads photos upright (EXIF orientation applied), any mode (16-bit,
palette, transparency: as `prepare` converts them), a batch at a time, so memory follows
`predict.batch_size`, not the number of photos. Files that are not images or cannot be
decoded are listed in the summary and skipped. Outputs in `out_dir`:

    predictions.json   {model, threshold, categories, images (id, file, size, decision,
                       max_score, overlay), results (COCO results: image_id, category_id,
                       bbox, score, segmentation as RLE; plus category and polygon),
                       skipped (file, reason)}
    summary.csv        one row per photo: decision, best landslide score, instance counts
    overlays/*.jpg     each photo with what predictions.json lists (masks, boxes, labels and
                       scores of the instances at or above `min_score`; those below the
                       threshold faint), framed green when a landslide is detected, grey
                       when not (evaluate's `OverlayWriter`)
"""

from __future__ import annotations

import glob
import math
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps

from landslide.errors import PredictError, TrainError
from landslide.inference import (
    LANDSLIDE,
    Detector,
    TorchDetector,
    at_threshold,
    best_score,
    is_detected,
    landslide_label,
    resolve_device,
)
from landslide.io import write_bytes, write_csv, write_json
from landslide.model import ModelInfo
from landslide.params import Params, PredictParams

SUMMARY_COLUMNS = (
    "image",
    "width",
    "height",
    "prediction",
    "max_score",
    "instances",
    "landslide_instances",
    "overlay",
)
URI_SCHEMES = ("runs:/", "models:/")
_URI = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+):/")  # two letters at least: not a drive
MODEL_HINT = (
    "pass a model.pt (model.json beside it), a model directory, an .onnx file, "
    "runs:/<run_id>/<path> or models:/<name>@<alias>"
)

Advance = Callable[[int], None]


# --------------------------------------------------------------------------- detectors


def load_detector(spec: str | Path, params: Params) -> Detector:
    """The detector `spec` names (see the module doc), checked against `params.classes`."""
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
                from landslide.export import OnnxDetector
            except ImportError as exc:
                raise PredictError(
                    f"ONNX models need landslide.export ({exc})", file=path
                ) from None
            detector: Detector = OnnxDetector(path)
            check_classes(detector.info, params.classes, path)
            return detector
    try:
        device = resolve_device(params.predict.device)
    except TrainError as exc:
        raise PredictError(
            exc.message, hint="set predict.device (or --device) to auto or cpu"
        ) from None
    model, info = load_model(path, map_location=device)
    check_classes(info, params.classes, path.with_suffix(".json"))
    return TorchDetector(model, info, device, source=text)


def _resolve_uri(uri: str, params: Params) -> Path:
    try:
        from landslide.serving import resolve_model
    except ImportError as exc:
        raise PredictError(
            f"MLflow model URIs need landslide.serving ({exc})", file=uri, hint=MODEL_HINT
        ) from None
    from landslide.tracking import tracking_uri

    return Path(resolve_model(uri, tracking_uri(params.mlflow)))


def check_classes(info: ModelInfo, classes: Sequence[str], file: str | Path | None) -> None:
    """PredictError for a model without the landslide class or made for other classes."""
    if LANDSLIDE not in info.classes:
        raise PredictError(
            f"the model's classes [{', '.join(info.classes)}] have no {LANDSLIDE!r}: "
            "no image-level decision can be made",
            file=file,
            hint="predict with a model trained by `landslide train`",
        )
    if list(info.classes) != list(classes):
        raise PredictError(
            f"the model was made for classes [{', '.join(info.classes)}], "
            f"params.yaml has [{', '.join(classes)}]",
            file=file,
            hint="set `classes:` in params.yaml to the model's (same names, same order), "
            "or predict with a model trained with these classes",
        )


# --------------------------------------------------------------------------- results


@dataclass
class Detection:
    """One instance in the pixels of the image it was found in: its mask as a crop."""

    label: int
    score: float
    box: tuple[float, float, float, float]  # x0, y0, x1, y1 (pixel edges)
    mask: np.ndarray  # bool, the crop of the binary mask whose top-left pixel is (x, y)
    x: int = 0
    y: int = 0

    def full_mask(self, width: int, height: int) -> np.ndarray:
        out = np.zeros((height, width), dtype=np.uint8, order="F")
        h, w = self.mask.shape
        out[self.y : self.y + h, self.x : self.x + w] = self.mask
        return out


@dataclass
class Instance:
    """One detection as JSON sees it: class, score, box (x, y, w, h), RLE and polygons."""

    category: str
    label: int
    score: float
    box: list[float]  # x, y, width, height in the photo's pixels
    rle: dict[str, Any]  # {"size": [height, width], "counts": str}
    polygon: list[list[float]]  # outer rings, [x0, y0, x1, y1, ...] each (COCO polygons)
    area: int  # mask pixels

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "label": self.label,
            "score": round(self.score, 6),
            "box": [round(v, 3) for v in self.box],
            "area": self.area,
            "rle": dict(self.rle),
            "polygon": [list(ring) for ring in self.polygon],
        }


@dataclass
class ImagePrediction:
    """One photo: its size, the image-level decision at the threshold, its instances."""

    width: int
    height: int
    detected: bool  # a landslide detection scores at least the threshold
    max_score: float  # the best landslide score (0 when none)
    instances: list[Instance] = field(default_factory=list)
    threshold: float = 0.8
    file_name: str | None = None

    @property
    def prediction(self) -> str:
        return LANDSLIDE if self.detected else f"non_{LANDSLIDE}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file_name": self.file_name} if self.file_name else {}
        out.update(
            {
                "width": self.width,
                "height": self.height,
                "detected": self.detected,
                "prediction": self.prediction,
                "max_score": round(self.max_score, 6),
                "threshold": self.threshold,
                "instances": [inst.to_json() for inst in self.instances],
            }
        )
        return out


# --------------------------------------------------------------------------- inference


def model_input(image: Image.Image, size: tuple[int, int]) -> torch.Tensor:
    """An upright photo as the model takes it: RGB, stretched to `size` (w, h), CHW in [0, 1]."""
    from landslide.prepare import REDUCING_GAP, to_rgb

    rgb = to_rgb(image)
    if rgb.size != tuple(size):
        rgb = rgb.resize(tuple(size), Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    array = np.asarray(rgb, dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)


def forward(detector: Detector, images: Sequence[Image.Image]) -> list[dict[str, torch.Tensor]]:
    """The detector's raw outputs (at its input size) for PIL images of any size."""
    if not images:
        return []
    size = tuple(detector.info.size)
    return detector([model_input(image, size) for image in images])  # type: ignore[arg-type]


def to_original(
    output: dict[str, torch.Tensor],
    model_size: tuple[int, int],
    size: tuple[int, int],
    *,
    min_score: float,
    mask_threshold: float = 0.5,
) -> list[Detection]:
    """The detections scoring at least `min_score`, mapped from `model_size` to `size` (w, h)."""
    w, h = (int(v) for v in model_size)
    width, height = (int(v) for v in size)
    sx, sy = width / w, height / h
    scores = output["scores"].detach().cpu().to(torch.float32)
    keep = at_threshold(scores, min_score).nonzero().flatten().tolist()
    boxes = output["boxes"].detach().cpu().to(torch.float64)
    labels = output["labels"].detach().cpu()
    masks = output.get("masks")
    out = []
    for i in keep:
        x0, y0, x1, y1 = boxes[i].tolist()
        box = (
            min(max(x0 * sx, 0.0), width),
            min(max(y0 * sy, 0.0), height),
            min(max(x1 * sx, 0.0), width),
            min(max(y1 * sy, 0.0), height),
        )
        if masks is not None:
            prob = masks[i, 0].detach().cpu().to(torch.float32).numpy()
            crop, mx, my = resample_mask(prob, width, height, mask_threshold)
        else:  # a box-only detector: the box is the mask
            crop, mx, my = _box_mask(box)
        out.append(Detection(int(labels[i]), float(scores[i]), box, crop, mx, my))
    return out


def resample_mask(
    prob: np.ndarray, width: int, height: int, threshold: float
) -> tuple[np.ndarray, int, int]:
    """(crop, x, y): `prob` (h x w) resized bilinearly to width x height, cut at `threshold`.

    Equal to thresholding `F.interpolate(prob, (height, width), mode="bilinear",
    align_corners=False)`, but only the output pixels whose bilinear neighbours include a
    source pixel at or above the threshold are computed (a bilinear value is a convex
    combination of its neighbours), as two small matrix products. The crop is trimmed to
    the pixels that are set; an empty mask is a 0 x 0 crop.
    """
    h, w = prob.shape
    hot = prob >= threshold
    if not hot.any():
        return np.zeros((0, 0), dtype=bool), 0, 0
    rows = np.flatnonzero(hot.any(axis=1))
    cols = np.flatnonzero(hot.any(axis=0))
    ys, wy, ry = _axis(int(rows[0]), int(rows[-1]), h, height)
    xs, wx, rx = _axis(int(cols[0]), int(cols[-1]), w, width)
    part = prob[ry[0] : ry[1], rx[0] : rx[1]].astype(np.float64)
    values = wy @ part @ wx.T
    binary = values >= threshold
    if not binary.any():
        return np.zeros((0, 0), dtype=bool), 0, 0
    r = np.flatnonzero(binary.any(axis=1))
    c = np.flatnonzero(binary.any(axis=0))
    crop = binary[r[0] : r[-1] + 1, c[0] : c[-1] + 1]
    return np.ascontiguousarray(crop), int(xs[0] + c[0]), int(ys[0] + r[0])


def _axis(
    first: int, last: int, n_in: int, n_out: int
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Output indices whose bilinear sources touch [first, last], their weights, source span."""
    scale = n_in / n_out
    lo = max(0, math.floor((first - 1 + 0.5) / scale - 0.5) - 1)
    hi = min(n_out, math.ceil((last + 1 + 0.5) / scale - 0.5) + 2)
    out = np.arange(lo, hi)
    src = np.maximum((out + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    i1 = np.minimum(i0 + 1, n_in - 1)
    frac = src - i0
    start, stop = int(i0.min()), int(i1.max()) + 1
    weights = np.zeros((len(out), stop - start))
    rows = np.arange(len(out))
    np.add.at(weights, (rows, i0 - start), 1.0 - frac)
    np.add.at(weights, (rows, i1 - start), frac)
    return out, weights, (start, stop)


def _box_mask(box: tuple[float, float, float, float]) -> tuple[np.ndarray, int, int]:
    x0, y0 = math.floor(box[0]), math.floor(box[1])
    x1, y1 = math.ceil(box[2]), math.ceil(box[3])
    return np.ones((max(0, y1 - y0), max(0, x1 - x0)), dtype=bool), x0, y0


def mask_geometry(mask: np.ndarray, x: int = 0, y: int = 0, simplify: float = 0.0) -> Any:
    """The pixel-edge outline of a binary crop at (x, y) as a shapely (Multi)Polygon.

    Holes are kept; `simplify` (pixels) removes staircase vertices, topology preserved.
    """
    from rasterio.features import shapes
    from rasterio.transform import Affine
    from shapely import MultiPolygon, Polygon, make_valid
    from shapely.geometry import shape

    if mask.size == 0 or not mask.any():
        return MultiPolygon()
    polygons = [
        shape(geom)
        for geom, value in shapes(
            mask.astype(np.uint8), mask=mask, transform=Affine.translation(x, y)
        )
        if value
    ]
    geom = MultiPolygon(polygons) if len(polygons) > 1 else polygons[0]
    if simplify > 0:
        geom = geom.simplify(simplify, preserve_topology=True)
    if not geom.is_valid:
        geom = make_valid(geom)
    return geom if isinstance(geom, Polygon | MultiPolygon) else _polygons_of(geom)


def _polygons_of(geom: Any) -> Any:
    from shapely import MultiPolygon, Polygon

    parts = [g for g in getattr(geom, "geoms", [geom]) if isinstance(g, Polygon | MultiPolygon)]
    flat = [p for g in parts for p in getattr(g, "geoms", [g])]
    return MultiPolygon(flat) if len(flat) != 1 else flat[0]


def coco_polygons(geom: Any) -> list[list[float]]:
    """Outer rings of a (Multi)Polygon as COCO polygons: [x0, y0, x1, y1, ...] per ring."""
    rings = []
    for polygon in getattr(geom, "geoms", [geom]):
        if polygon.is_empty:
            continue
        coords = list(polygon.exterior.coords)[:-1]  # COCO rings are not closed
        rings.append([round(float(v), 3) for xy in coords for v in xy])
    return rings


def instance_of(det: Detection, classes: Sequence[str], size: tuple[int, int], simplify: float):
    """A Detection (photo pixels) as an `Instance` with RLE and polygons."""
    from pycocotools import mask as mask_util

    width, height = size
    rle = mask_util.encode(det.full_mask(width, height))
    rle["counts"] = rle["counts"].decode("ascii")
    rle["size"] = [int(v) for v in rle["size"]]
    x0, y0, x1, y1 = det.box
    name = classes[det.label - 1] if 0 < det.label <= len(classes) else str(det.label)
    return Instance(
        category=name,
        label=det.label,
        score=det.score,
        box=[x0, y0, x1 - x0, y1 - y0],
        rle=rle,
        polygon=coco_polygons(mask_geometry(det.mask, det.x, det.y, simplify)),
        area=int(det.mask.sum()),
    )


def prediction_of(
    output: dict[str, torch.Tensor],
    info: ModelInfo,
    size: tuple[int, int],
    *,
    threshold: float,
    min_score: float,
    mask_threshold: float,
    simplify: float = 0.0,
    file_name: str | None = None,
) -> ImagePrediction:
    """One photo's `ImagePrediction` from the detector's output at the model's input size."""
    best = best_score(output, landslide_label(info.classes))
    detections = to_original(
        output, info.size, size, min_score=min_score, mask_threshold=mask_threshold
    )
    return ImagePrediction(
        width=int(size[0]),
        height=int(size[1]),
        detected=is_detected(best, threshold),
        max_score=best,
        instances=[instance_of(d, info.classes, size, simplify) for d in detections],
        threshold=threshold,
        file_name=file_name,
    )


def detect(
    detector: Detector,
    images: Sequence[Image.Image],
    *,
    threshold: float,
    mask_threshold: float = 0.5,
    min_score: float | None = None,
    simplify: float = 0.0,
) -> list[ImagePrediction]:
    """Predictions for upright PIL images of any size, in their own pixels.

    Instances listed: those scoring at least `min_score` (default: the threshold).
    """
    outputs = forward(detector, images)
    floor = threshold if min_score is None else min_score
    return [
        prediction_of(
            out,
            detector.info,
            image.size,
            threshold=threshold,
            min_score=floor,
            mask_threshold=mask_threshold,
            simplify=simplify,
        )
        for image, out in zip(images, outputs, strict=True)
    ]


# --------------------------------------------------------------------------- inputs


def collect_inputs(specs: Sequence[str | Path], exclude: Path | None = None) -> list[Path]:
    """Files named by `specs` (files, folders walked recursively, globs), each once, in order.

    A folder gives every non-hidden file under it (non-images are skipped later, with a
    reason); `exclude` (the output directory) is left out of folders and globs.
    """
    skip = exclude.resolve() if exclude is not None else None
    seen: set[Path] = set()
    out: list[Path] = []

    def add(path: Path) -> None:
        resolved = path.resolve()
        if skip is not None and resolved.is_relative_to(skip):
            return
        if resolved not in seen:
            seen.add(resolved)
            out.append(path)

    for spec in specs:
        text = str(spec)
        path = Path(spec)
        if path.is_file():
            add(path)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if not any(part.startswith(".") for part in file.relative_to(path).parts):
                    add(file)
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise PredictError("no file matches the pattern", file=text)
            for file in files:
                add(file)
        else:
            raise PredictError(
                "not found", file=text, hint="pass photo files, folders or glob patterns"
            )
    return out


def read_photo(path: Path, max_pixels: int) -> Image.Image:
    """The photo upright (EXIF orientation applied), decoded; BadImage when it is not one."""
    from landslide.annotations.images import BadImage, open_image

    image = open_image(path, max_pixels)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # no copy when already upright
    except Exception as exc:  # truncated or corrupt data
        image.close()
        raise BadImage(f"cannot decode: {exc}") from None
    return image


@dataclass
class _Photo:
    """One input read ahead: the upright photo and its model input, or why it was skipped."""

    path: Path
    image: Image.Image | None = None
    tensor: torch.Tensor | None = None
    reason: str = ""


def _read_batch(paths: Sequence[Path], size: tuple[int, int], max_pixels: int) -> list[_Photo]:
    from landslide.annotations.images import BadImage

    out = []
    for path in paths:
        try:
            image = read_photo(path, max_pixels)
        except (BadImage, OSError) as exc:
            out.append(_Photo(path, reason=str(exc)))
            continue
        try:
            out.append(_Photo(path, image, model_input(image, size)))
        except (OSError, ValueError) as exc:  # a pixel format Pillow cannot convert
            image.close()
            out.append(_Photo(path, reason=f"cannot convert to RGB: {exc}"))
    return out


# --------------------------------------------------------------------------- the stage


@dataclass
class PredictSummary:
    out_dir: Path
    images: int = 0  # photos predicted
    detected: int = 0  # photos with a landslide at the threshold
    instances: int = 0  # instances listed (at or above min_score)
    threshold: float = 0.8
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary_line(self) -> str:
        skipped = f", {len(self.skipped)} skipped" if self.skipped else ""
        return (
            f"predict: {self.images} photo{'s' if self.images != 1 else ''}, "
            f"{self.detected} with a landslide "
            f"(score >= {self.threshold:g}), {self.instances} instances{skipped}, "
            f"{self.seconds:.1f} s -> {self.out_dir}"
        )


def predict(
    paths: Sequence[Path],
    detector: Detector,
    out_dir: Path,
    p: PredictParams,
    *,
    progress: Advance | None = None,
) -> PredictSummary:
    """Predict every photo in `paths` (files; see `collect_inputs`), write `out_dir`.

    Three stages overlap, one batch apart: a thread reads and resizes the next batch while
    the detector runs on this one, and another thread maps back, encodes and draws the
    previous one (PIL, NumPy and pycocotools release the GIL). At most three batches are
    in memory.
    """
    from concurrent.futures import Future, ThreadPoolExecutor

    started = time.perf_counter()
    out_dir = Path(out_dir)
    info = detector.info
    if LANDSLIDE not in info.classes:
        check_classes(info, info.classes, None)
    if not paths:
        raise PredictError("no photo to predict", hint="pass photo files, folders or globs")
    run = _Run(out_dir, info, p, len(paths), progress)
    size = (int(info.size[0]), int(info.size[1]))
    chunks = [paths[i : i + p.batch_size] for i in range(0, len(paths), p.batch_size)]
    with (
        ThreadPoolExecutor(1, "predict-read") as reader,
        ThreadPoolExecutor(1, "predict-write") as writer,
    ):
        ahead = reader.submit(_read_batch, chunks[0], size, p.max_image_pixels)
        written: Future[None] | None = None
        for i in range(len(chunks)):
            batch = ahead.result()
            if i + 1 < len(chunks):
                ahead = reader.submit(_read_batch, chunks[i + 1], size, p.max_image_pixels)
            readable = [photo for photo in batch if photo.tensor is not None]
            outputs = detector([photo.tensor for photo in readable]) if readable else []
            if written is not None:
                written.result()  # in order, and no more than one batch waits
            written = writer.submit(run.write_batch, batch, outputs)
        if written is not None:
            written.result()
    summary = run.summary
    if not run.images:
        first = summary.skipped[0] if summary.skipped else ("", "")
        raise PredictError(
            f"none of the {len(paths)} files could be read as a photo",
            file=first[0] or None,
            hint=f"first reason: {first[1]}" if first[1] else None,
        )
    for file, reason in summary.skipped:
        summary.warnings.append(f"skipped {file}: {reason}")
    classes = list(info.classes)
    document = {
        "model": _model_entry(detector),
        "threshold": p.threshold,
        "min_score": p.min_score,
        "mask_threshold": p.mask_threshold,
        "categories": [{"id": i, "name": c} for i, c in enumerate(classes, start=1)],
        "images": run.images,
        "results": run.results,
        "skipped": [{"file_name": f, "reason": r} for f, r in summary.skipped],
    }
    write_json(out_dir / "predictions.json", document)
    write_csv(out_dir / "summary.csv", run.rows, SUMMARY_COLUMNS)
    summary.files = [out_dir / "predictions.json", out_dir / "summary.csv"]
    summary.seconds = time.perf_counter() - started
    return summary


class _Run:
    """What `predict` collects, batch by batch: JSON entries, CSV rows, overlays."""

    def __init__(
        self, out_dir: Path, info: ModelInfo, p: PredictParams, n: int, progress: Advance | None
    ) -> None:
        from landslide.evaluate import OverlayWriter

        self.out_dir, self.info, self.p, self.progress = out_dir, info, p, progress
        self.summary = PredictSummary(out_dir=out_dir, threshold=p.threshold)
        # reset() removes the overlays of an earlier run: they would mix with these
        self.overlays = OverlayWriter(
            out_dir / "overlays", n, info.classes, p.threshold, p.mask_threshold, p.min_score
        )
        self.names: set[str] = set()
        self.images: list[dict[str, Any]] = []
        self.results: list[dict[str, Any]] = []
        self.rows: list[dict[str, Any]] = []

    def write_batch(self, batch: Sequence[_Photo], outputs: Sequence[dict]) -> None:
        p, info, classes = self.p, self.info, list(self.info.classes)
        readable = [photo for photo in batch if photo.image is not None]
        for photo, output in zip(readable, outputs, strict=True):
            image = photo.image
            assert image is not None
            image_id = len(self.images) + 1
            pred = prediction_of(
                output,
                info,
                image.size,
                threshold=p.threshold,
                min_score=p.min_score,
                mask_threshold=p.mask_threshold,
                simplify=p.simplify,
                file_name=str(photo.path),
            )
            overlay = ""
            if p.overlays:
                name = _unique(f"{photo.path.stem}.jpg", self.names)
                drawn = draw_overlay(self.overlays, image, output, info, p, pred.detected)
                write_bytes(self.out_dir / "overlays" / name, drawn)
                overlay = f"overlays/{name}"
            image.close()
            self.images.append(_image_entry(image_id, pred, overlay))
            self.results.extend(_results(image_id, pred, classes))
            self.rows.append(_summary_row(pred, classes, overlay))
            self.summary.images += 1
            self.summary.detected += int(pred.detected)
            self.summary.instances += len(pred.instances)
        self.summary.skipped.extend((str(ph.path), ph.reason) for ph in batch if ph.image is None)
        if self.progress is not None:
            self.progress(len(batch))


def draw_overlay(
    writer: Any,
    image: Image.Image,
    output: dict[str, torch.Tensor],
    info: ModelInfo,
    p: PredictParams,
    detected: bool,
) -> bytes:
    """JPEG bytes: the photo (at most `overlay_max_side`) with what predictions.json lists.

    Every instance scoring at least `min_score` is drawn (those below the threshold faint,
    with their scores); the frame says the image-level decision `detected`.
    """
    from landslide.prepare import REDUCING_GAP, to_rgb

    width, height = image.size
    scale = min(1.0, p.overlay_max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    rgb = to_rgb(image)
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=REDUCING_GAP)
    pixels = torch.from_numpy(np.asarray(rgb, dtype=np.uint8).copy()).permute(2, 0, 1)
    dets = to_original(
        output, info.size, size, min_score=p.min_score, mask_threshold=p.mask_threshold
    )
    masks = torch.zeros((len(dets), 1, size[1], size[0]), dtype=torch.uint8)
    for i, det in enumerate(dets):
        masks[i, 0] = torch.from_numpy(det.full_mask(*size))
    drawn = {
        "boxes": torch.tensor([d.box for d in dets], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([d.label for d in dets], dtype=torch.int64),
        "scores": torch.tensor([d.score for d in dets], dtype=torch.float32),
        "masks": masks,
    }
    return writer.draw({"image": pixels}, drawn, detected=detected)


def _unique(name: str, taken: set[str]) -> str:
    stem, suffix = name.rsplit(".", 1)
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.{suffix}"
    taken.add(candidate)
    return candidate


def _image_entry(image_id: int, pred: ImagePrediction, overlay: str) -> dict[str, Any]:
    return {
        "id": image_id,
        "file_name": pred.file_name,
        "width": pred.width,
        "height": pred.height,
        "detected": pred.detected,
        "prediction": pred.prediction,
        "max_score": round(pred.max_score, 6),
        "instances": len(pred.instances),
        "overlay": overlay or None,
    }


def _results(image_id: int, pred: ImagePrediction, classes: Sequence[str]) -> list[dict]:
    """COCO results (image_id, category_id, bbox, score, segmentation) plus name and polygon."""
    return [
        {
            "image_id": image_id,
            "category_id": inst.label,
            "bbox": [round(v, 3) for v in inst.box],
            "score": round(inst.score, 6),
            "segmentation": dict(inst.rle),
            "area": inst.area,
            "category": inst.category,
            "polygon": inst.polygon,
        }
        for inst in pred.instances
    ]


def _summary_row(pred: ImagePrediction, classes: Sequence[str], overlay: str) -> dict[str, Any]:
    return {
        "image": pred.file_name,
        "width": pred.width,
        "height": pred.height,
        "prediction": pred.prediction,
        "max_score": round(pred.max_score, 4),
        "instances": len(pred.instances),
        "landslide_instances": sum(
            1
            for i in pred.instances
            if i.category == LANDSLIDE and at_threshold(i.score, pred.threshold)
        ),
        "overlay": overlay,
    }


def _model_entry(detector: Detector) -> dict[str, Any]:
    info = detector.info
    return {
        "source": getattr(detector, "source", None),
        "backbone": info.backbone,
        "variant": info.variant,
        "classes": list(info.classes),
        "size": list(info.size),
        "epoch": info.epoch,
        "device": str(getattr(detector, "device", "cpu")),
    }


def default_model(p: PredictParams) -> str:
    """The registry alias predictions use when no --model is given."""
    return f"models:/{p.model_name}@{p.alias}"


__all__ = [
    "Detection",
    "Detector",
    "ImagePrediction",
    "Instance",
    "PredictSummary",
    "TorchDetector",
    "collect_inputs",
    "detect",
    "forward",
    "load_detector",
    "predict",
    "to_original",
]
