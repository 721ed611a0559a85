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
   (`schedule.prefill`, when `landslide.annotations.prefill` is installed).
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

`model_history` reads the registry back for `landslide model history`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from landslide import stages as S
from landslide.errors import CycleLocked, DataVersionError, LandslideError, RetrainError
from landslide.io import remove_stale_temps, sha256_file, write_json, write_text
from landslide.params import Params, ScheduleParams

STATE_NAME = "state.json"
CYCLES_DIR = "cycles"
SUMMARY_JSON, SUMMARY_MD = "comparison.json", "comparison.md"
PROMOTED, REJECTED, NOTHING, FAILED = "promoted", "rejected", "nothing to do", "failed"
TAG = "retrain."  # prefix of the tags a cycle sets on runs and model versions
KIND_TAG = "landslide.kind"
EPS = 1e-9  # metric comparisons: 0.1 + 0.2 beats 0.3 by nothing, not by 5e-17


# ============================================================================== lock


@dataclass
class LockInfo:
    """What the lock file says about its owner."""

    pid: int | None = None
    host: str = ""
    cycle: str = ""
    started: str = ""
    run_id: str = ""

    def describe(self) -> str:
        where = f"pid {self.pid}" + (f" on {self.host}" if self.host else "")
        cycle = f"cycle {self.cycle}, " if self.cycle else ""
        return f"{cycle}{where}, started {self.started or 'at an unknown time'}"


class CycleLock:
    """One retraining cycle at a time: a lock file with the owner's PID, under `flock`.

    `acquire` raises `CycleLocked` while another process holds it. The kernel drops an
    `flock` when its process dies, so a file left by a killed cycle is recognised as
    stale (nobody holds it) and taken over; `acquire` returns what it said about the dead
    owner. Where `fcntl` is missing the lock falls back to an exclusive create plus a
    check that the recorded PID is alive.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self.info = LockInfo()

    def acquire(self, cycle: str = "") -> LockInfo | None:
        """Take the lock; the stale owner's info when a dead cycle's lock was broken."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self._acquire_by_pid(cycle)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                owner = _parse_lock(_read_fd(fd))
                os.close(fd)
                raise _locked(self.path, owner) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the owner removed the file as we opened it: try again
                break
            os.close(fd)
        self._fd = fd
        previous = _parse_lock(_read_fd(fd))
        self.info = LockInfo(os.getpid(), socket.gethostname(), cycle, _now())
        self._write()
        return previous if previous.pid is not None else None

    def _acquire_by_pid(self, cycle: str) -> LockInfo | None:  # pragma: no cover - not POSIX
        stale = None
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                owner = _parse_lock(self.path.read_text(encoding="utf-8", errors="replace"))
                if owner.pid is not None and _alive(owner.pid):
                    raise _locked(self.path, owner) from None
                stale = owner
                self.path.unlink(missing_ok=True)
                continue
            self._fd = fd
            self.info = LockInfo(os.getpid(), socket.gethostname(), cycle, _now())
            self._write()
            return stale
        raise _locked(self.path, _parse_lock(self.path.read_text(encoding="utf-8")))

    def update(self, **fields: Any) -> None:
        """Record more about the owner (the cycle's MLflow run id, once it exists)."""
        self.info = dataclasses.replace(self.info, **fields)
        self._write()

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(dataclasses.asdict(self.info)).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding it: a waiting process retries
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> CycleLock:
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


# The locks this process took before its flow started (`hold_lock`), by resolved path,
# with what the dead owner of a broken stale lock said (None when nothing was stale).
_HELD: dict[Path, tuple[CycleLock, LockInfo | None]] = {}


@contextlib.contextmanager
def hold_lock(params: Params, root: Path = Path(".")) -> Iterator[CycleLock]:
    """Take `schedule.lock` for this process before the retraining flow starts.

    `landslide retrain` holds it around the flow run: a second cycle is refused with
    `CycleLocked` before Prefect starts (one clean line, not a failed flow run), and no
    other cycle can take the lock while Prefect starts up. `open_cycle` in this process
    uses the held lock (and the stale owner it broke) instead of taking it again.
    """
    lock = CycleLock(Path(root) / params.schedule.lock)
    stale = lock.acquire()
    key = lock.path.resolve()
    _HELD[key] = (lock, stale)
    try:
        yield lock
    finally:
        _HELD.pop(key, None)
        lock.release()


def _read_fd(fd: int) -> str:
    chunks = []
    offset = 0
    while block := os.pread(fd, 65536, offset):
        chunks.append(block)
        offset += len(block)
    return b"".join(chunks).decode("utf-8", errors="replace")


def _parse_lock(text: str) -> LockInfo:
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid = data.get("pid")
    return LockInfo(
        pid=int(pid) if isinstance(pid, int | str) and str(pid).isdigit() else None,
        host=str(data.get("host") or ""),
        cycle=str(data.get("cycle") or ""),
        started=str(data.get("started") or ""),
        run_id=str(data.get("run_id") or ""),
    )


def _locked(path: Path, owner: LockInfo) -> CycleLocked:
    return CycleLocked(
        f"another retraining cycle is running ({owner.describe()})",
        file=path,
        hint="wait for it to finish; a lock left by a killed cycle is broken by the next one",
    )


