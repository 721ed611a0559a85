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
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landslide.annotations import Annotations, ImageAnn, read_coco, write_coco
from landslide.errors import SplitError
from landslide.io import sha256_file, write_csv, write_json, write_text
from landslide.params import SplitParams
from landslide.phash import phash_hex
from landslide.prepare import RUN_PREPARE

SPLITS = ("train", "val", "test")
STRATA = ("landslide", "non_landslide")
ASSIGNMENT = "assignment.csv"
SOURCE_DIGEST = "source_sha256"  # image attribute prepare records; else the file is hashed


@dataclass(frozen=True)
class Photo:
    index: int  # position in the annotations
    image: ImageAnn
    digest: str  # sha256 of the photo's content
    phash: int  # 64-bit perceptual hash


@dataclass
class Group:
    """Near-duplicate photos that must share a split."""

    photos: list[Photo]
    key: float  # salted hash in [0, 1): the group's place in the assignment order

    @property
    def stratum(self) -> str:
        return "landslide" if any(p.image.has_landslide for p in self.photos) else "non_landslide"

    def __len__(self) -> int:
        return len(self.photos)


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
    photos = [_photo(i, image, images_dir, progress) for i, image in enumerate(ann.images)]
    groups = _group(photos, p.dup_distance, p.seed)
    previous = {} if fresh else _read_previous(out_dir / ASSIGNMENT)
    notes: list[str] = []

    n = len(photos)
    targets = _targets(p, n, notes)
    b_total = _b_target(p, n, targets, notes)
    strata = {s: [g for g in groups if g.stratum == s] for s in STRATA} if p.stratify else {}
    buckets = {s: gs for s, gs in strata.items() if gs} or {"all": groups}
    sizes = {b: sum(len(g) for g in gs) for b, gs in buckets.items()}
    table = _apportion(targets, sizes)
    assignment: dict[int, str] = {}  # photo index -> split
    in_b: set[int] = set()
    kept = 0
    for bucket, bucket_groups in buckets.items():
        kept += _assign(bucket_groups, table[bucket], previous, assignment, notes)
    a_train = {
        b: sum(len(g) for g in gs if assignment[g.photos[0].index] == "train")
        for b, gs in buckets.items()
    }
    b_table = _apportion({"train": b_total}, a_train)
    for bucket, bucket_groups in buckets.items():
        train = [g for g in bucket_groups if assignment[g.photos[0].index] == "train"]
        _choose_b(train, b_table[bucket]["train"], previous, in_b)

    _check_strata(photos, assignment, annotations)
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


# ------------------------------------------------------------------------- photos, groups


def _photo(
    index: int, image: ImageAnn, images_dir: Path, progress: Callable[[int], None] | None
) -> Photo:
    from PIL import Image, UnidentifiedImageError

    path = images_dir / image.file_name
    try:
        with Image.open(path) as im:
            phash = int(phash_hex(im), 16)  # upright: a turned copy is the same photo
    except FileNotFoundError:
        raise SplitError(f"image not found: {RUN_PREPARE}", file=path) from None
    except (OSError, UnidentifiedImageError) as exc:
        raise SplitError(f"cannot read image: {exc}", file=path) from None
    digest = dict(image.attributes).get(SOURCE_DIGEST) or sha256_file(path)
    if progress:
        progress(1)
    return Photo(index, image, digest, phash)


def _salted(seed: int, digest: str) -> float:
    h = hashlib.sha256(f"{seed}:{digest}".encode()).digest()
    return int.from_bytes(h[:8], "big") / 2**64


def _group(photos: list[Photo], max_distance: int, seed: int) -> list[Group]:
    """Union-find over pairs within `max_distance` bits (and identical content)."""
    n = len(photos)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    hashes = np.array([p.phash for p in photos], dtype=np.uint64)
    for i in range(n - 1):
        xor = np.bitwise_xor(hashes[i + 1 :], hashes[i])
        distance = np.bitwise_count(xor)
        for j in np.flatnonzero(distance <= max_distance) + i + 1:
            parent[find(int(j))] = find(i)
    by_digest: dict[str, int] = {}
    for i, photo in enumerate(photos):  # exact copies are one photo, whatever the phash says
        if photo.digest in by_digest:
            parent[find(i)] = find(by_digest[photo.digest])
        by_digest.setdefault(photo.digest, i)

    members: dict[int, list[Photo]] = {}
    for i, photo in enumerate(photos):
        members.setdefault(find(i), []).append(photo)
    groups = [Group(ps, min(_salted(seed, p.digest) for p in ps)) for ps in members.values()]
    return sorted(groups, key=lambda g: g.key)


# ------------------------------------------------------------------------------- sizes


def _count_of(size: float, n: int) -> float:
    return size * n if isinstance(size, float) else float(size)


