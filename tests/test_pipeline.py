"""The two drivers of the stages: `dvc repro` and the Prefect flow, on a tiny project.

Real components: `dvc repro` in a temporary git repository, a Prefect flow run against
Prefect's temporary local server, the curation pause resumed with input.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import GIT_INIT, REPO, TINY, run_module
from landslide import stages as S
from landslide.params import load_params
from landslide.sample import generate_sample

DATA_OUTPUTS = [
    "data/processed/prepared/annotations.json",
    "data/processed/splits/A/train.json",
    "data/processed/splits/A/test.json",
    "data/processed/splits/B/train.json",
    "data/processed/splits/assignment.csv",
    "data/processed/augmented/A/train.json",
]
MODEL_OUTPUTS = [
    "models/resnet50-setA/model.pt",
    "models/resnet50-setA/losses.csv",
    "reports/eval/resnet50-setA/metrics.json",
    "reports/eval/resnet50-setA/frames.csv",
    "reports/report.md",
]


def make_project(root: Path, *, decisions: bool = True) -> Path:
    """A project directory: pipeline files, resolved tiny params.yaml, sample data."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "flows"):
        src = REPO / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, root / name)
    shutil.copytree(REPO / "src" / "landslide", root / "src" / "landslide")
    (root / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    params = load_params(root / "tiny.yaml")
    (root / "params.yaml").write_text(params.to_yaml())  # DVC needs every key in one file
    generate_sample(
        root / "data" / "raw",
        params.sample,
        params.classes,
        decisions_file=root / "data" / "curation" / "decisions.csv" if decisions else None,
    )
    return root


def load_flow_module() -> Any:
    spec = importlib.util.spec_from_file_location("pipeline_flow", REPO / "flows" / "pipeline.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digests(root: Path, paths: list[str]) -> dict[str, str]:
    return {p: hashlib.sha256((root / p).read_bytes()).hexdigest() for p in paths}


@pytest.fixture(autouse=True)
def mlflow_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return uri


def epochs_logged(uri: str, run_name: str) -> list[int]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        filter_string=f"attributes.run_name = '{run_name}'",
    )
    assert runs, f"no MLflow run named {run_name}"
    return [m.step for m in client.get_metric_history(runs[0].info.run_id, "train/total")]


# --------------------------------------------------------------------------- fast checks


def test_dvc_yaml_names_the_standard_paths() -> None:
    specs = S.load_stages(REPO / "dvc.yaml")
    declared = {p for spec in specs.values() for p in (*spec.deps, *spec.outs)}
    text = (REPO / "dvc.yaml").read_text()
    for path in (S.RAW_IMAGES, S.VIA_PROJECT, S.PREPARED_IMAGES, S.PREPARED_COCO):
        assert path in declared, path
    for path in (S.VALIDATION, S.SPLITS, S.AUGMENTED):
        assert path in text, path


def test_every_dvc_param_key_exists_in_params() -> None:
    params = load_params(REPO / "params.yaml")
    for spec in S.load_stages(REPO / "dvc.yaml").values():
        for key in spec.params:
            S.param_value(params, key)  # raises KeyError for a key Params doesn't have


def test_every_stage_code_dep_exists() -> None:
    for spec in S.load_stages(REPO / "dvc.yaml").values():
        for dep in spec.deps:
            if dep.startswith("src/"):
                assert (REPO / dep).exists(), f"{spec.name}: {dep}"


def test_fingerprint_follows_deps_and_params(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.txt").write_text("a")
    spec = S.StageSpec("s", "cmd", deps=("in",), params=("train.lr",), outs=("out",))
    params = load_params(REPO / "params.yaml")
    first = S.fingerprint(spec, params, tmp_path)
    assert S.fingerprint(spec, params, tmp_path) == first
    other = params.model_copy(deep=True)
    other.train.epochs = 99  # a key the stage does not read
    assert S.fingerprint(spec, other, tmp_path) == first
    other.train.lr = 0.5
    assert S.fingerprint(spec, other, tmp_path) != first
    (tmp_path / "in" / "a.txt").write_text("b")
    assert S.fingerprint(spec, params, tmp_path) != first
    assert spec.missing_outputs(tmp_path) == ["out"]


# ---------------------------------------------------------------------- Prefect flow


@pytest.mark.slow
def test_flow_runs_the_stages_and_skips_them_next_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None, mlflow_store: str
) -> None:
    project = make_project(tmp_path / "p")
    monkeypatch.chdir(project)
    flow = load_flow_module()
    first = flow.pipeline(params_file="params.yaml", return_state=True)
    assert first.is_completed(), first
    for path in DATA_OUTPUTS + MODEL_OUTPUTS:
        assert (project / path).exists(), path
    assert epochs_logged(mlflow_store, "resnet50-setA") == [1]
    second = flow.pipeline(params_file="params.yaml", return_state=True)
    assert second.is_completed()
    task_states = _task_states(second)
    for name in (
        "prepare_images",
        "validate_labels",
        "split_sets",
        "augment_train",
        "train_model",
        "evaluate_model",
        "write_report",
    ):
        assert task_states[name] == "Cached", task_states


@pytest.mark.slow
def test_flow_pauses_until_photos_are_curated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None
) -> None:
    from prefect.flow_runs import resume_flow_run

    project = make_project(tmp_path / "p", decisions=False)
    monkeypatch.chdir(project)
    flow = load_flow_module()
    result: dict[str, Any] = {}
    runner = threading.Thread(
        target=lambda: result.setdefault(
            "state",
            flow.pipeline(
                params_file="params.yaml", until="prepare", wait_timeout_s=120, return_state=True
            ),
        )
    )
    runner.start()
    run = _wait_for_paused("landslide-pipeline", timeout=90)
    assert run is not None, "the flow did not pause while photos were undecided"
    assert not (project / S.PREPARED_COCO).exists()  # nothing ran past the checkpoint
    # a person curates: the decisions appear, then the run is resumed with input
    curation = project / "data" / "curation"
    curation.mkdir(parents=True, exist_ok=True)
    shutil.copy(project / "data" / "raw" / "decisions.csv", curation / "decisions.csv")
    resume_flow_run(run.id, run_input={"done": True, "note": "curated in test"})
    runner.join(timeout=240)
    assert not runner.is_alive()
    assert result["state"].is_completed(), result["state"]
    assert (project / S.PREPARED_COCO).exists()


