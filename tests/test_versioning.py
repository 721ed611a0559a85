"""Data versions with DVC: real `dvc add` / `push` / `pull` in temporary git repositories."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from landslide.cli import app
from landslide.errors import DataVersionError
from landslide.params import load_params
from landslide.sample import generate_sample
from landslide.versioning import check_remote, inputs_version, pull, push, track_inputs

REPO = Path(__file__).resolve().parents[1]


def git_init(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)


def git_dvc_repo(root: Path) -> Path:
    """`root` a git repository with DVC initialised (no remote)."""
    from dvc.repo import Repo

    git_init(root)
    Repo.init(str(root)).close()
    return root


def with_sample(root: Path) -> Path:
    params = load_params(REPO / "params.demo.yaml")
    p = params.sample.model_copy(update={"n": 6, "min_side": 64, "max_side": 80})
    generate_sample(root / "data" / "raw", p, params.classes)
    return root


def test_outside_a_git_repository(tmp_path: Path) -> None:
    with pytest.raises(DataVersionError, match="not a git repository") as info:
        track_inputs(with_sample(tmp_path / "plain"))
    assert "git init" in info.value.render()


def test_git_without_dvc(tmp_path: Path) -> None:
    root = with_sample(tmp_path / "repo")
    git_init(root)
    with pytest.raises(DataVersionError, match="DVC is not initialised"):
        track_inputs(root)


def test_no_remote_is_explained(tmp_path: Path) -> None:
    root = git_dvc_repo(tmp_path / "repo")
    with pytest.raises(DataVersionError, match="no default DVC remote") as info:
        check_remote(root)
    assert "make setup" in info.value.render()
    with pytest.raises(DataVersionError, match="'elsewhere' is not configured"):
        check_remote(root, "elsewhere")


def test_nothing_to_track_names_the_missing_input(tmp_path: Path) -> None:
    root = git_dvc_repo(tmp_path / "repo")
    with pytest.raises(DataVersionError, match="input not found") as info:
        track_inputs(root)
    assert "data/raw/images" in info.value.render()


def test_track_push_pull_round_trip(tmp_path: Path) -> None:
    root = git_dvc_repo(with_sample(tmp_path / "repo"))
    subprocess.run(
        [
            shutil.which("dvc") or str(Path(REPO / ".venv/bin/dvc")),
            "remote",
            "add",
            "-d",
            "local",
            str(tmp_path / "storage"),
        ],
        cwd=root,
        check=True,
        capture_output=True,
    )
    summary = track_inputs(root)
    assert [str(p) for p in summary.tracked] == [
        "data/raw/images.dvc",
        "data/raw/via_project.json.dvc",
    ]
    assert (root / "data/raw/images.dvc").is_file()
    version = inputs_version(root)
    assert version == summary.version and len(version) == 12

    # tracking again without changes keeps the version; a changed photo changes it
    assert track_inputs(root).version == version
    photo = sorted((root / "data/raw/images").iterdir())[0]
    photo.write_bytes(photo.read_bytes() + b"\0")
    assert track_inputs(root).version != version

    assert push(root) == 7 + 1  # six photos, the project and the directory listing
    shutil.rmtree(root / "data/raw/images")
    shutil.rmtree(root / ".dvc/cache")
    assert pull(root) > 0
    assert len(list((root / "data/raw/images").iterdir())) == 6


def test_cli_outside_git_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(with_sample(tmp_path / "plain"))
    result = CliRunner().invoke(app, ["data", "track"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert lines[0].startswith("error:") and "not a git repository" in lines[0]
    assert len(lines) == 2 and "Traceback" not in result.output
