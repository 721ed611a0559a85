"""`landslide scrape` and `landslide scrape report`, the Prefect task, and a real
`kill -9` in the middle of a run followed by a re-run (manifest and files agree)."""

from __future__ import annotations

import importlib.util
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fixtures.scrape.fake_services import FakeServices, Reply, encode, photo, slow
from landslide.cli import app
from landslide.io import sha256_file
from landslide.params import Params
from landslide.scrape import MANIFEST, read_manifest
from landslide.scrape.manifest import IMAGE_NAME

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def params_file(fake: FakeServices, path: Path, **overrides: Any) -> Path:
    """A params file whose scrape section points at the fake services."""
    scrape = fake.params(**overrides).model_dump(mode="json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"scrape": scrape}))
    return path


def catalogue(fake: FakeServices, n: int, query: str = "landslide", delay: float = 0.0) -> None:
    for i in range(n):
        data = encode(photo(100 + i))
        if delay:
            fake.route(f"/img/{i}.jpg", slow(data, delay))
        else:
            fake.photo(f"/img/{i}.jpg", data)
        source = ("commons", "openverse", "bing")[i % 3] if not delay else "commons"
        fake.result(source, query, f"/img/{i}.jpg", licence=("by-sa", "cc0", "by")[i % 3])


def test_scrape_command_and_report(fake: FakeServices, tmp_path: Path) -> None:
    catalogue(fake, 9)
    cfg = params_file(fake, tmp_path / "params.yaml")
    out = tmp_path / "incoming"
    args = ["--query", "landslide", "--source", "commons,openverse", "-s", "bing", "--max", "2"]
    result = runner.invoke(app, ["scrape", *args, "--out", str(out), "--params", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "scrape: 6 candidates, 6 new photos (bing 2, commons 2, openverse 2)" in result.stdout
    assert len(read_manifest(out / MANIFEST)) == 6

    report = runner.invoke(app, ["scrape", "report", "--out", str(out), "--params", str(cfg)])
    assert report.exit_code == 0, report.output
    text = report.stdout
    for word in ("photos per source", "photos per licence", "photos per query", "CC0 1.0"):
        assert word in text
    assert "scrape report: 6 photos (" in text and "landslide" in text


def test_report_of_an_empty_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scrape", "report", "--out", str(tmp_path)])
    assert result.exit_code == 0 and "scrape report: 0 photos (none)" in result.stdout


def test_user_mistakes_are_one_line_errors(fake: FakeServices, tmp_path: Path) -> None:
    cfg = params_file(fake, tmp_path / "params.yaml")
    result = runner.invoke(
        app, ["scrape", "--source", "flickr", "--out", str(tmp_path / "o"), "--params", str(cfg)]
    )
    assert result.exit_code == 2
    assert "error: unknown source 'flickr' (known: commons, openverse, bing)" in result.output
    (tmp_path / "bad.csv").write_text("a,b\n")
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / MANIFEST).write_text("what,ever\n")
    report = runner.invoke(app, ["scrape", "report", "--out", str(tmp_path / "r")])
    assert report.exit_code == 2 and "line 1: unexpected header" in report.output


def test_failing_sources_in_a_real_process(fake: FakeServices, tmp_path: Path) -> None:
    """Broken sources: warnings naming them, or one `error:` line; never a traceback."""
    fake.route("/w/api.php", lambda r: Reply(body=b"{oops", content_type="application/json"))
    fake.route("/images/search", lambda r: Reply(body=b"<html></html>", content_type="text/html"))
    catalogue(fake, 3)
    cfg = params_file(fake, tmp_path / "cfg" / "params.yaml")
    work = tmp_path / "work"
    work.mkdir()
    cmd = [sys.executable, "-m", "landslide", "scrape", "--params", str(cfg), "-q", "landslide"]
    partly = subprocess.run(
        [*cmd, "--source", "commons,openverse,bing"], cwd=work, capture_output=True, text=True
    )
    assert partly.returncode == 0, partly.stderr
    assert "warning: commons: query 'landslide': the API answered malformed JSON" in partly.stderr
    assert "warning: bing: query 'landslide'" in partly.stderr
    assert "1 new photo (openverse 1)" in partly.stdout
    failed = subprocess.run(
        [*cmd, "--source", "commons,bing"], cwd=work, capture_output=True, text=True
    )
    assert failed.returncode == 2
    errors = [line for line in failed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith("error: every search failed; first: ")
    assert "Traceback" not in partly.stderr + failed.stderr
    out = work / "data" / "raw" / "incoming"  # scrape.out_dir's default
    assert {p.relative_to(work).parts[0] for p in work.rglob("*")} == {"data"}
    assert len(read_manifest(out / MANIFEST)) == 1


def test_kill_9_mid_run_then_rerun(fake: FakeServices, tmp_path: Path) -> None:
    n = 60
    catalogue(fake, n, query="kill", delay=0.05)
    cfg = params_file(fake, tmp_path / "cfg" / "params.yaml", concurrency=2)
    work = tmp_path / "work"
    work.mkdir()
    out = work / "data" / "raw" / "incoming"
    cmd = [sys.executable, "-m", "landslide", "scrape", "--params", str(cfg), "-q", "kill"]
    cmd += ["--source", "commons", "--max", str(n)]
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while len(read_manifest(out / MANIFEST)) < 5:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    rows = read_manifest(out / MANIFEST)  # a complete CSV, whatever the moment of the kill
    assert 5 <= len(rows) < n
    for row in rows:  # a row is written after its photo
        assert sha256_file(out / row.file) == row.sha256
    recorded = {row.image_url for row in rows}

    rerun = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert "Traceback" not in rerun.stderr
    rows = read_manifest(out / MANIFEST)
    assert len(rows) == len({r.sha256 for r in rows}) == n
    assert {p.name for p in out.iterdir()} == {r.file for r in rows} | {MANIFEST}
    assert all(IMAGE_NAME.match(r.file) and sha256_file(out / r.file) == r.sha256 for r in rows)
    for url in recorded:  # what the first run recorded was not downloaded again
        assert fake.hits[url.removeprefix(fake.base)] == 1
    assert {p.relative_to(work).parts[0] for p in work.rglob("*")} == {"data"}


# ----------------------------------------------------------------------------- prefect


@pytest.fixture(scope="module")
def flow_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "scrape_pipeline_flow", REPO / "flows" / "pipeline.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_prefect_task_retries_and_scrapes(
    flow_module: Any, fake: FakeServices, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = flow_module.scrape_photos
    assert task.retries == 2 and task.retry_delay_seconds == [10, 60]
    catalogue(fake, 2)
    monkeypatch.chdir(tmp_path)
    params = Params(scrape=fake.params(queries=["landslide"], sources=["commons", "openverse"]))
    line = task.fn(params)
    assert line.startswith("scrape: 2 candidates, 2 new photos")
    assert len(read_manifest(tmp_path / "data" / "raw" / "incoming" / MANIFEST)) == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_the_flow_scrapes_first_only_when_enabled(
    flow_module: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    calls: list[str] = []

    class Stop(Exception):
        pass

    def count_waiting(params: Params) -> None:
        calls.append("checkpoint")
        raise Stop

    monkeypatch.setattr(flow_module, "scrape_photos", lambda params: calls.append("scrape") or "")
    monkeypatch.setattr(flow_module, "count_waiting", count_waiting)
    monkeypatch.setattr(flow_module, "get_run_logger", lambda: logging.getLogger("test"))
    cfg = tmp_path / "params.yaml"
    cfg.write_text(yaml.safe_dump({"scrape": {"enabled": enabled}}))
    with pytest.raises(Stop):
        flow_module.pipeline.fn(params_file=str(cfg))
    assert calls == (["scrape", "checkpoint"] if enabled else ["checkpoint"])