def _alive(pid: int) -> bool:  # pragma: no cover - the fallback of non-POSIX systems
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# ============================================================================== arrivals


@dataclass
class Arrivals:
    """Which curated photos a cycle can use, and which of them are new."""

    ready: dict[str, str]  # file name (in data/raw/images) -> sha256: decided and annotated
    new: list[str]  # ready photos the last data version did not hold
    waiting: list[str]  # undecided, or accepted landslide photos without a reviewed polygon
    unannotated: list[str]  # of `waiting`: accepted landslide photos without a polygon
    rejected: list[str]  # rejected photos still in the curated set (left out)
    last_version: str | None  # the data version of the last finished cycle
    min_new: int
    forced: bool = False
    known: dict[str, str] = field(default_factory=dict)  # sha256 -> file of the last version

    def is_new(self, name: str) -> bool:
        """Not in the last data version, by content or by name (a copy of a known photo)."""
        return self.ready.get(name) not in self.known or name not in self.known.values()

    @property
    def enough(self) -> bool:
        return len(self.new) >= self.min_new or (self.forced and bool(self.ready))

    def summary_line(self) -> str:
        since = f"since data version {self.last_version}" if self.last_version else "(no cycle yet)"
        line = f"arrivals: {_count(len(self.new), 'new photo')} {since}, {len(self.ready)} ready"
        if self.waiting:
            line += f", {len(self.waiting)} waiting for a person (left out)"
        if self.rejected:
            line += f", {len(self.rejected)} rejected (left out)"
        return line

    def nothing_to_do(self) -> str:
        """Why there is nothing to do (the cycle's reason)."""
        if not self.ready:
            return "no curated and annotated photo yet"
        return (
            f"{_count(len(self.new), 'new photo')}, fewer than "
            f"schedule.min_new_images ({self.min_new})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ready": len(self.ready),
            "new": sorted(self.new),
            "waiting": sorted(self.waiting),
            "rejected": sorted(self.rejected),
            "last_version": self.last_version,
            "min_new_images": self.min_new,
            "forced": self.forced,
        }


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def find_arrivals(params: Params, root: Path = Path("."), *, force: bool = False) -> Arrivals:
    """The ready photos (see the module doc) and those the last data version lacks."""
    from landslide.curate import CurationPaths, annotated_photos, image_files, read_decisions

    paths = CurationPaths.from_params(params, root)
    decisions = read_decisions(paths.decisions)
    annotated = annotated_photos(paths.via_project, params)
    ready: dict[str, str] = {}
    waiting: list[str] = []
    unannotated: list[str] = []
    rejected: list[str] = []
    for path in image_files(paths.images_dir):
        name = path.relative_to(paths.images_dir).as_posix()
        sha = sha256_file(path)
        decision = decisions.get(sha)
        if decision is None or decision.decision == "undecided":
            waiting.append(name)
        elif decision.decision == "rejected":
            rejected.append(name)
        elif decision.label == "landslide" and name not in annotated:
            waiting.append(name)
            unannotated.append(name)
        else:
            ready[name] = sha
    state = read_state(root / params.schedule.out_dir / STATE_NAME)
    known = {str(k): str(v) for k, v in state.get("photos", {}).items()}
    new = [name for name, sha in ready.items() if sha not in known]
    return Arrivals(
        ready=ready,
        new=new,
        waiting=waiting,
        unannotated=unannotated,
        rejected=rejected,
        last_version=state.get("data_version"),
        min_new=params.schedule.min_new_images,
        forced=force,
        known=known,
    )


def read_state(path: Path) -> dict[str, Any]:
    """The last finished cycle's record (`{}` before the first); unreadable -> RetrainError."""
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RetrainError(
            f"cannot read the retraining state: {exc}",
            file=path,
            hint="delete it to count every curated photo as new",
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("photos", {}), dict):
        raise RetrainError("not a retraining state (photos: sha256 -> file)", file=path)
    return data


# ============================================================================== the rule


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str

    @property
    def decision(self) -> str:
        return PROMOTED if self.promote else REJECTED


def metric_value(metrics: Mapping[str, Any] | None, name: str) -> float | None:
    """`f1`, `precision`, `recall` (landslide) or `accuracy` of a metrics.json dict."""
    if not metrics:
        return None
    value = metrics.get("accuracy") if name == "accuracy" else metrics["landslide"].get(name)
    return None if value is None else float(value)


