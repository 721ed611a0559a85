"""Evaluation stage: the study's image-level metrics, the per-frame table, COCO AP, pixel IoU.

    result = evaluate(Path("models/resnet101-setA"), Path("data/processed/splits/A/test.json"),
                      Path("data/processed/prepared/images"),
                      Path("reports/eval/resnet101-setA"), params)
    result.summary_line()

One inference loop (`inference_on_dataset`) feeds evaluators that share detectron2's
interface (`reset()`, `process(inputs, outputs)`, `evaluate() -> dict`):

* `ImageLevelEvaluator`: the study's decision. A photo is "landslide detected" when a
  landslide detection scores at least `evaluate.threshold` (0.8); against the truth (the
  photo has a landslide region or not) it gives TP/TN/FP/FN, accuracy, and precision,
  recall and F1 for the landslide and the non-landslide class (the study's Tables II and
  III), the per-frame table (Tables IV and V), a threshold sweep with the best-F1
  threshold (the study's 0.8 stays the headline) and precision/recall points over the
  score thresholds. A ratio whose denominator is zero is None (JSON null) with a warning.
* `CocoEvaluator`: pycocotools' COCOeval, box and mask AP / AP50 / AP75, overall and
  per class; ground truth from the test JSON, results as RLE (`pycocotools.mask.encode`).
* `PixelEvaluator`: landslide pixel IoU, precision, recall and F1 over the whole split:
  the union of the masks (at `mask_threshold`) of landslide detections scoring at least
  `threshold` against the union of the ground-truth landslide masks.
* `OverlayWriter`: the first `evaluate.overlays` photos (test JSON order) drawn with
  masks, boxes, labels and scores, framed by outcome (TP green, FP red, FN orange, TN grey).

Outputs in `out_dir` (default `reports/eval/<backbone>-set<SET>/`): `metrics.json` (DVC
metrics), `eval.json` (details: model, device, per-class AP, warnings), `frames.csv` and
`frames.md`, `sweep.csv` and `pr.csv` (DVC plots), `confusion.png`, `pr.png` and
`overlays/*.jpg`. Metrics (`test/...`; `eval-val/...` for the val split, apart from the
per-epoch `val/...` of training) and files are logged to the model's MLflow run:
the run id recorded in model.json when there is one, else the latest run named like the
model directory in the experiment of Params; no run found is a warning, not an error.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landslide.errors import EvaluateError
from landslide.inference import (
    LANDSLIDE,
    Evaluator,
    TorchDetector,
    at_threshold,
    best_score,
    inference_on_dataset,
    is_detected,
    landslide_label,
    resolve_device,
)
from landslide.io import (
    atomic_open,
    remove_stale_temps,
    write_bytes,
    write_csv,
    write_json,
    write_text,
)
from landslide.metrics import (
    PR_COLUMNS,
    SWEEP_COLUMNS,
    ImageLevelEvaluator,
    best_threshold,
    image_level,
    outcome,
    pr_points,
    sweep_rows,
    sweep_thresholds,
)
from landslide.params import MlflowParams, Params

OUTCOMES = ("TP", "TN", "FP", "FN")
FRAME_COLUMNS = ("image", "ground_truth", "confidence", "prediction", "outcome", "instances")
AP_KEYS = ("AP", "AP50", "AP75")
OUTCOME_COLOURS = {
    "TP": (0, 190, 0),
    "FP": (220, 0, 0),
    "FN": (255, 140, 0),
    "TN": (150, 150, 150),
}
FAINT_LABEL = (120, 120, 120)  # the label background of detections below the threshold
CLASS_COLOURS = [(255, 80, 20), (0, 150, 130), (30, 110, 255), (200, 60, 200), (240, 220, 0)]

Advance = Callable[[int], None]


# --------------------------------------------------------------------------- evaluators


# inputs: one dict per image, as `inference_on_dataset` builds them:
#   image_id (the test JSON's id), file_name (as in the JSON), has_landslide (bool),
#   target (DetectionDataset's: masks, labels, boxes), image (float 3 x H x W in [0, 1])
# outputs: torchvision's Mask R-CNN outputs (boxes, labels, scores, masks N x 1 x H x W)


class CocoEvaluator:
    """COCO box and mask AP / AP50 / AP75 (pycocotools), overall and per class."""

    def __init__(
        self,
        gt: dict[str, Any],
        category_of_label: Mapping[int, int],
        mask_threshold: float = 0.5,
    ) -> None:
        """`gt`: the COCO instances dict; `category_of_label`: model label -> category id."""
        self.gt = _coco_ground_truth(gt)
        self.category_of_label = dict(category_of_label)
        self.mask_threshold = mask_threshold
        self.reset()

    def reset(self) -> None:
        self._boxes: list[dict[str, Any]] = []
        self._segms: list[dict[str, Any]] = []

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        from pycocotools import mask as mask_util

        for inp, out in zip(inputs, outputs, strict=True):
            image_id = int(inp["image_id"])
            boxes = out["boxes"].detach().cpu().to(torch.float64).numpy()
            labels = out["labels"].detach().cpu().tolist()
            scores = out["scores"].detach().cpu().tolist()
            masks = out.get("masks")
            binary = (
                (masks[:, 0] >= self.mask_threshold).cpu().numpy().astype(np.uint8)
                if masks is not None
                else None
            )
            for i, (label, score) in enumerate(zip(labels, scores, strict=True)):
                category = self.category_of_label.get(int(label))
                if category is None:
                    continue
                x0, y0, x1, y1 = boxes[i]
                common = {"image_id": image_id, "category_id": category, "score": float(score)}
                self._boxes.append(
                    {**common, "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]}
                )
                if binary is not None:
                    rle = mask_util.encode(np.asfortranarray(binary[i]))
                    rle["counts"] = rle["counts"].decode("ascii")
                    self._segms.append({**common, "segmentation": rle})

    def evaluate(self) -> dict[str, Any]:
        names = {c["id"]: c["name"] for c in self.gt.dataset["categories"]}
        with_gt = {a["category_id"] for a in self.gt.dataset["annotations"]}
        out: dict[str, Any] = {}
        warnings: list[str] = []
        if not with_gt:
            warnings.append("COCO AP undefined: the split has no ground-truth instances")
        for kind, results in (("box", self._boxes), ("mask", self._segms)):
            out[kind] = _coco_eval(self.gt, results, kind, names, with_gt)
        return {**out, "warnings": warnings}


def _coco_ground_truth(data: Mapping[str, Any]) -> Any:
    from pycocotools.coco import COCO

    dataset = json.loads(json.dumps(data))  # a private copy pycocotools may annotate
    for ann in dataset.get("annotations", []):
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
    gt = COCO()
    gt.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        gt.createIndex()
    return gt


def _coco_eval(
    gt: Any,
    results: list[dict[str, Any]],
    kind: str,
    names: Mapping[int, str],
    with_gt: set[int],
) -> dict[str, Any]:
    """{AP, AP50, AP75, per_class: {name: {AP, AP50, AP75}}}; None where COCO gives -1."""
    from pycocotools.cocoeval import COCOeval

    empty = {k: (0.0 if with_gt else None) for k in AP_KEYS}
    per_class = {
        names[c]: {k: (0.0 if c in with_gt else None) for k in AP_KEYS} for c in sorted(names)
    }
    if not results or not with_gt:
        return {**empty, "per_class": per_class}
    with contextlib.redirect_stdout(io.StringIO()):
        dt = gt.loadRes([dict(r) for r in results])
        e = COCOeval(gt, dt, iouType="bbox" if kind == "box" else "segm")
        e.evaluate()
        e.accumulate()
        e.summarize()
    overall = {k: _ap(v) for k, v in zip(AP_KEYS, e.stats[:3], strict=True)}
    precision = e.eval["precision"]  # T x R x K x A x M; area 'all' is 0, maxDets 100 is -1
    iou = list(np.round(e.params.iouThrs, 2))
    for k, cat in enumerate(e.params.catIds):
        per_class[names[cat]] = {
            "AP": _mean_defined(precision[:, :, k, 0, -1]),
            "AP50": _mean_defined(precision[iou.index(0.5), :, k, 0, -1]),
            "AP75": _mean_defined(precision[iou.index(0.75), :, k, 0, -1]),
        }
    return {**overall, "per_class": per_class}


def _ap(value: float) -> float | None:
    return None if value < 0 else float(value)


def _mean_defined(values: np.ndarray) -> float | None:
    valid = values[values > -1]
    return float(valid.mean()) if valid.size else None


class PixelEvaluator:
    """Landslide pixel IoU, precision, recall, F1 over the split (sums, not per-image means)."""

    def __init__(self, landslide_id: int, threshold: float = 0.8, mask_threshold: float = 0.5):
        self.landslide_id = landslide_id
        self.threshold = threshold
        self.mask_threshold = mask_threshold
        self.reset()

    def reset(self) -> None:
        self.intersection = 0
        self.predicted = 0
        self.truth = 0

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            target = inp["target"]
            gt_masks = target["masks"][target["labels"] == self.landslide_id].bool()
            height, width = target["masks"].shape[-2:]
            truth = gt_masks.any(0) if len(gt_masks) else torch.zeros(height, width, dtype=bool)
            counted = at_threshold(out["scores"], self.threshold)
            keep = (out["labels"] == self.landslide_id) & counted
            masks = out["masks"][keep][:, 0] >= self.mask_threshold
            pred = masks.any(0).cpu() if len(masks) else torch.zeros_like(truth)
            self.intersection += int((pred & truth).sum())
            self.predicted += int(pred.sum())
            self.truth += int(truth.sum())

    def evaluate(self) -> dict[str, Any]:
        i, p, t = self.intersection, self.predicted, self.truth
        union = p + t - i
        warnings = []
        if union == 0:
            warnings.append("pixel IoU and F1 undefined: no landslide pixel, none predicted")
        elif p == 0:
            warnings.append("pixel precision undefined: no landslide pixel predicted")
        elif t == 0:
            warnings.append("pixel recall undefined: the split has no landslide pixel")
        return {
            "iou": i / union if union else None,
            "precision": i / p if p else None,
            "recall": i / t if t else None,
            "f1": 2 * i / (p + t) if p + t else None,
            "pixels": {"intersection": i, "predicted": p, "truth": t},
            "warnings": warnings,
        }


class OverlayWriter:
    """The first `limit` photos drawn with their detections, framed by the decision.

    Detections at or above `threshold` (the ones that count) are drawn solid: mask, box
    and a label with class and score on the class colour. Those between `min_score` and
    the threshold (listed in predict's JSON, not counted) are drawn faint: a light mask, a
    thin box and the label on grey. The frame says the image-level decision: against the
    truth when the input has one (TP green, FP red, FN orange, TN grey), else green when a
    landslide is detected and grey when not.
    """

    def __init__(
        self,
        out_dir: Path,
        limit: int,
        classes: Sequence[str],
        threshold: float = 0.8,
        mask_threshold: float = 0.5,
        min_score: float | None = None,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.limit = limit
        self.classes = list(classes)
        self.threshold = threshold
        self.min_score = threshold if min_score is None else min_score
        self.mask_threshold = mask_threshold
        self.landslide_id = landslide_label(self.classes)
        self.reset()

    def reset(self) -> None:
        self.written: list[Path] = []
        if self.out_dir.is_dir():
            for old in self.out_dir.glob("*.jpg"):
                old.unlink()

    def process(self, inputs: Sequence[Mapping[str, Any]], outputs: Sequence[Mapping]) -> None:
        for inp, out in zip(inputs, outputs, strict=True):
            if len(self.written) >= self.limit:
                return
            path = self.out_dir / f"{len(self.written) + 1:03d}_{Path(inp['file_name']).stem}.jpg"
            write_bytes(path, self.draw(inp, out))
            self.written.append(path)

    def draw(
        self, inp: Mapping[str, Any], out: Mapping[str, Any], detected: bool | None = None
    ) -> bytes:
        """JPEG bytes of `inp["image"]` with `out` drawn; `detected` defaults to the rule's."""
        from PIL import Image

        image = inp["image"]
        if image.dtype != torch.uint8:
            image = (image.clamp(0, 1) * 255).round().to(torch.uint8)
        image = image.cpu()
        shown = at_threshold(out["scores"], self.min_score)
        solid = shown & at_threshold(out["scores"], self.threshold)
        image = self._instances(image, out, shown & ~solid, faint=True)
        image = self._instances(image, out, solid, faint=False)
        if detected is None:
            detected = is_detected(best_score(out, self.landslide_id), self.threshold)
        truth = inp.get("has_landslide")
        key = outcome(bool(truth), detected) if truth is not None else ("TP" if detected else "TN")
        image = image.clone()
        w = max(2, min(image.shape[-2:]) // 85)  # 6 px on a 512 x 512 photo
        for c, value in enumerate(OUTCOME_COLOURS[key]):
            image[c, :w, :] = value
            image[c, -w:, :] = value
            image[c, :, :w] = value
            image[c, :, -w:] = value
        buf = io.BytesIO()
        Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, format="JPEG", quality=90)
        return buf.getvalue()

    def _instances(
        self, image: torch.Tensor, out: Mapping[str, Any], keep: torch.Tensor, *, faint: bool
    ) -> torch.Tensor:
        from torchvision.utils import draw_bounding_boxes, draw_segmentation_masks

        labels = out["labels"][keep].cpu().tolist()
        if not labels:
            return image
        scores = out["scores"][keep].cpu().tolist()
        colours = [CLASS_COLOURS[(label - 1) % len(CLASS_COLOURS)] for label in labels]
        if "masks" in out:
            masks = (out["masks"][keep][:, 0] >= self.mask_threshold).cpu()
            image = draw_segmentation_masks(
                image, masks, alpha=0.15 if faint else 0.4, colors=colours
            )
        names = [
            f"{self.classes[label - 1] if 0 < label <= len(self.classes) else label} {s:.2f}"
            for label, s in zip(labels, scores, strict=True)
        ]
        return draw_bounding_boxes(
            image,
            out["boxes"][keep].cpu(),
            labels=names,
            colors=colours,
            width=1 if faint else 2,
            fill_labels=True,  # white text on the class colour (grey when faint): readable
            label_colors=(255, 255, 255),
            label_background_colors=[FAINT_LABEL] * len(labels) if faint else colours,
        )

    def evaluate(self) -> dict[str, Any]:
        return {"overlays": [p.name for p in self.written]}


# --------------------------------------------------------------------------- the stage


@dataclass
class EvalResult:
    name: str  # <backbone>-set<SET>
    out_dir: Path
    split: str
    metrics: dict[str, Any]  # what metrics.json holds
    warnings: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    device: str = "cpu"
    seconds: float = 0.0
    run_id: str | None = None

    def summary_line(self) -> str:
        m = self.metrics
        ls = m["landslide"]
        best = m.get("best") or {}
        best_text = (
            f" (best F1 {_num(best.get('f1'))} @{best['threshold']:g})"
            if best.get("threshold") is not None
            else ""
        )
        cal = m.get("calibrated")
        cal_text = (
            f", F1 {_num(cal['landslide']['f1'])} @{cal['threshold']:g} chosen on val"
            if cal
            else ""
        )
        return (
            f"evaluate {self.name}: P {_num(ls['precision'])} R {_num(ls['recall'])} "
            f"F1 {_num(ls['f1'])} @{m['threshold']:g}{best_text}{cal_text}, "
            f"mask AP {_num(m['coco']['mask']['AP'])} -> {self.out_dir}"
        )


def _num(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def default_out_dir(name: str, reports: Path = Path("reports/eval")) -> Path:
    return reports / name


def check_inputs(model_dir: Path, test_json: Path, images_dir: Path) -> int:
    """EvaluateError for a missing model or split; else the number of images in the split."""
    model_dir, test_json = Path(model_dir), Path(test_json)
    hint = _train_hint(model_dir)
    if not model_dir.is_dir():
        raise EvaluateError("model directory not found", file=model_dir, hint=hint)
    for name in ("model.pt", "model.json"):
        if not (model_dir / name).is_file():
            raise EvaluateError(
                f"{name} not found in the model directory", file=model_dir, hint=hint
            )
    if not test_json.is_file():
        raise EvaluateError(
            "split not found",
            file=test_json,
            hint="run `landslide split` first (or `dvc repro split`)",
        )
    if not Path(images_dir).is_dir():
        raise EvaluateError(
            "images directory not found", file=images_dir, hint="run `landslide prepare` first"
        )
    images = _read_json(test_json).get("images")
    return len(images) if isinstance(images, list) else 0


def _train_hint(model_dir: Path) -> str:
    backbone, _, set_name = model_dir.name.partition("-set")
    if backbone and set_name:
        return f"train it first: landslide train --backbone {backbone} --set {set_name}"
    return "train it first: landslide train --backbone resnet50|resnet101 --set A|B"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EvaluateError(f"cannot read JSON: {exc}", file=path) from None
    if not isinstance(data, dict):
        raise EvaluateError("expected a JSON object", file=path)
    return data


def evaluate(
    model_dir: Path,
    test_json: Path,
    images_dir: Path,
    out_dir: Path,
    params: Params,
    *,
    progress: Advance | None = None,
    log_mlflow: bool = True,
    val_json: Path | None = None,
) -> EvalResult:
    """Evaluate the model in `model_dir` on the split `test_json`; write `out_dir`.

    With `evaluate.calibrate` and a `val_json`, the best-F1 threshold on the validation
    split is also applied to the test split (metrics.json `calibrated`); the study's
    threshold stays the headline.
    """
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn, dataset_dicts
    from landslide.model import load_model

    started = time.perf_counter()
    model_dir, test_json, out_dir = Path(model_dir), Path(test_json), Path(out_dir)
    remove_stale_temps(out_dir)  # what a killed run left half-written
    p = params.evaluate
    name = model_dir.name
    check_inputs(model_dir, test_json, images_dir)
    gt = _read_json(test_json)
    categories = {c["id"]: c["name"] for c in gt.get("categories", []) if isinstance(c, dict)}
    model_info_raw = _read_json(model_dir / "model.json")
    model_classes = list(model_info_raw.get("classes") or [])
    annotation_classes = [categories[i] for i in sorted(categories)]
    if set(model_classes) != set(annotation_classes) or LANDSLIDE not in model_classes:
        raise EvaluateError(
            f"the model's classes [{', '.join(model_classes)}] do not match the annotations' "
            f"classes [{', '.join(annotation_classes)}]",
            file=test_json,
            hint=f"evaluate on a split annotated with the classes the model in {model_dir} was "
            "trained with, or train the model again with the annotations' classes",
        )
    records = dataset_dicts(test_json, Path(images_dir), model_classes)
    if not records:
        raise EvaluateError(
            "the split is empty: no images to evaluate",
            file=test_json,
            hint="check the split sizes in params.yaml and run `landslide split` again",
        )
    json_images = gt["images"]
    coco_ids = [int(im["id"]) for im in json_images]
    file_names = [str(im["file_name"]) for im in json_images]
    device = resolve_device(params.train.device)
    model, info = load_model(model_dir / "model.pt", map_location=device)

    landslide_id = landslide_label(model_classes)
    category_id = {name: cid for cid, name in categories.items()}
    category_of_label = {i: category_id[c] for i, c in enumerate(model_classes, start=1)}
    dataset = DetectionDataset(records)

    def inputs_of(images: Sequence[torch.Tensor], targets: Sequence[dict]) -> list[dict]:
        out = []
        for image, target in zip(images, targets, strict=True):
            index = int(target["image_id"])
            out.append(
                {
                    "image_id": coco_ids[index],
                    "file_name": file_names[index],
                    "has_landslide": dataset.has_landslide(index),
                    "target": target,
                    "image": image,
                }
            )
        return out

    loader = DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=collate_fn)
    image_level = ImageLevelEvaluator(landslide_id, p.threshold, p.sweep)
    coco = CocoEvaluator(gt, category_of_label, p.mask_threshold)
    pixel = PixelEvaluator(landslide_id, p.threshold, p.mask_threshold)
    overlays = OverlayWriter(
        out_dir / "overlays", p.overlays, model_classes, p.threshold, p.mask_threshold
    )
    detector = TorchDetector(model, info, device)
    il, ap, px, ov = inference_on_dataset(
        detector, loader, [image_level, coco, pixel, overlays], inputs_of, progress=progress
    )
    warnings = [*il["warnings"], *ap["warnings"], *px["warnings"]]
    calibrated = None
    if p.calibrate and val_json is not None and Path(val_json) != test_json:
        val_best = _val_threshold(detector, Path(val_json), Path(images_dir), model_classes, p)
        if val_best is None:
            warnings.append(f"calibration skipped: no defined F1 on {val_json}")
        else:
            calibrated = _calibrated(image_level, val_best, Path(val_json))
    split_counts = {
        "images": len(records),
        "landslide": sum(1 for r in records if r["has_landslide"]),
        "non_landslide": sum(1 for r in records if not r["has_landslide"]),
    }
    if not split_counts["landslide"] or not split_counts["non_landslide"]:
        missing = "landslide" if not split_counts["landslide"] else "non-landslide"
        warnings.insert(0, f"the split has no {missing} image: some metrics are undefined")
    metrics = _metrics_json(il, ap, px, p.threshold, warnings, calibrated)
    details = {
        "name": name,
        "split": p.split,
        "test_json": str(test_json),
        "model_dir": str(model_dir),
        "backbone": info.backbone,
        "variant": info.variant,
        "classes": model_classes,
        "size": list(info.size),
        "weights": info.weights,
        "epoch": info.epoch,
        "epochs": info.epochs,
        "device": str(device),
        "threshold": p.threshold,
        "mask_threshold": p.mask_threshold,
        "sweep": list(p.sweep),
        "counts": split_counts,
        "image_level": il["metrics"],
        "best": il["best"],
        "coco": {k: ap[k] for k in ("box", "mask")},
        "pixel": {k: v for k, v in px.items() if k != "warnings"},
        "overlays": ov["overlays"],
        "warnings": warnings,
    }
    files = write_outputs(out_dir, metrics, details, il)
    files.extend(sorted((out_dir / "overlays").glob("*.jpg")))
    result = EvalResult(
        name=name,
        out_dir=out_dir,
        split=p.split,
        metrics=metrics,
        warnings=list(warnings),  # MLflow's warnings join these, not the files' list
        files=files,
        device=str(device),
    )
    if log_mlflow:
        result.run_id, more = log_to_mlflow(
            name, model_info_raw, out_dir, metrics, params.mlflow, p.split
        )
        result.warnings.extend(more)
    result.seconds = time.perf_counter() - started
    return result


def _val_threshold(
    detector: TorchDetector, val_json: Path, images_dir: Path, classes: list[str], p: Any
) -> dict[str, float] | None:
    """The best-F1 row of the threshold sweep on the validation split (None if undefined)."""
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn, dataset_dicts

    records = dataset_dicts(val_json, images_dir, classes)
    if not records:
        return None
    dataset = DetectionDataset(records)

    def inputs_of(images: Sequence[torch.Tensor], targets: Sequence[dict]) -> list[dict]:
        rows = [records[int(t["image_id"])] for t in targets]
        return [{"file_name": r["file_name"], "has_landslide": r["has_landslide"]} for r in rows]

    loader = DataLoader(dataset, batch_size=1, shuffle=False, collate_fn=collate_fn)
    evaluator = ImageLevelEvaluator(landslide_label(classes), p.threshold, p.sweep)
    (result,) = inference_on_dataset(detector, loader, [evaluator], inputs_of)
    return result["best"]


def _calibrated(
    test: ImageLevelEvaluator, val_best: Mapping[str, Any], val_json: Path
) -> dict[str, Any]:
    """The test split's image-level metrics at the threshold chosen on the validation split."""
    t = float(val_best["threshold"])
    m, _ = image_level(test.best, test.truths, t)
    return {
        "threshold": t,
        "chosen_on": str(val_json),
        "val_f1": val_best["f1"],
        "landslide": {k: m[k] for k in ("precision", "recall", "f1")},
        "accuracy": m["accuracy"],
    }


def _metrics_json(
    il: dict[str, Any],
    ap: dict[str, Any],
    px: dict[str, Any],
    threshold: float,
    warnings: list[str],
    calibrated: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics.json: the headline numbers (DVC metrics); undefined values are null."""
    m = il["metrics"]
    best = il["best"] or {}
    return {
        "threshold": threshold,
        "images": int(m["images"] or 0),
        "landslide": {k: m[k] for k in ("precision", "recall", "f1")},
        "non_landslide": {k: m[f"non_landslide_{k}"] for k in ("precision", "recall", "f1")},
        "accuracy": m["accuracy"],
        **{k: int(m[k] or 0) for k in ("tp", "tn", "fp", "fn")},
        "best": {"threshold": best.get("threshold"), "f1": best.get("f1")},
        "calibrated": calibrated,
        "coco": {kind: {k: ap[kind][k] for k in AP_KEYS} for kind in ("box", "mask")},
        "pixel": {k: px[k] for k in ("iou", "precision", "recall", "f1")},
        "warnings": warnings,
    }


# --------------------------------------------------------------------------- files


def write_outputs(
    out_dir: Path, metrics: dict[str, Any], details: dict[str, Any], il: dict[str, Any]
) -> list[Path]:
    """Every file but the overlays; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out_dir / "metrics.json",
        "eval": out_dir / "eval.json",
        "frames_csv": out_dir / "frames.csv",
        "frames_md": out_dir / "frames.md",
        "sweep": out_dir / "sweep.csv",
        "pr": out_dir / "pr.csv",
        "confusion": out_dir / "confusion.png",
        "pr_png": out_dir / "pr.png",
    }
    write_json(paths["metrics"], metrics)
    write_json(paths["eval"], details)
    write_csv(paths["frames_csv"], il["frames"], FRAME_COLUMNS)
    write_text(paths["frames_md"], frames_markdown(il["frames"], details))
    write_csv(paths["sweep"], [_csv_row(r) for r in il["sweep"]], SWEEP_COLUMNS)
    write_csv(paths["pr"], [_csv_row(r) for r in il["pr"]], PR_COLUMNS)
    plot_confusion(il["metrics"], paths["confusion"])
    plot_pr(il["pr"], il["metrics"], il["best"], paths["pr_png"])
    return list(paths.values())


def _csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: ("" if v is None else round(v, 6) if isinstance(v, float) else v) for k, v in row.items()
    }


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A GitHub Markdown table; `|` in cells is escaped."""

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(cell(h) for h in headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def frames_markdown(frames: Sequence[Mapping[str, Any]], details: Mapping[str, Any]) -> str:
    head = (
        f"# Per-frame results: {details['name']} ({details['split']} split)\n\n"
        f"A photo is predicted landslide when a landslide detection scores at least "
        f"{details['threshold']:g}. Confidence: the highest landslide score; instances: "
        f"landslide detections at or above the threshold.\n\n"
    )
    rows = [
        (
            i,
            f["image"],
            f["ground_truth"],
            f"{100 * f['confidence']:.0f}%",
            f["prediction"],
            f["outcome"],
            f["instances"],
        )
        for i, f in enumerate(frames, start=1)
    ]
    return head + markdown_table(
        ("frame", "image", "ground truth", "confidence", "prediction", "outcome", "instances"),
        rows,
    )


def _figure(size: tuple[float, float]) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Any, path: Path, dpi: int = 100) -> None:
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=dpi)


def plot_confusion(m: Mapping[str, Any], path: Path) -> None:
    """The 2 x 2 image-level confusion matrix at the threshold."""
    fig = _figure((4.2, 3.6))
    ax = fig.subplots()
    cells = np.array([[m["tp"], m["fn"]], [m["fp"], m["tn"]]], dtype=float)
    ax.imshow(cells, cmap="Blues", vmin=0, vmax=max(1.0, cells.max()))
    names = [["TP", "FN"], ["FP", "TN"]]
    for r in range(2):
        for c in range(2):
            dark = cells[r, c] > cells.max() / 2
            ax.text(
                c,
                r,
                f"{names[r][c]}\n{int(cells[r, c])}",
                ha="center",
                va="center",
                color="white" if dark else "black",
                fontsize=12,
            )
    ax.set_xticks([0, 1], ["landslide", "non-landslide"])
    ax.set_yticks([0, 1], ["landslide", "non-landslide"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("ground truth")
    ax.set_title(f"image level @ {m['threshold']:g}")
    save_figure(fig, path)


def plot_pr(
    points: Sequence[Mapping[str, Any]],
    m: Mapping[str, Any],
    best: Mapping[str, Any] | None,
    path: Path,
) -> None:
    """Precision against recall over score thresholds, the headline and best-F1 points."""
    fig = _figure((4.8, 4.0))
    ax = fig.subplots()
    pts = [(q["recall"], q["precision"]) for q in points if q["precision"] is not None]
    if pts:
        rec, prec = zip(*pts, strict=True)
        ax.plot(rec, prec, "o-", ms=3, label="image level")
    if m["precision"] is not None and m["recall"] is not None:
        ax.plot(
            [m["recall"]],
            [m["precision"]],
            "s",
            color="black",
            ms=8,
            label=f"threshold {m['threshold']:g}",
        )
    if best and best.get("precision") is not None and best.get("recall") is not None:
        ax.plot(
            [best["recall"]],
            [best["precision"]],
            "*",
            color="crimson",
            ms=12,
            label=f"best F1 @ {best['threshold']:g}",
        )
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("landslide precision / recall")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", fontsize=8)
    save_figure(fig, path)


# --------------------------------------------------------------------------- MLflow


def flat_metrics(metrics: Mapping[str, Any], prefix: str) -> dict[str, float]:
    """`{'landslide': {'f1': 0.9}}` -> `{'test/landslide_f1': 0.9}`; nulls and lists left out."""
    out: dict[str, float] = {}

    def walk(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                walk(v, f"{key}_{k}" if key else str(k))
        elif isinstance(value, bool):
            return
        elif isinstance(value, int | float) and math.isfinite(value):
            out[f"{prefix}/{key}"] = float(value)

    walk(metrics, "")
    return out


def log_to_mlflow(
    name: str,
    model_json: Mapping[str, Any],
    out_dir: Path,
    metrics: Mapping[str, Any],
    p: MlflowParams,
    split: str = "test",
) -> tuple[str | None, list[str]]:
    """Log metrics and files to the model's run: (run id or None, warnings).

    Metrics are named `test/<name>` (`eval-val/<name>` for the val split: training already
    logs per-epoch `val/<loss>` and `val/f1` curves); files go under `evaluation/<split>`.
    """
    from mlflow.exceptions import MlflowException

    from landslide.tracking import tracking_uri

    uri = tracking_uri(p)
    try:
        client = mlflow_client(uri)
        if client is None:
            return None, [f"MLflow store {uri} not found: results not logged"]
        run_id = find_run(client, name, p.experiment, model_json)
        if run_id is None:
            return None, [
                f"no MLflow run named {name!r} in experiment {p.experiment!r} ({uri}): "
                "results not logged"
            ]
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        prefix = "test" if split == "test" else f"eval-{split}"
        values = [Metric(k, v, stamp, 0) for k, v in flat_metrics(metrics, prefix).items()]
        client.log_batch(run_id, metrics=values)
        client.log_artifacts(run_id, str(out_dir), artifact_path=f"evaluation/{split}")
    except (MlflowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return None, [f"MLflow logging failed ({uri}): {first}"]
    return run_id, []


def mlflow_client(uri: str) -> Any:
    """An MlflowClient, or None when a local store does not exist (never create one here)."""
    from mlflow import MlflowClient

    if uri.startswith("sqlite:///"):
        exists = Path(uri.removeprefix("sqlite:///")).is_file()
    elif uri.startswith("file:") or "://" not in uri:
        exists = Path(uri.removeprefix("file://").removeprefix("file:")).is_dir()
    else:
        exists = True  # a server: errors surface when it is called
    if not exists:
        return None
    return MlflowClient(tracking_uri=uri)


def find_run(client: Any, name: str, experiment: str, model_json: Mapping[str, Any]) -> str | None:
    """The run id model.json records, else the latest run named `name` in `experiment`."""
    from mlflow.exceptions import MlflowException

    for key in ("mlflow_run_id", "run_id"):
        run_id = model_json.get(key) or (model_json.get("metrics") or {}).get(key)
        if isinstance(run_id, str) and run_id:
            try:
                client.get_run(run_id)
                return run_id
            except MlflowException:
                pass
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None
    runs = client.search_runs(
        [exp.experiment_id],
        filter_string=f"tags.`mlflow.runName` = '{name}'",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def read_metrics(path: Path) -> dict[str, Any] | None:
    """An evaluation's metrics.json, or None when it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


__all__ = [
    "FRAME_COLUMNS",
    "PR_COLUMNS",
    "SWEEP_COLUMNS",
    "CocoEvaluator",
    "EvalResult",
    "Evaluator",
    "ImageLevelEvaluator",
    "OverlayWriter",
    "PixelEvaluator",
    "best_threshold",
    "check_inputs",
    "evaluate",
    "inference_on_dataset",
    "log_to_mlflow",
    "markdown_table",
    "outcome",
    "pr_points",
    "sweep_rows",
    "sweep_thresholds",
]
