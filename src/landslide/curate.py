"""The curation decisions store and the checkpoint the pipeline waits on.

`decisions.csv` (kept in git, `curate.decisions`) holds one row per photo, keyed by
the photo's sha256: decision (accepted / rejected / undecided), label (landslide /
non-landslide / unsure), note, who, when. The checkpoint counts the photos that still
wait for a person: photos with no decision (or `undecided`), and accepted photos
labelled landslide that have no landslide polygon in the VIA project yet. The flow
pauses until both counts are zero.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from landslide.errors import CurationError
from landslide.io import sha256_file

DECISION_FIELDS = ("sha256", "file", "decision", "label", "note", "who", "when")
DECISIONS = ("accepted", "rejected", "undecided")
LABELS = ("landslide", "non-landslide", "unsure")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp"}


@dataclass(frozen=True)
class Decision:
    sha256: str
    file: str
    decision: str
    label: str
    note: str = ""
    who: str = ""
    when: str = ""


@dataclass
class CurationStatus:
    """How many photos are decided and annotated, and which still wait for a person."""

    photos: int
    accepted: int
    rejected: int
    undecided: list[str] = field(default_factory=list)  # file names
    unannotated: list[str] = field(default_factory=list)  # accepted landslide, no polygon

    @property
    def waiting(self) -> int:
        return len(self.undecided) + len(self.unannotated)

    def summary_line(self) -> str:
        return (
            f"curation: {self.photos} photos, {self.accepted} accepted, {self.rejected} "
            f"rejected, {len(self.undecided)} undecided, {len(self.unannotated)} accepted "
            f"landslide photos without a polygon"
        )


def read_decisions(path: Path) -> dict[str, Decision]:
    """Decisions by sha256; a missing file means nothing is decided yet."""
    if not path.exists():
        return {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("sha256", "decision", "label") if c not in (reader.fieldnames or [])]
        if missing:
            raise CurationError(
                f"missing columns: {', '.join(missing)} (expected {', '.join(DECISION_FIELDS)})",
                file=path,
            )
        out: dict[str, Decision] = {}
        for line, row in enumerate(reader, start=2):
            decision, label = row["decision"].strip(), row["label"].strip()
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


def curation_status(images_dir: Path, decisions: Path, annotated: set[str]) -> CurationStatus:
    """Count what waits for a person.

    `annotated` holds the file names that have at least one landslide polygon in the
    annotators' project (see `landslide.annotations`).
    """
    photos = sorted(
        p for p in images_dir.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    store = read_decisions(decisions)
    status = CurationStatus(photos=len(photos), accepted=0, rejected=0)
    for path in photos:
        name = path.relative_to(images_dir).as_posix()
        d = store.get(sha256_file(path))
        if d is None or d.decision == "undecided":
            status.undecided.append(name)
        elif d.decision == "rejected":
            status.rejected += 1
        else:
            status.accepted += 1
            if d.label == "landslide" and name not in annotated:
                status.unannotated.append(name)
    return status
