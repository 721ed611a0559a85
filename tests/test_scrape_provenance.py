"""Which provenance a photo found by several sources is credited to: `best_provenance`
(pure), and the stage's ledger of candidates per photo fed in every order the download
threads can produce (the stage end to end: tests/test_scrape.py)."""

from __future__ import annotations

import itertools
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from landslide.scrape.base import Candidate
from landslide.scrape.credits import Credits as _Credits
from landslide.scrape.manifest import ManifestRow, ManifestWriter
from landslide.scrape.provenance import Provenance, best_provenance, join_sources

OPENVERSE = Provenance(
    "openverse",
    "landslide",
    "https://live.staticflickr.com/1/a.jpg",
    page_url="https://www.flickr.com/photos/someone/1",
    title="Debris",
    licence="CC BY 4.0",
    licence_url="https://creativecommons.org/licenses/by/4.0/",
    author="Ann Lee",
    attribution='"Debris" by Ann Lee is licensed under CC BY 4.0.',
)
BING = Provenance(
    "bing",
    "landslide",
    "https://example.org/a.jpg",
    page_url="https://example.org/news",
    title="Debris",
    attribution="found with Bing image search; rights not verified",
)
GUESS = Provenance(
    "bing",
    "landslide",
    "https://example.org/b.jpg",
    licence="free to modify, share and use commercially (Bing filter, unverified)",
)


def test_a_known_licence_beats_more_fields_and_source_order() -> None:
    bare = Provenance("commons", "q", "https://x/a.jpg", licence="CC0 1.0")
    assert best_provenance([BING, bare], sources=["bing", "commons"]) == bare
    assert best_provenance([GUESS, BING]) == GUESS  # a guessed licence beats none
    assert best_provenance([GUESS, bare]) == bare  # a stated one beats a guess


def test_then_more_filled_fields() -> None:
    thin = Provenance("commons", "q", "https://x/a.jpg", licence="CC BY 4.0", author="Ann")
    assert best_provenance([thin, OPENVERSE], sources=["commons", "openverse"]) == OPENVERSE
    blank = Provenance("bing", "q", "https://x/c.jpg", author="  ")  # blank counts as empty
    assert best_provenance([blank, BING]) == BING


def test_then_source_order_query_order_and_url() -> None:
    a = Provenance("commons", "frana", "https://x/b.jpg", licence="CC0")
    b = Provenance("openverse", "landslide", "https://x/a.jpg", licence="CC0")
    assert best_provenance([a, b], sources=["openverse", "commons"]) == b
    assert best_provenance([a, b], sources=["commons", "openverse"]) == a
    c = Provenance("commons", "landslide", "https://x/c.jpg", licence="CC0")
    assert best_provenance([a, c], queries=["landslide", "frana"]) == c
    assert best_provenance([a, c], queries=["frana", "landslide"]) == a
    d = Provenance("commons", "frana", "https://x/a.jpg", licence="CC0")
    assert best_provenance([a, d]) == d  # then the URL


def test_the_choice_does_not_depend_on_the_order() -> None:
    pool = [
        BING,
        GUESS,
        OPENVERSE,
        Provenance("commons", "q", "https://x/a.jpg", licence="CC BY-SA 4.0", author="Bo"),
        Provenance("commons", "r", "https://x/a.jpg", licence="CC BY-SA 4.0", author="Bo"),
        Provenance("commons", "r", "https://x/a.jpg", licence="CC BY-SA 4.0", author="Cy"),
    ]
    chosen = {
        best_provenance(p, sources=["bing", "commons", "openverse"])
        for p in itertools.permutations(pool)
    }
    assert chosen == {OPENVERSE}


def test_what_an_earlier_run_recorded_stays_unless_a_candidate_says_more() -> None:
    earlier = Provenance("commons", "old query", "https://x/a.jpg", licence="CC0", author="Bo")
    same = Provenance("commons", "landslide", "https://x/a.jpg", licence="CC0", author="Bo")
    assert best_provenance([same], sources=["commons"], keep=earlier) == earlier
    assert best_provenance([BING], keep=earlier) == earlier
    assert best_provenance([OPENVERSE], keep=earlier) == OPENVERSE
    assert best_provenance([OPENVERSE], keep=BING) == OPENVERSE
    assert best_provenance([], keep=earlier) == earlier
    with pytest.raises(ValueError):
        best_provenance([])


