"""Which curated photos a cycle can use and which are new (`find_arrivals`), counted
against the last finished cycle's record, `state.json` (`read_state`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landslide.errors import RetrainError
from landslide.io import sha256_file
from landslide.params import Params
from landslide.retrain.common import STATE_NAME


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
    """The ready photos (see step 2 of `landslide.retrain.cycle`) and those the last data
    version lacks."""
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
