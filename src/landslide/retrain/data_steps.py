"""The cycle's data steps, the stage functions on the ready photos: prepare, validate (a
failure names the new photos that fail), split (the fixed test set and the new test
photos), version (DVC, or a content hash), augment."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from landslide import stages as S
from landslide.errors import DataVersionError, RetrainError
from landslide.io import sha256_file
from landslide.retrain.arrivals import Arrivals
from landslide.retrain.cycle import Cycle, DataVersion, TestSets


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
