"""Retraining, the parts without training: the promotion rule, the lock, arrivals, data
versions, the champion history and the CLI wiring. (tests/test_retrain_flow.py runs
real cycles.)"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from helpers import run_module
from landslide import retrain as R
from landslide.cli import app
from landslide.console import out
from landslide.errors import CycleLocked, ParamsError
from landslide.params import Params, ScheduleParams, parse_params
from landslide.sample import generate_sample

# MLflow's sqlite store uses a SQLAlchemy loader option that SQLAlchemy 2.x deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

runner = CliRunner()


def metrics(f1: float | None, recall: float | None = 1.0, accuracy: float = 0.5) -> dict:
    return {"landslide": {"f1": f1, "recall": recall, "precision": None}, "accuracy": accuracy}


RULE = ScheduleParams(min_margin=0.02, recall_tolerance=0.05, floor=0.5)


# --------------------------------------------------------------------------- the rule


@pytest.mark.parametrize(
    ("challenger", "champion", "promote", "words"),
    [
        # no champion: the floor decides
        (metrics(0.6), None, True, "no champion yet; f1 0.600 reaches the floor 0.5"),
        (metrics(0.5), None, True, "reaches the floor"),  # at the floor exactly
        (metrics(0.49), None, False, "below the floor 0.5"),
        (metrics(None, None), None, False, "f1 0.000 is below the floor"),  # undefined = 0
        # margin
        (metrics(0.83), metrics(0.80), True, "beats the champion's 0.800 by 0.030"),
        (metrics(0.82), metrics(0.80), True, "by 0.020 (margin 0.02)"),  # exactly the margin
        (metrics(0.81), metrics(0.80), False, "does not beat the champion's 0.800 by the margin"),
        (metrics(0.80), metrics(0.80), False, "ties the champion's 0.800"),
        (metrics(0.70), metrics(0.80), False, "is below the champion's 0.800"),
        # recall tolerance
        (metrics(0.90, 0.94), metrics(0.80, 1.0), False, "recall drops from 1.000 to 0.940"),
        (metrics(0.90, 0.95), metrics(0.80, 1.0), True, "recall 0.950 vs 1.000"),  # at tolerance
        # the floor binds with a champion too
        (metrics(0.45), metrics(0.30), False, "below the floor"),
        # undefined champion values count as 0
        (metrics(0.6), metrics(None, None), True, "beats the champion's 0.000"),
    ],
)
def test_promotion_rule(challenger: dict, champion: dict | None, promote: bool, words: str) -> None:
    verdict = R.decide(challenger, champion, RULE)
    assert verdict.promote is promote, verdict.reason
    assert words in verdict.reason
    assert verdict.decision == ("promoted" if promote else "rejected")


def test_a_tie_never_promotes_even_without_a_margin() -> None:
    rule = ScheduleParams(min_margin=0.0, recall_tolerance=0.0, floor=0.0)
    assert not R.decide(metrics(0.7), metrics(0.7), rule).promote
    assert not R.decide(metrics(0.1 + 0.2), metrics(0.3), rule).promote  # float noise is a tie
    assert R.decide(metrics(0.71), metrics(0.7), rule).promote


def test_the_promotion_metric_is_a_parameter() -> None:
    rule = ScheduleParams(promotion_metric="accuracy", min_margin=0.0, floor=0.0)
    better_accuracy = metrics(0.2, recall=1.0, accuracy=0.9)
    assert R.decide(better_accuracy, metrics(0.9, accuracy=0.5), rule).promote
    assert "accuracy 0.900" in R.decide(better_accuracy, None, rule).reason


def test_schedule_params_are_checked() -> None:
    assert parse_params({"schedule": {"cron": " 0  3 * * 1 "}}).schedule.cron == "0 3 * * 1"
    with pytest.raises(ParamsError, match=r"schedule\.cron: expected a cron line of 5 fields"):
        parse_params({"schedule": {"cron": "weekly"}})
    with pytest.raises(ParamsError, match=r"schedule\.backbones: at least one backbone"):
        parse_params({"schedule": {"backbones": []}})
    with pytest.raises(ParamsError, match=r"schedule\.floor"):
        parse_params({"schedule": {"floor": 1.5}})


# --------------------------------------------------------------------------- the lock

HOLD = """
import sys, time
from pathlib import Path
from landslide.retrain import CycleLock
CycleLock(Path(sys.argv[1])).acquire("held-by-child")
print("held", flush=True)
time.sleep(120)
"""


def test_a_second_cycle_is_refused_while_one_holds_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "retrain.lock"
    first = R.CycleLock(path)
    assert first.acquire("one") is None
    with pytest.raises(CycleLocked) as info:
        R.CycleLock(path).acquire("two")
    assert f"pid {os.getpid()}" in info.value.message and "cycle one" in info.value.message
    assert json.loads(path.read_text())["pid"] == os.getpid()
    first.release()
    assert not path.exists()
    second = R.CycleLock(path)
    assert second.acquire("two") is None  # released cleanly: nothing stale
    second.release()


def test_a_lock_held_by_another_process_then_killed_is_broken(tmp_path: Path) -> None:
    path = tmp_path / "retrain.lock"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "held"
        with pytest.raises(CycleLocked, match=f"pid {child.pid}"):
            R.CycleLock(path).acquire("mine")
    finally:
        child.kill()  # SIGKILL: the child never releases; its file stays behind
        child.wait(timeout=30)
    assert json.loads(path.read_text())["pid"] == child.pid
    lock = R.CycleLock(path)
    stale = lock.acquire("mine")
    assert stale is not None and stale.pid == child.pid and stale.cycle == "held-by-child"
    assert json.loads(path.read_text())["pid"] == os.getpid()
    lock.release()


def test_a_stale_lock_file_breaks_and_the_cycle_says_so(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    params = Params(schedule={"out_dir": tmp_path / "r", "lock": tmp_path / "r" / "lock"})
    (tmp_path / "r" / "cycles" / "old").mkdir(parents=True)
    (tmp_path / "r" / "cycles" / "old" / R.SUMMARY_JSON).write_text('{"decision": "running"}')
    (tmp_path / "r" / "lock").write_text(
        json.dumps({"pid": dead.pid, "host": "h", "cycle": "old", "started": "t"})
    )
    with R.open_cycle(params, tmp_path) as cycle:
        assert any(f"pid {dead.pid} on h" in n and "stale lock" in n for n in cycle.notes)
        assert (tmp_path / "r" / "lock").exists()
    assert not (tmp_path / "r" / "lock").exists()  # released
    old = json.loads((tmp_path / "r" / "cycles" / "old" / R.SUMMARY_JSON).read_text())
    assert old["decision"] == "killed" and cycle.id in old["reason"]


def test_the_lock_taken_before_the_flow_is_the_cycles_lock(tmp_path: Path) -> None:
    """`landslide retrain` holds the lock while Prefect starts; the flow's cycle uses it."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    params = Params(schedule={"out_dir": tmp_path / "r", "lock": tmp_path / "r" / "lock"})
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "lock").write_text(json.dumps({"pid": dead.pid, "host": "h"}))
    with R.hold_lock(params, tmp_path) as held:
        with pytest.raises(CycleLocked):  # held from the start: no other cycle gets in
            R.CycleLock(tmp_path / "r" / "lock").acquire("other")
        with R.open_cycle(params, tmp_path) as cycle:
            assert cycle.lock is held
            assert any(f"pid {dead.pid} on h" in n and "stale lock" in n for n in cycle.notes)
        assert json.loads((tmp_path / "r" / "lock").read_text())["cycle"] == cycle.id
    assert not (tmp_path / "r" / "lock").exists()  # the holder released it


