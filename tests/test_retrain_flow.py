"""Retraining cycles for real: the Prefect flow (a real flow run against Prefect's test
server), tiny real training, a real MLflow registry (sqlite in a temp dir), DVC in a
temporary git repository, photos arriving from the synthetic generator.

The tiny models (64 px, 1 epoch from scratch) are too weak to tell landslides apart: every
landslide score sits near 0.2. So each cycle's outcome is set by construction, never by
luck: at threshold 0.1 an untrained model flags every photo (F1 2P/(2P+N) on the fixed
test set), at 0.5 none. The challenger that must lose starts from the champion's weights
with its landslide logit lowered by 20 (it never detects a landslide), the one that must
win, after the threshold rises to 0.5, from the champion's weights with the logit raised
by 5 (it flags every photo); each still trains a real epoch.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from helpers import GIT_INIT, REPO, tiny_profile
from landslide import retrain as R
from landslide.cli import app
from landslide.errors import CycleLocked, RetrainError
from landslide.params import Params, load_params
from landslide.sample import generate_sample

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning"),
]

NAME = "landslide-maskrcnn"
LANDSLIDE_LOGIT = "roi_heads.box_predictor.cls_score.bias"  # index 1: landslide

# tests/test_pipeline.py's tiny profile, lighter still: no augmented copies, every
# class's detections kept (10 proposals x 4 classes < 50), no overlays.
TINY = tiny_profile(
    sample={"n": 16},
    augment={"copies": 0},
    train={"rpn_post_nms_top_n_test": 10, "box_detections_per_img": 50},
    evaluate={"overlays": 0, "threshold": 0.1, "calibrate": False},
    schedule={"backbones": ["resnet50"], "min_new_images": 4, "floor": 0.5},
)


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("LANDSLIDE_MODEL_CACHE", str(tmp_path / "model-cache"))
    monkeypatch.delenv("LANDSLIDE_PARENT_RUN_ID", raising=False)
    return uri


def make_project(root: Path, *, dvc: bool = False) -> Path:
    """Flow files, a resolved tiny params.yaml, the sample as the first photos."""
    root.mkdir(parents=True)
    shutil.copytree(REPO / "flows", root / "flows")
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    params = load_params(root / "tiny.yaml")
    (root / "params.yaml").write_text(params.to_yaml())
    generate_sample(
        root / "data" / "raw",
        params.sample,
        params.classes,
        decisions_file=root / params.curate.decisions,
    )
    if dvc:
        env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
        for cmd in (
            *GIT_INIT,
            [sys.executable, "-m", "dvc", "init", "-q"],
            [sys.executable, "-m", "dvc", "remote", "add", "-d", "local", str(root.parent / "dvc")],
        ):
            subprocess.run(cmd, cwd=root, check=True, env=env, capture_output=True)
    return root


def set_params(project: Path, **sections: dict[str, Any]) -> Params:
    data = yaml.safe_load((project / "params.yaml").read_text())
    for section, values in sections.items():
        data[section].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return load_params(project / "params.yaml")


def load_flow(project: Path) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_flow", project / "flows/retrain.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def cycle(flow: Any) -> Any:
    return flow.retrain(params_file="params.yaml", return_state=True)


def champion(client: Any) -> str | None:
    version = client.get_registered_model(NAME).aliases.get("champion")
    return None if version is None else str(version)


def versions(client: Any) -> list[str]:
    found = client.search_model_versions(f"name = '{NAME}'")
    return [str(v) for v in sorted(int(v.version) for v in found)]


def trainings(client: Any) -> int:
    experiments = [e.experiment_id for e in client.search_experiments()]
    return len(client.search_runs(experiments, "attributes.run_name = 'resnet50-setA'"))


def shifted_champion(uri: str, out: Path, landslide_logit: float) -> Path:
    """The champion's weights with the landslide logit's bias moved (a state dict file)."""
    import torch

    from landslide.registry import resolve_model

    state = torch.load(resolve_model(f"models:/{NAME}@champion", uri), weights_only=True)
    state[LANDSLIDE_LOGIT][1] += landslide_logit
    torch.save(state, out)
    return out


def error_run(project: Path) -> str:
    """The MLflow run of the latest failed cycle."""
    summaries = sorted((project / "reports/retrain/cycles").glob("*/comparison.json"))
    data = json.loads(summaries[-1].read_text())
    assert data["decision"] == "failed"
    return str(data["mlflow_run_id"])


def list_in_project(project: Path, params: Params, name: str) -> None:
    """Add the photo `name` (in data/raw/images) to the VIA project, without regions."""
    from PIL import Image

    from landslide.annotations import ImageAnn, load_annotations, write_via2

    via, images = project / "data/raw/via_project.json", project / "data/raw/images"
    ann = load_annotations(via, None, params, review=False)
    with Image.open(images / name) as im:
        width, height = im.size
    listed = dataclasses.replace(ann, images=[*ann.images, ImageAnn(name, width, height)])
    write_via2(listed, via, params.classes, params.annotations.class_attribute, images_dir=images)


def negative_photo(project: Path) -> str:
    decisions = (project / "data/curation/decisions.csv").read_text().splitlines()
    return next(line.split(",")[1] for line in decisions[1:] if ",non-landslide," in line)


# --------------------------------------------------------------------------- the cycles


def test_cycles_as_photos_arrive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None, tracking: str
) -> None:
    from mlflow import MlflowClient

    project = make_project(tmp_path / "project", dvc=True)
    monkeypatch.chdir(project)
    flow = load_flow(project)
    client = MlflowClient(tracking, registry_uri=tracking)
    params = load_params(project / "params.yaml")
    state_file = project / "reports/retrain/state.json"

    # cycle 1: no champion yet; the challenger passes the floor and becomes the champion
    first = cycle(flow)
    assert first.name == "Promoted", first.message
    one = first.result()
    assert one["decision"] == "promoted" and "no champion yet; f1 0.800" in one["reason"]
    assert champion(client) == "1"
    v1 = client.get_model_version(NAME, "1")
    assert v1.tags["retrain.decision"] == "promoted" and v1.tags["retrain.value"] == "0.800"
    data1 = one["data_version"]
    assert data1["method"] == "dvc" and data1["id"].startswith("dvc:") and data1["pushed"]
    assert v1.tags["retrain.data_version"] == data1["id"]
    assert (project / "data/raw/images.dvc").is_file()
    assert any(p.is_file() for p in (tmp_path / "dvc").rglob("*"))  # pushed to the remote
    run = client.get_run(one["mlflow_run_id"])
    assert run.data.tags["retrain.decision"] == "promoted"
    assert run.data.tags["data_version"] == data1["id"]
    assert run.data.metrics["fixed/challenger_resnet50/f1"] == pytest.approx(0.8)
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {
        "comparison.json",
        "comparison.md",
    }
    trained = client.get_run(one["challengers"][0]["run_id"])
    assert trained.data.tags["mlflow.parentRunId"] == run.info.run_id
    assert trained.data.tags["retrain.decision"] == "promoted"
    state = json.loads(state_file.read_text())
    assert state["data_version"] == data1["id"] and len(state["photos"]) == 16
    fixed = one["test_sets"]["fixed_images"]
    assert fixed >= 2 and one["test_sets"]["new_images"] == 0

    # cycle 2: two new photos (fewer than 4) and one waiting for an outline: nothing to do
    R.add_sample_photos(project, params, 2, seed=7, prefix="b2")
    R.add_sample_photos(project, params, 1, seed=11, prefix="w", annotate=False)
    second = cycle(flow)
    assert second.name == "Nothing to do", second.message
    two = second.result()
    assert "2 new photos, fewer than schedule.min_new_images (4)" in two["reason"]
    assert any(note.startswith("prefill: 1 photos") for note in two["notes"]), two["notes"]
    assert versions(client) == ["1"] and champion(client) == "1"
    assert json.loads(state_file.read_text())["data_version"] == data1["id"]

    # a new photo that fails validation (a copy of a photo already used) stops the cycle;
    # listed in the VIA project, as `curate apply` lists a photo (an unlisted one is left out)
    R.add_sample_photos(project, params, 4, seed=8, prefix="b3")
    copy = project / "data/raw/images/b3_copy.jpg"
    shutil.copyfile(project / "data/raw/images" / negative_photo(project), copy)
    via = project / "data/raw/via_project.json"
    before_copy = via.read_bytes()
    list_in_project(project, params, copy.name)
    failed = cycle(flow)
    assert failed.is_failed()
    error = failed.result(raise_on_failure=False)
    assert isinstance(error, RetrainError), error
    assert "new photos that fail: b3_copy.jpg" in error.message
    assert "reports/validation/validation.md" in error.message
    assert versions(client) == ["1"] and champion(client) == "1"
    assert trainings(client) == 1  # stopped before training
    assert client.get_run(error_run(project)).info.status == "FAILED"
    assert json.loads(state_file.read_text())["data_version"] == data1["id"]
    copy.unlink()
    via.write_bytes(before_copy)

    # what a cycle killed mid-training leaves: its lock, a RUNNING MLflow run, a half model
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    killed_run = client.create_run(run.info.experiment_id, run_name="retrain-killed")
    (project / "reports/retrain/retrain.lock").write_text(
        json.dumps({"pid": dead.pid, "cycle": "killed", "run_id": killed_run.info.run_id})
    )
    half = project / params.schedule.models_dir / "resnet50-setA" / "checkpoints"
    half.mkdir(parents=True, exist_ok=True)
    (half / "epoch_007.pt").write_bytes(b"half-written")

    # cycle 3: a challenger forced to be worse (it never detects a landslide) is rejected
    weak = shifted_champion(tracking, tmp_path / "weak.pt", -20.0)
    set_params(project, train={"weights": str(weak)})
    third = cycle(flow)
    assert third.name == "Rejected", third.message
    three = third.result()
    assert any(f"pid {dead.pid}" in n and "stale lock" in n for n in three["notes"])
    assert client.get_run(killed_run.info.run_id).info.status == "KILLED"
    assert not (half / "epoch_007.pt").exists()  # the killed cycle's model is never reused
    assert champion(client) == "1" and versions(client) == ["1", "2"]
    v2 = client.get_model_version(NAME, "2")
    assert v2.tags["retrain.decision"] == "rejected"
    assert v2.tags["retrain.reason"] == "f1 0.000 is below the champion's 0.800"
    assert "v1 stays champion" in three["reason"]
    tests = three["test_sets"]
    assert tests["fixed_images"] == fixed and tests["new_images"] >= 1  # same fixed set
    assert three["champion"]["fixed"]["f1"] == pytest.approx(0.8)
    assert three["challengers"][0]["fixed"]["f1"] == 0.0
    assert three["champion"]["new"]["images"] == three["challengers"][0]["new"]["images"]
    data3 = three["data_version"]["id"]
    assert data3 != data1["id"] and json.loads(state_file.read_text())["data_version"] == data3

    # cycle 4: the threshold rises to 0.5, where the champion flags nothing; a confident
    # challenger flags every photo, beats it, and takes the alias
    R.add_sample_photos(project, params, 4, seed=9, prefix="b4")
    strong = shifted_champion(tracking, tmp_path / "strong.pt", +5.0)
    set_params(project, train={"weights": str(strong)}, evaluate={"threshold": 0.5})
    fourth = cycle(flow)
    assert fourth.name == "Promoted", fourth.message
    four = fourth.result()
    assert champion(client) == "3" and versions(client) == ["1", "2", "3"]
    assert four["champion"]["version"] == "1" and four["champion"]["fixed"]["f1"] == 0.0
    assert four["test_sets"]["fixed_images"] == fixed + tests["new_images"]
    v3 = client.get_model_version(NAME, "3")
    assert (
        v3.tags["retrain.decision"] == "promoted" and v3.tags["retrain.champion_value"] == "0.000"
    )
    assert "retrain.promoted_at" in v3.tags

    history = R.model_history(load_params(project / "params.yaml"))
    assert [(h.version, h.decision, h.current) for h in history] == [
        ("1", "promoted", False),
        ("2", "rejected", False),
        ("3", "promoted", True),
    ]
    assert [h.data_version for h in history] == [data1["id"], data3, four["data_version"]["id"]]


# --------------------------------------------------------------------------- faults


def test_an_unreachable_tracking_server_stops_the_cycle_before_training(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{port}")
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    state = cycle(load_flow(project))
    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, RetrainError) and "is unreachable" in error.message
    assert not (project / "data/processed").exists()
    assert not (project / "reports/retrain/retrain.lock").exists()
    (summary,) = (project / "reports/retrain/cycles").glob("*/comparison.json")
    assert json.loads(summary.read_text())["decision"] == "failed"


def test_a_second_cycle_is_refused_and_the_cli_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None, tracking: str
) -> None:
    project = make_project(tmp_path / "project")
    monkeypatch.chdir(project)
    runner = CliRunner()
    with R.CycleLock(project / "reports/retrain/retrain.lock"):
        state = cycle(load_flow(project))
        assert state.is_failed()
        assert isinstance(state.result(raise_on_failure=False), CycleLocked)
        result = runner.invoke(app, ["retrain", "--now", "-p", "params.yaml"])
    assert result.exit_code == 2, result.output
    assert "another retraining cycle is running" in result.output
    assert f"pid {os.getpid()}" in result.output
    # nothing new since a cycle that found too few photos: the CLI says so, exit 0
    set_params(project, schedule={"min_new_images": 100})
    result = runner.invoke(app, ["retrain", "--now", "-p", "params.yaml"])
    assert result.exit_code == 0, result.output
    assert ": nothing to do: 16 new photos, fewer than schedule.min_new_images (100)" in (
        result.output
    )