def _wait_for_paused(flow_name: str, timeout: float) -> Any:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while time.monotonic() < deadline:
            runs = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
                ),
            )
            if runs:
                return runs[0]
            time.sleep(0.5)
    return None


def _task_states(state: Any) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {r.task_key.rsplit("-", 1)[0]: r.state.name for r in runs}


# ---------------------------------------------------------------------------- dvc repro


def _env(**extra: str) -> dict[str, str]:
    """This environment with the venv's scripts first on PATH (the `landslide` command)."""
    path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    return {**os.environ, "DVC_NO_ANALYTICS": "1", "PATH": path, **extra}


def _git_dvc_project(root: Path) -> Path:
    project = make_project(root)
    for cmd in GIT_INIT:
        subprocess.run(cmd, cwd=project, check=True)
    assert _dvc(project, "init", "-q").returncode == 0
    return project


def _dvc(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_module("dvc", *args, cwd=project, env=_env(), timeout=900)


@pytest.mark.slow
def test_dvc_repro_reproduces_and_skips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, prefect_server: None, mlflow_store: str
) -> None:
    project = _git_dvc_project(tmp_path / "dvc")
    first = _dvc(project, "repro")
    assert first.returncode == 0, first.stdout + first.stderr
    for path in DATA_OUTPUTS + MODEL_OUTPUTS:
        assert (project / path).exists(), path
    assert epochs_logged(mlflow_store, "resnet50-setA") == [1]

    again = _dvc(project, "repro")
    assert again.returncode == 0
    assert "Running stage" not in again.stdout, again.stdout

    # changing one param re-runs only the stages that read it
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["evaluate"]["threshold"] = 0.5
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    third = _dvc(project, "repro")
    assert third.returncode == 0, third.stdout + third.stderr
    ran = {line.split("'")[1] for line in third.stdout.splitlines() if "Running stage" in line}
    assert ran == {"evaluate@resnet50-A", "report"}, third.stdout
    metrics = _dvc(project, "metrics", "show")
    assert "reports/eval/resnet50-setA/metrics.json" in metrics.stdout

    # the Prefect flow on a copy of the same inputs writes the same files
    flow_project = make_project(tmp_path / "flow")
    (flow_project / "params.yaml").write_text((project / "params.yaml").read_text())
    monkeypatch.chdir(flow_project)
    state = load_flow_module().pipeline(params_file="params.yaml", return_state=True)
    assert state.is_completed()
    assert digests(flow_project, DATA_OUTPUTS) == digests(project, DATA_OUTPUTS)


@pytest.mark.slow
def test_dvc_repro_after_sigkill_mid_training_finishes_cleanly(
    tmp_path: Path, mlflow_store: str
) -> None:
    """kill -9 of `dvc repro` while a model trains: the next `dvc repro` completes, and
    nothing half-written is left behind or trusted."""
    project = _git_dvc_project(tmp_path / "killed")
    env = _env(PYTHONUNBUFFERED="1")
    log = tmp_path / "first.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dvc", "repro"],
            cwd=project,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the stage's children die too
        )
        deadline = time.monotonic() + 600
        while "Running stage 'train@" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "training never started"
            time.sleep(0.2)
        time.sleep(3)  # well inside the first epoch
        os.killpg(proc.pid, 9)
        proc.wait(timeout=60)
    assert not (project / "models/resnet50-setA/model.pt").exists()

    again = _dvc(project, "repro")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Running stage 'train@resnet50-A'" in again.stdout
    assert "Running stage 'prepare'" not in again.stdout  # finished stages are kept
    for path in DATA_OUTPUTS + MODEL_OUTPUTS:
        assert (project / path).exists(), path
    leftovers = [p for p in project.rglob("*.tmp*") if ".dvc" not in p.parts]
    assert leftovers == []
    from landslide.model import load_model

    load_model(project / "models/resnet50-setA/model.pt")  # complete, loadable weights
    status = _dvc(project, "status")
    assert "changed" not in status.stdout, status.stdout


def _cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = _env(PREFECT_HOME=str(project / ".prefect"), COLUMNS="200")
    env.pop("PREFECT_API_URL", None)  # the CLI starts its own temporary API
    return run_module("landslide", *args, cwd=project, env=env, timeout=600)


@pytest.mark.slow
def test_a_failed_validation_stops_both_drivers_before_training(
    tmp_path: Path, mlflow_store: str
) -> None:
    project = _git_dvc_project(tmp_path / "invalid")
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["validation"]["min_image_side"] = 1000  # every 64-96 px photo is too small
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))

    repro = _dvc(project, "repro")
    assert repro.returncode != 0
    assert "reports/validation/validation.md" in repro.stdout + repro.stderr
    assert "Running stage 'train@" not in repro.stdout

    flow = _cli(project, "flow", "run", "--params", "params.yaml")
    assert flow.returncode == 2, flow.stdout + flow.stderr
    errors = [line for line in flow.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "reports/validation/validation.md" in flow.stderr
    assert "Traceback" not in flow.stdout + flow.stderr
    assert not (project / "models" / "resnet50-setA").exists()
