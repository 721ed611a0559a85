"""The evaluation stage: image-level metrics by hand, COCO AP, pixel IoU, outputs, MLflow, CLI."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from landslide.cli import app
from landslide.errors import EvaluateError
from landslide.evaluate import (
    FRAME_COLUMNS,
    CocoEvaluator,
    ImageLevelEvaluator,
    OverlayWriter,
    PixelEvaluator,
    best_threshold,
    evaluate,
    pr_points,
    sweep_rows,
    sweep_thresholds,
)
from landslide.metrics import image_level
from landslide.model import ModelInfo
from landslide.params import CLASSES, Params

SIZE = 64
LANDSLIDE, VEGETATION = 1, 2
Box = tuple[int, int, int, int]  # x0, y0, x1, y1 (pixel edges)


# --------------------------------------------------------------------------- helpers


def rect(box: Box) -> list[float]:
    x0, y0, x1, y1 = box
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def coco_split(regions: Sequence[Sequence[tuple[int, Box]]]) -> dict[str, Any]:
    """A COCO dict: one image per entry of `regions`, each a list of (category, box)."""
    images, annotations = [], []
    for i, image_regions in enumerate(regions, start=1):
        images.append({"id": i, "file_name": f"photo_{i}.jpg", "width": SIZE, "height": SIZE})
        for category, (x0, y0, x1, y1) in image_regions:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i,
                    "category_id": category,
                    "segmentation": [rect((x0, y0, x1, y1))],
                    "area": float((x1 - x0) * (y1 - y0)),
                    "bbox": [x0, y0, x1 - x0, y1 - y0],
                    "iscrowd": 0,
                }
            )
    categories = [{"id": i, "name": c} for i, c in enumerate(CLASSES, start=1)]
    return {"images": images, "annotations": annotations, "categories": categories}


def dets(*items: tuple[int, float, Box]) -> dict[str, torch.Tensor]:
    """Mask R-CNN outputs: (label, score, box) each, its mask the box (probability 0.9)."""
    masks = torch.zeros(len(items), 1, SIZE, SIZE)
    for i, (_, _, (x0, y0, x1, y1)) in enumerate(items):
        masks[i, 0, y0:y1, x0:x1] = 0.9
    return {
        "boxes": torch.tensor([b for _, _, b in items], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([lab for lab, _, _ in items], dtype=torch.int64),
        "scores": torch.tensor([s for _, s, _ in items], dtype=torch.float32),
        "masks": masks,
    }


def target(*items: tuple[int, Box]) -> dict[str, torch.Tensor]:
    masks = torch.zeros(len(items), SIZE, SIZE, dtype=torch.uint8)
    for i, (_, (x0, y0, x1, y1)) in enumerate(items):
        masks[i, y0:y1, x0:x1] = 1
    return {"masks": masks, "labels": torch.tensor([c for c, _ in items], dtype=torch.int64)}


def inp(i: int, has_landslide: bool, **extra: Any) -> dict[str, Any]:
    return {"image_id": i, "file_name": f"photo_{i}.jpg", "has_landslide": has_landslide, **extra}


def write_split(root: Path, regions: Sequence[Sequence[tuple[int, Box]]]) -> tuple[Path, Path]:
    """test.json + images (noise photos) under root; returns (json, images dir)."""
    images = root / "images"
    images.mkdir(parents=True, exist_ok=True)
    data = coco_split(regions)
    rng = np.random.default_rng(0)
    for im in data["images"]:
        pixels = (rng.random((SIZE, SIZE, 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(images / im["file_name"])
    path = root / "test.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, images


def write_model_files(model_dir: Path, classes: Sequence[str] = CLASSES) -> ModelInfo:
    """model.json as train.py writes it, and a placeholder model.pt (load_model is patched)."""
    info = ModelInfo(
        classes=list(classes), backbone="resnet50", variant="v1", size=(SIZE, SIZE), epoch=1
    )
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / "model.json").write_text(json.dumps(info.to_json()), encoding="utf-8")
    (model_dir / "model.pt").write_bytes(b"placeholder")
    return info


class Scripted(torch.nn.Module):
    """A model that answers each image with the next crafted output."""

    def __init__(self, outputs: Sequence[dict[str, torch.Tensor]]) -> None:
        super().__init__()
        self.outputs = list(outputs)

    def forward(self, images: Sequence[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [self.outputs.pop(0) for _ in images]


def script(monkeypatch: pytest.MonkeyPatch, info: ModelInfo, outputs: Sequence[dict]) -> None:
    model = Scripted(outputs)
    monkeypatch.setattr("landslide.model.load_model", lambda path, **kw: (model, info))


def quiet_params(tmp_path: Path) -> Params:
    params = Params()
    params.mlflow.tracking_uri = f"sqlite:///{tmp_path / 'no-store' / 'mlflow.db'}"
    params.evaluate.overlays = 2
    return params


@pytest.fixture(autouse=True)
def _no_env_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


# The crafted case used by several tests: one TP, one FN, one FP, one TN.
REGIONS: list[list[tuple[int, Box]]] = [
    [(LANDSLIDE, (10, 10, 40, 40))],  # TP: found at 0.95
    [(LANDSLIDE, (5, 5, 25, 25)), (VEGETATION, (30, 30, 60, 60))],  # FN: landslide at 0.5
    [],  # FP: a landslide at 0.85 on a photo without
    [],  # TN: nothing
]
OUTPUTS = [
    dets((LANDSLIDE, 0.95, (10, 10, 40, 40))),
    dets((LANDSLIDE, 0.5, (5, 5, 25, 25)), (VEGETATION, 0.9, (30, 30, 60, 60))),
    dets((LANDSLIDE, 0.85, (0, 0, 10, 10))),
    dets(),
]


# --------------------------------------------------------------------------- image level


def test_all_negatives_without_detections() -> None:
    m, warnings = image_level([0.0, 0.0, 0.0], [False, False, False], 0.8)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (0, 3, 0, 0)
    assert m["accuracy"] == 1.0
    assert m["precision"] is None and m["recall"] is None and m["f1"] is None
    assert m["non_landslide_precision"] == m["non_landslide_recall"] == 1.0
    assert m["non_landslide_f1"] == 1.0
    assert len(warnings) == 3 and all("landslide" in w for w in warnings)


def test_no_detections_on_a_mixed_set() -> None:
    m, warnings = image_level([0.0] * 4, [True, True, False, False], 0.8)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (0, 2, 0, 2)
    assert m["precision"] is None  # nothing predicted landslide
    assert m["recall"] == 0.0 and m["f1"] == 0.0
    assert m["accuracy"] == 0.5
    assert m["non_landslide_precision"] == 0.5
    assert m["non_landslide_recall"] == 1.0
    assert m["non_landslide_f1"] == pytest.approx(2 / 3)
    assert warnings == [
        "landslide precision undefined at threshold 0.8: no image was predicted landslide"
    ]


def test_all_correct() -> None:
    m, warnings = image_level([0.9, 0.95, 0.1, 0.0], [True, True, False, False], 0.8)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (2, 2, 0, 0)
    for key in ("accuracy", "precision", "recall", "f1"):
        assert m[key] == 1.0
        if key != "accuracy":
            assert m[f"non_landslide_{key}"] == 1.0
    assert warnings == []


def test_one_of_each_outcome() -> None:
    m, warnings = image_level([0.9, 0.5, 0.85, 0.2], [True, True, False, False], 0.8)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (1, 1, 1, 1)
    for key in ("accuracy", "precision", "recall", "f1"):
        assert m[key] == 0.5
    for key in ("precision", "recall", "f1"):
        assert m[f"non_landslide_{key}"] == 0.5
    assert warnings == []


def test_uneven_counts_by_hand() -> None:
    # 3 TP, 2 FN, 1 FP, 4 TN
    scores = [0.9, 0.9, 0.9, 0.1, 0.1, 0.9, 0.1, 0.1, 0.1, 0.1]
    truths = [True] * 5 + [False] * 5
    m, _ = image_level(scores, truths, 0.8)
    assert (m["tp"], m["tn"], m["fp"], m["fn"]) == (3, 4, 1, 2)
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 2))
    assert m["non_landslide_precision"] == pytest.approx(4 / 6)
    assert m["non_landslide_recall"] == pytest.approx(4 / 5)
    assert m["non_landslide_f1"] == pytest.approx(8 / 11)


def test_threshold_is_inclusive() -> None:
    m, _ = image_level([0.8, 0.79999], [True, True], 0.8)
    assert (m["tp"], m["fn"]) == (1, 1)


def test_zero_divisions_on_no_images() -> None:
    m, warnings = image_level([], [], 0.8)
    assert m["accuracy"] is None
    assert all(m[k] is None for k in m if "precision" in k or "recall" in k or "f1" in k)
    assert "accuracy undefined: no images" in warnings
    with pytest.raises(ValueError, match="2 scores but 1 truths"):
        image_level([0.1, 0.2], [True], 0.8)


def test_undefined_values_are_json_null_in_metrics(tmp_path: Path, monkeypatch) -> None:
    test_json, images = write_split(tmp_path, [[], []])  # no positives at all
    info = write_model_files(tmp_path / "models" / "resnet50-setA")
    script(monkeypatch, info, [dets(), dets((VEGETATION, 0.9, (0, 0, 8, 8)))])
    result = evaluate(
        tmp_path / "models" / "resnet50-setA",
        test_json,
        images,
        tmp_path / "out",
        quiet_params(tmp_path),
    )
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data["landslide"] == {"precision": None, "recall": None, "f1": None}
    assert data["non_landslide"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert data["coco"]["mask"]["AP"] is None  # no ground-truth instance
    assert data["pixel"]["iou"] is None
    assert any("no landslide image" in w for w in data["warnings"])
    assert data["warnings"] == result.warnings[: len(data["warnings"])]
    assert "P n/a R n/a F1 n/a" in result.summary_line()


# --------------------------------------------------------------------------- evaluators


def test_image_level_evaluator_interface_and_frames() -> None:
    ev = ImageLevelEvaluator(LANDSLIDE, threshold=0.8)
    truths = [True, True, False, False]
    ev.process([inp(1, truths[0]), inp(2, truths[1])], OUTPUTS[:2])
    ev.process([inp(3, truths[2]), inp(4, truths[3])], OUTPUTS[2:])
    result = ev.evaluate()
    assert (result["metrics"]["tp"], result["metrics"]["fn"]) == (1, 1)
    frames = result["frames"]
    assert [list(f) for f in frames] == [list(FRAME_COLUMNS)] * 4
    assert [f["outcome"] for f in frames] == ["TP", "FN", "FP", "TN"]
    assert [f["confidence"] for f in frames] == [0.95, 0.5, 0.85, 0.0]
    assert [f["instances"] for f in frames] == [1, 0, 1, 0]
    assert frames[1]["ground_truth"] == "landslide" and frames[1]["prediction"] == "non_landslide"
    ev.reset()
    empty = ev.evaluate()
    assert empty["frames"] == [] and empty["metrics"]["accuracy"] is None


def test_sweep_thresholds_are_clean() -> None:
    t = sweep_thresholds(0.05, 0.95, 0.05)
    assert len(t) == 19 and t[0] == 0.05 and t[-1] == 0.95 and 0.3 in t and 0.8 in t
    assert sweep_thresholds(0.5, 0.4, 0.1) == []


def test_sweep_is_monotonic_and_picks_the_best_f1() -> None:
    best = [0.9, 0.7, 0.3, 0.6, 0.2]
    truths = [True, True, True, False, False]
    rows = sweep_rows(best, truths, sweep_thresholds(0.05, 0.95, 0.05))
    recalls = [r["recall"] for r in rows]
    assert recalls == sorted(recalls, reverse=True)  # raising the threshold never finds more
    by_t = {r["threshold"]: r for r in rows}
    assert by_t[0.2]["precision"] == pytest.approx(3 / 5) and by_t[0.2]["recall"] == 1.0
    assert by_t[0.3]["f1"] == pytest.approx(6 / 7)
    assert by_t[0.65]["precision"] == 1.0 and by_t[0.65]["recall"] == pytest.approx(2 / 3)
    assert by_t[0.95]["precision"] is None and by_t[0.95]["f1"] == 0.0
    top = best_threshold(rows, headline=0.8)
    # F1 6/7 at 0.25 and 0.3: the tie goes to the threshold nearer the study's 0.8
    assert top is not None and top["threshold"] == 0.3 and top["f1"] == pytest.approx(6 / 7)
    points = pr_points(best, truths)
    assert [p["threshold"] for p in points] == [0.9, 0.7, 0.6, 0.3, 0.2]
    assert [p["recall"] for p in points] == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1, 1])


def test_coco_ap_is_one_when_predictions_equal_ground_truth() -> None:
    gt = coco_split(REGIONS[:2])
    ev = CocoEvaluator(gt, {i: i for i in range(1, 5)})
    perfect = [
        dets((LANDSLIDE, 1.0, (10, 10, 40, 40))),
        dets((LANDSLIDE, 1.0, (5, 5, 25, 25)), (VEGETATION, 1.0, (30, 30, 60, 60))),
    ]
    ev.process([inp(1, True), inp(2, True)], perfect)
    result = ev.evaluate()
    for kind in ("box", "mask"):
        assert result[kind]["AP"] == pytest.approx(1.0)
        assert result[kind]["AP50"] == pytest.approx(1.0)
        assert result[kind]["AP75"] == pytest.approx(1.0)
        assert result[kind]["per_class"]["landslide"]["AP"] == pytest.approx(1.0)
        assert result[kind]["per_class"]["vegetation"]["AP"] == pytest.approx(1.0)
        assert result[kind]["per_class"]["building"]["AP"] is None  # no ground truth
    ev.reset()
    assert ev.evaluate()["mask"]["AP"] == 0.0  # nothing detected, ground truth present


def test_coco_ap_of_a_ranked_false_positive() -> None:
    ev = CocoEvaluator(coco_split(REGIONS), {i: i for i in range(1, 5)})
    ev.process([inp(i, bool(r)) for i, r in enumerate(REGIONS, start=1)], OUTPUTS)
    landslide = ev.evaluate()["mask"]["per_class"]["landslide"]["AP"]
    # ranked: TP 0.95, FP 0.85, TP 0.5 -> precision 1 up to recall 0.5, then 2/3 (101 points)
    assert landslide == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101)


def test_pixel_iou_exact_on_tiny_masks() -> None:
    ev = PixelEvaluator(LANDSLIDE, threshold=0.8, mask_threshold=0.5)
    # image 1: truth 4 px (0..2 x 0..2); predicted 4 px (1..3 x 0..2): 2 px shared.
    # A low-score landslide and a vegetation detection are ignored.
    out1 = dets(
        (LANDSLIDE, 0.9, (1, 0, 3, 2)),
        (LANDSLIDE, 0.5, (40, 40, 60, 60)),
        (VEGETATION, 0.99, (50, 50, 60, 60)),
    )
    t1 = target((LANDSLIDE, (0, 0, 2, 2)), (VEGETATION, (20, 20, 30, 30)))
    # image 2: no truth, 1 px predicted; a landslide mask below mask_threshold adds nothing
    out2 = dets((LANDSLIDE, 0.95, (5, 5, 6, 6)), (LANDSLIDE, 0.95, (10, 10, 20, 20)))
    out2["masks"][1] = 0.4
    ev.process([inp(1, True, target=t1), inp(2, False, target=target())], [out1, out2])
    result = ev.evaluate()
    assert result["pixels"] == {"intersection": 2, "predicted": 5, "truth": 4}
    assert result["iou"] == pytest.approx(2 / 7)
    assert result["precision"] == pytest.approx(2 / 5)
    assert result["recall"] == pytest.approx(1 / 2)
    assert result["f1"] == pytest.approx(4 / 9)
    ev.reset()
    ev.process([inp(1, False, target=target())], [dets()])
    empty = ev.evaluate()
    assert empty["iou"] is None and empty["f1"] is None and empty["warnings"]


def test_overlays_are_framed_by_outcome(tmp_path: Path) -> None:
    writer = OverlayWriter(tmp_path, limit=3, classes=CLASSES, threshold=0.8)
    image = torch.full((3, SIZE, SIZE), 0.5)
    truths = [True, True, False, False]
    inputs = [inp(i + 1, t, image=image) for i, t in enumerate(truths)]
    writer.process(inputs, OUTPUTS)
    names = writer.evaluate()["overlays"]
    assert names == ["001_photo_1.jpg", "002_photo_2.jpg", "003_photo_3.jpg"]  # limit 3
    expected = [(0, 190, 0), (255, 140, 0), (220, 0, 0)]  # TP green, FN orange, FP red
    for name, colour in zip(names, expected, strict=True):
        corner = np.asarray(Image.open(tmp_path / name).convert("RGB"))[0, SIZE // 2]
        assert np.abs(corner.astype(int) - colour).max() < 40, (name, corner)
    writer.reset()
    assert not list(tmp_path.glob("*.jpg"))  # stale overlays go


# --------------------------------------------------------------------------- the stage


def test_stage_with_crafted_detections_gives_exact_numbers(tmp_path: Path, monkeypatch) -> None:
    test_json, images = write_split(tmp_path / "data", REGIONS)
    model_dir = tmp_path / "models" / "resnet50-setA"
    script(monkeypatch, write_model_files(model_dir), OUTPUTS)
    out = tmp_path / "reports" / "eval" / "resnet50-setA"
    ticks: list[int] = []
    result = evaluate(
        model_dir, test_json, images, out, quiet_params(tmp_path), progress=ticks.append
    )
    assert sum(ticks) == 4
    m = json.loads((out / "metrics.json").read_text())
    assert m["landslide"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert m["non_landslide"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    assert (m["tp"], m["tn"], m["fp"], m["fn"], m["accuracy"]) == (1, 1, 1, 1, 0.5)
    assert m["best"]["threshold"] == 0.5 and m["best"]["f1"] == pytest.approx(0.8)
    assert m["coco"]["mask"]["AP"] == pytest.approx(((51 + 50 * 2 / 3) / 101 + 1.0) / 2)
    # pixels: landslide detections >= 0.8 are photo 1 (900 px, exact) and photo 3 (100 px);
    # truth is photo 1 (900 px) and photo 2 (400 px)
    assert m["pixel"]["iou"] == pytest.approx(900 / 1400)
    assert m["pixel"]["precision"] == pytest.approx(0.9)
    with (out / "frames.csv").open() as fh:
        frames = list(csv.DictReader(fh))
    assert [f["outcome"] for f in frames] == ["TP", "FN", "FP", "TN"]
    assert list(frames[0]) == list(FRAME_COLUMNS)
    assert (
        "| 1 | photo_1.jpg | landslide | 95% | landslide | TP | 1 |"
        in (out / "frames.md").read_text()
    )
    with (out / "sweep.csv").open() as fh:
        sweep = list(csv.DictReader(fh))
    assert list(sweep[0]) == ["threshold", "precision", "recall", "f1", "accuracy"]
    assert len(sweep) == 19
    assert [p.name for p in sorted((out / "overlays").iterdir())] == [
        "001_photo_1.jpg",
        "002_photo_2.jpg",
    ]
    details = json.loads((out / "eval.json").read_text())
    assert details["coco"]["box"]["per_class"]["vegetation"]["AP"] == pytest.approx(1.0)
    assert any("MLflow store" in w for w in result.warnings)  # no store: a warning
    assert not (tmp_path / "no-store").exists()  # and none created
    assert result.summary_line().startswith(
        "evaluate resnet50-setA: P 0.50 R 0.50 F1 0.50 @0.8 (best F1 0.80 @0.5), mask AP 0.92"
    )


def test_calibration_picks_the_threshold_on_val_and_applies_it_to_test(
    tmp_path: Path, monkeypatch
) -> None:
    test_json, images = write_split(tmp_path / "data", REGIONS)
    val_json = test_json.with_name("val.json")
    val_json.write_text(test_json.read_text())  # the same four photos, other scores below
    val_outputs = [
        dets((LANDSLIDE, 0.4, (10, 10, 40, 40))),
        dets((LANDSLIDE, 0.45, (5, 5, 25, 25))),
        dets((LANDSLIDE, 0.2, (0, 0, 10, 10))),
        dets(),
    ]
    model_dir = tmp_path / "models" / "resnet50-setA"
    script(monkeypatch, write_model_files(model_dir), [*OUTPUTS, *val_outputs])
    params = quiet_params(tmp_path)
    params.evaluate.calibrate = True
    out = tmp_path / "eval"
    result = evaluate(model_dir, test_json, images, out, params, val_json=val_json)
    m = json.loads((out / "metrics.json").read_text())
    # val: F1 1.0 at every threshold in (0.2, 0.4]; the tie goes to the one nearest 0.8
    cal = m["calibrated"]
    assert cal["threshold"] == 0.4 and cal["val_f1"] == pytest.approx(1.0)
    # test at 0.4: photos 1, 2 (landslides) and 3 (none) are called landslide
    assert cal["landslide"]["precision"] == pytest.approx(2 / 3)
    assert cal["landslide"]["recall"] == 1.0 and cal["landslide"]["f1"] == pytest.approx(0.8)
    assert m["landslide"]["f1"] == 0.5  # the headline stays at the study's 0.8
    assert "F1 0.80 @0.4 chosen on val" in result.summary_line()


def test_calibration_off_by_default(tmp_path: Path, monkeypatch) -> None:
    test_json, images = write_split(tmp_path / "data", REGIONS)
    model_dir = tmp_path / "models" / "resnet50-setA"
    script(monkeypatch, write_model_files(model_dir), OUTPUTS)
    out = tmp_path / "eval"
    evaluate(model_dir, test_json, images, out, quiet_params(tmp_path), val_json=test_json)
    assert json.loads((out / "metrics.json").read_text())["calibrated"] is None


def test_stage_end_to_end_on_a_tiny_untrained_model_logs_to_mlflow(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from landslide.model import build_model
    from landslide.params import TrainParams
    from landslide.train import write_model

    test_json, images = write_split(tmp_path / "data", REGIONS)
    model_dir = tmp_path / "models" / "resnet50-setA"
    model, _ = build_model("resnet50", CLASSES, TrainParams(weights="none"), size=(SIZE, SIZE))
    info = ModelInfo(classes=list(CLASSES), backbone="resnet50", variant="v1", size=(SIZE, SIZE))
    write_model(model, info, model_dir / "model.pt")

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("landslide", artifact_location=str(tmp_path / "artifacts"))
    old = client.create_run(exp, run_name="resnet50-setA")
    client.set_terminated(old.info.run_id)
    run = client.create_run(exp, run_name="resnet50-setA", start_time=old.info.start_time + 1000)
    client.set_terminated(run.info.run_id)
    params = Params()
    params.mlflow.tracking_uri = uri
    params.evaluate.overlays = 1

    out = tmp_path / "out"
    result = evaluate(model_dir, test_json, images, out, params)
    for name in (
        "metrics.json",
        "eval.json",
        "frames.csv",
        "frames.md",
        "sweep.csv",
        "pr.csv",
        "confusion.png",
        "pr.png",
    ):
        assert (out / name).is_file(), name
    assert len(list((out / "overlays").glob("*.jpg"))) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 4 and metrics["threshold"] == 0.8

    assert result.run_id == run.info.run_id  # the latest run of that name
    logged = client.get_run(run.info.run_id).data.metrics
    assert logged["test/accuracy"] == metrics["accuracy"]
    assert logged["test/tn"] == metrics["tn"]
    assert "test/coco_mask_AP" in logged and "test/pixel_iou" in logged
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation/test")}
    assert "evaluation/test/metrics.json" in artifacts
    assert "evaluation/test/overlays" in artifacts
    assert not client.get_run(old.info.run_id).data.metrics


def test_missing_run_is_a_warning(tmp_path: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    from landslide.evaluate import log_to_mlflow
    from landslide.params import MlflowParams

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    MlflowClient(tracking_uri=uri).create_experiment(
        "landslide", artifact_location=str(tmp_path / "artifacts")
    )
    run_id, warnings = log_to_mlflow(
        "resnet101-setB", {}, tmp_path, {"f1": 1.0}, MlflowParams(tracking_uri=uri)
    )
    assert run_id is None
    assert warnings and "no MLflow run named 'resnet101-setB'" in warnings[0]


# --------------------------------------------------------------------------- bad input


def test_classes_that_differ_from_the_annotations(tmp_path: Path) -> None:
    test_json, images = write_split(tmp_path, REGIONS)
    model_dir = tmp_path / "resnet50-setA"
    write_model_files(model_dir, classes=["landslide", "rock"])
    with pytest.raises(EvaluateError) as err:
        evaluate(model_dir, test_json, images, tmp_path / "out", quiet_params(tmp_path))
    message = str(err.value)
    assert "[landslide, rock]" in message
    assert "[landslide, vegetation, water_body, building]" in message


def test_a_landslide_only_model_is_scored_on_its_own_class(tmp_path: Path, monkeypatch) -> None:
    """train.classes [landslide]: the split's other classes are background to the model."""
    test_json, images = write_split(tmp_path / "data", REGIONS)
    model_dir = tmp_path / "models" / "resnet50-setA"
    outputs = [
        dets((1, 0.95, (10, 10, 40, 40))),
        dets((1, 0.5, (5, 5, 25, 25))),
        dets((1, 0.85, (0, 0, 10, 10))),
        dets(),
    ]
    script(monkeypatch, write_model_files(model_dir, classes=["landslide"]), outputs)
    out = tmp_path / "out"
    evaluate(model_dir, test_json, images, out, quiet_params(tmp_path))
    m = json.loads((out / "metrics.json").read_text())
    assert m["landslide"] == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    per_class = json.loads((out / "eval.json").read_text())["coco"]["box"]["per_class"]
    assert set(per_class) == {"landslide"}  # AP over the classes the model predicts


