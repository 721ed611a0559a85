"""The report stage: the study's tables from hand-written run files, the study's numbers beside."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from landslide.cli import app
from landslide.model import ModelInfo
from landslide.params import CLASSES, Params
from landslide.report import load_study, pick_frames, report

LOSS_HEADER = (
    "epoch,train_total,train_rpn_class,train_rpn_bbox,train_mrcnn_class,train_mrcnn_bbox,"
    "train_mrcnn_mask,val_total,val_rpn_class,val_rpn_bbox,val_mrcnn_class,val_mrcnn_bbox,"
    "val_mrcnn_mask,val_precision,val_recall,val_f1,val_accuracy,lr,train_seconds"
)
OURS = {  # what each fixture run's metrics.json says (landslide / non-landslide P, R, F1)
    "resnet50-setA": ((0.75, 0.6, 0.6667), (0.6667, 0.8, 0.7273)),
    "resnet101-setA": ((0.9, 0.8, 0.85), (0.82, 0.91, None)),
}


def write_losses(model_dir: Path, totals: list[float]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    rows = [LOSS_HEADER]
    for epoch, total in enumerate(totals, start=1):
        parts = [total / 5] * 5
        rows.append(
            ",".join(
                str(v)
                for v in (epoch, total, *parts, total + 0.1, *parts, 0.5, 0.5, 0.5, 0.5, 0.001, 12)
            )
        )
    (model_dir / "losses.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    info = ModelInfo(
        classes=list(CLASSES),
        backbone=model_dir.name.split("-")[0],
        variant="v1",
        size=(128, 128),
        weights="none",
        epoch=len(totals),
        epochs=len(totals),
    )
    (model_dir / "model.json").write_text(json.dumps(info.to_json()), encoding="utf-8")


def write_eval(eval_dir: Path, name: str, n_frames: int = 12) -> None:
    run = eval_dir / name
    (run / "overlays").mkdir(parents=True, exist_ok=True)
    (ls_p, ls_r, ls_f), (nl_p, nl_r, nl_f) = OURS[name]
    metrics = {
        "threshold": 0.8,
        "images": n_frames,
        "landslide": {"precision": ls_p, "recall": ls_r, "f1": ls_f},
        "non_landslide": {"precision": nl_p, "recall": nl_r, "f1": nl_f},
        "accuracy": 0.75,
        "tp": 3,
        "tn": 6,
        "fp": 1,
        "fn": 2,
        "best": {"threshold": 0.65, "f1": 0.9},
        "coco": {
            "box": {"AP": 0.5, "AP50": 0.7, "AP75": 0.4},
            "mask": {"AP": 0.41, "AP50": 0.6, "AP75": 0.35},
        },
        "pixel": {"iou": 0.55, "precision": 0.7, "recall": 0.6, "f1": 0.65},
        "warnings": [],
    }
    (run / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    details = {"device": "cpu", "counts": {"images": n_frames, "landslide": 5}}
    (run / "eval.json").write_text(json.dumps(details), encoding="utf-8")
    lines = ["image,ground_truth,confidence,prediction,outcome,instances"]
    for i in range(n_frames):
        truth = "landslide" if i % 2 else "non_landslide"
        lines.append(f"photo_{i:02d}.jpg,{truth},0.{50 + 3 * i},{truth},TN,0")
    (run / "frames.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    pixels = np.zeros((16, 16, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(run / "overlays" / "001_photo_00.jpg")


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """Two backbones x Set A trained and evaluated; Set B of neither."""
    write_losses(tmp_path / "models" / "resnet50-setA", [0.9, 0.5, 0.3, 0.2, 0.15])
    write_losses(tmp_path / "models" / "resnet101-setA", [1.2, 0.6])
    write_eval(tmp_path / "reports" / "eval", "resnet50-setA")
    write_eval(tmp_path / "reports" / "eval", "resnet101-setA")
    return tmp_path


def make_report(root: Path, params: Params | None = None, **kw):
    params = params or Params()
    params.mlflow.tracking_uri = kw.pop("uri", f"sqlite:///{root / 'none' / 'mlflow.db'}")
    return report(
        root / "reports" / "report.md",
        params,
        models_dir=root / "models",
        eval_dir=root / "reports" / "eval",
        splits_summary=root / "summary.json",
        provenance=root / "provenance.csv",
        **kw,
    )


@pytest.fixture(autouse=True)
def _no_env_tracking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def line(md: str, start: str) -> str:
    found = [row for row in md.splitlines() if row.startswith(start)]
    assert found, f"no line starts with {start!r}"
    return found[0]


def section(md: str, title: str) -> str:
    start = md.index(title)
    end = md.find("\n## ", start + 1)
    return md[start : end if end > 0 else None]


def test_study_numbers_beside_ours(runs: Path) -> None:
    result = make_report(runs)
    md = result.markdown.read_text(encoding="utf-8")
    table2 = section(md, "Table II: Set A")
    # ours, study, ours, study, ours, study (precision, recall, F1)
    assert line(table2, "| ResNet-101 | landslide |") == (
        "| ResNet-101 | landslide | 0.90 | 1.00 | 0.80 | 0.93 | 0.85 | 0.97 |"
    )
    assert line(table2, "| ResNet-101 | non-landslide |") == (
        "| ResNet-101 | non-landslide | 0.82 | 0.94 | 0.91 | 1.00 | n/a | 0.97 |"
    )
    assert line(table2, "| ResNet-50 | landslide |") == (
        "| ResNet-50 | landslide | 0.75 | 1.00 | 0.60 | 0.87 | 0.67 | 0.93 |"
    )
    table3 = section(md, "Table III: Set B")
    assert line(table3, "| ResNet-101 | landslide |") == (
        "| ResNet-101 | landslide | — | 0.93 | — | 0.87 | — | 0.90 |"
    )


def test_missing_runs_are_named_and_the_rest_renders(runs: Path) -> None:
    result = make_report(runs)
    md = result.markdown.read_text(encoding="utf-8")
    assert "resnet50-setB (not trained, not evaluated)" in md
    assert "resnet101-setB (not trained, not evaluated)" in md
    assert result.missing == {
        "resnet50-setB": ["not trained", "not evaluated"],
        "resnet101-setB": ["not trained", "not evaluated"],
    }
    assert result.present == ["resnet50-setA", "resnet101-setA"]
    assert "2 of 4 runs evaluated" in result.summary_line()
    runs_table = section(md, "## Runs")
    assert "| resnet50-setA | 5 | 12 | — | ok |" in runs_table


def test_table_1_losses_at_the_study_epochs(runs: Path) -> None:
    md = make_report(runs).markdown.read_text(encoding="utf-8")
    table1 = section(md, "Table I")
    assert "| run | epoch 1 | epoch 5 | epoch 10 | epoch 15 | epoch 20 |" in table1
    assert (
        line(table1, "| ResNet-50 (study)") == "| ResNet-50 (study) | 0.7370 | 0.0689 | 0.0384 | "
        "0.0329 | 0.0286 |"
    )
    assert line(table1, "| ResNet-50 Set A (ours)") == (
        "| ResNet-50 Set A (ours) | 0.9000 | 0.1500 | — | — | — |"
    )
    assert line(table1, "| ResNet-101 Set A (ours)") == (
        "| ResNet-101 Set A (ours) | 1.2000 | — | — | — | — |"
    )
    assert line(table1, "| ResNet-101 Set B (ours)").count("—") == 5


def test_frame_tables_ten_seeded_frames_with_the_study_beside(runs: Path) -> None:
    md = make_report(runs).markdown.read_text(encoding="utf-8")
    table5 = section(md, "Table V: ResNet-101 Set A")
    rows = [r for r in table5.splitlines() if re.match(r"\| \d+ \| photo_", r)]
    assert len(rows) == 10
    assert rows[0].endswith("| 99% | TN |")  # the study's frame 1 beside ours
    assert rows[-1].endswith("| 89% | TP |")  # the study's frame 10
    table4 = section(md, "Table IV: ResNet-50 Set A")
    assert line(table4, "| 6 |").endswith("| 99% | FN |")
    frames = [{"image": f"p{i:02d}.jpg"} for i in range(31)]
    chosen = pick_frames(frames, seed=42)
    assert chosen == pick_frames(list(reversed(frames)), seed=42)  # order of the file: no matter
    assert [f["image"] for f in chosen] == sorted(f["image"] for f in chosen)
    assert len(chosen) == 10 and pick_frames(frames, seed=7) != chosen


def test_differences_section_and_images(runs: Path) -> None:
    (runs / "provenance.csv").write_text("file,source\na.jpg,synthetic\n", encoding="utf-8")
    split = {"train": {"images": 38}, "val": {"images": 10}, "test": {"images": 12}}
    summary = {"sets": {"A": split, "B": {**split, "train": {"images": 23}}}}
    (runs / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    result = make_report(runs)
    md = result.markdown.read_text(encoding="utf-8")
    diff = section(md, "How this run differs")
    assert "| image size | 512x512 | 128x128 |" in diff
    assert "| starting weights | coco | none |" in diff
    assert "| epochs | 20 | 5, 2 |" in diff
    assert "synthetic sample (`landslide sample`) of 1 photos" in diff
    assert "Set A train/val/test 38/10/12; Set B train/val/test 23/10/12" in diff
    assert "| evaluation device | — | cpu |" in diff
    assert result.figure is not None and result.figure.is_file()
    assert "![training (solid) and validation (dashed) total loss](report_losses.png)" in md
    assert "(eval/resnet50-setA/overlays/001_photo_00.jpg)" in md
    assert "| resnet101-setA | 0.500 | 0.700 | 0.410 |" in section(md, "Beyond the study")


def test_html_is_self_contained(runs: Path) -> None:
    result = make_report(runs)
    page = result.html.read_text(encoding="utf-8")
    sources = re.findall(r'src="([^"]*)"', page)
    assert len(sources) == 3  # the loss plot and one overlay per evaluated run
    assert all(s.startswith("data:image/") for s in sources)
    assert not re.search(r"(src|href)=\"https?://", page)
    assert "<script" not in page and "<link" not in page
    assert "<td>0.97</td>" in page  # the study's F1 for ResNet-101 Set A


def test_trained_but_not_evaluated_and_rendering_is_deterministic(runs: Path) -> None:
    write_losses(runs / "models" / "resnet101-setB", [2.0])
    first = make_report(runs).markdown.read_text(encoding="utf-8")
    assert "resnet101-setB (not evaluated)" in first
    assert line(section(first, "Table I"), "| ResNet-101 Set B (ours)").startswith(
        "| ResNet-101 Set B (ours) | 2.0000 | —"
    )
    assert make_report(runs).markdown.read_text(encoding="utf-8") == first


def test_missing_mlflow_runs_are_listed(runs: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{runs / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("landslide", artifact_location=str(runs / "artifacts"))
    run = client.create_run(exp, run_name="resnet50-setA", tags={"device": "cuda:0"})
    result = make_report(runs, uri=uri)
    md = result.markdown.read_text(encoding="utf-8")
    assert f"| resnet50-setA | 5 | 12 | {run.info.run_id} | ok |" in md
    assert "resnet101-setA (no MLflow run)" in md
    assert result.missing["resnet101-setA"] == ["no MLflow run"]
    assert "| training device | — | cuda:0 |" in md


def test_nothing_run_yet_still_renders(tmp_path: Path) -> None:
    result = make_report(tmp_path)
    md = result.markdown.read_text(encoding="utf-8")
    assert result.present == [] and len(result.missing) == 4
    assert "No run has a losses.csv yet." in md and result.figure is None
    assert "| ResNet-101 | landslide | — | 1.00 | — | 0.93 | — | 0.97 |" in md


def test_study_figures_are_package_data(repo_root: Path) -> None:
    study = load_study()
    assert study["table_2_set_A"]["resnet101"]["landslide"] == {
        "precision": 1.0,
        "recall": 0.93,
        "f1": 0.97,
    }
    assert len(study["table_5_frames_resnet101"]) == 10
    pyproject = tomllib.loads((repo_root / "pyproject.toml").read_text(encoding="utf-8"))
    assert "study_results.yaml" in pyproject["tool"]["setuptools"]["package-data"]["landslide"]


def test_cli_report(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(runs)
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output
    assert "report: 2 of 4 runs evaluated" in result.stdout
    assert "resnet50-setB: not trained, not evaluated" in result.stdout
    assert Path("reports/report.md").is_file() and Path("reports/report.html").is_file()
    assert not Path("mlflow.db").exists()  # the report never creates a tracking store