def _targets(p: SplitParams, n: int, notes: list[str]) -> dict[str, int]:
    """Whole-photo targets of Set A's train/val/test for `n` photos, adding up to `n`.

    Counts that add up to `n` are taken as they are; other counts are scaled to the
    data (or refused with `split.scale: false`); fractions are rounded by largest
    remainder. Photos that fractions below 1 leave over go to train.
    """
    assert p.A.val is not None and p.A.test is not None  # SplitParams guarantees it
    sizes = {"train": p.A.train, "val": p.A.val, "test": p.A.test}
    asked = {k: _count_of(v, n) for k, v in sizes.items()}
    total = sum(asked.values())
    shown = "/".join(f"{v:g}" for v in sizes.values())
    if total > n + 1e-9 and not p.scale:
        raise SplitError(
            f"Set A asks for {total:g} photos ({shown}) but the data has {n}",
            hint="lower the split sizes, use fractions, or set split.scale: true",
        )
    if all(isinstance(v, int) for v in sizes.values()) and total != n:
        if not p.scale:
            notes.append(f"Set A uses {int(total)} of {n} photos; the rest goes to train")
            asked["train"] += n - total
        else:
            asked = {k: v * n / total for k, v in asked.items()}
    targets = _largest_remainder(asked, min(n, round(sum(asked.values()))))
    targets["train"] += n - sum(targets.values())
    if shown != "/".join(str(v) for v in targets.values()):
        notes.append(
            f"data has {n} photos: Set A train/val/test {shown} -> "
            + "/".join(str(v) for v in targets.values())
        )
    return targets


def _b_target(p: SplitParams, n: int, targets: dict[str, int], notes: list[str]) -> int:
    """Set B's train size; a count keeps its share of A's train when A's counts were scaled."""
    size = p.B.train
    count = _count_of(size, n)
    if isinstance(size, int) and isinstance(p.A.train, int):
        count = count * targets["train"] / p.A.train
    b = round(count)
    if b != size:
        notes.append(f"data has {n} photos: Set B train {size:g} -> {b}")
    return b


def _largest_remainder(shares: dict[str, float], total: int) -> dict[str, int]:
    floors = {k: int(np.floor(v + 1e-9)) for k, v in shares.items()}
    left = total - sum(floors.values())
    order = sorted(shares, key=lambda k: (-(shares[k] - floors[k]), list(shares).index(k)))
    for k in order[: max(left, 0)]:
        floors[k] += 1
    return floors


def _apportion(targets: dict[str, int], sizes: dict[str, int]) -> dict[str, dict[str, int]]:
    """Split each target across strata in proportion to their sizes, exactly.

    Rows (strata) follow the data's proportion; columns add up to the targets: all
    strata but the last are rounded by largest remainder, the last takes what is left.
    """
    n = sum(sizes.values())
    table: dict[str, dict[str, int]] = {}
    left = dict(targets)
    names = list(sizes)
    for name in names[:-1]:
        row_total = round(sum(targets.values()) * sizes[name] / n) if n else 0
        shares = {k: v * sizes[name] / n for k, v in targets.items()}
        row = _largest_remainder(shares, row_total)
        table[name] = {k: min(row[k], left[k]) for k in targets}
        left = {k: left[k] - table[name][k] for k in targets}
    table[names[-1]] = left
    return table


# -------------------------------------------------------------------------- assignment


def _assign(
    groups: list[Group],
    targets: dict[str, int],
    previous: dict[str, tuple[str, bool]],
    assignment: dict[int, str],
    notes: list[str],
) -> int:
    """Pinned groups keep their split; the rest fill the largest deficit, in salted order."""
    filled = dict.fromkeys(SPLITS, 0)
    kept = 0
    free: list[Group] = []
    for group in groups:
        pinned = [previous[p.digest][0] for p in group.photos if p.digest in previous]
        if not pinned:
            free.append(group)
            continue
        chosen = max(set(pinned), key=lambda s: (pinned.count(s), -SPLITS.index(s)))
        if len(set(pinned)) > 1:
            names = ", ".join(p.image.file_name for p in group.photos)
            notes.append(f"near-duplicates {names} were in different splits; all go to {chosen}")
        for photo in group.photos:
            assignment[photo.index] = chosen
        filled[chosen] += len(group)
        kept += sum(1 for p in group.photos if p.digest in previous)
    for group in free:
        # the split furthest below its target, relatively; ties go to test, then val
        chosen = max(
            SPLITS, key=lambda s: ((targets[s] - filled[s]) / max(targets[s], 1), SPLITS.index(s))
        )
        if targets[chosen] - filled[chosen] <= 0:
            chosen = "train"  # every target met (pinned photos overfilled some): train
        for photo in group.photos:
            assignment[photo.index] = chosen
        filled[chosen] += len(group)
    return kept


def _choose_b(
    train: list[Group], target: int, previous: dict[str, tuple[str, bool]], in_b: set[int]
) -> None:
    """B's train: groups already in B first, then A's train groups in salted order."""
    pinned = [g for g in train if any(previous.get(p.digest, ("", False))[1] for p in g.photos)]
    rest = [g for g in train if g not in pinned]
    taken = 0
    for group in [*pinned, *rest]:
        if taken >= target and group not in pinned:
            break
        in_b.update(p.index for p in group.photos)
        taken += len(group)


def _check_strata(photos: list[Photo], assignment: dict[int, str], source: Path) -> None:
    have = {s: sum(1 for p in photos if _stratum(p) == s) for s in STRATA}
    for split_name in ("val", "test"):
        for stratum in STRATA:
            count = sum(
                1 for p in photos if assignment[p.index] == split_name and _stratum(p) == stratum
            )
            if count == 0:
                raise SplitError(
                    f"the {split_name} split would have no {stratum.replace('_', '-')} photo "
                    f"(the data has {have['landslide']} landslide and "
                    f"{have['non_landslide']} non-landslide photos)",
                    file=source,
                    hint="add photos of that kind, or give val/test a larger share",
                )


def _stratum(photo: Photo) -> str:
    return "landslide" if photo.image.has_landslide else "non_landslide"


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


# ----------------------------------------------------------------------------- outputs


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
            "stratum": _stratum(p),
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
