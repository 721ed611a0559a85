"""Prediction on photos: mapping back to photo pixels, decisions, outputs, bad input, CLI."""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from helpers import model_info, run_cli
from landslide.errors import PredictError
from landslide.inference import detect, load_detector, resample_mask
from landslide.params import CLASSES, Params, PredictParams
from landslide.predict import collect_inputs, predict

SIZE = 64
LANDSLIDE, VEGETATION = 1, 2
RED = (230, 20, 20)


def output(*items: tuple[int, float, tuple[int, int, int, int]], size: int = SIZE) -> dict:
    """torchvision outputs: (label, score, box) each, its mask the box at probability 0.9."""
    masks = torch.zeros(len(items), 1, size, size)
    for i, (_, _, (x0, y0, x1, y1)) in enumerate(items):
        masks[i, 0, y0:y1, x0:x1] = 0.9
    return {
        "boxes": torch.tensor([b for *_, b in items], dtype=torch.float32).reshape(-1, 4),
        "labels": torch.tensor([lab for lab, _, _ in items], dtype=torch.int64),
        "scores": torch.tensor([s for _, s, _ in items], dtype=torch.float32),
        "masks": masks,
    }


class Scripted:
    """Answers each image with the next crafted output; records what it was shown."""

    def __init__(self, outputs: Sequence[dict], size: int = SIZE) -> None:
        self.info = model_info(size)
        self.outputs = list(outputs)
        self.seen: list[torch.Tensor] = []

    def __call__(self, images: list[torch.Tensor]) -> list[dict]:
        self.seen.extend(images)
        return [self.outputs.pop(0) for _ in images]


class RedDetector:
    """'Detects' the red pixels of each image as one landslide scoring 0.9 (exact masks)."""

    def __init__(self, size: int = SIZE) -> None:
        self.info = model_info(size)

    def __call__(self, images: list[torch.Tensor]) -> list[dict]:
        outs = []
        for image in images:
            red = (image[0] > 0.6) & (image[1] < 0.4) & (image[2] < 0.4)
            if not red.any():
                outs.append(output())
                continue
            ys, xs = torch.nonzero(red, as_tuple=True)
            box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
            outs.append(
                {
                    "boxes": torch.tensor([box], dtype=torch.float32),
                    "labels": torch.tensor([LANDSLIDE]),
                    "scores": torch.tensor([0.9]),
                    "masks": red[None, None].to(torch.float32),
                }
            )
        return outs


def photo(width: int, height: int, rect: tuple[int, int, int, int] | None = None) -> Image.Image:
    pixels = np.full((height, width, 3), (90, 120, 70), dtype=np.uint8)
    if rect:
        x0, y0, x1, y1 = rect
        pixels[y0:y1, x0:x1] = RED
    return Image.fromarray(pixels)


def params(**predict: Any) -> PredictParams:
    return PredictParams(**predict)


# --------------------------------------------------------------------------- mapping back


