"""Prepare stage: every photo and its polygons resized to `prepare.size`, one COCO file.

    summary = prepare(Path("data/raw/via_project.json"), Path("data/raw/images"),
                      Path("data/processed/prepared"), params)

It writes, atomically, into `out_dir`:

    images/<name>.jpg    each photo upright, RGB 8-bit, prepare.size, JPEG at jpeg_quality
                         (`sub/a.png` -> `images/sub/a.jpg`; see Names for `a.jpg` + `a.png`)
    annotations.json     COCO instances, in the order of the annotations; file names
                         relative to images/, width and height = prepare.size; the photos
                         of the folder the annotation file does not list in `info.unlisted`
    prepare.json         counts for DVC metrics (images, negatives, bad, unlisted, regions)
    .prepare-state.json  the incremental manifest, written last

Names, the manifest and the summary are `landslide.prepare.outputs`'s; where a photo
and its polygons land, `landslide.prepare.geometry`'s; the pixels and the worker pool,
`landslide.prepare.pixels`'s.

Incremental. An output is redone only when the key of its photo changed: the sha256
of the source bytes with the parameters that shape the pixels (size, mode,
jpeg_quality, the renderer and Pillow versions). Regions never need the pixels, so
they are mapped again on every run from the manifest's source size, and a polygon
edit rewrites annotations.json without re-encoding a photo. Outputs of photos that
left the input are removed. A killed run leaves no half-written file: every file is
written to a temporary name and renamed; annotations.json and prepare.json are
removed before the first photo changes and written again at the end; the manifest
marks the photos in work as pending before they start, records those done every few
seconds, and is completed last.

prepare.json holds only counts that follow from the inputs and params; how much one
run redid (processed, unchanged, removed) is in the summary line, not in the metrics,
so that the file is the same after a fresh run and after an incremental one.

Bad photos (corrupt, truncated, a decompression bomb) are collected with the reason;
the stage then fails with a `PrepareError` naming them, or with `prepare.skip_bad`
leaves them out and lists them in the summary. Photos whose header cannot be read
are refused earlier, by `load_annotations`, with an `AnnotationError`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from landslide.annotations import Annotations, ImageAnn, load_annotations, write_coco
from landslide.errors import PrepareError
from landslide.io import remove_stale_temps, write_json
from landslide.params import Params, PrepareParams
from landslide.prepare.geometry import _map_regions, layout
from landslide.prepare.outputs import (
    COCO_NAME,
    IMAGES_DIR,
    METRICS_NAME,
    PrepareSummary,
    _hashes,
    _key,
    _output_names,
    _plain_name,
    _read_state,
    _still_valid,
    _unlink,
    _write_state,
)
from landslide.prepare.pixels import Progress, _execute, _Job

CHECKPOINT_S = 5.0  # how often the manifest records the photos done so far


def prepare(
    annotations: Path,
    images_dir: Path,
    out_dir: Path,
    params: Params,
    *,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Read `annotations` (any VIA variant, or COCO) with `images_dir`; prepare them."""
    ann = load_annotations(annotations, images_dir, params)
    return prepare_annotations(ann, images_dir, out_dir, params, progress=progress)


