"""`landslide curate apply`: the accepted photos join the curated set.

Accepted scraped photos are copied (verified by sha256) into the curated set, their
provenance appended to `provenance.csv`, and the VIA project extended with them for the
annotators (existing regions kept); with a prefill model (`--prefill` or
`annotate.prefill_model`) the new photos arrive pre-outlined by it
(`landslide.prefill`). With `--prune`, rejected photos leave the set.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landslide.curate.photos import Photo, image_files, read_manifest, read_table
from landslide.curate.store import CurationPaths, Decision, read_decisions
from landslide.errors import CurationError
from landslide.io import atomic_open, sha256_file, write_csv

if TYPE_CHECKING:
    from landslide.annotations import Annotations
    from landslide.params import Params
    from landslide.prefill import PrefillSummary

PROVENANCE_FIELDS = (
    *("file", "sha256", "source", "url", "page_url", "title", "author", "licence"),
    *("licence_url", "attribution", "query", "fetched_at", "phash", "width", "height"),
)


@dataclass(frozen=True)
class ApplySummary:
    """What `apply_decisions` did."""

    accepted: int  # accepted photos known to the catalogue
    copied: list[str]  # names added to the curated set
    already: int  # accepted photos that were in the curated set before
    rejected_in_set: list[str]  # rejected photos still in the curated set (not pruned)
    pruned: list[str]  # rejected photos moved out of the curated set
    via_images: int
    via_regions: int
    via_written: bool
    images_dir: Path
    via_project: Path
    prefilled: int = 0  # new photos given model regions
    prefill_regions: int = 0  # model regions added (source: model)
    notes: list[str] = field(default_factory=list)  # e.g. no champion yet: no prefill

    def summary_line(self) -> str:
        line = (
            f"apply: {self.accepted} accepted, {len(self.copied)} copied into "
            f"{self.images_dir}, {self.already} already there"
        )
        if self.pruned:
            line += f", {len(self.pruned)} rejected moved out"
        line += (
            f"; VIA project {self.via_project}: {self.via_images} photos, "
            f"{self.via_regions} regions ({'written' if self.via_written else 'unchanged'})"
        )
        if self.prefill_regions or self.prefilled:
            line += (
                f"; pre-filled {self.prefilled} new photos with "
                f"{self.prefill_regions} model regions"
            )
        return line


def apply_decisions(
    paths: CurationPaths,
    params: Params,
    *,
    prune: bool = False,
    progress: Callable[[int], None] | None = None,
    prefill: str | None = None,
) -> ApplySummary:
    """Copy accepted scraped photos into the curated set; extend provenance and VIA project.

    Copies are verified against the manifest's sha256. The VIA project keeps every
    image and region it has and gains the accepted photos it lacks (no regions), written
    with the annotations module's template writer; it is rewritten only when it changes.
    Rejected photos found in the curated set are reported, or with `prune` moved to
    `rejected/` next to the images folder and dropped from the project and provenance.

    `prefill` (default `annotate.prefill_model`; "" = off) names a model that outlines the
    photos added to the project (regions marked `source: model`). It is loaded before
    anything is copied, and only when photos will be added; a `models:/` URI whose
    registry or alias does not exist yet adds them without, and says so in `notes`.
    """
    store = read_decisions(paths.decisions)
    accepted = {sha for sha, d in store.items() if d.decision == "accepted"}
    project = _read_via(paths, params)  # before anything is written: a bad project stops here
    curated = {
        sha256_file(p): p.relative_to(paths.images_dir).as_posix()
        for p in image_files(paths.images_dir)
    }
    header, provenance = read_table(paths.provenance)
    todo = _to_copy(read_manifest(paths.manifest), accepted, curated)
    already = sum(1 for sha in accepted if sha in curated)
    spec = params.annotate.prefill_model if prefill is None else prefill
    listed = {im.file_name for im in project.images}
    adding = bool(todo) or any(n not in listed for sha, n in curated.items() if sha in accepted)
    detector, notes = _prefill_detector(spec, params) if spec and adding else (None, [])
    copied, new_rows = _copy_in(todo.values(), paths.images_dir, curated, progress)
    rejected_in_set = _rejected_in_set(curated, store)
    pruned: list[str] = []
    if prune:
        pruned = _prune(rejected_in_set, paths)
        rejected_in_set = []
    if new_rows or pruned:
        _write_provenance(paths.provenance, header, provenance, new_rows, set(pruned))
    want = sorted(name for sha, name in curated.items() if sha in accepted)
    images, regions, written, filled = _extend_via(
        paths, params, project, want, set(pruned), detector
    )
    skipped = filled.skipped if filled else []
    notes += [f"prefill skipped {file}: {why}" for file, why in skipped]
    return ApplySummary(
        accepted=len(accepted & set(curated)),
        copied=copied,
        already=already,
        rejected_in_set=rejected_in_set,
        pruned=pruned,
        via_images=images,
        via_regions=regions,
        via_written=written,
        images_dir=paths.images_dir,
        via_project=paths.via_project,
        prefilled=filled.prefilled if filled else 0,
        prefill_regions=filled.regions if filled else 0,
        notes=notes,
    )


def _to_copy(
    manifest: Iterable[Photo], accepted: set[str], curated: Mapping[str, str]
) -> dict[str, Photo]:
    """The accepted photos of the scrape manifest not in the curated set yet, by sha256;
    a CurationError for one whose file is gone."""
    todo: dict[str, Photo] = {}
    for photo in manifest:
        if photo.sha256 not in accepted or photo.sha256 in curated or photo.sha256 in todo:
            continue
        if not photo.path.is_file():
            raise CurationError(
                "accepted photo not found",
                file=photo.path,
                hint="scrape it again, or set its decision to rejected",
            )
        todo[photo.sha256] = photo
    return todo


def _copy_in(
    todo: Iterable[Photo],
    images_dir: Path,
    curated: dict[str, str],
    progress: Callable[[int], None] | None,
) -> tuple[list[str], list[dict[str, str]]]:
    """Copy `todo` into the curated set (each added to `curated`, sha256 -> name): the
    names copied and their provenance rows."""
    copied: list[str] = []
    new_rows: list[dict[str, str]] = []
    for photo in todo:
        name = _target_name(photo, images_dir)
        _copy_verified(photo.path, images_dir / name, photo.sha256)
        curated[photo.sha256] = name
        copied.append(name)
        new_rows.append(_provenance_row(photo, name))
        if progress is not None:
            progress(1)
    return copied, new_rows


def _rejected_in_set(curated: Mapping[str, str], store: Mapping[str, Decision]) -> list[str]:
    """The names of the rejected photos in the curated set, sorted."""
    return sorted(
        name for sha, name in curated.items() if sha in store and store[sha].decision == "rejected"
    )


def _prune(names: Sequence[str], paths: CurationPaths) -> list[str]:
    """Move the photos `names` out of the curated set into `rejected/`; the names moved."""
    pruned: list[str] = []
    for name in names:
        target = paths.rejected_dir / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(paths.images_dir / name, target)
        pruned.append(name)
    return pruned


def _write_provenance(
    path: Path,
    header: Sequence[str],
    rows: Sequence[dict[str, str]],
    new_rows: Sequence[dict[str, str]],
    gone: set[str],
) -> None:
    """Rewrite `provenance.csv`: its rows less the photos `gone`, then `new_rows`; its
    columns, then the standard ones it lacks."""
    fields = [*header, *(f for f in PROVENANCE_FIELDS if f not in header)]
    kept = [r for r in rows if r.get("file") not in gone] + list(new_rows)
    write_csv(path, kept, fields)


def _prefill_detector(spec: str, params: Params) -> tuple[Any, list[str]]:
    """The prefill model `spec` names, or (None, a note) for a registry without it yet."""
    from landslide.errors import ServingError
    from landslide.inference import load_detector

    if not spec.startswith("models:/"):
        return load_detector(spec, params), []  # a path or run the user named: errors stop
    from landslide.tracking import tracking_uri

    uri = tracking_uri(params.mlflow)
    without = f"no prefill: {spec} is not available"
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        return None, [f"{without} (no model registry at {uri} yet); photos added without"]
    try:
        return load_detector(spec, params), []
    except ServingError as exc:
        return None, [f"{without} ({exc.message}); photos added without"]


def _target_name(photo: Photo, images_dir: Path) -> str:
    """The manifest's file name; a clash with another photo gets the sha256 prefix."""
    name = Path(photo.name).name
    if not (images_dir / name).exists():
        return name
    stem, suffix = Path(name).stem, Path(name).suffix
    return f"{stem}_{photo.sha256[:12]}{suffix}"