def test_resample_mask_equals_bilinear_interpolation_to_the_full_size() -> None:
    rng = np.random.default_rng(1)
    for _ in range(40):
        h, w = (int(v) for v in rng.integers(4, 32, 2))
        height, width = (int(v) for v in rng.integers(2, 100, 2))
        prob = np.zeros((h, w), np.float32)
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        y1, x1 = int(rng.integers(y0, h)) + 1, int(rng.integers(x0, w)) + 1
        prob[y0:y1, x0:x1] = rng.random((y1 - y0, x1 - x0))
        full = F.interpolate(torch.from_numpy(prob)[None, None], (height, width), mode="bilinear")[
            0, 0
        ].numpy()
        crop, x, y = resample_mask(prob, width, height, 0.5)
        got = np.zeros((height, width), bool)
        got[y : y + crop.shape[0], x : x + crop.shape[1]] = crop
        differ = got != (full >= 0.5)
        assert not differ.any() or np.abs(full[differ] - 0.5).max() < 1e-5


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_boxes_masks_and_polygons_come_back_in_the_photo_pixels() -> None:
    image = photo(200, 100, (40, 20, 160, 60))  # not square, not the model's size
    (pred,) = detect(RedDetector(), [image], threshold=0.8)
    assert (pred.width, pred.height) == (200, 100)
    assert pred.detected and pred.max_score == pytest.approx(0.9)
    (inst,) = pred.instances
    assert inst.category == "landslide" and inst.label == LANDSLIDE
    x, y, w, h = inst.box
    assert x == pytest.approx(40, abs=3.2) and y == pytest.approx(20, abs=1.6)
    assert w == pytest.approx(120, abs=3.2) and h == pytest.approx(40, abs=1.6)
    from pycocotools import mask as mask_util

    assert inst.rle["size"] == [100, 200] and isinstance(inst.rle["counts"], str)
    decoded = mask_util.decode({"size": inst.rle["size"], "counts": inst.rle["counts"].encode()})
    assert decoded.shape == (100, 200)
    truth = np.zeros((100, 200), np.uint8)
    truth[20:60, 40:160] = 1
    iou = (decoded & truth).sum() / (decoded | truth).sum()
    assert iou > 0.9 and inst.area == int(decoded.sum())
    (ring,) = inst.polygon
    xs, ys = ring[0::2], ring[1::2]
    assert min(xs) == pytest.approx(40, abs=3.2) and max(xs) == pytest.approx(160, abs=3.2)
    assert min(ys) == pytest.approx(20, abs=1.6) and max(ys) == pytest.approx(60, abs=1.6)
    json.dumps(pred.to_json())  # JSON-safe


def test_exif_orientation_is_applied_before_inference(tmp_path: Path) -> None:
    upright = photo(120, 60, (10, 10, 50, 30))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # 60 x 120 on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90° clockwise: back to upright
    path = tmp_path / "turned.jpg"
    stored.save(path, quality=95, exif=exif)
    out = tmp_path / "out"
    summary = predict([path], RedDetector(), out, params(overlays=False))
    assert summary.images == 1
    doc = json.loads((out / "predictions.json").read_text())
    assert (doc["images"][0]["width"], doc["images"][0]["height"]) == (120, 60)
    x, y, w, h = doc["results"][0]["bbox"]
    assert x == pytest.approx(10, abs=2.5) and y == pytest.approx(10, abs=1.5)
    assert w == pytest.approx(40, abs=2.5) and h == pytest.approx(20, abs=1.5)


# --------------------------------------------------------------------------- the stage


def write_photos(folder: Path, n: int, size: tuple[int, int] = (96, 80)) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"photo_{i}.png"
        photo(*size, (10 + i, 10, 50, 40)).save(path)
        paths.append(path)
    return paths


def test_decisions_match_scores_and_outputs_have_the_coco_results_shape(tmp_path: Path) -> None:
    from pycocotools.coco import COCO

    paths = write_photos(tmp_path / "photos", 3)
    detector = Scripted(
        [
            output((LANDSLIDE, 0.95, (10, 10, 40, 40))),
            output((LANDSLIDE, 0.5, (5, 5, 25, 25)), (VEGETATION, 0.9, (30, 30, 60, 60))),
            output((VEGETATION, 0.3, (0, 0, 8, 8))),
        ]
    )
    out = tmp_path / "out"
    ticks: list[int] = []
    summary = predict(paths, detector, out, params(batch_size=2), progress=ticks.append)
    assert sum(ticks) == 3 and ticks == [2, 1]  # two batches
    assert all(t.shape == (3, SIZE, SIZE) for t in detector.seen)  # resized as in training
    assert (summary.images, summary.detected, summary.instances) == (3, 1, 3)

    doc = json.loads((out / "predictions.json").read_text())
    assert [im["detected"] for im in doc["images"]] == [True, False, False]
    assert [im["max_score"] for im in doc["images"]] == pytest.approx([0.95, 0.5, 0.0])
    for im in doc["images"]:
        assert im["detected"] == (im["max_score"] >= doc["threshold"])
        assert im["prediction"] == ("landslide" if im["detected"] else "non_landslide")
    assert [r["image_id"] for r in doc["results"]] == [1, 2, 2]  # min_score 0.5
    assert [r["category"] for r in doc["results"]] == ["landslide", "landslide", "vegetation"]
    for r in doc["results"]:
        assert set(r) >= {"image_id", "category_id", "bbox", "score", "segmentation"}
        assert len(r["bbox"]) == 4 and isinstance(r["segmentation"]["counts"], str)
        assert r["segmentation"]["size"] == [80, 96]
    # pycocotools reads the results against the images and categories of the same file
    gt = COCO()
    gt.dataset = {"images": doc["images"], "categories": doc["categories"], "annotations": []}
    with redirect_stdout(io.StringIO()):
        gt.createIndex()
        res = gt.loadRes(doc["results"])
    assert len(res.getAnnIds()) == 3

    rows = list(csv.DictReader((out / "summary.csv").open()))
    assert [r["prediction"] for r in rows] == ["landslide", "non_landslide", "non_landslide"]
    assert [r["landslide_instances"] for r in rows] == ["1", "0", "0"]
    overlays = sorted(p.name for p in (out / "overlays").iterdir())
    assert overlays == ["photo_0.jpg", "photo_1.jpg", "photo_2.jpg"]
    with Image.open(out / "overlays" / "photo_0.jpg") as im:
        assert im.size == (96, 80)
        frame = im.convert("RGB").getpixel((1, 40))
    assert frame[1] > 150 and frame[0] < 80  # green frame: landslide detected
    assert "3 photos, 1 with a landslide" in summary.summary_line()


