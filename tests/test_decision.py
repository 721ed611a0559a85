"""One decision rule: train, evaluate, predict, prefill and raster decide alike on the same
outputs.

A model that answers each photo (recognised by its grey level) with crafted outputs,
the threshold's edge cases among them, runs through every stage that decides; each must
give the decision of `landslide.inference` and the metrics of `landslide.metrics`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from landslide.inference import (
    TorchDetector,
    at_threshold,
    best_score,
    inference_on_dataset,
    is_detected,
)
from landslide.metrics import ImageLevelEvaluator, image_level
from landslide.model import ModelInfo
from landslide.params import CLASSES, Params

SIZE = 64
LANDSLIDE, VEGETATION, BUILDING = 1, 2, 4
EDGE = float(torch.tensor(0.8, dtype=torch.float32))  # 0.800000011920929: counts at 0.8
BELOW = float(torch.nextafter(torch.tensor(0.8), torch.tensor(0.0)))  # just under 0.8

# per photo: (label, score) of each detection; truth: has the photo a landslide region
CASES: list[tuple[str, list[tuple[int, float]], bool]] = [
    ("edge", [(LANDSLIDE, EDGE)], True),
    ("below", [(LANDSLIDE, BELOW)], True),
    ("other-class", [(VEGETATION, 0.99), (BUILDING, 0.95)], False),
    ("nothing", [], False),
    ("mixed", [(VEGETATION, 0.95), (LANDSLIDE, 0.85)], False),
    ("unsorted", [(LANDSLIDE, 0.3), (LANDSLIDE, 0.9)], True),
    ("faint", [(LANDSLIDE, 0.6), (VEGETATION, 0.7)], False),
]


def outputs_of(detections: Sequence[tuple[int, float]]) -> dict[str, torch.Tensor]:
    n = len(detections)
    masks = torch.zeros(n, 1, SIZE, SIZE)
    boxes = []
    for i in range(n):
        x0 = 4 + 6 * i
        masks[i, 0, 8:40, x0 : x0 + 20] = 0.9
        boxes.append([x0, 8, x0 + 20, 40])
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([lab for lab, _ in detections], dtype=torch.int64),
        "scores": torch.tensor([s for _, s in detections], dtype=torch.float32),
        "masks": masks,
    }


def grey(i: int) -> int:
    return 20 + 30 * i


class Lookup(torch.nn.Module):
    """Answers a photo of grey level `grey(i)` with the outputs of CASES[i]."""

    def __init__(self) -> None:
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))  # so .to(device) and .train() work

    def forward(self, images, targets=None):
        out = []
        for image in images:
            level = round(float(image[:, SIZE // 2, SIZE // 2].mean()) * 255)
            i = min(range(len(CASES)), key=lambda k: abs(grey(k) - level))
            out.append(outputs_of(CASES[i][1]))
        return out


def expected(names: Sequence[str] | None = None) -> list[bool]:
    return [
        is_detected(best_score(outputs_of(d), LANDSLIDE), 0.8)
        for name, d, _ in CASES
        if names is None or name in names
    ]


def names_in(test_json: Path) -> list[str]:
    data = json.loads(test_json.read_text(encoding="utf-8"))
    return [Path(im["file_name"]).stem for im in data["images"]]


def test_the_rule_itself() -> None:
    assert expected() == [True, False, False, False, True, True, False]
    assert at_threshold(torch.tensor([EDGE, BELOW]), 0.8).tolist() == [True, False]


ALL = tuple(range(len(CASES)))
NEGATIVES = tuple(i for i, case in enumerate(CASES) if not case[2])  # recall undefined


@pytest.fixture(params=[ALL, NEGATIVES], ids=["all", "negatives-only"])
def split(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, Path, ModelInfo]:
    """The photos of the chosen cases (one grey level each) and a COCO split of them."""
    cases: tuple[int, ...] = request.param
    images = tmp_path / "images"
    images.mkdir()
    coco: dict = {"images": [], "annotations": [], "categories": []}
    coco["categories"] = [{"id": i, "name": c} for i, c in enumerate(CLASSES, start=1)]
    for i, (name, _, truth) in enumerate(CASES):
        if i not in cases:
            continue
        file_name = f"{name}.png"
        Image.fromarray(np.full((SIZE, SIZE, 3), grey(i), np.uint8)).save(images / file_name)
        entry = {"id": i + 1, "file_name": file_name, "width": SIZE, "height": SIZE}
        coco["images"].append(entry)
        if truth:
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": i + 1,
                    "category_id": LANDSLIDE,
                    "segmentation": [[10, 10, 50, 10, 50, 50, 10, 50]],
                    "area": 1600.0,
                    "bbox": [10, 10, 40, 40],
                    "iscrowd": 0,
                }
            )
    test_json = tmp_path / "test.json"
    test_json.write_text(json.dumps(coco), encoding="utf-8")
    info = ModelInfo(
        classes=list(CLASSES), backbone="resnet50", variant="v1", size=(SIZE, SIZE), epoch=1
    )
    return test_json, images, info


def params_for(tmp_path: Path) -> Params:
    params = Params()
    params.mlflow.tracking_uri = f"sqlite:///{tmp_path / 'no-store' / 'mlflow.db'}"
    params.evaluate.overlays = 0
    params.predict.min_score = 0.5
    return params


def test_train_evaluate_predict_prefill_decide_alike(
    split: tuple[Path, Path, ModelInfo], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn, dataset_dicts
    from landslide.evaluate import evaluate
    from landslide.predict import predict
    from landslide.prefill import prefill_project
    from landslide.train import _validate

    test_json, images, info = split
    params = params_for(tmp_path)
    names = names_in(test_json)
    cases = [case for case in CASES if case[0] in names]
    want = expected(names)
    truths = [truth for _, _, truth in cases]
    reference, _ = image_level(
        [best_score(outputs_of(d), LANDSLIDE) for _, d, _ in cases], truths, 0.8
    )

    # evaluate: the per-frame table and metrics.json
    model = Lookup()
    monkeypatch.setattr("landslide.model.load_model", lambda path, **kw: (model, info))
    model_dir = tmp_path / "models" / "resnet50-setA"
    model_dir.mkdir(parents=True)
    (model_dir / "model.json").write_text(json.dumps(info.to_json()), encoding="utf-8")
    (model_dir / "model.pt").write_bytes(b"placeholder")
    result = evaluate(model_dir, test_json, images, tmp_path / "eval", params, log_mlflow=False)
    with (tmp_path / "eval" / "frames.csv").open(encoding="utf-8") as fh:
        frames = {row["image"]: row["prediction"] == "landslide" for row in csv.DictReader(fh)}
    assert [frames[f"{name}.png"] for name in names] == want
    evaluated = result.metrics

    # training's per-epoch validation: the same metrics, None where evaluate has null
    records = dataset_dicts(test_json, images, list(CLASSES))
    dataset = DetectionDataset(records)
    loader = DataLoader(dataset, batch_size=2, shuffle=False, collate_fn=collate_fn)
    monkeypatch.setattr("landslide.train.pieces.validation_losses", lambda *a, **kw: {"total": 0.0})
    row = _validate(Lookup(), loader, dataset, torch.device("cpu"), params, LANDSLIDE)
    for key in ("precision", "recall", "f1"):
        assert row[f"val_{key}"] == evaluated["landslide"][key] == reference[key], key
    assert row["val_accuracy"] == evaluated["accuracy"] == reference["accuracy"]
    if not any(truths):  # no landslide photo: recall is undefined, not 0.0
        assert row["val_recall"] is None

    # predict: predictions.json decisions, CSV and the overlay frames
    detector = TorchDetector(Lookup(), info)
    files = [images / f"{name}.png" for name in names]
    predict(files, detector, tmp_path / "pred", params.predict)
    doc = json.loads((tmp_path / "pred" / "predictions.json").read_text(encoding="utf-8"))
    assert [im["detected"] for im in doc["images"]] == want

    # prefill at the threshold: landslide regions exactly where a landslide counts
    params.annotate.prefill_threshold = 0.8
    ann, _ = prefill_project(images, detector, params)
    outlined = {im.file_name: any(r.label == "landslide" for r in im.regions) for im in ann.images}
    assert [outlined[f"{name}.png"] for name in names] == want


def test_the_loop_feeds_the_evaluator_what_the_rule_says(
    split: tuple[Path, Path, ModelInfo],
) -> None:
    from torch.utils.data import DataLoader

    from landslide.data import DetectionDataset, collate_fn, dataset_dicts

    test_json, images, info = split
    records = dataset_dicts(test_json, images, list(CLASSES))
    dataset = DetectionDataset(records)
    loader = DataLoader(dataset, batch_size=3, shuffle=False, collate_fn=collate_fn)
    model = Lookup().train()
    evaluator = ImageLevelEvaluator(LANDSLIDE, 0.8, sweep=None)

    def inputs_of(images, targets):
        rows = [records[int(t["image_id"])] for t in targets]
        return [{"file_name": r["file_name"], "has_landslide": r["has_landslide"]} for r in rows]

    (result,) = inference_on_dataset(TorchDetector(model, info), loader, [evaluator], inputs_of)
    assert [f["prediction"] == "landslide" for f in result["frames"]] == expected(
        names_in(test_json)
    )
    assert model.training  # the detector put it back in train mode


def test_overlays_draw_what_the_json_holds(tmp_path: Path) -> None:
    """Instances listed in predictions.json (>= min_score) are drawn, those below the
    threshold faint; the frame says the decision (green detected, grey not)."""
    from landslide.evaluate import OUTCOME_COLOURS
    from landslide.predict import predict

    images = tmp_path / "photos"
    images.mkdir()
    picked = {"faint": 6, "edge": 0, "nothing": 3}
    for name, i in picked.items():
        Image.fromarray(np.full((SIZE, SIZE, 3), grey(i), np.uint8)).save(images / f"{name}.png")
    info = ModelInfo(
        classes=list(CLASSES), backbone="resnet50", variant="v1", size=(SIZE, SIZE), epoch=1
    )
    p = params_for(tmp_path).predict
    files = [images / f"{name}.png" for name in picked]
    predict(files, TorchDetector(Lookup(), info), tmp_path / "pred", p)
    doc = json.loads((tmp_path / "pred" / "predictions.json").read_text(encoding="utf-8"))
    by_name = {Path(im["file_name"]).stem: im for im in doc["images"]}
    listed = {Path(doc["images"][r["image_id"] - 1]["file_name"]).stem for r in doc["results"]}
    assert listed == {"faint", "edge"}  # the faint photo's instances are in the JSON

    def overlay(name: str) -> np.ndarray:
        path = tmp_path / "pred" / by_name[name]["overlay"]
        return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)

    for name, detected in (("faint", False), ("edge", True), ("nothing", False)):
        pixels = overlay(name)
        frame = pixels[SIZE // 2, 1]
        colour = OUTCOME_COLOURS["TP" if detected else "TN"]
        assert np.abs(frame - colour).max() < 40, (name, frame)
        inside = pixels[20:36, 8:12].mean(axis=(0, 1))  # in the first instance's mask
        outside = pixels[44:60, 40:56].mean(axis=(0, 1))  # in no mask
        drawn = np.abs(inside - outside).max()
        if name == "nothing":
            assert drawn < 4
        else:
            assert drawn > 10, (name, inside, outside)  # faint or solid, it is drawn
    faint_tint = np.abs(overlay("faint")[20:36, 8:12].mean((0, 1)) - grey(6)).max()
    solid_tint = np.abs(overlay("edge")[20:36, 8:12].mean((0, 1)) - grey(0)).max()
    assert faint_tint < solid_tint  # below the threshold: fainter than what counts


def test_raster_tiles_keep_the_instances_the_rule_counts(tmp_path: Path) -> None:
    """predict-raster has no photo decision: it keeps the instances that count (score at
    least the threshold), by the same `at_threshold` as everything else."""
    import rasterio
    from rasterio.transform import Affine

    from landslide.params import PredictParams
    from landslide.raster import predict_raster

    info = ModelInfo(
        classes=list(CLASSES), backbone="resnet50", variant="v1", size=(SIZE, SIZE), epoch=1
    )
    p = PredictParams(tile_size=SIZE, tile_overlap=0, threshold=0.8)
    for i, (name, detections, _) in enumerate(CASES):
        raster = tmp_path / f"{name}.tif"
        profile = {"driver": "GTiff", "width": SIZE, "height": SIZE, "count": 3}
        profile |= {"dtype": "uint8", "crs": "EPSG:32633"}
        profile["transform"] = Affine.translation(500000, 5000000) @ Affine.scale(1.0, -1.0)
        with rasterio.open(raster, "w", **profile) as ds:
            ds.write(np.full((3, SIZE, SIZE), grey(i), np.uint8))
        out = tmp_path / f"{name}.geojson"
        predict_raster(raster, TorchDetector(Lookup(), info), out, p)
        features = json.loads(out.read_text(encoding="utf-8"))["features"]
        kept = sorted(
            (CLASSES[label - 1], round(score, 4))
            for label, score in detections
            if at_threshold(torch.tensor(score, dtype=torch.float32), 0.8)
        )
        got = sorted(
            (f["properties"]["class"], round(f["properties"]["score"], 4)) for f in features
        )
        assert got == kept, name
