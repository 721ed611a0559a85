"""Set A and Set B, as in the study: shared val and test, B's train nested in A's.

Properties the stage guarantees (and tests check):

* **stratified**: landslide and non-landslide photos keep the data's proportion in
  train, val and test (largest-remainder rounding per stratum);
* **near-duplicates together**: photos whose perceptual hashes (`landslide.phash`, of
  the photo upright, so a copy stored turned with an EXIF orientation tag is the same
  photo) differ by at most `split.dup_distance` bits form one group, and a group never
  straddles splits, so no shot of the same slope is in train and test;
* **deterministic and stable as data grows**: each group gets a salted hash of its
  content (`sha256(seed, photo sha256)`), never a position in a shuffled list; the
  previous assignment (`assignment.csv`, kept beside the manifests) is honoured, so
  adding photos never moves an existing photo between train, val and test; new
  photos fill the splits toward the target proportions;
* **nested**: B's train is a stratified subset of A's train; B uses A's val and test.

Sizes come from Params as counts (the study's 101/28/31 and 62) or fractions. When
the data does not have the counts' total, the counts are scaled to the data and the
summary says so.

Outputs in `out_dir`: `{A,B}/{train,val,test}.json` (COCO subsets), `assignment.csv`
(one row per photo: the stability record), `summary.json` (counts, for DVC metrics)
and `summary.md`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from landslide.annotations import Annotations, ImageAnn, read_coco, write_coco
from landslide.errors import SplitError
from landslide.io import write_csv, write_json, write_text
from landslide.params import SplitParams
from landslide.prepare import RUN_PREPARE
from landslide.split.apportion import SPLITS, assign_splits, check_strata
from landslide.split.photos import Group, Photo, group_photos, read_photo, stratum_of

ASSIGNMENT = "assignment.csv"


@dataclass
class SplitSummary:
    out_dir: Path
    counts: dict[str, dict[str, dict[str, int]]]  # set -> split -> {images, landslide, ...}
    groups: int
    grouped_photos: int  # photos that share a group with at least one other
    kept: int  # photos whose split came from the previous assignment
    notes: list[str] = field(default_factory=list)

    def summary_line(self) -> str:
        sizes = "; ".join(
            f"{name} " + "/".join(str(c["images"]) for c in splits.values())
            for name, splits in self.counts.items()
        )
        return (
            f"split: {sizes} (train/val/test), {self.groups} groups, "
            f"{self.kept} kept -> {self.out_dir}"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "sets": self.counts,
            "groups": self.groups,
            "grouped_photos": self.grouped_photos,
            "kept_from_previous": self.kept,
            "notes": self.notes,
        }


def split(
    annotations: Path,
    images_dir: Path,
    out_dir: Path,
    p: SplitParams,
    classes: Sequence[str],
    *,
    fresh: bool = False,
    progress: Callable[[int], None] | None = None,
) -> SplitSummary:
    """Split the photos of a COCO file into Set A and Set B; write manifests and a summary.

    The previous `out_dir/assignment.csv`, when present and `fresh` is false, pins the
    split of every photo it lists.
    """
    ann = read_prepared(annotations)
    if not ann.images:
        raise SplitError("no images to split", file=annotations)
    photos = [read_photo(i, image, images_dir, progress) for i, image in enumerate(ann.images)]
    groups = group_photos(photos, p.dup_distance, p.seed)
    previous = {} if fresh else _read_previous(out_dir / ASSIGNMENT)
    notes: list[str] = []
    assignment, in_b, kept = assign_splits(groups, p, len(photos), previous, notes)
    check_strata(photos, assignment, annotations)
    sets = _sets(ann, photos, assignment, in_b)
    counts = {
        name: {s: _count(members) for s, members in splits.items()} for name, splits in sets.items()
    }
    summary = SplitSummary(
        out_dir=out_dir,
        counts=counts,
        groups=len(groups),
        grouped_photos=sum(len(g) for g in groups if len(g) > 1),
        kept=kept,
        notes=notes,
    )
    _write(out_dir, ann, sets, photos, groups, assignment, in_b, classes, summary)
    return summary


def read_prepared(annotations: Path) -> Annotations:
    """The prepared COCO file; a SplitError saying to run prepare when it is not there."""
    if not Path(annotations).exists():
        raise SplitError(f"{annotations} not found: {RUN_PREPARE}")
    return read_coco(annotations)


def _read_previous(path: Path) -> dict[str, tuple[str, bool]]:
    if not path.exists():
        return {}
    out: dict[str, tuple[str, bool]] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"sha256", "split", "in_B"} - set(reader.fieldnames or ())
        if missing:
            raise SplitError(
                f"missing columns: {', '.join(sorted(missing))}",
                file=path,
                hint="delete it (or pass --fresh) to split from scratch",
            )
        for line, row in enumerate(reader, start=2):
            if row["split"] not in SPLITS:
                raise SplitError(f"unknown split {row['split']!r}", file=path, where=f"line {line}")
            out[row["sha256"]] = (row["split"], row["in_B"] == "1")
    return out


def _sets(
    ann: Annotations, photos: list[Photo], assignment: dict[int, str], in_b: set[int]
) -> dict[str, dict[str, list[ImageAnn]]]:
    a = {s: [p.image for p in photos if assignment[p.index] == s] for s in SPLITS}
    b_train = [p.image for p in photos if p.index in in_b]
    return {"A": a, "B": {"train": b_train, "val": a["val"], "test": a["test"]}}


def _count(images: list[ImageAnn]) -> dict[str, int]:
    landslide = sum(1 for im in images if im.has_landslide)
    regions: dict[str, int] = {}
    for im in images:
        for r in im.regions:
            regions[r.label] = regions.get(r.label, 0) + 1
    return {
        "images": len(images),
        "landslide": landslide,
        "non_landslide": len(images) - landslide,
        **{f"regions_{k}": v for k, v in sorted(regions.items())},
    }


def _write(
    out_dir: Path,
    ann: Annotations,
    sets: dict[str, dict[str, list[ImageAnn]]],
    photos: list[Photo],
    groups: list[Group],
    assignment: dict[int, str],
    in_b: set[int],
    classes: Sequence[str],
    summary: SplitSummary,
) -> None:
    for set_name, splits in sets.items():
        for split_name, images in splits.items():
            subset = Annotations(images=images, source=ann.source)
            write_coco(subset, out_dir / set_name / f"{split_name}.json", classes)
    group_of = {p.index: gi for gi, g in enumerate(groups) for p in g.photos}
    rows = [
        {
            "file": p.image.file_name,
            "sha256": p.digest,
            "group": group_of[p.index],
            "stratum": stratum_of(p),
            "split": assignment[p.index],
            "in_B": int(p.index in in_b),
        }
        for p in photos
    ]
    write_json(out_dir / "summary.json", summary.to_json())
    write_text(out_dir / "summary.md", summary_markdown(summary))
    # the stability record goes last: a run killed before here keeps the old one
    write_csv(out_dir / ASSIGNMENT, rows, ["file", "sha256", "group", "stratum", "split", "in_B"])


def summary_markdown(summary: SplitSummary) -> str:
    lines = [
        "# Splits",
        "",
        "| set | split | images | landslide | non-landslide |",
        "|---|---|---:|---:|---:|",
    ]
    for set_name, splits in summary.counts.items():
        for split_name, c in splits.items():
            lines.append(
                f"| {set_name} | {split_name} | {c['images']} | {c['landslide']} "
                f"| {c['non_landslide']} |"
            )
    lines += [
        "",
        f"{summary.groups} groups; {summary.grouped_photos} photos share a group with "
        f"near-duplicates; {summary.kept} photos kept their split from the previous run.",
    ]
    lines += [f"- {note}" for note in summary.notes]
    return "\n".join(lines) + "\n"
