"""The CLI: commands listed in pipeline order, user mistakes as one or two lines, exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from landslide.cli import app

runner = CliRunner()


def landslide(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real entry point in a subprocess (what a user sees, tracebacks included)."""
    return subprocess.run(
        [sys.executable, "-m", "landslide", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "sample" in result.output and "params" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("landslide ")


def test_params_show_resolves_the_demo_profile(repo_root: Path) -> None:
    result = runner.invoke(app, ["params", "show", "--params", str(repo_root / "params.demo.yaml")])
    assert result.exit_code == 0, result.output
    shown = yaml.safe_load(result.stdout)
    assert shown["train"]["weights"] == "none"
    assert shown["evaluate"]["threshold"] == 0.8  # inherited from params.yaml
    assert "extends" not in shown


def test_params_show_one_section(repo_root: Path) -> None:
    result = runner.invoke(
        app, ["params", "show", "-p", str(repo_root / "params.yaml"), "--section", "split"]
    )
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout) == {
        "split": {
            "A": {"train": 101, "val": 28, "test": 31},
            "B": {"train": 62, "val": None, "test": None},
            "seed": 42,
            "dup_distance": 4,
            "stratify": True,
            "scale": True,
        }
    }


def test_unknown_section_is_a_user_error(repo_root: Path) -> None:
    result = runner.invoke(app, ["params", "show", "-s", "nope"])
    assert result.exit_code == 2
    assert "unknown section 'nope'" in result.output


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("train: {lr: fast}\n", "train.lr: expected a number, got 'fast'"),
        ("train: {lr: -1}\n", "train.lr: input should be greater than 0"),
        ("evaluate: {threshold: 2}\n", "evaluate.threshold"),
        ("train:\n  lr: [1\n", "not valid YAML"),
        ("trian: {}\n", "trian: unknown key (did you mean 'train'?)"),
    ],
)
def test_bad_params_print_one_line_without_traceback(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "params.yaml"
    path.write_text(text)
    result = landslide("params", "check", "--params", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in result.stderr


def test_missing_params_file(tmp_path: Path) -> None:
    result = landslide("params", "check", "--params", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    path.write_text("train: {lr: fast}\n")
    result = landslide("--debug", "params", "check", "--params", str(path))
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ParamsError" in result.stderr


def test_params_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("train: {epochs: 3}\n")
    monkeypatch.setenv("LANDSLIDE_PARAMS", str(path))
    result = runner.invoke(app, ["params", "show", "-s", "train"])
    assert result.exit_code == 0
    assert yaml.safe_load(result.stdout)["train"]["epochs"] == 3


def _digests(root: Path) -> dict[str, str]:
    import hashlib

    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_sample_command_is_deterministic(tmp_path: Path) -> None:
    args = ["sample", "--n", "40", "--seed", "1"]
    first = runner.invoke(app, [*args, "--out", str(tmp_path / "a"), "-p", "params.demo.yaml"])
    second = runner.invoke(app, [*args, "--out", str(tmp_path / "b"), "-p", "params.demo.yaml"])
    assert first.exit_code == 0, first.output
    assert second.exit_code == 0
    assert "sample: 40 photos" in first.stdout
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert len([k for k in a if k.startswith("images/")]) == 40
    assert a == b


def test_sample_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    result = landslide("sample", "--out", str(tmp_path), "--n", "3", "-p", "params.demo.yaml")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--force" in result.stderr
    assert (tmp_path / "keep.txt").read_text() == "mine"
    forced = runner.invoke(
        app, ["sample", "--out", str(tmp_path), "--n", "3", "--force", "-p", "params.demo.yaml"]
    )
    assert forced.exit_code == 0, forced.output
    assert len(list((tmp_path / "images").glob("*.jpg"))) == 3


@pytest.mark.parametrize("command", ["validate", "split"])
def test_validate_and_split_before_prepare_say_to_run_prepare(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """Run before prepare: one line naming the missing file and what to run, exit 2."""
    monkeypatch.chdir(tmp_path)  # the defaults: data/processed/prepared/..., not there
    result = runner.invoke(app, [command])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        "error: data/processed/prepared/annotations.json not found: "
        "run `landslide prepare` first (or `dvc repro prepare`)"
    ]
    # the annotations there but not the images: the images folder is named
    prepared = tmp_path / "data" / "processed" / "prepared"
    prepared.mkdir(parents=True)
    (prepared / "annotations.json").write_text(
        '{"images": [{"id": 1, "file_name": "a.jpg", "width": 8, "height": 8}], '
        '"annotations": [], "categories": [{"id": 1, "name": "landslide"}]}'
    )
    result = runner.invoke(app, [command])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "run `landslide prepare` first (or `dvc repro prepare`)" in result.output
    assert "data/processed/prepared/images" in result.output


def test_prefect_lines_about_a_user_error_are_one_line_without_traceback() -> None:
    """A stage's LandslideError inside a flow: Prefect's own lines about it (the
    exception's repr with `\\n`, the failed state) print as one line each."""
    import logging

    from landslide.cli.flow import _NoTracebackForUserErrors
    from landslide.errors import ValidationFailed

    # its str is two lines: the message, then the hint
    error = ValidationFailed(2, "reports/validation/validation.md", first="a.jpg region 3")
    records = [
        logging.LogRecord(
            "prefect.flow_runs",
            logging.ERROR,
            __file__,
            1,
            "Encountered exception during execution: %r",
            (error,),
            (ValidationFailed, error, None),
        ),
        logging.LogRecord(
            "prefect.flow_runs",
            logging.INFO,
            __file__,
            1,
            "Finished in state %s",
            (f"Failed({str(error)!r})",),
            None,
        ),
    ]
    filt = _NoTracebackForUserErrors()
    for record in records:
        assert filt.filter(record)
        text = logging.Formatter("%(message)s").format(record)
        assert "\n" not in text and "\\n" not in text, text
        assert "hint: fix what the report lists" in text
    assert records[0].exc_info is None  # no traceback for the user's error
    other = logging.LogRecord("mylib", logging.INFO, __file__, 1, "a\nb", (), None)
    filt.filter(other)
    assert other.getMessage() == "a\nb"  # only Prefect's lines are touched