def test_cli_scores_any_annotated_set_with_coco_and_images(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    coco, images = write_split(Path("held-out"), REGIONS)
    held = coco.rename(Path("held-out/sample7.json"))
    script(monkeypatch, write_model_files(Path("trained/r50")), OUTPUTS)
    args = ["evaluate", "-b", "resnet50", "--set", "A", "--coco", str(held)]
    result = runner.invoke(app, [*args, "--images", str(images), "--model", "trained/r50"])
    assert result.exit_code == 0, result.output
    assert "P 0.50 R 0.50 F1 0.50 @0.8" in result.stdout
    details = json.loads(Path("reports/eval/resnet50-setA-sample7/eval.json").read_text())
    assert details["test_json"] == str(held) and details["model_dir"] == "trained/r50"
    assert not Path("reports/eval/resnet50-setA").exists()  # the stage's results untouched


def test_empty_split(tmp_path: Path) -> None:
    test_json, images = write_split(tmp_path, [])
    model_dir = tmp_path / "resnet50-setA"
    write_model_files(model_dir)
    with pytest.raises(EvaluateError, match="empty"):
        evaluate(model_dir, test_json, images, tmp_path / "out", quiet_params(tmp_path))


def test_missing_model_dir_names_it_and_how_to_train(tmp_path: Path) -> None:
    test_json, images = write_split(tmp_path, REGIONS)
    with pytest.raises(EvaluateError) as err:
        evaluate(tmp_path / "resnet101-setB", test_json, images, tmp_path / "out", Params())
    assert "resnet101-setB" in str(err.value)
    assert "landslide train --backbone resnet101 --set B" in str(err.value)


# --------------------------------------------------------------------------- CLI


runner = CliRunner()


def test_cli_missing_model_dir_exits_2_without_traceback(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["evaluate", "--backbone", "resnet50", "--set", "B"])
    assert result.exit_code == 2
    assert "error:" in result.output and "models/resnet50-setB" in result.output
    assert "landslide train --backbone resnet50 --set B" in result.output
    assert "Traceback" not in result.output


def cli_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, split: str) -> None:
    """tmp_path as the working directory: set A's `split` and a scripted resnet50-setA."""
    monkeypatch.chdir(tmp_path)
    processed = Path("data/processed")
    coco, _ = write_split(processed / "prepared", REGIONS)
    (processed / "splits" / "A").mkdir(parents=True)
    coco.rename(processed / "splits" / "A" / f"{split}.json")
    script(monkeypatch, write_model_files(Path("models/resnet50-setA")), OUTPUTS)


def test_cli_evaluate_prints_the_summary(tmp_path: Path, monkeypatch) -> None:
    cli_project(tmp_path, monkeypatch, "test")
    result = runner.invoke(app, ["evaluate", "--backbone", "resnet50", "--set", "A"])
    assert result.exit_code == 0, result.output
    assert "evaluate resnet50-setA: P 0.50 R 0.50 F1 0.50 @0.8 (best F1 0.80 @0.5)" in (
        result.stdout
    )
    assert "-> reports/eval/resnet50-setA" in result.stdout
    assert Path("reports/eval/resnet50-setA/metrics.json").is_file()
    assert not Path("mlflow.db").exists()


def test_cli_val_split_and_threshold_are_a_side_look(tmp_path: Path, monkeypatch) -> None:
    cli_project(tmp_path, monkeypatch, "val")
    args = ["evaluate", "-b", "resnet50", "--set", "A", "--split", "val", "--threshold", "0.5"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "P 0.67 R 1.00 F1 0.80 @0.5" in result.stdout
    details = json.loads(Path("reports/eval/resnet50-setA-val/eval.json").read_text())
    assert details["split"] == "val" and details["threshold"] == 0.5
    assert not Path("reports/eval/resnet50-setA").exists()  # the test results stay untouched
