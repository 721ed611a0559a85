"""Retraining as photos arrive: a challenger against the champion, on a fixed test set.

One cycle (the Prefect flow `flows/retrain.py` runs the steps below as tasks, on
`schedule.cron` or at once with `landslide retrain --now`):

1. **lock**: one cycle at a time. `schedule.lock` holds the owner's PID, host, cycle and
   MLflow run, under an `flock`; a second cycle is refused with `CycleLocked` naming the
   owner. A lock left by a killed cycle (the file is there, nobody holds the flock) is
   broken and said so, and that cycle's MLflow run is marked KILLED. `landslide retrain`
   takes the lock before Prefect starts (`hold_lock`), so a second cycle is refused in
   one line, at once, and the flow's `open_cycle` in that process uses the held lock.
2. **arrivals**: the photos of `data/raw/images` that are *ready*: accepted in
   `curate.decisions` and, when labelled landslide, with a reviewed landslide polygon in
   the VIA project (photos still waiting for a person and rejected ones are left out of
   the cycle). *New* photos are ready photos that the last data version (`state.json`
   in `schedule.out_dir`) did not hold. Fewer than `schedule.min_new_images`: nothing
   to do. Photos waiting for a polygon are pre-outlined with the champion first
   (`schedule.prefill`, when `landslide.prefill` is installed).
3. **prepare -> validate -> split -> augment**: the stage functions, on the ready photos.
   Validation failures stop the cycle before training and name the new photos that fail.
   The split is the stable one (`assignment.csv` pins every photo already split), so the
   test photos of the previous split stay the **fixed test set** and the new photos fill
   train, val and test in proportion; the new test photos are reported apart.
4. **data version**: `dvc add` of the inputs and `dvc push` (`landslide.versioning`); in a
   project that is not a git + DVC repository the version is a content hash of the inputs,
   and the summary says so.
5. **train** a challenger per `schedule.backbones` on `schedule.set` (into
   `schedule.models_dir`, emptied first: a killed cycle leaves nothing the next trusts),
   each an MLflow run nested under the cycle's run.
6. **evaluate** the champion (`models:/<predict.model_name>@<predict.alias>`) and every
   challenger on the same fixed test set, and on the new test photos.
7. **decide** (`decide`): the best challenger is promoted when its
   `schedule.promotion_metric` reaches `schedule.floor` and, if there is a champion,
   beats it by at least `schedule.min_margin` without losing more than
   `schedule.recall_tolerance` of recall. Every challenger becomes a registered version
   tagged `retrain.decision` (promoted / rejected) and `retrain.reason`; promotion moves
   the alias, the last write of the cycle, so a cycle that fails earlier never promotes.
   The cycle's MLflow run gets both models' metrics, the decision and the data version as
   tags and `comparison.json` / `comparison.md` as artifacts.

`model_history` (in `landslide.retrain.reports`) reads the registry back for
`landslide model history`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from landslide.errors import LandslideError
from landslide.io import remove_stale_temps, write_json, write_text
from landslide.params import Params, ScheduleParams
from landslide.retrain.arrivals import Arrivals
from landslide.retrain.common import (
    CYCLES_DIR,
    FAILED,
    NOTHING,
    STATE_NAME,
    SUMMARY_JSON,
    SUMMARY_MD,
    TAG,
    cycle_dir,
    utc_now,
)
from landslide.retrain.lock import CycleLock, LockInfo, held_lock
from landslide.retrain.reports import summary_markdown
from landslide.tracking import mlflow_client


@dataclass
class Candidate:
    """A model in the comparison: the champion (a registered version) or a challenger."""

    role: str  # champion | challenger
    label: str  # `champion v3`, `challenger resnet101`
    model_dir: Path  # model.pt + model.json
    backbone: str
    run_id: str | None = None
    version: str | None = None  # registered version (the champion's; a challenger's later)
    fixed: dict[str, Any] | None = None  # metrics.json on the fixed test set
    new: dict[str, Any] | None = None  # ... on the new test photos
    decision: str = ""
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "label": self.label,
            "backbone": self.backbone,
            "run_id": self.run_id,
            "version": self.version,
            "fixed": headline(self.fixed),
            "new": headline(self.new),
            "decision": self.decision,
            "reason": self.reason,
        }


@dataclass
class TestSets:
    """The fixed test set (photos the previous split already held) and the new test photos."""

    fixed: Path
    new: Path | None
    fixed_images: int
    new_images: int
    note: str = ""

    def summary_line(self) -> str:
        return (
            f"split: fixed test set {self.fixed_images} photos, {self.new_images} new test "
            f"photos" + (f" ({self.note})" if self.note else "")
        )


@dataclass
class DataVersion:
    id: str  # dvc:<hash> | sha256:<hash>
    method: str  # dvc | content hash
    pushed: bool = False
    note: str = ""

    def summary_line(self) -> str:
        return f"data version {self.id} ({self.method}{'; ' + self.note if self.note else ''})"


@dataclass
class Cycle:
    """One retraining cycle: where it writes, what it found, what it decided."""

    params: Params
    root: Path
    id: str
    dir: Path
    lock: CycleLock
    started: str
    notes: list[str] = field(default_factory=list)
    run_id: str | None = None  # the cycle's MLflow run
    arrivals: Arrivals | None = None
    tests: TestSets | None = None
    version: DataVersion | None = None
    champion: Candidate | None = None
    challengers: list[Candidate] = field(default_factory=list)
    decision: str = ""
    reason: str = ""
    error: str = ""
    failing_new: list[str] = field(default_factory=list)

    @property
    def tracking_uri(self) -> str:
        from landslide.tracking import tracking_uri

        return tracking_uri(self.params.mlflow)

    @property
    def schedule(self) -> ScheduleParams:
        return self.params.schedule

    def summary_line(self) -> str:
        head = f"retrain {self.id}: {self.decision or 'running'}"
        if self.reason:
            head += f": {self.reason}"
        if self.version is not None:
            head += f"; {self.version.summary_line()}"
        return head

    def to_json(self) -> dict[str, Any]:
        p = self.schedule
        return {
            "cycle": self.id,
            "started": self.started,
            "finished": utc_now() if self.decision else None,
            "decision": self.decision or "running",
            "reason": self.reason,
            "error": self.error or None,
            "failing_new_photos": self.failing_new,
            "rule": {
                "metric": p.promotion_metric,
                "threshold": self.params.evaluate.threshold,
                "min_margin": p.min_margin,
                "recall_tolerance": p.recall_tolerance,
                "floor": p.floor,
            },
            "arrivals": self.arrivals.to_json() if self.arrivals else None,
            "test_sets": dataclasses.asdict(self.tests) if self.tests else None,
            "data_version": dataclasses.asdict(self.version) if self.version else None,
            "champion": self.champion.to_json() if self.champion else None,
            "challengers": [c.to_json() for c in self.challengers],
            "mlflow_run_id": self.run_id,
            "notes": self.notes,
        }

    def write_summary(self) -> Path:
        data = self.to_json()
        write_json(self.dir / SUMMARY_JSON, _jsonable(data))
        write_text(self.dir / SUMMARY_MD, summary_markdown(data))
        return self.dir / SUMMARY_MD


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def headline(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not metrics:
        return None
    keys = ("images", "tp", "fp", "fn", "tn")
    return {
        **{k: metrics.get(k) for k in keys},
        **{k: metrics["landslide"].get(k) for k in ("precision", "recall", "f1")},
        "accuracy": metrics.get("accuracy"),
    }


@contextlib.contextmanager
def open_cycle(params: Params, root: Path = Path(".")) -> Iterator[Cycle]:
    """Take the lock, make the cycle's folder; on any error record it, then release.

    A lock left by a killed cycle is broken (a note says so) and that cycle's summary
    and MLflow run are marked killed.
    """
    root = Path(root)
    p = params.schedule
    held = held_lock(root / p.lock)
    if held is not None:  # taken by `hold_lock` before the flow started: its holder releases
        lock, stale = held
    else:
        lock = CycleLock(root / p.lock)
        stale = lock.acquire()
    try:
        cycle_id = _cycle_id(root / p.out_dir / CYCLES_DIR)
        lock.update(cycle=cycle_id)
        cycle = Cycle(
            params=params,
            root=root,
            id=cycle_id,
            dir=cycle_dir(p.out_dir, cycle_id, root),
            lock=lock,
            started=utc_now(),
        )
        cycle.dir.mkdir(parents=True, exist_ok=True)
        if stale is not None:
            cycle.notes.append(
                f"broke a stale lock: {stale.describe()} ended without releasing it "
                "(killed); this cycle starts clean"
            )
            _mark_killed(root / p.out_dir / CYCLES_DIR, stale, cycle)
        remove_stale_temps(root / p.out_dir)
        try:
            yield cycle
        except BaseException as exc:
            fail(cycle, exc)
            raise
    finally:
        if held is None:
            lock.release()


def _cycle_id(cycles: Path) -> str:
    base = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name, n = base, 1
    while (cycles / name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _mark_killed(cycles: Path, stale: LockInfo, cycle: Cycle) -> None:
    """The killed cycle's summary and MLflow run say it was killed (best effort)."""
    if stale.cycle and (cycles / stale.cycle / SUMMARY_JSON).is_file():
        path = cycles / stale.cycle / SUMMARY_JSON
        with contextlib.suppress(OSError, ValueError):
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("decision") in (None, "running"):
                data.update(decision="killed", reason=f"killed; lock broken by cycle {cycle.id}")
                write_json(path, data)
    if stale.run_id:
        try:
            client = mlflow_client(cycle.tracking_uri)
            if client.get_run(stale.run_id).info.status == "RUNNING":
                client.set_tag(stale.run_id, TAG + "decision", "killed")
                client.set_terminated(stale.run_id, status="KILLED")
        except Exception as exc:  # the tracking server may be down: the note says so
            cycle.notes.append(f"could not mark MLflow run {stale.run_id} killed: {exc}")


def nothing_to_do(cycle: Cycle, arrivals: Arrivals) -> str:
    cycle.arrivals = arrivals
    cycle.decision = NOTHING
    cycle.reason = arrivals.nothing_to_do()
    cycle.write_summary()
    return cycle.summary_line()


def fail(cycle: Cycle, exc: BaseException) -> None:
    """Record a failure once (decision, error, reason) and write the summary."""
    if cycle.decision == FAILED:
        return
    cycle.decision = FAILED
    cycle.error = exc.render() if isinstance(exc, LandslideError) else repr(exc)
    cycle.reason = cycle.reason or cycle.error.splitlines()[0]
    cycle.write_summary()


def write_state(cycle: Cycle) -> None:
    """The data version this cycle used: the next cycle counts new photos against it."""
    assert cycle.arrivals is not None and cycle.version is not None
    write_json(
        cycle.root / cycle.schedule.out_dir / STATE_NAME,
        {
            "cycle": cycle.id,
            "finished": utc_now(),
            "data_version": cycle.version.id,
            "versioned_by": cycle.version.method,
            "decision": cycle.decision,
            "photos": {sha: name for name, sha in sorted(cycle.arrivals.ready.items())},
        },
    )
