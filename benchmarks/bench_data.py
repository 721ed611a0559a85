"""Benchmark: prepare + augment throughput with 2 workers vs 1, side by side in one run.

Generates 400 sample photos (the embedded generator, default sizes 480-1024 px), then
for workers = 1 and 2 (alternating, best of `REPEATS`):

- prepare: resize the 400 photos and their polygons to 512x512 (from scratch each time);
- augment: 4 augmented copies of each prepared photo (1,600 copies).

Goal: 2 workers >= 1.7x the throughput of 1 worker. The speed-up needs two free cores;
on a shared or throttled machine it is lower, which the table shows as measured.
Run: `python benchmarks/bench_data.py` (or `make bench`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from landslide.annotations import load_annotations
from landslide.augment import augment
from landslide.params import Params, SampleParams
from landslide.prepare import prepare_annotations
from landslide.sample import generate_sample

N_PHOTOS, COPIES, REPEATS, GOAL = 400, 4, 2, 1.7


def run(params: Params, ann, raw: Path, work: Path, workers: int) -> tuple[float, float]:
    shutil.rmtree(work, ignore_errors=True)
    p = params.model_copy(deep=True)
    p.prepare.workers = workers
    p.augment.workers = workers
    t0 = time.perf_counter()
    prepare_annotations(ann, raw / "images", work / "prepared", p)
    t1 = time.perf_counter()
    augment(
        work / "prepared" / "annotations.json",
        work / "prepared" / "images",
        work / "augmented",
        p.augment,
        p.classes,
    )
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    console = Console()
    params = Params()
    params.augment.copies = COPIES
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        root = Path(tmp)
        with console.status(f"generating {N_PHOTOS} sample photos"):
            generate_sample(root / "raw", SampleParams(n=N_PHOTOS), params.classes)
            ann = load_annotations(
                root / "raw" / "via_project.json", root / "raw" / "images", params
            )
        best: dict[int, list[float]] = {1: [float("inf")] * 2, 2: [float("inf")] * 2}
        for _ in range(REPEATS):
            for workers in (1, 2):
                times = run(params, ann, root / "raw", root / f"w{workers}", workers)
                best[workers] = [min(a, b) for a, b in zip(best[workers], times, strict=True)]
    table = Table(title=f"prepare + augment, {N_PHOTOS} photos -> 512x512, {COPIES} copies each")
    for col in ("stage", "1 worker (img/s)", "2 workers (img/s)", "speed-up", f"goal >= {GOAL}x"):
        table.add_column(col, justify="right")
    counts = {"prepare": N_PHOTOS, "augment": N_PHOTOS * COPIES}
    for i, stage in enumerate(("prepare", "augment")):
        one, two = counts[stage] / best[1][i], counts[stage] / best[2][i]
        table.add_row(stage, f"{one:.1f}", f"{two:.1f}", f"{two / one:.2f}x", _ok(two / one))
    one = (N_PHOTOS + N_PHOTOS * COPIES) / sum(best[1])
    two = (N_PHOTOS + N_PHOTOS * COPIES) / sum(best[2])
    table.add_row("both", f"{one:.1f}", f"{two:.1f}", f"{two / one:.2f}x", _ok(two / one))
    console.print(table)


def _ok(ratio: float) -> str:
    return "met" if ratio >= GOAL else "not met"


if __name__ == "__main__":
    main()
