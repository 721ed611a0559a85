"""Benchmark: import of a large VIA 2.x project, relative to `json.load` of the same file.

Generates (in a temporary directory) a VIA 2.0.10 project of 2,000 images and 20,000
polygon regions (8 to 24 vertices, integer coordinates, as VIA 2 saves them), then
times, side by side in one run (best of a few repeats):

- `json.load` of the file (the floor: any reader has to parse it);
- the same with the garbage collector paused, for reference: `read_via` pauses it
  while it builds (see `via.paused_gc`), so this shows how much of the difference
  is the reader's own work;
- `read_via(..., images_dir=None)` (names kept, sizes not read from files);
- `write_coco` of the result (sizes filled in as the images would give them).

Goal: the import within 3x plain `json.load`. Run: `python benchmarks/bench_annotations.py`.
"""

from __future__ import annotations

import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from landslide.annotations import read_via, write_coco
from landslide.annotations.via import paused_gc
from landslide.params import CLASSES, AnnotationsParams

IMAGES, REGIONS_PER_IMAGE = 2_000, 10
WIDTH, HEIGHT = 1024, 768
GOAL = 3.0
REPEATS = 7


def polygon(rng: random.Random) -> tuple[list[int], list[int]]:
    """A simple polygon with integer vertices inside the image: mostly blobs, and one in
    four a horseshoe (not star-shaped, so the reader checks it with shapely)."""
    n = rng.randint(8, 24)
    r = rng.uniform(20, 120)
    cx, cy = rng.uniform(r, WIDTH - r), rng.uniform(r, HEIGHT - r)
    if rng.random() < 0.25:
        return horseshoe(rng, n, r, cx, cy)
    xs, ys = [], []
    for k in range(n):
        a = 2 * math.pi * k / n
        rk = r * rng.uniform(0.7, 1.0)
        xs.append(round(cx + rk * math.cos(a)))
        ys.append(round(cy + rk * math.sin(a)))
    return xs, ys


def horseshoe(
    rng: random.Random, n: int, r: float, cx: float, cy: float
) -> tuple[list[int], list[int]]:
    """An outer arc of 300 degrees and the inner arc back: a C shape."""
    half = max(n // 2, 4)
    angles = [math.radians(30 + 300 * k / (half - 1)) for k in range(half)]
    outer = [(cx + r * math.cos(a), cy + r * math.sin(a)) for a in angles]
    inner = [(cx + 0.5 * r * math.cos(a), cy + 0.5 * r * math.sin(a)) for a in reversed(angles)]
    points = [(round(x), round(y)) for x, y in outer + inner]
    return [x for x, _ in points], [y for _, y in points]


def project(seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    metadata = {}
    for i in range(IMAGES):
        name, size = f"photo_{i:05d}.jpg", 150_000 + i
        regions = []
        for _ in range(REGIONS_PER_IMAGE):
            xs, ys = polygon(rng)
            regions.append(
                {
                    "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
                    "region_attributes": {"class": rng.choice(CLASSES)},
                }
            )
        metadata[f"{name}{size}"] = {
            "filename": name,
            "size": size,
            "regions": regions,
            "file_attributes": {},
        }
    return {
        "_via_settings": {},
        "_via_img_metadata": metadata,
        "_via_attributes": {"region": {}, "file": {}},
        "_via_data_format_version": "2.0.10",
        "_via_image_id_list": list(metadata),
    }


def interleaved(fns: dict[str, Callable[[], Any]]) -> tuple[dict[str, float], dict[str, Any]]:
    """Best time of each function over REPEATS rounds, the functions alternating in each
    round so that a busy machine slows them alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    results: dict[str, Any] = {}
    for _ in range(REPEATS):
        for name, fn in fns.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: min(t) for name, t in times.items()}, results


def main() -> int:
    p = AnnotationsParams()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "via_project.json")
        path.write_text(json.dumps(project()), encoding="utf-8")
        mb = path.stat().st_size / 1e6

        def load() -> Any:
            with path.open(encoding="utf-8") as fh:
                return json.load(fh)

        def load_paused() -> Any:
            with paused_gc():
                return load()

        t, results = interleaved(
            {
                "json": load,
                "json_paused": load_paused,
                "read": lambda: read_via(path, None, p, CLASSES),
            }
        )
        t_json, t_read, ann = t["json"], t["read"], results["read"]
        sized = replace(ann, images=[replace(im, width=WIDTH, height=HEIGHT) for im in ann.images])
        t_coco, _ = interleaved(
            {"coco": lambda: write_coco(sized, Path(tmp, "coco.json"), CLASSES)}
        )
        t_coco = t_coco["coco"]

    regions = sum(len(im.regions) for im in ann.images)
    ratio = t_read / t_json
    table = Table(
        title=f"VIA 2 import: {len(ann.images):,} images, {regions:,} polygons, {mb:.1f} MB"
    )
    table.add_column("step")
    table.add_column("seconds", justify="right")
    table.add_column("x json.load", justify="right")
    table.add_row("json.load", f"{t_json:.3f}", "1.00")
    table.add_row(
        "json.load, gc paused (reference)",
        f"{t['json_paused']:.3f}",
        f"{t['json_paused'] / t_json:.2f}",
    )
    table.add_row("read_via (images_dir=None)", f"{t_read:.3f}", f"{ratio:.2f}")
    table.add_row("write_coco", f"{t_coco:.3f}", f"{t_coco / t_json:.2f}")
    console = Console()
    console.print(table)
    verdict = "ok" if ratio <= GOAL else "SLOWER THAN GOAL"
    console.print(f"goal: import <= {GOAL:g}x json.load -> {ratio:.2f}x ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
