"""Helpers that several test files call directly: import them by plain name
(`from helpers import run_cli`), pytest puts tests/ on sys.path. Fixtures are in conftest.py."""

from __future__ import annotations

import copy
import csv
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from typer.testing import CliRunner

from landslide.cli import app
from landslide.curate import MANIFEST_FIELDS
from landslide.params import CLASSES, SampleParams
from landslide.sample import generate_sample

if TYPE_CHECKING:
    from landslide.model import ModelInfo  # torch: imported when first needed

REPO = Path(__file__).resolve().parents[1]

# A tiny profile for whole-pipeline runs: the demo profile, smaller still
# (tests/test_pipeline.py as is, tests/test_retrain_flow.py lighter still).
TINY: dict[str, Any] = {
    "extends": str(REPO / "params.demo.yaml"),
    "sample": {"n": 20, "min_side": 64, "max_side": 96},
    "prepare": {"size": [64, 64], "workers": 1},
    "augment": {"workers": 1},
    "train": {
        "backbones": ["resnet50"],
        "sets": ["A"],
        "epochs": 1,
        "batch_size": 4,
        "rpn_pre_nms_top_n_test": 100,
        "rpn_post_nms_top_n_test": 50,
        "box_detections_per_img": 20,
    },
    "evaluate": {"overlays": 2},
}

# RPN and RoI sizes light enough to train a 64 px model for an epoch or two on a CPU.
LIGHT_HEADS = {
    "rpn_pre_nms_top_n_train": 100,
    "rpn_post_nms_top_n_train": 50,
    "rpn_pre_nms_top_n_test": 100,
    "rpn_post_nms_top_n_test": 50,
    "rpn_batch_size_per_image": 32,
    "box_batch_size_per_image": 32,
    "box_detections_per_img": 20,
}

# What a scratch git repository needs before anything is committed in it.
GIT_INIT = (
    ["git", "init", "-q"],
    ["git", "config", "user.email", "t@t"],
    ["git", "config", "user.name", "t"],
)


def tiny_profile(**sections: dict[str, Any]) -> dict[str, Any]:
    """TINY with each named section's keys updated (a new section is added)."""
    profile = copy.deepcopy(TINY)
    for section, values in sections.items():
        profile.setdefault(section, {}).update(values)
    return profile


def run_cli(args: list[str], cwd: Path) -> Any:
    """`landslide ARGS` in-process (typer's CliRunner), run from `cwd`."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, args)
    finally:
        os.chdir(old)


def run_module(
    module: str, *args: str, cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """`python -m MODULE ARGS` in a subprocess, its stdout and stderr captured as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def sqlite_tracking(tmp: Path, experiment: str) -> Iterator[tuple[Any, str, pytest.MonkeyPatch]]:
    """A sqlite MLflow store in `tmp` with `experiment` (artifacts in tmp/artifacts), made
    the tracking URI for the duration: (client, uri, the MonkeyPatch for more settings)."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp}/mlflow.db"
    client = MlflowClient(uri)
    client.create_experiment(experiment, artifact_location=(tmp / "artifacts").as_uri())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", uri)
        mp.delenv("LANDSLIDE_PARENT_RUN_ID", raising=False)
        yield client, uri, mp


def sample_project(
    tmp_path: Path, n: int, min_side: int, max_side: int, decisions: str = "d.csv"
) -> Path:
    """tmp_path/project with the embedded sample (nothing decided) in data/raw; the
    sample's own decisions go to tmp_path/`decisions`, outside the project."""
    root = tmp_path / "project"
    generate_sample(
        root / "data" / "raw",
        SampleParams(n=n, min_side=min_side, max_side=max_side),
        decisions_file=tmp_path / decisions,
    )
    return root


def add_incoming(
    root: Path, photos: Iterable[tuple[bytes, dict[str, str]]], suffix: str = ".jpg"
) -> list[str]:
    """Scraped photos and the scrape manifest (a new one, of these photos alone) in
    root/data/raw/incoming, as the scraper names them: (data, manifest fields other than
    sha256 and file) each. Their sha256s."""
    incoming = root / "data" / "raw" / "incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    rows, shas = [], []
    for data, fields in photos:
        sha = hashlib.sha256(data).hexdigest()
        (incoming / f"{sha}{suffix}").write_bytes(data)
        row = dict.fromkeys(MANIFEST_FIELDS, "")
        row.update(sha256=sha, file=f"{sha}{suffix}", **fields)
        rows.append(row)
        shas.append(sha)
    with (incoming / "manifest.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, MANIFEST_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return shas


def model_info(size: int, classes: Sequence[str] = CLASSES) -> ModelInfo:
    """A tiny resnet50 v1 model's info, its RoI heads light for untrained models."""
    from landslide.model import ModelInfo

    return ModelInfo(
        classes=list(classes),
        backbone="resnet50",
        variant="v1",
        size=(size, size),
        rpn_post_nms_top_n_test=50,
        box_detections_per_img=5,
    )
