"""One retraining cycle at a time: the lock file under `flock` (`CycleLock`), and the
lock `landslide retrain` holds for its process before Prefect starts (`hold_lock`)."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landslide.errors import CycleLocked
from landslide.params import Params
from landslide.retrain.common import utc_now


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
        self.info = LockInfo(os.getpid(), socket.gethostname(), cycle, utc_now())
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
            self.info = LockInfo(os.getpid(), socket.gethostname(), cycle, utc_now())
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


def held_lock(path: Path) -> tuple[CycleLock, LockInfo | None] | None:
    """The lock `hold_lock` took at `path` in this process (None when it holds none), with
    the stale owner it broke; that owner is reported once (None from then on)."""
    key = Path(path).resolve()
    held = _HELD.get(key)
    if held is not None:
        _HELD[key] = (held[0], None)
    return held


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
