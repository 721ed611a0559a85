"""Benchmark: the scrape stage end to end against a loopback server, 1 download worker vs
`scrape.concurrency`, side by side in one run.

The server (tests/fixtures/scrape/fake_services.py, in its own process so it does not
share the GIL with the scraper) plays Commons (500 results), Openverse (200) and Bing
(300): 1,000 image URLs, of which 10% are duplicates (50 byte-identical copies under
other URLs, 50 re-encoded, resized copies) and 5% broken (25 truncated JPEGs, 25 HTML
pages served as image/jpeg). Photos are 640x480 JPEGs.

Measured: candidates handled per second from the first search to the last manifest row
(goal >= 100/s with the default concurrency on 2 cores), and duplicates kept (goal 0).
Run: `python benchmarks/bench_scrape.py` (or `make bench`).
"""

from __future__ import annotations

import multiprocessing as mp
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fixtures.scrape.fake_services import FakeServices, encode, photo
from landslide.params import ScrapeParams
from landslide.scrape import read_manifest, scrape
from landslide.scrape.download import check_image

N, EXACT, NEAR, TRUNCATED, HTML = 1000, 50, 50, 25, 25
SIZE = (640, 480)
SOURCES = {"commons": 500, "openverse": 200, "bing": 300}
GOAL_RATE, GOAL_DUPLICATES = 100.0, 0


def catalogue(seed: int = 0) -> list[tuple[str, int | None, str]]:
    """(path, photo id or None for broken, kind) for each of the N URLs, shuffled."""
    unique = N - EXACT - NEAR - TRUNCATED - HTML
    items: list[tuple[str, int | None, str]] = [
        (f"/img/{i}.jpg", i, "photo") for i in range(unique)
    ]
    items += [(f"/mirror/{i}.jpg", i, "exact") for i in range(EXACT)]
    items += [(f"/resized/{i}.jpg", EXACT + i, "near") for i in range(NEAR)]
    items += [(f"/broken/{i}.jpg", None, "truncated") for i in range(TRUNCATED)]
    items += [(f"/html/{i}.jpg", None, "html") for i in range(HTML)]
    random.Random(seed).shuffle(items)
    return items


def serve(conn: Any) -> None:
    """The fake services in a child process: sends its base URL, serves until told to stop."""
    with FakeServices() as fake:
        photos: dict[int, bytes] = {}
        items = catalogue()
        for path, pid, kind in items:
            if kind in ("photo", "exact"):
                data = photos.setdefault(pid, encode(photo(pid, SIZE)))
            elif kind == "near":
                data = encode(photo(pid, SIZE).resize((576, 432)), quality=70)
            elif kind == "truncated":
                data = encode(photo(10_000 + len(photos), SIZE))[:4000]
            else:
                data = b"<!DOCTYPE html><html><body>Please enable cookies</body></html>"
            fake.photo(path, data, "image/jpeg")
        start = 0
        for source, count in SOURCES.items():
            for path, _, _ in items[start : start + count]:
                fake.result(source, "landslide", path, size=None)
            start += count
        conn.send(fake.base)
        conn.recv()  # stop


def run(base: str, concurrency: int, out: Path) -> tuple[float, Any]:
    p = ScrapeParams(
        commons_url=f"{base}/w/api.php",
        openverse_url=f"{base}/v1/images/",
        bing_url=f"{base}/images/search",
        contact="bench@example.org",
        openverse_interval_s=0.0,
        rate_per_host=1e6,  # one loopback host plays every site
        timeout_s=10.0,
        retries=1,
        backoff_s=0.05,
        concurrency=concurrency,
        min_side=64,
    )
    t0 = time.perf_counter()
    s = scrape(out, p, queries=["landslide"], sources=list(SOURCES), max_per_query=N)
    return time.perf_counter() - t0, s


def duplicates_kept(out: Path) -> int:
    """Kept photos beyond the first of each original photo (exact or near copies)."""
    ids = {path: pid for path, pid, _ in catalogue()}
    kept = Counter(ids[urlsplit(r.image_url).path] for r in read_manifest(out / "manifest.csv"))
    return sum(n - 1 for n in kept.values())


def main() -> None:
    console = Console()
    parent, child = mp.Pipe()
    server = mp.get_context("fork").Process(target=serve, args=(child,), daemon=True)
    with console.status(f"generating {N} image URLs on the loopback server"):
        server.start()
        base = parent.recv()
    check_image(encode(photo(0, SIZE)), ScrapeParams())  # imports (scipy) before timing
    results = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
            for concurrency in (1, ScrapeParams().concurrency):
                out = Path(tmp) / f"c{concurrency}"
                seconds, s = run(base, concurrency, out)
                results[concurrency] = (seconds, s, duplicates_kept(out))
    finally:
        parent.send("stop")
        server.join(5)
    default = ScrapeParams().concurrency
    table = Table(
        title=f"scrape, {N} image URLs from 127.0.0.1 ({EXACT + NEAR} duplicates, "
        f"{TRUNCATED + HTML} broken, {SIZE[0]}x{SIZE[1]} JPEG)",
        caption="exact+near: duplicates found and dropped; dups kept: copies that got through\n"
        f"goal: >= {GOAL_RATE:g} images/s with the default {default} workers, "
        f"{GOAL_DUPLICATES} duplicates kept",
    )
    for col in ("workers", "images/s", "vs 1", "kept", "exact+near", "rejected", "dups kept"):
        table.add_column(col, justify="right")
    table.add_column("goal")
    one = results[1][1].candidates / results[1][0]
    for concurrency, (seconds, s, dup_kept) in results.items():
        rate = s.candidates / seconds
        met = rate >= GOAL_RATE and dup_kept <= GOAL_DUPLICATES
        table.add_row(
            str(concurrency),
            f"{rate:.0f}",
            f"{rate / one:.2f}x",
            str(s.downloaded),
            f"{s.exact_duplicates}+{s.near_duplicates}",
            str(sum(s.rejected.values())),
            str(dup_kept),
            ("met" if met else "not met") if concurrency == default else "",
        )
    console.print(table)


if __name__ == "__main__":
    main()