def test_folder_with_unreadable_and_non_image_files_skips_them(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_photos(folder / "sub", 2)
    (folder / "notes.txt").write_text("field notes")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    (folder / ".hidden.png").write_bytes(b"")
    out = folder / "predictions"  # inside the input folder: never read back
    write_photos(out / "overlays", 1)
    paths = collect_inputs([folder], exclude=out)
    assert [p.name for p in paths] == ["broken.jpg", "notes.txt", "photo_0.png", "photo_1.png"]
    summary = predict(paths, RedDetector(), out, params())
    assert summary.images == 2
    assert sorted(Path(f).name for f, _ in summary.skipped) == ["broken.jpg", "notes.txt"]
    reasons = dict((Path(f).name, r) for f, r in summary.skipped)
    assert "not an image" in reasons["notes.txt"] and "unreadable" in reasons["broken.jpg"]
    doc = json.loads((out / "predictions.json").read_text())
    assert len(doc["skipped"]) == 2 and len(doc["images"]) == 2
    assert not (out / "overlays" / "photo_0-2.jpg").exists()  # old overlays were replaced


def test_only_unreadable_files_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(PredictError, match="none of the 1 files"):
        predict([tmp_path / "a.txt"], RedDetector(), tmp_path / "out", params())
    assert not (tmp_path / "out" / "predictions.json").exists()


def test_collect_inputs_globs_duplicates_and_missing(tmp_path: Path) -> None:
    a, b = write_photos(tmp_path, 2)
    assert collect_inputs([a, str(tmp_path / "*.png"), b]) == [a, b]
    with pytest.raises(PredictError, match="not found"):
        collect_inputs([tmp_path / "nope.jpg"])
    with pytest.raises(PredictError, match="no file matches"):
        collect_inputs([str(tmp_path / "*.tif")])


def test_photos_of_any_mode_and_size(tmp_path: Path) -> None:
    grey16 = Image.fromarray((np.arange(50 * 70).reshape(50, 70) * 9).astype(np.uint16))
    rgba = photo(300, 40, (0, 0, 100, 40)).convert("RGBA")
    palette = photo(33, 90).convert("P")
    preds = detect(RedDetector(), [grey16, rgba, palette], threshold=0.8)
    assert [(p.width, p.height) for p in preds] == [(70, 50), (300, 40), (33, 90)]
    assert [p.detected for p in preds] == [False, True, False]


# --------------------------------------------------------------------------- models


def tiny_model(model_dir: Path, classes: Sequence[str] = CLASSES) -> Path:
    from landslide.model import skeleton
    from landslide.train import write_model

    torch.manual_seed(0)
    model = skeleton("resnet50", len(classes), "v1", (SIZE, SIZE))
    path = model_dir / "model.pt"
    model_dir.mkdir(parents=True, exist_ok=True)
    write_model(model, model_info(SIZE, classes), path)
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model(tmp_path_factory.mktemp("model"))


def test_load_detector_paths_uris_and_onnx(
    model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = Params()
    from_file = load_detector(model_path, p)
    from_dir = load_detector(model_path.parent, p)
    assert from_file.info.classes == from_dir.info.classes == list(CLASSES)

    asked: list[tuple[str, str]] = []
    serving = types.ModuleType("landslide.registry")

    def resolve_model(uri: str, tracking_uri: str) -> Path:
        asked.append((uri, tracking_uri))
        return model_path

    serving.resolve_model = resolve_model  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "landslide.registry", serving)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    for uri in ("runs:/abc123/model", "models:/landslide-maskrcnn@champion"):
        detector = load_detector(uri, p)
        assert detector.info.backbone == "resnet50"
    assert asked == [
        ("runs:/abc123/model", p.mlflow.tracking_uri),
        ("models:/landslide-maskrcnn@champion", p.mlflow.tracking_uri),
    ]

    class FakeOnnx:
        def __init__(self, path: Path) -> None:
            self.path, self.info = path, model_info(SIZE)

    export = types.ModuleType("landslide.inference.onnx")
    export.OnnxDetector = FakeOnnx  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "landslide.inference.onnx", export)
    onnx = tmp_path / "model.onnx"
    onnx.write_bytes(b"onnx")
    assert load_detector(onnx, p).path == onnx  # type: ignore[attr-defined]