def test_a_failed_cycle_is_recorded_and_releases_the_lock(tmp_path: Path) -> None:
    params = Params(schedule={"out_dir": tmp_path / "r", "lock": tmp_path / "r" / "lock"})
    with pytest.raises(ZeroDivisionError), R.open_cycle(params, tmp_path) as cycle:
        1 / 0  # noqa: B018
    summary = json.loads((cycle.dir / R.SUMMARY_JSON).read_text())
    assert summary["decision"] == "failed" and "ZeroDivisionError" in summary["error"]
    assert not (tmp_path / "r" / "lock").exists()


# --------------------------------------------------------------------------- arrivals


def small_project(root: Path, n: int = 6) -> Params:
    params = Params(
        sample={"n": n, "min_side": 40, "max_side": 64},
        schedule={"min_new_images": 2, "out_dir": root / "r", "lock": root / "r" / "lock"},
        curate={"decisions": root / "data" / "curation" / "decisions.csv"},
    )
    generate_sample(
        root / "data" / "raw",
        params.sample,
        params.classes,
        decisions_file=params.curate.decisions,
    )
    return params


def edit_decisions(path: Path, changes: dict[str, dict[str, str]]) -> None:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        fields, rows = list(reader.fieldnames or []), list(reader)
    for row in rows:
        row.update(changes.get(row["file"], {}))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fields)
        writer.writeheader()
        writer.writerows(rows)


