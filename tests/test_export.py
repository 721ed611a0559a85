"""ONNX export: parity with PyTorch under ONNX Runtime, metadata, the CLI, bad files."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from landslide.cli import app
from landslide.errors import ExportError, LandslideError
from landslide.export import (
    META_INFO,
    OnnxDetector,
    Parity,
    Tolerance,
    check_parity,
    compare,
    export_onnx,
    mask_diff,
    synthetic_images,
)
from landslide.model import ModelInfo, load_model, skeleton
from landslide.params import TrainParams
from landslide.train import write_model

CLASSES = ["landslide", "vegetation", "water_body", "building"]
SIZE = (64, 64)
LIGHT = {"rpn_pre_nms_top_n_test": 100, "rpn_post_nms_top_n_test": 50, "box_detections_per_img": 20}


def tiny_model(folder: Path, classes: list[str] = CLASSES, seed: int = 0) -> Path:
    """An untrained 64 px ResNet-50 Mask R-CNN: ~20 low-score detections per image, plenty
    for a parity check above torchvision's score threshold of 0.05."""
    torch.manual_seed(seed)
    model = skeleton("resnet50", len(classes), "v1", SIZE, p=TrainParams(**LIGHT))
    info = ModelInfo(classes=list(classes), backbone="resnet50", variant="v1", size=SIZE, **LIGHT)
    write_model(model, info, folder / "model.pt")
    return folder / "model.pt"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("export")
    model_pt = tiny_model(tmp / "model")
    summary = export_onnx(model_pt, tmp / "out" / "model.onnx")
    model, info = load_model(model_pt)
    return {
        "tmp": tmp,
        "model_pt": model_pt,
        "onnx": tmp / "out" / "model.onnx",
        "summary": summary,
        "model": model,
        "info": info,
        "detector": OnnxDetector(tmp / "out" / "model.onnx"),
    }