def test_sources_column() -> None:
    assert join_sources(["openverse", "bing", "openverse", " "]) == "bing;openverse"
    assert join_sources([]) == ""


# --------------------------------------------------------------- the stage's ledger


def candidate(p: Provenance) -> Candidate:
    return Candidate(**asdict(p))


def row_of(p: Provenance, sha: str = "a" * 64) -> ManifestRow:
    return ManifestRow(
        sha256=sha,
        phash="0" * 16,
        **asdict(p),
        fetched_at="2025-01-31T12:00:00Z",
        width=320,
        height=240,
        file=f"{sha}.jpg",
        sources=p.source,
    )


def ledger(folder: Path, earlier: tuple[ManifestRow, ...] = ()) -> tuple[_Credits, ManifestWriter]:
    writer = ManifestWriter(folder)
    writer.open()
    for row in earlier:
        writer.add(row)
    credits = _Credits(writer, ["bing", "openverse"], ["landslide"])
    credits.load(writer.rows)
    return credits, writer


def record(folder: Path, downloader: Provenance, other: Provenance, late: bool) -> ManifestRow:
    """`downloader`'s URL downloaded and recorded as a new photo; `other` the same URL
    (admitted while the download runs, or after it), or the same bytes under another URL
    (recorded as a duplicate before or after the first is recorded)."""
    credits, writer = ledger(folder)
    first, second = candidate(downloader), candidate(other)
    assert credits.first(first)
    if other.image_url == downloader.image_url:
        steps = [lambda: credits.new(first, row_of(downloader)), lambda: credits.first(second)]
    else:
        assert credits.first(second)
        steps = [
            lambda: credits.new(first, row_of(downloader)),
            lambda: credits.duplicate(second, "a" * 64),
        ]
    for step in steps if late else steps[::-1]:
        step()
    writer.close()
    (row,) = writer.rows
    assert credits.kept() == [row] and credits.upgraded() == 0
    return row


@pytest.mark.parametrize("same_url", [False, True])
def test_every_order_of_events_gives_the_same_row(tmp_path: Path, same_url: bool) -> None:
    ov, bing = OPENVERSE, BING
    if same_url:
        ov, bing = (replace(p, image_url="https://x/same.jpg") for p in (ov, bing))
    rows = {
        record(tmp_path / f"{downloader.source}-{late}", downloader, other, late)
        for downloader, other in ((ov, bing), (bing, ov))
        for late in (False, True)
    }
    (row,) = rows
    assert row.provenance == ov and row.sources == "bing;openverse"


def test_a_refused_download_drops_those_waiting_for_it(tmp_path: Path) -> None:
    credits, writer = ledger(tmp_path / "out")
    again = candidate(replace(OPENVERSE, query="frana"))
    assert credits.first(candidate(OPENVERSE))
    assert not credits.first(again)  # waits for the download
    credits.no_photo(candidate(OPENVERSE))
    assert not credits.first(again)  # known, and no photo: dropped, not downloaded
    writer.close()
    assert writer.rows == [] and credits.kept() == []


def test_an_earlier_row_is_improved_in_place(tmp_path: Path) -> None:
    old = row_of(BING)
    credits, writer = ledger(tmp_path / "out", (old,))
    assert not credits.first(candidate(replace(BING, query="frana")))
    assert writer.rows == [old] and credits.upgraded() == 0  # nothing better: unchanged
    ov = replace(OPENVERSE, image_url=BING.image_url)
    assert not credits.first(candidate(ov))
    writer.close()
    (row,) = writer.rows
    assert row.provenance == ov and row.sources == "bing;openverse"
    assert (row.sha256, row.fetched_at, row.file) == (old.sha256, old.fetched_at, old.file)
    assert credits.upgraded() == 1 and credits.kept() == []