def test_arrivals_are_the_ready_photos_the_last_version_lacks(tmp_path: Path) -> None:
    params = small_project(tmp_path)
    decisions = params.curate.decisions
    with decisions.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    landslides = [r["file"] for r in rows if r["label"] == "landslide"]
    negatives = [r["file"] for r in rows if r["label"] != "landslide"]
    undecided, rejected = negatives[0], landslides[0]
    edit_decisions(
        decisions, {undecided: {"decision": "undecided"}, rejected: {"decision": "rejected"}}
    )
    # a landslide photo whose polygons were removed waits for an annotator
    unannotated = landslides[1]
    via = tmp_path / "data" / "raw" / "via_project.json"
    project = json.loads(via.read_text())
    for entry in project["_via_img_metadata"].values():
        if entry["filename"] == unannotated:
            entry["regions"] = []
    via.write_text(json.dumps(project))

    arrivals = R.find_arrivals(params, tmp_path)
    assert sorted(arrivals.waiting) == sorted([undecided, unannotated])
    assert arrivals.unannotated == [unannotated]
    assert arrivals.rejected == [rejected]
    assert len(arrivals.ready) == 3 and set(arrivals.new) == set(arrivals.ready)
    assert arrivals.last_version is None and arrivals.enough
    assert "3 new photos (no cycle yet), 3 ready, 2 waiting" in arrivals.summary_line()

    # the last data version held two of the three ready photos: one is new
    seen = dict(list(arrivals.ready.items())[:2])
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / R.STATE_NAME).write_text(
        json.dumps({"data_version": "sha256:abc", "photos": {v: k for k, v in seen.items()}})
    )
    again = R.find_arrivals(params, tmp_path)
    assert again.new == [n for n in arrivals.ready if n not in seen]
    assert again.last_version == "sha256:abc" and not again.enough
    assert again.nothing_to_do() == "1 new photo, fewer than schedule.min_new_images (2)"
    assert R.find_arrivals(params, tmp_path, force=True).enough


def test_sample_photos_arrive_curated_and_annotated(tmp_path: Path) -> None:
    params = small_project(tmp_path, n=3)
    added = R.add_sample_photos(tmp_path, params, 2, seed=5, prefix="b2")
    assert added == ["b2_sample_0001.jpg", "b2_sample_0002.jpg"]
    arrivals = R.find_arrivals(params, tmp_path)
    assert len(arrivals.ready) == 5 and not arrivals.waiting
    waiting = R.add_sample_photos(tmp_path, params, 3, seed=6, prefix="b3", annotate=False)
    arrivals = R.find_arrivals(params, tmp_path)
    assert set(arrivals.unannotated) <= set(waiting) and arrivals.unannotated


def test_outside_git_the_data_version_is_a_content_hash(tmp_path: Path) -> None:
    params = small_project(tmp_path, n=2)
    with R.open_cycle(params, tmp_path) as cycle:
        first = R.version_data(cycle)
    assert first.method == "content hash" and first.id.startswith("sha256:")
    assert "not a git repository" in first.note and not first.pushed
    with R.open_cycle(params, tmp_path) as cycle:
        assert R.version_data(cycle).id == first.id  # same inputs, same version
    photo = next((tmp_path / "data" / "raw" / "images").iterdir())
    photo.write_bytes(photo.read_bytes() + b"\0")
    with R.open_cycle(params, tmp_path) as cycle:
        assert R.version_data(cycle).id != first.id


