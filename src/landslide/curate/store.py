"""Where curation's files are, and the decisions store (`decisions.csv`).

`decisions.csv` (`curate.decisions`, kept in git) has one row per photo keyed by sha256:
decision (accepted / rejected / undecided), label (landslide / non-landslide / unsure),
note, who, when. `DecisionStore.update` takes a file lock and reads, modifies and
atomically rewrites the file, so two browser tabs (or two servers) never lose each
other's decisions.
"""

from __future__ import annotations

import csv
import getpass
import io
import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock
from filelock import Timeout as LockTimeout

from landslide import stages as S
from landslide.errors import CurationError
from landslide.io import write_csv

if TYPE_CHECKING:
    from landslide.params import CurateParams, Params

DECISION_FIELDS = ("sha256", "file", "decision", "label", "note", "who", "when")
DECISIONS = ("accepted", "rejected", "undecided")
LABELS = ("landslide", "non-landslide", "unsure")

MANIFEST_NAME = "manifest.csv"
PROVENANCE_NAME = "provenance.csv"
REJECTED_DIR = "rejected"  # next to the images folder: where `apply --prune` moves photos

MAX_TEXT = 1000  # characters kept of any text read from a manifest or provenance table
MAX_NOTE = 500  # characters of a curator's note
LOCK_TIMEOUT_S = 10.0
SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ============================================================================ paths


@dataclass(frozen=True)
class CurationPaths:
    """Every file curation reads or writes, resolved against the project root."""

    images_dir: Path  # the curated set
    via_project: Path
    provenance: Path
    manifest: Path  # the scrape manifest
    decisions: Path
    cache_dir: Path  # thumbnails and perceptual hashes

    @classmethod
    def from_params(cls, params: Params, root: Path = Path(".")) -> CurationPaths:
        root = Path(root)
        images = root / S.RAW_IMAGES
        return cls(
            images_dir=images,
            via_project=root / S.VIA_PROJECT,
            provenance=images.parent / PROVENANCE_NAME,
            manifest=root / params.scrape.out_dir / MANIFEST_NAME,
            decisions=root / params.curate.decisions,
            cache_dir=root / params.curate.cache_dir,
        )

    @property
    def rejected_dir(self) -> Path:
        return self.images_dir.parent / REJECTED_DIR


# ============================================================================ decisions


@dataclass(frozen=True)
class Decision:
    sha256: str
    file: str
    decision: str
    label: str
    note: str = ""
    who: str = ""
    when: str = ""


@dataclass(frozen=True)
class Change:
    """What a person changed about one photo; None leaves a field as it is."""

    sha256: str
    file: str = ""
    decision: str | None = None
    label: str | None = None  # "" clears the label
    note: str | None = None


def read_decisions(path: Path) -> dict[str, Decision]:
    """Decisions by sha256, in file order; a missing file means nothing is decided yet."""
    if not path.exists():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CurationError(f"cannot read: {exc}", file=path) from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in ("sha256", "decision", "label") if c not in (reader.fieldnames or [])]
    if missing:
        raise CurationError(
            f"missing columns: {', '.join(missing)} (expected {', '.join(DECISION_FIELDS)})",
            file=path,
        )
    out: dict[str, Decision] = {}
    for line, row in enumerate(reader, start=2):
        decision, label = (row["decision"] or "").strip(), (row["label"] or "").strip()
        if decision not in DECISIONS:
            raise CurationError(
                f"decision {decision!r} unknown (known: {', '.join(DECISIONS)})",
                file=path,
                where=f"line {line}",
            )
        if label and label not in LABELS:
            raise CurationError(
                f"label {label!r} unknown (known: {', '.join(LABELS)})",
                file=path,
                where=f"line {line}",
            )
        fields = {k: (row.get(k) or "").strip() for k in DECISION_FIELDS}
        out[fields["sha256"]] = Decision(**{**fields, "decision": decision, "label": label})
    return out


def default_curator(p: CurateParams) -> str:
    """Who decides: `curate.curator`, else the OS user."""
    if p.curator.strip():
        return clean_text(p.curator, 100)
    try:
        return clean_text(getpass.getuser(), 100) or "unknown"
    except Exception:  # no user name in the environment or the password database
        return "unknown"


def clean_text(value: str, limit: int) -> str:
    """One line of printable text, at most `limit` characters."""
    value = unicodedata.normalize("NFC", _CONTROL.sub(" ", value)).strip()
    return value[:limit]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class DecisionStore:
    """`decisions.csv` behind a file lock: every update is read, modify, atomic write."""

    def __init__(self, path: Path, who: str, *, timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.who = who
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"), timeout=timeout_s)
        self._threads = threading.Lock()

    def read(self) -> dict[str, Decision]:
        return read_decisions(self.path)

    def update(self, changes: Sequence[Change], *, when: str | None = None) -> list[Decision]:
        """Apply `changes` (validated first); return each photo's decision afterwards.

        A change that changes nothing leaves its row (and its who/when) as it was.
        """
        for change in changes:
            _check_change(change)
        stamp = when or _now()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._threads, self._lock:
                rows = self.read()
                result, changed = [], False
                for change in changes:
                    before = rows.get(change.sha256)
                    after = _changed(before, change, self.who, stamp)
                    if after != before:
                        rows[change.sha256] = after
                        changed = True
                    result.append(rows[change.sha256])
                if changed:
                    write_csv(self.path, (asdict(d) for d in rows.values()), DECISION_FIELDS)
                return result
        except LockTimeout:
            raise CurationError(
                f"locked by another process for more than {self._lock.timeout:g} s",
                file=self.path,
                hint=f"if no other `landslide curate` runs, remove {self._lock.lock_file}",
            ) from None


def _check_change(change: Change) -> None:
    if not SHA256.match(change.sha256):
        raise CurationError(f"sha256 {change.sha256[:80]!r} is not 64 lowercase hex digits")
    if change.decision is not None and change.decision not in DECISIONS:
        raise CurationError(
            f"decision {change.decision[:40]!r} unknown (known: {', '.join(DECISIONS)})"
        )
    if change.label not in (None, "", *LABELS):
        raise CurationError(f"label {change.label[:40]!r} unknown (known: {', '.join(LABELS)})")
    if change.note is not None and len(change.note) > MAX_NOTE:
        raise CurationError(f"note longer than {MAX_NOTE} characters")


def _changed(before: Decision | None, change: Change, who: str, when: str) -> Decision:
    old = before or Decision(change.sha256, change.file, "undecided", "")
    decision = old.decision if change.decision is None else change.decision
    label = old.label if change.label is None else change.label
    note = old.note if change.note is None else clean_text(change.note, MAX_NOTE)
    if before is not None and (decision, label, note) == (old.decision, old.label, old.note):
        return before
    return Decision(
        sha256=change.sha256,
        file=clean_text(change.file or old.file, MAX_TEXT),
        decision=decision,
        label=label,
        note=note,
        who=who,
        when=when,
    )
