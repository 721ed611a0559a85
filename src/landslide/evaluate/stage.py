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

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from landslide.errors import EvaluateError
from landslide.evaluate.calibration import _calibration
from landslide.evaluate.evaluators import CocoEvaluator, PixelEvaluator
from landslide.evaluate.mlflow_runs import log_to_mlflow
from landslide.evaluate.outputs import _metrics_json, write_outputs
from landslide.evaluate.overlays import OverlayWriter
from landslide.inference import (
    LANDSLIDE,
    TorchDetector,
    inference_on_dataset,
    landslide_label,
    resolve_device,
)
from landslide.io import remove_stale_temps
from landslide.metrics import ImageLevelEvaluator
from landslide.params import Params

if TYPE_CHECKING:
    from landslide.model import ModelInfo

Advance = Callable[[int], None]


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


@dataclass
class _Inputs:
    """What the stage reads before inference, checked."""

    model_dir: Path
    test_json: Path
    gt: dict[str, Any]  # the test JSON (COCO instances)
    categories: dict[int, str]  # category id -> name
    model_json: dict[str, Any]  # model.json as train wrote it
    classes: list[str]  # the model's classes (label 1 is the first)
    records: list[dict[str, Any]]  # `dataset_dicts` of the split
    annotation_classes: list[str]  # the split's categories (the model's, or more)


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
    from landslide.model import load_model

    started = time.perf_counter()
    model_dir, test_json, out_dir = Path(model_dir), Path(test_json), Path(out_dir)
    remove_stale_temps(out_dir)  # what a killed run left half-written
    p = params.evaluate
    name = model_dir.name
    inputs = _read_inputs(model_dir, test_json, images_dir)
    device = resolve_device(params.train.device)
    model, info = load_model(model_dir / "model.pt", map_location=device)
    detector = TorchDetector(model, info, device)
    image_level, results = _run_evaluators(detector, inputs, out_dir, p, progress)
    il, ap, px, _ = results
    calibrated, calibration_warnings = _calibration(
        detector,
        image_level,
        test_json,
        val_json,
        images_dir,
        inputs.annotation_classes,
        inputs.classes,
        p,
    )
    counts, split_warnings = _split_counts(inputs.records)
    warnings = [
        *split_warnings,
        *il["warnings"],
        *ap["warnings"],
        *px["warnings"],
        *calibration_warnings,
    ]
    metrics = _metrics_json(il, ap, px, p.threshold, warnings, calibrated)
    details = _details(inputs, info, device, p, counts, results, warnings)
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
            name, inputs.model_json, out_dir, metrics, params.mlflow, p.split
        )
        result.warnings.extend(more)
    result.seconds = time.perf_counter() - started
    return result


def _read_inputs(model_dir: Path, test_json: Path, images_dir: Path) -> _Inputs:
    """The split and model.json: EvaluateError when missing, of other classes, or empty."""
    from landslide.data import dataset_dicts

    check_inputs(model_dir, test_json, images_dir)
    gt = _read_json(test_json)
    categories = {c["id"]: c["name"] for c in gt.get("categories", []) if isinstance(c, dict)}
    model_info_raw = _read_json(model_dir / "model.json")
    model_classes = list(model_info_raw.get("classes") or [])
    annotation_classes = [categories[i] for i in sorted(categories)]
    # a model of train.classes (e.g. landslide alone) is scored on its own classes
    if not set(model_classes) <= set(annotation_classes) or LANDSLIDE not in model_classes:
        raise EvaluateError(
            f"the model's classes [{', '.join(model_classes)}] do not match the annotations' "
            f"classes [{', '.join(annotation_classes)}]",
            file=test_json,
            hint=f"evaluate on a split annotated with the classes the model in {model_dir} was "
            "trained with, or train the model again with the annotations' classes",
        )
    records = dataset_dicts(test_json, Path(images_dir), annotation_classes, keep=model_classes)
    if not records:
        raise EvaluateError(
            "the split is empty: no images to evaluate",
            file=test_json,
            hint="check the split sizes in params.yaml and run `landslide split` again",
        )
    return _Inputs(
        model_dir,
        test_json,
        gt,
        categories,
        model_info_raw,
        model_classes,
        records,
        annotation_classes,
    )


def _run_evaluators(
    detector: TorchDetector,
    inputs: _Inputs,
    out_dir: Path,
    p: Any,
    progress: Advance | None,
) -> tuple[ImageLevelEvaluator, list[dict[str, Any]]]:
    """One inference pass feeding the image-level, COCO, pixel and overlay evaluators.

    Returns the image-level evaluator (calibration reuses its scores) and the four results.
    """
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn

    json_images = inputs.gt["images"]
    coco_ids = [int(im["id"]) for im in json_images]
    file_names = [str(im["file_name"]) for im in json_images]
    model_classes = inputs.classes
    landslide_id = landslide_label(model_classes)
    category_id = {name: cid for cid, name in inputs.categories.items()}
    category_of_label = {i: category_id[c] for i, c in enumerate(model_classes, start=1)}
    dataset = DetectionDataset(inputs.records)

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
    coco = CocoEvaluator(inputs.gt, category_of_label, p.mask_threshold)
    pixel = PixelEvaluator(landslide_id, p.threshold, p.mask_threshold)
    overlays = OverlayWriter(
        out_dir / "overlays", p.overlays, model_classes, p.threshold, p.mask_threshold
    )
    results = inference_on_dataset(
        detector, loader, [image_level, coco, pixel, overlays], inputs_of, progress=progress
    )
    return image_level, results


def _split_counts(records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], list[str]]:
    """Images, landslide and non-landslide photos; a warning when a class has none."""
    split_counts = {
        "images": len(records),
        "landslide": sum(1 for r in records if r["has_landslide"]),
        "non_landslide": sum(1 for r in records if not r["has_landslide"]),
    }
    if not split_counts["landslide"] or not split_counts["non_landslide"]:
        missing = "landslide" if not split_counts["landslide"] else "non-landslide"
        return split_counts, [f"the split has no {missing} image: some metrics are undefined"]
    return split_counts, []


def _details(
    inputs: _Inputs,
    info: ModelInfo,
    device: torch.device,
    p: Any,
    counts: dict[str, int],
    results: Sequence[dict[str, Any]],
    warnings: list[str],
) -> dict[str, Any]:
    """eval.json: the model, the device, the settings and every evaluator's details."""
    il, ap, px, ov = results
    return {
        "name": inputs.model_dir.name,
        "split": p.split,
        "test_json": str(inputs.test_json),
        "model_dir": str(inputs.model_dir),
        "backbone": info.backbone,
        "variant": info.variant,
        "classes": inputs.classes,
        "size": list(info.size),
        "weights": info.weights,
        "epoch": info.epoch,
        "epochs": info.epochs,
        "device": str(device),
        "threshold": p.threshold,
        "mask_threshold": p.mask_threshold,
        "sweep": list(p.sweep),
        "counts": counts,
        "image_level": il["metrics"],
        "best": il["best"],
        "coco": {k: ap[k] for k in ("box", "mask")},
        "pixel": {k: v for k, v in px.items() if k != "warnings"},
        "overlays": ov["overlays"],
        "warnings": warnings,
    }