def write_params(path: Path, classes: list[str] = CLASSES) -> Path:
    path.write_text(f"classes: [{', '.join(classes)}]\n", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- parity


def test_export_writes_one_checked_file(exported: dict[str, Any]):
    summary, onnx = exported["summary"], exported["onnx"]
    assert onnx.is_file() and summary.out == onnx and summary.bytes == onnx.stat().st_size
    assert summary.opset == 17 and summary.format == "onnx" and summary.score_thresh == 0.05
    assert summary.parity is not None and summary.parity.ok
    assert summary.parity.images == 3 and summary.parity.detections >= 10
    assert [p.name for p in onnx.parent.iterdir()] == ["model.onnx"]  # no temporary left
    assert "checked: 3 images" in summary.summary_line()


def test_onnx_runtime_matches_pytorch_on_new_images_and_sizes(exported: dict[str, Any]):
    model, detector = exported["model"], exported["detector"]
    # other images than the export's check, and sizes other than the model's (it resizes)
    images = [synthetic_images(SIZE, 1, seed=7)[0], torch.rand(3, 48, 80), torch.rand(3, 96, 96)]
    parity = compare(model, detector, images, score_thresh=0.05, cap=20)
    assert parity.ok, parity.problems
    assert parity.detections >= 30  # ~20 per image: the comparison is not vacuous
    tol = Tolerance()
    assert parity.box_px <= tol.box_px and parity.score <= tol.score and parity.mask <= tol.mask
    (out,) = detector([images[1]])
    assert out["masks"].shape[1:] == (1, 48, 80) and out["masks"].dtype == torch.float32
    assert out["labels"].dtype == torch.int64 and out["boxes"].shape[1] == 4


def test_the_parity_check_catches_a_wrong_model(exported: dict[str, Any]):
    images = synthetic_images(SIZE, 1)
    with torch.no_grad():
        (ref,) = exported["model"](images)
    (got,) = exported["detector"](images)

    def model(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [ref]

    def shifted(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [{**got, "boxes": got["boxes"] + 0.5}]

    def dropped(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [{k: v[:0] for k, v in got.items()}]

    assert compare(model, lambda images: [got], images, cap=20).ok
    bad = compare(model, shifted, images, cap=20)
    assert not bad.ok and all("box differs by 0.5" in p for p in bad.problems)
    missing = compare(model, dropped, images, cap=20)
    assert not missing.ok and "missing from ONNX Runtime's output" in missing.problems[0]


def test_masks_may_differ_along_their_edge_only():
    base = torch.zeros(1, 40, 40)
    base[0, 10:30, 12:28] = 0.9
    moved = torch.roll(base, shifts=(1, 1), dims=(1, 2))  # pasted one pixel further
    wider = torch.zeros(1, 40, 40)
    wider[0, 10:31, 11:28] = 0.8  # resampled one pixel larger
    holed = base.clone()
    holed[0, 15:25, 16:24] = 0.1  # 80 of 320 pixels lost inside
    assert mask_diff(base, base) == 0.0
    assert mask_diff(base, torch.zeros(1, 40, 40)) == pytest.approx(
        18 * 14 / 320
    )  # all but the edge
    assert mask_diff(base, moved) == 0.0 and mask_diff(base, wider) == 0.0
    assert mask_diff(base, holed) == pytest.approx(80 / 320)  # a hole is no edge effect
    assert mask_diff(torch.zeros(1, 40, 40), torch.zeros(1, 40, 40)) == 0.0


@pytest.mark.slow  # a float64 copy of the model
def test_differences_beyond_tolerance_are_judged_by_pytorchs_own_float32_noise(
    exported: dict[str, Any],
):
    # (image, detection, box side, |diff| box, score, mask)
    parity = Parity(images=1, pairs=[(0, 0, 100.0, 0.5, 1e-3, 0.0)])
    assert parity.problems == ["image 0: detection 0 box differs by 0.5 (> 0.15)"]
    noise = Parity(images=1, pairs=[(0, 0, 100.0, 0.3, 1e-4, 0.0)], unmatched=["x"])
    widened = Tolerance().widened(noise)
    assert widened.box_px == pytest.approx(0.9) and widened.unmatched == 3
    assert widened.score == Tolerance().score  # never tighter than the stated tolerance
    assert parity.within(widened).ok
    # nothing passes a zero tolerance: the check measures float32 against float64 and
    # allows 3x that
    zero = Tolerance(box_px=0.0, box_rel=0.0, score=0.0, mask=0.0)
    images = synthetic_images(SIZE, 1, seed=3)
    judged = check_parity(exported["model"], exported["detector"], images, zero, 0.05, 20)
    assert judged.noise is not None and judged.noise.detections >= 10
    assert judged.tolerance.box_px == pytest.approx(3 * judged.noise.box_px)
    assert "float32 noise" in judged.line()


def test_the_model_description_travels_in_the_file(exported: dict[str, Any]):
    detector, info = exported["detector"], exported["info"]
    assert detector.info == info
    assert detector.info.classes == CLASSES and detector.info.size == SIZE
    assert detector.score_thresh == pytest.approx(0.05)
    assert not exported["onnx"].with_suffix(".json").exists()


def test_export_refuses_a_model_of_other_classes(exported: dict[str, Any], tmp_path: Path):
    with pytest.raises(LandslideError, match=r"made for classes \[landslide, vegetation"):
        export_onnx(exported["model_pt"], tmp_path / "m.onnx", classes=["landslide", "rock"])
    with pytest.raises(ExportError, match=r"made for classes \[landslide, vegetation"):
        OnnxDetector(exported["onnx"], classes=["landslide", "rock"])
    assert not (tmp_path / "m.onnx").exists()


# --------------------------------------------------------------------------- bad files


def test_corrupt_truncated_and_foreign_onnx_files_are_refused(
    exported: dict[str, Any], tmp_path: Path
):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model at all\x00\x01")
    with pytest.raises(ExportError, match="cannot read the ONNX model") as info:
        OnnxDetector(garbage)
    assert "landslide export" in info.value.render()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(exported["onnx"].read_bytes()[:100_000])
    with pytest.raises(ExportError, match="cannot read the ONNX model"):
        OnnxDetector(truncated)
    foreign = tmp_path / "linear.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(torch.nn.Linear(3, 2), (torch.rand(1, 3),), str(foreign), dynamo=False)
    with pytest.raises(ExportError, match=f"without a landslide model description.*{META_INFO}"):
        OnnxDetector(foreign)
    with pytest.raises(ExportError, match="ONNX model not found"):
        OnnxDetector(tmp_path / "absent.onnx")


def test_bad_metadata_and_bad_images_are_refused(exported: dict[str, Any], tmp_path: Path):
    import onnx

    proto = onnx.load(str(exported["onnx"]))
    for entry in proto.metadata_props:
        if entry.key == META_INFO:
            entry.value = json.dumps({"classes": ["landslide"], "backbone": "vgg16"})
    onnx.save(proto, str(tmp_path / "bad_meta.onnx"))
    with pytest.raises(ExportError, match=r"metadata landslide\.model_info: .*size"):
        OnnxDetector(tmp_path / "bad_meta.onnx")
    detector = exported["detector"]
    with pytest.raises(ExportError, match=r"3 channels, got shape \(1, 64, 64\)"):
        detector([torch.rand(1, 64, 64)])


def test_check_images_are_read_as_predict_reads_photos(tmp_path: Path):
    from landslide.export import read_images

    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(ExportError, match="no readable photo"):
        read_images(tmp_path, SIZE)
    Image.new("L", (120, 80), 200).save(tmp_path / "grey.png")  # grey, another size
    (image,) = read_images(tmp_path, SIZE)
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert float(image.max()) == pytest.approx(200 / 255)


# --------------------------------------------------------------------------- CLI


def test_cli_exports_and_predict_uses_the_onnx_file(exported: dict[str, Any], tmp_path: Path):
    params = write_params(tmp_path / "params.yaml")
    out = tmp_path / "cli.onnx"
    runner = CliRunner()
    model_dir = str(exported["model_pt"].parent)
    result = runner.invoke(
        app,
        ["export", "--model", model_dir, "--out", str(out), "--no-check", "-p", str(params)],
    )
    assert result.exit_code == 0, result.output
    assert "export: resnet50 v1" in result.output and "not checked" in result.output
    photos = tmp_path / "photos"
    photos.mkdir()
    pixels = (synthetic_images((96, 72), 1)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    Image.fromarray(pixels).save(photos / "hill.png")
    result = runner.invoke(
        app,
        [
            "predict",
            str(photos),
            "--model",
            str(out),
            "--out",
            str(tmp_path / "pred"),
            "-p",
            str(params),
            "--threshold",
            "0.05",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "pred" / "predictions.json").read_text())
    assert document["model"]["source"] == str(out)
    assert document["images"][0]["width"] == 96 and document["images"][0]["height"] == 72
    # the same photo through PyTorch gives the same decision and best score
    from landslide.inference import TorchDetector, detect

    detector = TorchDetector(exported["model"], exported["info"])
    with Image.open(photos / "hill.png") as photo:
        (torch_pred,) = detect(detector, [photo], threshold=0.05)
    assert document["images"][0]["max_score"] == pytest.approx(torch_pred.max_score, abs=2e-3)
    assert document["images"][0]["detected"] == torch_pred.detected


def test_cli_export_errors_exit_2_in_one_line(exported: dict[str, Any], tmp_path: Path):
    runner = CliRunner()
    model = str(exported["model_pt"])
    params = write_params(tmp_path / "params.yaml")
    other = write_params(tmp_path / "other.yaml", ["landslide", "rock"])
    cases = [
        (["--model", model, "--format", "tflite", "--out", "m.onnx"], "unknown export format"),
        (["--model", model, "--out", str(tmp_path / "m.pb")], "must end in .onnx"),
        (["--model", str(tmp_path / "nothing")], "model not found"),
        (["--model", str(exported["onnx"])], "already an ONNX model"),
        (
            [
                "--model",
                model,
                "--out",
                str(tmp_path / "o.onnx"),
                "--check-images",
                str(tmp_path / "no"),
            ],
            "not a folder",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, ["export", *args, "-p", str(params)])
        assert result.exit_code == 2, (args, result.output)
        assert "error: " in result.output and message in result.output, result.output
        assert "Traceback" not in result.output
    result = runner.invoke(
        app, ["export", "--model", model, "--out", str(tmp_path / "o.onnx"), "-p", str(other)]
    )
    assert result.exit_code == 2 and "made for classes" in result.output
    assert not (tmp_path / "o.onnx").exists()
