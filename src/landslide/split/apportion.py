"""How many photos go where, and which: whole-photo targets for Set A's train/val/test
(counts scaled to the data, or fractions, by largest remainder), split across the
strata in proportion, filled group by group in salted order with the previous
assignment pinned; Set B's train chosen from A's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from landslide.errors import SplitError
from landslide.params import SplitParams
from landslide.split.photos import Group, Photo, stratum_of

SPLITS = ("train", "val", "test")
STRATA = ("landslide", "non_landslide")


def assign_splits(
    groups: list[Group],
    p: SplitParams,
    n: int,
    previous: dict[str, tuple[str, bool]],
    notes: list[str],
) -> tuple[dict[int, str], set[int], int]:
    """Set A's split of every photo, the photos of Set B's train, and how many were kept.

    Returns (photo index -> split, indices in B's train, photos pinned by `previous`).
    """
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
    return assignment, in_b, kept


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


def check_strata(photos: list[Photo], assignment: dict[int, str], source: Path) -> None:
    have = {s: sum(1 for p in photos if stratum_of(p) == s) for s in STRATA}
    for split_name in ("val", "test"):
        for stratum in STRATA:
            count = sum(
                1 for p in photos if assignment[p.index] == split_name and stratum_of(p) == stratum
            )
            if count == 0:
                raise SplitError(
                    f"the {split_name} split would have no {stratum.replace('_', '-')} photo "
                    f"(the data has {have['landslide']} landslide and "
                    f"{have['non_landslide']} non-landslide photos)",
                    file=source,
                    hint="add photos of that kind, or give val/test a larger share",
                )