def test_an_unreachable_tracking_server_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    params = Params(
        mlflow={"tracking_uri": f"http://127.0.0.1:{port}"},
        schedule={"out_dir": tmp_path / "r", "lock": tmp_path / "r" / "lock"},
    )
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with R.open_cycle(params, tmp_path) as cycle:
        started = time.monotonic()
        with pytest.raises(R.RetrainError, match=f"127.0.0.1:{port} is unreachable") as info:
            R.check_tracking(cycle)
        assert time.monotonic() - started < 15
    assert "nothing was trained and the champion is unchanged" in info.value.render()


# --------------------------------------------------------------------------- history


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A sqlite registry with three versions, as three cycles leave it."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri, registry_uri=uri)
    name = "landslide-maskrcnn"
    client.create_registered_model(name)
    source = tmp_path / "model"
    source.mkdir()
    cycles = [
        ("promoted", "dvc:aaa111", "0.800", "", "no champion yet; f1 0.800 reaches the floor 0.5"),
        ("rejected", "dvc:bbb222", "0.000", "0.800", "f1 0.000 is below the champion's 0.800"),
        ("promoted", "dvc:ccc333", "0.800", "0.000", "f1 0.800 beats the champion's 0.000"),
    ]
    for decision, data, value, champion, reason in cycles:
        tags = {
            "backbone": "resnet50",
            "retrain.decision": decision,
            "retrain.data_version": data,
            "retrain.metric": "f1",
            "retrain.value": value,
            "retrain.champion_value": champion,
            "retrain.reason": reason,
        }
        if decision == "promoted":
            tags["retrain.promoted_at"] = "2025-03-03T03:00:00+00:00"
        client.create_model_version(name, source=source.as_uri(), tags=tags)
    client.set_registered_model_alias(name, "champion", "3")
    return {"uri": uri, "client": client}


def test_model_history_lists_the_champion_timeline(registry: dict[str, Any]) -> None:
    rows = R.model_history(Params())
    assert [(r.version, r.decision, r.current) for r in rows] == [
        ("1", "promoted", False),
        ("2", "rejected", False),
        ("3", "promoted", True),
    ]
    assert rows[1].data_version == "dvc:bbb222" and rows[1].champion_value == "0.800"
    assert rows[0].when == "2025-03-03T03:00:00Z"
    assert rows[1].when.endswith("Z")  # registered at: the version's creation time