def _copy_verified(src: Path, dest: Path, sha256: str) -> None:
    digest = hashlib.sha256()
    with atomic_open(dest, "wb") as out, src.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
            out.write(block)
        if digest.hexdigest() != sha256:
            raise CurationError(
                f"content changed since the scrape: sha256 {digest.hexdigest()[:12]}..., "
                f"manifest says {sha256[:12]}...",
                file=src,
                hint="scrape it again (the manifest and the file must agree)",
            )


def _provenance_row(photo: Photo, name: str) -> dict[str, str]:
    return {
        "file": name,
        "sha256": photo.sha256,
        "source": photo.source,
        "url": photo.image_url,
        "page_url": photo.page_url,
        "title": photo.title,
        "author": photo.author,
        "licence": photo.licence,
        "licence_url": photo.licence_url,
        "attribution": photo.attribution,
        "query": photo.query,
        "fetched_at": photo.fetched_at,
        "phash": photo.phash,
        "width": "" if photo.width is None else str(photo.width),
        "height": "" if photo.height is None else str(photo.height),
    }


def _read_via(paths: CurationPaths, params: Params) -> Annotations:
    """The VIA project as written (names and regions; no photo is opened), or an empty one."""
    from landslide.annotations import Annotations, load_annotations

    if paths.via_project.exists():  # every region as written: the project is rewritten
        return load_annotations(paths.via_project, None, params, review=False)
    return Annotations(images=[], source=str(paths.via_project))


def _extend_via(
    paths: CurationPaths,
    params: Params,
    ann: Annotations,
    want: Iterable[str],
    drop: set[str],
    detector: Any = None,
) -> tuple[int, int, bool, PrefillSummary | None]:
    """Add the photos `want` to the VIA project `ann` (keeping its regions), drop `drop`;
    `detector` outlines the photos added."""
    from landslide.annotations import ImageAnn
    from landslide.annotations.writers import template_project
    from landslide.prefill import prefill_project

    listed = {im.file_name for im in ann.images}
    added = [ImageAnn(name) for name in want if name not in listed]
    kept = [im for im in ann.images if im.file_name not in drop]
    written = (bool(added) or len(kept) != len(ann.images)) and bool(kept or added)
    ann = replace(ann, images=kept + added)
    filled = None
    if detector is not None and added:
        only = [im.file_name for im in added]
        ann, filled = prefill_project(paths.images_dir, detector, params, ann, only=only)
    if written:
        template_project(
            paths.images_dir,
            paths.via_project,
            params.classes,
            params.annotations.class_attribute,
            ann,
        )
    regions = sum(len(im.regions) for im in ann.images)
    return len(ann.images), regions, written, filled