def decide(
    challenger: Mapping[str, Any], champion: Mapping[str, Any] | None, p: ScheduleParams
) -> Verdict:
    """Promote the challenger or not, from both models' metrics on the same test set.

    Undefined values (JSON null) count as 0. With a champion the challenger must beat it by
    `p.min_margin` (a tie never promotes, whatever the margin) and keep its recall within
    `p.recall_tolerance` of the champion's; it must always reach `p.floor` (what lets the
    first challenger in). The reason names the first rule that fails.
    """
    name = p.promotion_metric
    value = metric_value(challenger, name) or 0.0
    below_floor = Verdict(False, f"{name} {value:.3f} is below the floor {p.floor:g}")
    if champion is None:
        if value + EPS < p.floor:
            return below_floor
        return Verdict(True, f"no champion yet; {name} {value:.3f} reaches the floor {p.floor:g}")
    best = metric_value(champion, name) or 0.0
    gain = value - best
    if gain <= EPS or gain + EPS < p.min_margin:
        verb = "ties" if abs(gain) <= EPS else ("is below" if gain < 0 else "does not beat")
        return Verdict(
            False,
            f"{name} {value:.3f} {verb} the champion's {best:.3f}"
            + (f" by the margin {p.min_margin:g}" if verb == "does not beat" else ""),
        )
    recall = metric_value(challenger, "recall") or 0.0
    champion_recall = metric_value(champion, "recall") or 0.0
    if champion_recall - recall > p.recall_tolerance + EPS:
        return Verdict(
            False,
            f"{name} {value:.3f} beats {best:.3f}, but recall drops from "
            f"{champion_recall:.3f} to {recall:.3f} (tolerance {p.recall_tolerance:g})",
        )
    if value + EPS < p.floor:
        return below_floor
    return Verdict(
        True,
        f"{name} {value:.3f} beats the champion's {best:.3f} by {gain:.3f} "
        f"(margin {p.min_margin:g}); recall {recall:.3f} vs {champion_recall:.3f}",
    )


# ============================================================================== the cycle


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
            "fixed": _headline(self.fixed),
            "new": _headline(self.new),
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
            "finished": _now() if self.decision else None,
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