def test_model_history_command_prints_a_table(registry: dict[str, Any], tmp_path: Path) -> None:
    env = {**os.environ, "COLUMNS": "220", "MLFLOW_TRACKING_URI": registry["uri"]}
    result = run_module("landslide", "model", "history", cwd=tmp_path, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "landslide-maskrcnn: champion timeline (alias 'champion')" in lines[0]
    header = next(line for line in lines if "version" in line and "decision" in line)
    for column in ("when (UTC)", "data version", "backbone", "metric", "champion had", "reason"):
        assert column in header
    v1, v2, v3 = (next(line for line in lines if f" v{i} " in line) for i in (1, 2, 3))
    assert "dvc:aaa111" in v1 and "f1 0.800" in v1 and "promoted" in v1 and "->" not in v1
    assert "dvc:bbb222" in v2 and "rejected" in v2 and "below the champion's 0.800" in v2
    assert "promoted -> champion" in v3 and "dvc:ccc333" in v3


HISTORY = [  # version, data version, metric, champion had, decision, reason
    ("v1", "dvc:aaa111", "f1 0.800", "-", "promoted", "no champion yet; f1 0.800 reaches"),
    ("v2", "dvc:bbb222", "f1 0.000", "0.800", "rejected", "f1 0.000 is below the champion's"),
    ("v3", "dvc:ccc333", "f1 0.800", "0.000", "promoted -> champion", "f1 0.800 beats the"),
]


def test_model_history_piped_prints_one_line_per_version(
    registry: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(out, "width", 60)  # a narrow pipe: rich would squeeze the columns
    result = runner.invoke(app, ["model", "history"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "landslide-maskrcnn: champion timeline (alias 'champion')"
    assert lines[1].split() == [
        *("version", "when", "(UTC)", "data", "version", "backbone", "metric"),
        *("champion", "had", "decision", "reason"),
    ]
    assert len(lines) == 2 + len(HISTORY)  # title, header, one line per version
    reasons = [row.reason for row in R.model_history(Params())]
    for line, expected, reason in zip(lines[2:], HISTORY, reasons, strict=True):
        for value in (*expected, reason):
            assert f" {value}" in f" {line}", (value, line)  # complete, never folded or cut
        assert line.endswith(reason)
    assert "…" not in result.output
    assert lines[2].split()[1] == "2025-03-03T03:00:00Z" and "resnet50" in lines[2]


def test_model_history_json(registry: dict[str, Any]) -> None:
    result = runner.invoke(app, ["model", "history", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [list(row) for row in rows] == [
        [
            *("version", "when", "data_version", "backbone", "metric", "value"),
            *("champion_value", "decision", "reason", "current"),
        ]
    ] * 3
    assert rows[1] == {
        "version": 2,
        "when": rows[1]["when"],
        "data_version": "dvc:bbb222",
        "backbone": "resnet50",
        "metric": "f1",
        "value": 0.0,
        "champion_value": 0.8,
        "decision": "rejected",
        "reason": "f1 0.000 is below the champion's 0.800",
        "current": False,
    }
    assert rows[1]["when"].endswith("Z")
    assert rows[0]["champion_value"] is None and rows[0]["when"] == "2025-03-03T03:00:00Z"
    assert [row["current"] for row in rows] == [False, False, True]


def test_model_history_without_a_registered_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/mlflow.db")
    result = runner.invoke(app, ["model", "history"])
    assert result.exit_code == 0, result.output
    assert "no version of landslide-maskrcnn registered yet" in result.output
    result = runner.invoke(app, ["model", "history", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


# --------------------------------------------------------------------------- CLI wiring


def test_retrain_needs_now() -> None:
    result = runner.invoke(app, ["retrain"])
    assert result.exit_code == 2
    assert "--now runs one cycle" in result.output


def test_a_concurrent_retrain_prints_one_clean_error(repo_root: Path, tmp_path: Path) -> None:
    """A second `landslide retrain --now` while a cycle runs: exit 2 and one error line;
    nothing from Prefect (no flow-run ERROR line, no escaped traceback)."""
    shutil.copytree(repo_root / "flows", tmp_path / "flows")
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db"}
    with R.CycleLock(tmp_path / "reports/retrain/retrain.lock"):
        result = run_module("landslide", "retrain", "--now", cwd=tmp_path, env=env, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    mentions = [line for line in output.splitlines() if "another retraining cycle" in line]
    assert len(mentions) == 1, output
    assert mentions[0].startswith(
        "error: reports/retrain/retrain.lock: another retraining cycle is running ("
    )
    assert f"pid {os.getpid()}" in mentions[0]
    assert "\\n" not in output and "ERROR" not in output and "Flow run" not in output, output


def test_schedule_serves_the_flow_with_the_cron(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import landslide.cli.retrain as cli  # the module that looks `_load_flow` up

    served: dict[str, Any] = {}

    class Flows:
        @staticmethod
        def serve(cron: str, params_file: str | None, name: str) -> None:
            served.update(cron=cron, params_file=params_file, name=name)

    monkeypatch.setattr(cli, "_load_flow", lambda name: Flows)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["schedule", "--cron", "30 2 * * 0"])
    assert result.exit_code == 0, result.output
    assert served == {"cron": "30 2 * * 0", "params_file": None, "name": "landslide-retrain"}
    result = runner.invoke(app, ["schedule"])
    assert served["cron"] == "0 3 * * 1"  # schedule.cron
    result = runner.invoke(app, ["schedule", "--cron", "every monday"])
    assert result.exit_code == 2
    assert "schedule.cron: expected a cron line of 5 fields" in result.output


def test_the_served_deployment_allows_one_run_at_a_time(
    monkeypatch: pytest.MonkeyPatch, repo_root: Path
) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("retrain_flow", repo_root / "flows/retrain.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(type(module.retrain), "serve", lambda self, **kw: calls.append(kw))
    monkeypatch.setattr(module, "prefect_api", contextlib.nullcontext)  # no server here
    module.serve("0 3 * * 1", "params.yaml")
    (kw,) = calls
    assert kw["cron"] == "0 3 * * 1" and kw["name"] == "landslide-retrain"
    assert kw["parameters"] == {"params_file": "params.yaml"}
    assert kw["limit"] == 1
    assert kw["global_limit"].limit == 1
    assert kw["global_limit"].collision_strategy.value == "CANCEL_NEW"
