"""The curation checkpoint: how many photos still wait for a person.

Photos with no decision, accepted scraped photos not applied yet, and accepted landslide
photos without a landslide polygon (`curation_status`, `checkpoint`). The flow pauses
until it is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from landslide.curate.photos import image_files, read_manifest
from landslide.curate.store import CurationPaths, read_decisions
from landslide.io import sha256_file

if TYPE_CHECKING:
    from landslide.params import Params


@dataclass
class CurationStatus:
    """How many photos are decided and annotated, and which still wait for a person."""

    photos: int
    accepted: int
    rejected: int
    undecided: list[str] = field(default_factory=list)  # file names
    unannotated: list[str] = field(default_factory=list)  # accepted landslide, no polygon
    unapplied: list[str] = field(default_factory=list)  # accepted, scraped, not copied yet
    incoming: int = 0  # scraped photos not in the curated set
    labels: dict[str, int] = field(default_factory=dict)  # label -> decided photos

    @property
    def waiting(self) -> int:
        return len(self.undecided) + len(self.unannotated) + len(self.unapplied)

    def summary_line(self) -> str:
        line = (
            f"curation: {self.photos} photos, {self.accepted} accepted, {self.rejected} "
            f"rejected, {len(self.undecided)} undecided, {len(self.unannotated)} accepted "
            f"landslide photos without a polygon"
        )
        if self.unapplied:
            line += f", {len(self.unapplied)} accepted not applied (`landslide curate apply`)"
        return line


def curation_status(
    images_dir: Path,
    decisions: Path,
    annotated: set[str],
    manifest: Path | None = None,
) -> CurationStatus:
    """Count what waits for a person.

    `annotated` holds the file names that have at least one landslide polygon in the
    annotators' project (see `landslide.annotations`). With `manifest` (the scrape
    manifest), its photos that are not in `images_dir` count too: undecided ones wait
    for a decision, accepted ones for `landslide curate apply`.
    """
    store = read_decisions(decisions)
    status = CurationStatus(photos=0, accepted=0, rejected=0)
    seen: set[str] = set()

    def count(sha: str, name: str, incoming: bool) -> None:
        seen.add(sha)
        status.photos += 1
        status.incoming += incoming
        d = store.get(sha)
        if d is not None and d.label:
            status.labels[d.label] = status.labels.get(d.label, 0) + 1
        if d is None or d.decision == "undecided":
            status.undecided.append(name)
        elif d.decision == "rejected":
            status.rejected += 1
        else:
            status.accepted += 1
            if incoming:
                status.unapplied.append(name)
            elif d.label == "landslide" and name not in annotated:
                status.unannotated.append(name)

    for path in image_files(images_dir):
        sha = sha256_file(path)
        if sha not in seen:
            count(sha, path.relative_to(images_dir).as_posix(), incoming=False)
    for photo in read_manifest(manifest) if manifest is not None else []:
        if photo.sha256 not in seen and photo.path.is_file():
            count(photo.sha256, photo.name, incoming=True)
    return status


def annotated_photos(via_project: Path, params: Params) -> set[str]:
    """File names with at least one landslide polygon in the VIA project (none: empty)."""
    if not via_project.exists():
        return set()
    from landslide.annotations import read_via

    # a landslide polygon counts once it is reviewed, as the training data will read it
    review = params.annotate.review
    ann = read_via(via_project, None, params.annotations, params.classes, review=review)
    return {im.file_name for im in ann.images if im.has_landslide}


def checkpoint(params: Params, root: Path = Path(".")) -> CurationStatus:
    """What the flow waits on: undecided photos (curated set and scrape manifest),
    accepted ones not applied, accepted landslide photos without a polygon."""
    paths = CurationPaths.from_params(params, root)
    annotated = annotated_photos(paths.via_project, params)
    return curation_status(paths.images_dir, paths.decisions, annotated, paths.manifest)