def test_load_detector_errors(model_path: Path, tmp_path: Path) -> None:
    p = Params()
    with pytest.raises(PredictError, match="model not found"):
        load_detector(tmp_path / "missing.pt", p)
    with pytest.raises(PredictError, match="unknown model URI scheme 's3'"):
        load_detector("s3://bucket/model.pt", p)
    other = Params(classes=["landslide", "rock"])
    with pytest.raises(PredictError, match=r"made for classes \[landslide, vegetation"):
        load_detector(model_path, other)
    no_landslide = tiny_model(tmp_path / "m", classes=["rock", "tree"])
    with pytest.raises(PredictError, match="no 'landslide'"):
        load_detector(no_landslide, Params(classes=["landslide"]))


def test_a_real_tiny_untrained_model_end_to_end(model_path: Path, tmp_path: Path) -> None:
    write_photos(tmp_path / "photos", 3, size=(100, 70))
    result = run_cli(
        [
            "predict",
            "photos",
            "--model",
            str(model_path),
            "--out",
            "out",
            "--threshold",
            "0.05",
            "--batch-size",
            "2",
        ],
        tmp_path,
    )
    assert result.exit_code == 0, result.output
    assert "predict: 3 photos" in result.stdout
    doc = json.loads((tmp_path / "out" / "predictions.json").read_text())
    assert doc["model"]["source"] == str(model_path) and doc["threshold"] == 0.05
    assert len(doc["images"]) == 3
    for im in doc["images"]:
        assert im["detected"] == (im["max_score"] >= 0.05)
        assert (im["width"], im["height"]) == (100, 70)
    for r in doc["results"]:
        assert r["score"] >= doc["min_score"] and r["segmentation"]["size"] == [70, 100]
    assert len(list((tmp_path / "out" / "overlays").glob("*.jpg"))) == 3
    assert (tmp_path / "out" / "summary.csv").is_file()


# --------------------------------------------------------------------------- CLI errors


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["predict", "photos", "--model", "nope.pt"], "nope.pt: model not found"),
        (["predict", "missing.jpg", "--model", "m.pt"], "missing.jpg: not found"),
        (["predict", "photos", "--model", "ftp://x/y"], "unknown model URI scheme 'ftp'"),
        (
            ["predict-raster", "photos/photo_0.png", "--model", "m.pt", "--out", "x.shp"],
            "unknown output format '.shp'",
        ),
        (
            ["predict-raster", "o.tif", "--tile-size", "64", "--tile-overlap", "64"],
            "tile_overlap (64) must be smaller than tile_size (64)",
        ),
        (["predict-raster", "missing.tif", "--model", "m.pt"], "missing.tif: raster not found"),
    ],
)
def test_cli_errors_exit_2_with_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    write_photos(tmp_path / "photos", 1)
    result = run_cli(args, tmp_path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error: "), result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