def _headline(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
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
    held = _HELD.get((root / p.lock).resolve())
    if held is not None:  # taken by `hold_lock` before the flow started: its holder releases
        lock, stale = held
        _HELD[lock.path.resolve()] = (lock, None)  # the stale owner is reported once
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
            dir=root / p.out_dir / CYCLES_DIR / cycle_id,
            lock=lock,
            started=_now(),
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
            client = _client(cycle.tracking_uri)
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


# ------------------------------------------------------------------------------ MLflow


def _client(uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def check_tracking(cycle: Cycle, timeout_s: float = 10.0) -> str:
    """RetrainError unless the tracking store answers (before anything is trained)."""
    uri = cycle.tracking_uri
    hint = (
        "start it (`mlflow server ...`) or point MLFLOW_TRACKING_URI / mlflow.tracking_uri "
        "at one that runs; nothing was trained and the champion is unchanged"
    )
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout_s) as r:
                r.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RetrainError(
                f"the MLflow tracking server {uri} is unreachable ({reason})", hint=hint
            ) from None
    try:
        _client(uri).search_registered_models(max_results=1)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RetrainError(f"the MLflow tracking store {uri} fails: {first}", hint=hint) from None
    return f"mlflow: {uri} answers"


@contextlib.contextmanager
def cycle_run(cycle: Cycle) -> Iterator[str]:
    """The cycle's MLflow run; training runs nest under it. Ends FINISHED or FAILED."""
    import mlflow

    from landslide.tracking import git_commit, parent_env

    p = cycle.params.mlflow
    mlflow.set_tracking_uri(cycle.tracking_uri)
    experiment = mlflow.set_experiment(p.experiment)
    client = _client(cycle.tracking_uri)
    tags = {KIND_TAG: "retrain", TAG + "cycle": cycle.id}
    commit = git_commit(cycle.root)
    if commit:
        tags["git_commit"] = commit
    run = client.create_run(experiment.experiment_id, run_name=f"retrain-{cycle.id}", tags=tags)
    cycle.run_id = run.info.run_id
    cycle.lock.update(run_id=cycle.run_id)
    try:
        with parent_env(cycle.run_id):
            yield cycle.run_id
    except BaseException as exc:
        fail(cycle, exc)
        with contextlib.suppress(Exception):  # a server gone mid-cycle: the error says so
            client.set_tag(cycle.run_id, TAG + "decision", FAILED)
            client.set_tag(cycle.run_id, TAG + "reason", cycle.reason[:5000])
            client.log_artifact(cycle.run_id, str(cycle.dir / SUMMARY_JSON))
            client.log_artifact(cycle.run_id, str(cycle.dir / SUMMARY_MD))
        with contextlib.suppress(Exception):
            client.set_terminated(cycle.run_id, status="FAILED")
        raise
    client.set_terminated(cycle.run_id, status="FINISHED")


def fail(cycle: Cycle, exc: BaseException) -> None:
    """Record a failure once (decision, error, reason) and write the summary."""
    if cycle.decision == FAILED:
        return
    cycle.decision = FAILED
    cycle.error = exc.render() if isinstance(exc, LandslideError) else repr(exc)
    cycle.reason = cycle.reason or cycle.error.splitlines()[0]
    cycle.write_summary()


# ------------------------------------------------------------------------------ data


def prepare_photos(cycle: Cycle, arrivals: Arrivals) -> str:
    """The prepare stage on the ready photos (waiting and rejected ones left out)."""
    from landslide.annotations import load_annotations
    from landslide.prepare import prepare_annotations

    cycle.arrivals = arrivals
    root, params = cycle.root, cycle.params
    images = root / S.RAW_IMAGES
    ann = load_annotations(root / S.VIA_PROJECT, images, params)
    ready = set(arrivals.ready)
    subset = dataclasses.replace(ann, images=[im for im in ann.images if im.file_name in ready])
    return prepare_annotations(subset, images, root / S.PREPARED, params).summary_line()


def validate_photos(cycle: Cycle, arrivals: Arrivals) -> str:
    """The validation stage; a failure stops the cycle naming the new photos that fail."""
    from landslide.annotations import load_annotations
    from landslide.validate import validate

    root, params = cycle.root, cycle.params
    images = root / S.PREPARED_IMAGES
    ann = load_annotations(root / S.PREPARED_COCO, images, params)
    report = validate(ann, images, root / S.VALIDATION, params.validation, params.classes)
    if report.passed:
        return report.summary_line()
    source = {_prepared_name(name): name for name in arrivals.ready}
    failing = sorted({source.get(f.file, f.file) for f in report.failures if f.file})
    cycle.failing_new = [name for name in failing if arrivals.is_new(name)]
    lines = [str(f) for f in report.failures[:5]]
    named = (
        f"new photos that fail: {', '.join(cycle.failing_new)}"
        if cycle.failing_new
        else "no new photo fails (photos already used fail: params changed?)"
    )
    cycle.reason = f"validation failed: {len(report.failures)} failures; {named}"
    raise RetrainError(
        f"{cycle.reason}; report: {report.md_path}",
        hint="fix them in VIA or reject them (`landslide curate`); nothing was trained and "
        "the champion is unchanged. First: " + "; ".join(lines),
    )


def _prepared_name(name: str) -> str:
    return PurePosixPath(name).with_suffix(".jpg").as_posix()


def split_photos(cycle: Cycle) -> TestSets:
    """The stable split; the fixed test set and the new test photos as two COCO files."""
    from landslide.annotations import Annotations, read_coco, write_coco
    from landslide.split import ASSIGNMENT, split

    root, params = cycle.root, cycle.params
    splits = root / S.SPLITS
    before = _test_digests(splits / ASSIGNMENT)
    summary = split(
        root / S.PREPARED_COCO, root / S.PREPARED_IMAGES, splits, params.split, params.classes
    )
    rows = _assignment(splits / ASSIGNMENT)
    test = read_coco(splits / cycle.schedule.set / "test.json")
    digest = {row["file"]: row["sha256"] for row in rows}
    note = ""
    if before:
        fixed = [im for im in test.images if digest.get(im.file_name) in before]
        new = [im for im in test.images if digest.get(im.file_name) not in before]
    else:
        fixed, new = list(test.images), []
        note = "no previous split: this test split becomes the fixed test set"
    if not fixed:
        fixed, new = list(test.images), []
        note = "no test photo of the previous split is left: the whole test split is used"
    fixed_json, new_json = cycle.dir / "test_fixed.json", cycle.dir / "test_new.json"
    write_coco(Annotations(images=fixed, source=str(test.source)), fixed_json, params.classes)
    if new:
        write_coco(Annotations(images=new, source=str(test.source)), new_json, params.classes)
    cycle.tests = TestSets(fixed_json, new_json if new else None, len(fixed), len(new), note)
    cycle.notes.extend(summary.notes)
    return cycle.tests


def _assignment(path: Path) -> list[dict[str, str]]:
    import csv

    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _test_digests(path: Path) -> set[str]:
    return {row["sha256"] for row in _assignment(path) if row.get("split") == "test"}


def version_data(cycle: Cycle) -> DataVersion:
    """`dvc add` + `dvc push` of the inputs, or their content hash outside git + DVC."""
    from landslide.versioning import INPUTS, check_repo, push, track_inputs

    root = cycle.root
    try:
        check_repo(root)
    except DataVersionError as exc:
        cycle.version = DataVersion(
            f"sha256:{content_hash(root, INPUTS)}",
            "content hash",
            note=f"not versioned with DVC ({exc.message}): the version is a hash of the inputs",
        )
        return cycle.version
    tracked = track_inputs(root)
    files = ", ".join(str(p) for p in tracked.tracked)
    version = DataVersion(f"dvc:{tracked.version}", "dvc", note=f"commit {files} to git")
    if cycle.schedule.push:
        try:
            sent = push(root)
            version.pushed = True
            version.note += f"; pushed {sent} files"
        except DataVersionError as exc:  # the cache holds it: the next cycle pushes again
            version.note += f"; not pushed: {exc.message}"
    cycle.version = version
    return version


def content_hash(root: Path, inputs: Sequence[Path]) -> str:
    """sha256 over the inputs' file names and contents (12 hex digits)."""
    h = hashlib.sha256()
    for item in inputs:
        path = root / item
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for f in files:
            if f.is_file() and not any(part.startswith(".") for part in f.relative_to(root).parts):
                h.update(f.relative_to(root).as_posix().encode())
                h.update(sha256_file(f).encode())
    return h.hexdigest()[:12]


def augment_photos(cycle: Cycle) -> str:
    from landslide.augment import augment

    root, params, set_name = cycle.root, cycle.params, cycle.schedule.set
    return augment(
        root / S.SPLITS / set_name / "train.json",
        root / S.PREPARED_IMAGES,
        root / S.AUGMENTED / set_name,
        params.augment,
        params.classes,
        min_area=params.annotations.min_region_area,
        jpeg_quality=params.prepare.jpeg_quality,
    ).summary_line()


# ------------------------------------------------------------------------------ models


def clear_challengers(cycle: Cycle) -> None:
    """What an earlier (perhaps killed) cycle trained is never resumed nor compared."""
    shutil.rmtree(cycle.root / cycle.schedule.models_dir, ignore_errors=True)


def train_challenger(cycle: Cycle, backbone: str) -> Candidate:
    from landslide.train import TrainPaths, run_name, train

    root, params, set_name = cycle.root, cycle.params, cycle.schedule.set
    paths = TrainPaths.default(
        set_name,
        backbone,
        params,
        processed=root / "data" / "processed",
        models_dir=root / cycle.schedule.models_dir,
    )
    result = train(set_name, backbone, params, paths=paths)
    if result.run_id:
        _client(cycle.tracking_uri).set_tag(result.run_id, TAG + "cycle", cycle.id)
    candidate = Candidate(
        "challenger",
        f"challenger {backbone}",
        paths.out_dir,
        backbone,
        run_id=result.run_id,
    )
    cycle.challengers.append(candidate)
    cycle.notes.append(f"{run_name(backbone, set_name)}: {result.summary_line()}")
    return candidate


def find_champion(cycle: Cycle) -> Candidate | None:
    """The version the alias points at, downloaded (cached); None when there is none yet."""
    from mlflow.exceptions import MlflowException

    from landslide.serving import resolve_model

    p = cycle.params.predict
    client = _client(cycle.tracking_uri)
    try:
        registered = client.get_registered_model(p.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    version = registered.aliases.get(p.alias)
    if version is None:
        return None
    mv = client.get_model_version(p.model_name, str(version))
    model_pt = resolve_model(f"models:/{p.model_name}/{version}", cycle.tracking_uri)
    info = json.loads(model_pt.with_suffix(".json").read_text(encoding="utf-8"))
    cycle.champion = Candidate(
        "champion",
        f"champion v{version}",
        model_pt.parent,
        str(info.get("backbone", "")),
        run_id=mv.run_id,
        version=str(version),
    )
    return cycle.champion


def evaluate_candidate(cycle: Cycle, candidate: Candidate) -> Candidate:
    """Metrics on the fixed test set and on the new test photos (same files for all)."""
    from landslide.evaluate import evaluate

    assert cycle.tests is not None, "split first"
    tag = candidate.label.replace(" ", "-")
    images = cycle.root / S.PREPARED_IMAGES
    for which, test_json in (("fixed", cycle.tests.fixed), ("new", cycle.tests.new)):
        if test_json is None:
            continue
        result = evaluate(
            candidate.model_dir,
            test_json,
            images,
            cycle.dir / "eval" / f"{tag}-{which}",
            cycle.params,
            log_mlflow=False,
        )
        setattr(candidate, which, result.metrics)
    return candidate


def record_decision(cycle: Cycle) -> Cycle:
    """Decide, register every challenger, tag it, log the comparison; move the alias last.

    Until the alias moves the promoted version is tagged `pending`; a failure before (the
    tracking server gone) leaves the champion as it was and raises RetrainError.
    """
    from landslide.serving import register

    p, params = cycle.schedule, cycle.params
    assert cycle.version is not None and cycle.challengers
    name, model = p.promotion_metric, params.predict.model_name
    ranked = sorted(
        cycle.challengers,
        key=lambda c: (metric_value(c.fixed, name) or 0.0, metric_value(c.fixed, "recall") or 0.0),
        reverse=True,
    )
    best = ranked[0]
    verdict = decide(best.fixed or {}, cycle.champion.fixed if cycle.champion else None, p)
    best.decision, best.reason = verdict.decision, verdict.reason
    for other in ranked[1:]:
        other.decision = REJECTED
        other.reason = f"{best.label} scored higher on {name}"
    client = _client(cycle.tracking_uri)
    try:
        for c in ranked:
            if c.run_id is None:
                raise RetrainError(f"{c.label} has no MLflow run: it cannot be registered")
            pending = c.decision == PROMOTED
            c.version = register(
                c.run_id,
                params.predict,
                cycle.tracking_uri,
                classes=params.classes,
                tags=_version_tags(cycle, c, "pending" if pending else c.decision),
                set_alias=False,
            ).version
            if not pending:
                _tag_run(client, c)
        cycle.decision, cycle.reason = verdict.decision, _cycle_reason(cycle, best, verdict)
        _log_cycle(cycle, client)
        if verdict.promote:  # the last write that matters: before it, nothing is promoted
            client.set_registered_model_alias(model, params.predict.alias, best.version)
    except LandslideError:
        raise
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        cycle.reason = f"MLflow failed while recording the decision: {first}"
        if best.version is not None:
            with contextlib.suppress(Exception):
                client.set_model_version_tag(model, best.version, TAG + "decision", FAILED)
        raise RetrainError(
            f"{cycle.reason}; the champion alias was not moved",
            hint="check the tracking server (MLFLOW_TRACKING_URI) and run the cycle again",
        ) from None
    if verdict.promote:
        with contextlib.suppress(Exception):  # bookkeeping after the fact
            client.set_model_version_tag(model, best.version, TAG + "decision", PROMOTED)
            client.set_model_version_tag(model, best.version, TAG + "promoted_at", _now())
            _tag_run(client, best)
    write_state(cycle)
    cycle.write_summary()
    return cycle


def _version_tags(cycle: Cycle, c: Candidate, decision: str) -> dict[str, str]:
    assert cycle.version is not None
    name = cycle.schedule.promotion_metric
    value = metric_value(c.fixed, name)
    tags = {
        TAG + "cycle": cycle.id,
        TAG + "data_version": cycle.version.id,
        TAG + "metric": name,
        TAG + "value": "" if value is None else f"{value:.3f}",
        TAG + "decision": decision,
        TAG + "reason": c.reason[:5000],
    }
    if cycle.champion is not None:
        best = metric_value(cycle.champion.fixed, name)
        tags[TAG + "champion_version"] = str(cycle.champion.version)
        tags[TAG + "champion_value"] = "" if best is None else f"{best:.3f}"
    return tags


def _tag_run(client: Any, c: Candidate) -> None:
    assert c.run_id is not None
    for key, value in ((TAG + "decision", c.decision), (TAG + "reason", c.reason)):
        client.set_tag(c.run_id, key, value[:5000])
    if c.version is not None:
        client.set_tag(c.run_id, TAG + "version", c.version)


def _cycle_reason(cycle: Cycle, best: Candidate, verdict: Verdict) -> str:
    if verdict.promote:
        was = f" (replaces v{cycle.champion.version})" if cycle.champion else ""
        return f"{best.label} -> version {best.version} is the champion{was}: {verdict.reason}"
    keeps = f"v{cycle.champion.version} stays champion" if cycle.champion else "no champion"
    return f"{best.label} (version {best.version}) rejected, {keeps}: {verdict.reason}"


def _log_cycle(cycle: Cycle, client: Any) -> None:
    """Metrics of both models, the decision and data version as tags, the comparison."""
    assert cycle.run_id is not None and cycle.version is not None
    metrics: dict[str, float] = {}
    for c in [*([cycle.champion] if cycle.champion else []), *cycle.challengers]:
        key = "champion" if c.role == "champion" else f"challenger_{c.backbone}"
        for which in ("fixed", "new"):
            for k, v in (_headline(getattr(c, which)) or {}).items():
                if isinstance(v, int | float):
                    metrics[f"{which}/{key}/{k}"] = float(v)
    from mlflow.entities import Metric, RunTag

    stamp = int(time.time() * 1000)
    tags = {
        TAG + "decision": cycle.decision,
        TAG + "reason": cycle.reason[:5000],
        TAG + "data_version": cycle.version.id,
        "data_version": cycle.version.id,
        TAG + "new_photos": str(len(cycle.arrivals.new) if cycle.arrivals else 0),
        TAG + "champion_before": cycle.champion.version if cycle.champion else "",
        TAG + "champion_after": next(
            (c.version for c in cycle.challengers if c.decision == PROMOTED),
            cycle.champion.version if cycle.champion else "",
        )
        or "",
    }
    client.log_batch(
        cycle.run_id,
        metrics=[Metric(k, v, stamp, 0) for k, v in metrics.items()],
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )
    cycle.write_summary()
    for name in (SUMMARY_JSON, SUMMARY_MD):
        client.log_artifact(cycle.run_id, str(cycle.dir / name))


def write_state(cycle: Cycle) -> None:
    """The data version this cycle used: the next cycle counts new photos against it."""
    assert cycle.arrivals is not None and cycle.version is not None
    write_json(
        cycle.root / cycle.schedule.out_dir / STATE_NAME,
        {
            "cycle": cycle.id,
            "finished": _now(),
            "data_version": cycle.version.id,
            "versioned_by": cycle.version.method,
            "decision": cycle.decision,
            "photos": {sha: name for name, sha in sorted(cycle.arrivals.ready.items())},
        },
    )


# ------------------------------------------------------------------------------ prefill


def prefill_waiting(cycle: Cycle, arrivals: Arrivals) -> str:
    """Pre-outline photos waiting for a polygon with the champion (skipped when impossible).

    Only photos with no region at all are given to the model, so a photo is outlined once;
    its model regions wait for review (`annotate.review`) before they count for training.
    """
    line = _prefill(cycle, arrivals)
    cycle.notes.append(line)
    return line


def _prefill(cycle: Cycle, arrivals: Arrivals) -> str:
    if not cycle.schedule.prefill:
        return "prefill: off (schedule.prefill)"
    root, params = cycle.root, cycle.params
    via = root / S.VIA_PROJECT
    try:
        from landslide.annotations import load_annotations
        from landslide.annotations.prefill import prefill_project, write_project
    except ImportError as exc:
        return f"prefill: skipped, not available ({exc})"
    outlined: set[str] = set()
    listed: set[str] = set()
    if via.is_file():
        project = load_annotations(via, None, params, review=False)
        outlined = {im.file_name for im in project.images if im.regions}
        listed = {im.file_name for im in project.images}
    targets = [name for name in arrivals.unannotated if name not in outlined]
    if not targets:
        return "prefill: no photo waits for a first outline"
    p = params.predict
    try:
        from landslide.predict import load_detector

        if find_champion_version(cycle) is None:
            return f"prefill: skipped, no champion yet ({len(targets)} photos wait)"
        detector = load_detector(f"models:/{p.model_name}@{p.alias}", params)
        ann, summary = prefill_project(
            root / S.RAW_IMAGES,
            detector,
            params,
            existing=via if via.is_file() else None,
            only=targets,
        )
        keep = listed | set(targets)  # not every photo of the folder: only those outlined
        ann = dataclasses.replace(ann, images=[im for im in ann.images if im.file_name in keep])
        write_project(ann, via, params, root / S.RAW_IMAGES)
    except LandslideError as exc:
        return f"prefill: skipped ({exc.render().splitlines()[0]})"
    except Exception as exc:  # e.g. the tracking server is down: the cycle says it later
        return f"prefill: skipped ({type(exc).__name__}: {exc})"
    return summary.summary_line()


def find_champion_version(cycle: Cycle) -> str | None:
    from mlflow.exceptions import MlflowException

    p = cycle.params.predict
    try:
        aliases = _client(cycle.tracking_uri).get_registered_model(p.model_name).aliases
    except MlflowException:
        return None
    version = aliases.get(p.alias)
    return None if version is None else str(version)


# ============================================================================== reports


def summary_markdown(data: Mapping[str, Any]) -> str:
    """The cycle's comparison as Markdown: decision, data, both models on both test sets."""
    rule = data["rule"]
    lines = [
        f"# Retraining cycle {data['cycle']}: {data['decision']}",
        "",
        data.get("reason") or "",
        "",
    ]
    arrivals = data.get("arrivals")
    if arrivals:
        lines.append(
            f"- photos: {len(arrivals['new'])} new, {arrivals['ready']} curated and annotated, "
            f"{len(arrivals['waiting'])} waiting for a person, {len(arrivals['rejected'])} "
            f"rejected; last data version {arrivals['last_version'] or 'none'}"
        )
    version = data.get("data_version")
    if version:
        lines.append(f"- data version: {version['id']} ({version['method']}; {version['note']})")
    tests = data.get("test_sets")
    if tests:
        note = f" ({tests['note']})" if tests.get("note") else ""
        lines.append(
            f"- test: fixed set {tests['fixed_images']} photos, {tests['new_images']} new{note}"
        )
    lines.append(
        f"- rule: {rule['metric']} at threshold {rule['threshold']:g}, floor {rule['floor']:g}, "
        f"margin {rule['min_margin']:g}, recall tolerance {rule['recall_tolerance']:g}"
    )
    if data.get("failing_new_photos"):
        lines.append(f"- new photos failing validation: {', '.join(data['failing_new_photos'])}")
    if data.get("error"):
        lines += ["", "```", str(data["error"]), "```"]
    models = [m for m in [data.get("champion"), *data.get("challengers", [])] if m]
    if models:
        lines += [
            "",
            "| model | version | test set | images | precision | recall | F1 | accuracy "
            "| decision |",
            "|---|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for m in models:
            for which in ("fixed", "new"):
                h = m.get(which)
                if not h:
                    continue
                cells = [_fmt(h.get(k)) for k in ("precision", "recall", "f1", "accuracy")]
                lines.append(
                    f"| {m['label']} | {m.get('version') or ''} | {which} | {h.get('images')} | "
                    + " | ".join(cells)
                    + f" | {m.get('decision') or ''} |"
                )
    if data.get("notes"):
        lines += ["", *[f"- {n}" for n in data["notes"]]]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


@dataclass
class HistoryRow:
    version: str
    when: str  # promoted at, else registered at (UTC)
    data_version: str
    backbone: str
    metric: str
    value: str
    champion_value: str
    decision: str
    reason: str
    current: bool

    def to_json(self) -> dict[str, Any]:
        """`landslide model history --json`: these keys, in this order, for every version."""
        return {
            "version": int(self.version) if self.version.isdigit() else self.version,
            "when": self.when,
            "data_version": self.data_version,
            "backbone": self.backbone,
            "metric": self.metric,
            "value": _number(self.value),
            "champion_value": _number(self.champion_value),
            "decision": self.decision,
            "reason": self.reason,
            "current": self.current,
        }


def _number(text: str) -> float | str | None:
    """A metric tag as a number (None when unset; kept as text when it is no number)."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def model_history(params: Params) -> list[HistoryRow]:
    """Every registered version of `predict.model_name`, oldest first, with its decision."""
    from mlflow.exceptions import MlflowException

    from landslide.tracking import tracking_uri

    p = params.predict
    uri = tracking_uri(params.mlflow)
    client = _client(uri)
    try:
        registered = client.get_registered_model(p.model_name)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return []
        raise RetrainError(f"cannot read the model registry {uri}: {exc.message}") from None
    champion = registered.aliases.get(p.alias)
    rows = []
    versions = client.search_model_versions(f"name = '{p.model_name}'")
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = dict(mv.tags or {})
        promoted_at = tags.get(TAG + "promoted_at")
        when = promoted_at or _stamp(mv.creation_timestamp)
        decision = tags.get(TAG + "decision") or "registered"
        rows.append(
            HistoryRow(
                version=str(mv.version),
                when=when.replace("+00:00", "Z"),
                data_version=tags.get(TAG + "data_version") or tags.get("data_version") or "",
                backbone=tags.get("backbone", ""),
                metric=tags.get(TAG + "metric", ""),
                value=tags.get(TAG + "value", ""),
                champion_value=tags.get(TAG + "champion_value", ""),
                decision=decision,
                reason=tags.get(TAG + "reason", ""),
                current=str(mv.version) == str(champion),
            )
        )
    return rows


def _stamp(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


HISTORY_COLUMNS = (  # heading, justify
    ("version", "right"),
    ("when (UTC)", "left"),
    ("data version", "left"),
    ("backbone", "left"),
    ("metric", "right"),
    ("champion had", "right"),
    ("decision", "left"),
    ("reason", "left"),
)


def _history_cells(row: HistoryRow, alias: str) -> tuple[str, ...]:
    metric = f"{row.metric} {row.value}" if row.metric else ""
    decision = row.decision + (f" -> {alias}" if row.current else "")
    cells = (f"v{row.version}", row.when, row.data_version, row.backbone, metric)
    cells += (row.champion_value or "-", decision, row.reason)
    return tuple(" ".join(cell.split()) for cell in cells)  # one line, whatever the tags hold


def _history_title(params: Params) -> str:
    p = params.predict
    return f"{p.model_name}: champion timeline (alias {p.alias!r})"


def history_table(rows: Sequence[HistoryRow], params: Params) -> Any:
    """The champion timeline as a rich table, for a terminal (columns fold to its width)."""
    from rich.table import Table

    table = Table(title=_history_title(params), title_justify="left")
    for name, justify in HISTORY_COLUMNS:
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for row in rows:
        style = "bold green" if row.current else ("dim" if row.decision == REJECTED else None)
        table.add_row(*_history_cells(row, params.predict.alias), style=style)
    return table


def history_text(rows: Sequence[HistoryRow], params: Params) -> str:
    """The champion timeline as plain text, for a pipe or a file: no width limit, a title,
    a header and one line per version, the columns aligned with spaces."""
    lines = [[name for name, _ in HISTORY_COLUMNS]]
    lines += [list(_history_cells(row, params.predict.alias)) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HISTORY_COLUMNS))]
    text = [_history_title(params)]
    for line in lines:
        cells = [
            cell.rjust(width) if justify == "right" else cell.ljust(width)
            for cell, width, (_, justify) in zip(line, widths, HISTORY_COLUMNS, strict=True)
        ]
        text.append("  ".join(cells).rstrip())
    return "\n".join(text) + "\n"


# ============================================================================== arrivals for demos


def add_sample_photos(
    root: Path,
    params: Params,
    n: int,
    seed: int,
    *,
    prefix: str | None = None,
    annotate: bool = True,
) -> list[str]:
    """The embedded sample generator's photos as new arrivals, already curated.

    Writes `n` synthetic photos (seed `seed`) into `data/raw/images` as `<prefix>_<name>`,
    appends their accepted decisions to `curate.decisions` and their polygons to the VIA
    project (none with `annotate=False`: they then wait for an annotator). For demos and
    tests of retraining; returns the new file names.
    """
    import csv
    import tempfile

    from landslide.annotations import Annotations, load_annotations
    from landslide.annotations.writers import via2_project
    from landslide.io import write_csv
    from landslide.sample import DECISION_FIELDS, generate_sample

    root = Path(root)
    prefix = prefix or f"s{seed}"
    images_dir = root / S.RAW_IMAGES
    via = root / S.VIA_PROJECT
    decisions = root / params.curate.decisions
    with tempfile.TemporaryDirectory(prefix="landslide-arrivals-") as tmp:
        sample = params.sample.model_copy(update={"n": n, "seed": seed})
        generate_sample(Path(tmp), sample, params.classes)
        batch = load_annotations(Path(tmp) / "via_project.json", None, params, review=False)
        with (Path(tmp) / "decisions.csv").open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        names = {}
        for row in rows:
            name = f"{prefix}_{row['file']}"
            shutil.copyfile(Path(tmp) / "images" / row["file"], images_dir / name)
            names[row["file"]] = name
            row["file"] = name
    old_rows: list[dict[str, str]] = []
    if decisions.is_file():
        with decisions.open(newline="", encoding="utf-8") as fh:
            old_rows = list(csv.DictReader(fh))
    write_csv(decisions, [*old_rows, *rows], DECISION_FIELDS)
    project = load_annotations(via, None, params, review=False) if via.is_file() else Annotations()
    added = [
        dataclasses.replace(
            im, file_name=names[im.file_name], regions=im.regions if annotate else ()
        )
        for im in batch.images
    ]
    images = [*project.images, *added]
    sizes = {im.file_name: (images_dir / im.file_name).stat().st_size for im in images}
    document = via2_project(
        Annotations(images=images),
        params.classes,
        params.annotations.class_attribute,
        sizes=sizes,
        name="landslide",
    )
    write_text(via, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
    return sorted(names.values())