def prepare_annotations(
    ann: Annotations,
    images_dir: Path,
    out_dir: Path,
    params: Params,
    *,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Resize the photos of `ann` (found in `images_dir`) and their regions into `out_dir`."""
    p = params.prepare
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    progress = progress or (lambda n=1: None)
    _check_dirs(images_dir, out_dir)
    remove_stale_temps(out_dir)  # what a killed run left half-written
    if not ann.images:
        raise PrepareError(
            "no photos to prepare", file=ann.source or None, hint="annotate some photos first"
        )
    workers = p.workers or os.cpu_count() or 1
    plan = _plan(ann, images_dir, out_dir, p, workers)
    progress(len(plan.kept))
    removed, pending = _open_work(ann, plan, out_dir)
    entries, bad = _render_todo(ann, plan, pending, out_dir, params, workers, progress)

    out_images, dropped = _output_images(ann, plan.names, entries, p, bad)
    bad_names = {file for file, _ in bad}
    for image, name in zip(ann.images, plan.names, strict=True):
        if image.file_name in bad_names:
            _unlink(out_dir / IMAGES_DIR / name)  # an output that no longer matches its photo
    if bad and not p.skip_bad:
        _write_state(out_dir, entries)
        raise _bad_images_error(bad, images_dir)

    result = Annotations(
        images=out_images, source=str(out_dir / COCO_NAME), unlisted=list(ann.unlisted)
    )
    write_coco(result, out_dir / COCO_NAME, params.classes)
    summary = _summary(ann, plan, entries, result, removed, dropped, bad, out_dir, params)
    write_json(out_dir / METRICS_NAME, summary.metrics())
    _write_state(out_dir, entries)
    return summary


@dataclass(frozen=True)
class _Plan:
    """One run's work: every photo's output name, source and key; what stays, what is redone."""

    names: list[str]
    sources: list[Path]
    keys: list[str]
    kept: dict[str, dict[str, Any]]  # output name -> its manifest entry, still valid
    todo: list[int]  # the photos (indexes in the annotations) to render
    stale: list[str]  # outputs of photos that left the input


def _plan(
    ann: Annotations, images_dir: Path, out_dir: Path, p: PrepareParams, workers: int
) -> _Plan:
    """Output names and keys of the photos; which outputs are still valid, which are stale."""
    names = _output_names(ann)
    sources = [images_dir / image.file_name for image in ann.images]
    keys = [_key(digest, p) for digest in _hashes(sources, workers)]

    state = _read_state(out_dir)
    images_out = out_dir / IMAGES_DIR
    wanted = set(names)
    kept = {
        name: {**state[name], "source": image.file_name}
        for image, name, key in zip(ann.images, names, keys, strict=True)
        if _still_valid(state.get(name), key, images_out / name)
    }
    todo = [i for i, name in enumerate(names) if name not in kept]
    stale = sorted(name for name in state if name not in wanted)
    return _Plan(names, sources, keys, kept, todo, stale)


def _open_work(
    ann: Annotations, plan: _Plan, out_dir: Path
) -> tuple[int, dict[str, dict[str, Any]]]:
    """Put the set in flux and mark the photos to do as pending in the manifest.

    Returns how many stale outputs were removed, and the pending entries.
    """
    images_out = out_dir / IMAGES_DIR
    if plan.todo or plan.stale:
        # From here until the end the set is in flux: nothing downstream may trust it.
        for name in (COCO_NAME, METRICS_NAME):
            (out_dir / name).unlink(missing_ok=True)
    removed = sum(_unlink(images_out / name) for name in plan.stale)
    for leftover in images_out.rglob(".*.tmp"):  # from a run killed while writing
        leftover.unlink(missing_ok=True)
    pending = {plan.names[i]: {"source": ann.images[i].file_name, "key": None} for i in plan.todo}
    _write_state(out_dir, {**plan.kept, **pending})
    return removed, pending


def _render_todo(
    ann: Annotations,
    plan: _Plan,
    pending: dict[str, dict[str, Any]],
    out_dir: Path,
    params: Params,
    workers: int,
    progress: Progress,
) -> tuple[dict[str, dict[str, Any]], list[tuple[str, str]]]:
    """Render the photos to do: the manifest entries (kept and done), the bad (file, reason)."""
    p = params.prepare
    images_out = out_dir / IMAGES_DIR
    jobs = [
        _Job(
            i,
            plan.sources[i],
            images_out / plan.names[i],
            p.size,
            p.mode,
            p.jpeg_quality,
            params.annotations.max_image_pixels,
        )
        for i in plan.todo
    ]
    entries: dict[str, dict[str, Any]] = dict(plan.kept)
    errors: dict[int, str] = {}
    checkpoint = time.monotonic()
    for done in _execute(jobs, workers, progress):
        image, name = ann.images[done.index], plan.names[done.index]
        del pending[name]
        if done.error:
            errors[done.index] = done.error
        else:
            entries[name] = {
                "source": image.file_name,
                "key": plan.keys[done.index],
                "width": done.width,
                "height": done.height,
                "bytes": done.nbytes,
            }
        if time.monotonic() - checkpoint > CHECKPOINT_S:  # a killed run keeps what it did
            _write_state(out_dir, {**entries, **pending})
            checkpoint = time.monotonic()
    bad = [(ann.images[i].file_name, errors[i]) for i in sorted(errors)]  # (file, reason)
    return entries, bad


def _summary(
    ann: Annotations,
    plan: _Plan,
    entries: dict[str, dict[str, Any]],
    result: Annotations,
    removed: int,
    dropped: int,
    bad: list[tuple[str, str]],
    out_dir: Path,
    params: Params,
) -> PrepareSummary:
    """What the run did (`PrepareSummary`), from its plan and what it wrote."""
    p = params.prepare
    counts = result.counts()
    return PrepareSummary(
        images=len(result.images),
        processed=sum(1 for i in plan.todo if plan.names[i] in entries),
        skipped=sum(1 for name in plan.kept if name in entries),
        removed=removed,
        negatives=result.negatives,
        regions={c: counts.get(c, 0) for c in params.classes},
        dropped_regions=dropped,
        bad=tuple(f"{file} ({reason})" for file, reason in bad),
        unlisted=tuple(ann.unlisted),
        renamed=tuple(
            (image.file_name, name)
            for image, name in zip(ann.images, plan.names, strict=True)
            if name != _plain_name(image.file_name)
        ),
        size=p.size,
        mode=p.mode,
        out_dir=out_dir,
    )


def _output_images(
    ann: Annotations,
    names: Sequence[str],
    entries: dict[str, dict[str, Any]],
    p: PrepareParams,
    bad: list[tuple[str, str]],
) -> tuple[list[ImageAnn], int]:
    """The prepared photos with their regions mapped, and the count of regions dropped.

    A photo whose annotated size is not its real upright size moves to `bad`.
    """
    out: list[ImageAnn] = []
    dropped = 0
    for image, name in zip(ann.images, names, strict=True):
        entry = entries.get(name)
        if entry is None:
            continue
        size = (entry["width"], entry["height"])
        if image.width is not None and (image.width, image.height) != size:
            bad.append((image.file_name, _size_mismatch(image, size)))
            del entries[name]
            continue
        regions = _map_regions(image.regions, layout(*size, p.size, p.mode))
        dropped += len(image.regions) - len(regions)
        out.append(
            replace(image, file_name=name, width=p.size[0], height=p.size[1], regions=regions)
        )
    return out, dropped


def _check_dirs(images_dir: Path, out_dir: Path) -> None:
    if not images_dir.is_dir():
        raise PrepareError(f"images directory {str(images_dir)!r} not found")
    src, dst = images_dir.resolve(), out_dir.resolve()
    if dst.is_relative_to(src) or src.is_relative_to(dst / IMAGES_DIR):
        raise PrepareError(
            f"output directory {str(out_dir)!r} overlaps the images directory "
            f"{str(images_dir)!r}: outputs would be read back as photos",
            hint="write the prepared set elsewhere, e.g. --out data/processed/prepared",
        )


def _size_mismatch(image: ImageAnn, size: tuple[int, int]) -> str:
    return (
        f"the annotations give {image.width}x{image.height} but the upright photo is "
        f"{size[0]}x{size[1]}: its polygons may not fit it"
    )


def _bad_images_error(bad: list[tuple[str, str]], images_dir: Path) -> PrepareError:
    (file, reason), rest = bad[0], bad[1:]
    more = ""
    if rest:
        shown = ", ".join(f for f, _ in rest[:5]) + (", ..." if len(rest) > 5 else "")
        more = f"{len(rest)} more bad: {shown}; "
    return PrepareError(
        reason,
        file=images_dir / file,
        hint=f"{more}replace or remove the photo, or set prepare.skip_bad: true to leave it out",
    )
