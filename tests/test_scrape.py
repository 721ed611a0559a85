"""The scrape stage end to end against a loopback server that plays Commons, Openverse,
Bing and hostile image hosts: content-addressed photos, a consistent manifest,
duplicates kept once, bad input refused without a traceback, nothing written outside
the output folder, failing sources reported while the others go on."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from PIL import Image

from fixtures.scrape.fake_services import (
    FakeServices,
    Reply,
    bomb_png,
    encode,
    endless,
    fail_then,
    never_answers,
    photo,
    redirect,
    slow,
)
from landslide.errors import ScrapeError
from landslide.io import sha256_file
from landslide.scrape import MANIFEST, ScrapeCounts, read_manifest, scrape
from landslide.scrape.dedup import hamming, phash_of
from landslide.scrape.manifest import FIELDS, IMAGE_NAME, ManifestWriter

HEADER = (
    "sha256,phash,source,query,image_url,page_url,title,licence,licence_url,author,"
    "attribution,fetched_at,width,height,file,sources"
)
LEGACY_HEADER = HEADER.removesuffix(",sources")  # manifests written before `sources`


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "data" / "raw" / "incoming"


def assert_consistent(out: Path) -> list:
    """Every row's file is there with its hash; every photo has a row; nothing else."""
    rows = read_manifest(out / MANIFEST)
    assert (out / MANIFEST).read_text().splitlines()[0] == HEADER
    files = {p.name for p in out.iterdir()} - {MANIFEST}
    assert files == {r.file for r in rows}
    assert len({r.sha256 for r in rows}) == len(rows)
    for r in rows:
        assert IMAGE_NAME.match(r.file) and r.file.startswith(r.sha256 + ".")
        assert sha256_file(out / r.file) == r.sha256
    return rows


def only_inside(root: Path, out: Path) -> None:
    for path in root.rglob("*"):
        assert path == out or out in path.parents or path in out.parents, path


# ----------------------------------------------------------------------------- happy path


def test_photos_and_manifest_from_three_sources(fake: FakeServices, out: Path) -> None:
    for i in range(6):
        fake.photo(f"/img/{i}.jpg", photo(i))
    fake.photo("/img/png-as-jpg.jpg", encode(photo(6), "PNG"))  # the name lies
    for i in (0, 1):
        fake.result("commons", "landslide", f"/img/{i}.jpg", title=f"Commons {i}", author="Cee")
    fake.result("commons", "landslide", "/img/png-as-jpg.jpg", title="Really a PNG")
    for i in (2, 3):
        fake.result("openverse", "landslide", f"/img/{i}.jpg", licence="by", author="Oh")
    fake.result("bing", "landslide", "/img/4.jpg")
    fake.result("bing", "frana", "/img/5.jpg")
    seen: list[ScrapeCounts] = []
    s = scrape(
        out,
        fake.params(),
        queries=["landslide", "frana"],
        sources=["commons", "openverse", "bing"],
        progress=seen.append,
    )
    assert (s.downloaded, s.duplicates, sum(s.rejected.values()), s.errors) == (7, 0, 0, [])
    assert s.kept_by_source == {"commons": 3, "openverse": 2, "bing": 2}
    assert s.kept_by_query == {"landslide": 6, "frana": 1}
    assert s.total == 7 and s.candidates == 7
    rows = {r.title: r for r in assert_consistent(out)}
    png = rows["Really a PNG"]
    assert png.file.endswith(".png") and png.image_url.endswith("/img/png-as-jpg.jpg")
    c0 = rows["Commons 0"]
    assert (c0.source, c0.query, c0.licence, c0.author) == (
        "commons",
        "landslide",
        "CC BY-SA 4.0",
        "Cee",
    )
    assert c0.licence_url == "https://creativecommons.org/licenses/by-sa/4.0"
    assert c0.page_url.startswith("https://commons.wikimedia.org/wiki/File:")
    assert (c0.width, c0.height) == (320, 240) and c0.fetched_at.endswith("Z")
    with Image.open(out / c0.file) as im:
        assert c0.phash == phash_of(im)
    bing = next(r for r in rows.values() if r.query == "frana")
    assert bing.licence == "unknown" and bing.source == "bing"
    assert seen and seen[-1] == s.counts() and seen[-1].done == seen[-1].candidates
    assert "7 new photos (bing 2, commons 3, openverse 2)" in s.summary_line()


def test_commons_category_query(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.result("commons", "Category:Landslides", "/img/a.jpg")
    s = scrape(out, fake.params(), queries=["Category:Landslides"], sources=["commons", "bing"])
    assert s.downloaded == 1 and s.errors == []
    assert fake.hits["/images/search"] == 0  # Bing has no categories: not asked


# ------------------------------------------------------------------------- hostile hosts


def test_hostile_hosts(fake: FakeServices, tmp_path: Path, out: Path) -> None:
    jpeg, bomb = encode(photo(1)), bomb_png()
    hostile = {
        "/img/busy.jpg": fail_then(500, jpeg),
        "/img/slow-down.jpg": fail_then(429, encode(photo(2)), **{"Retry-After": "1"}),
        "/img/silent.jpg": never_answers(fake),
        "/loop/a": redirect("/loop/b"),
        "/loop/b": redirect("/loop/a"),
        "/img/page.jpg": lambda r: Reply(body=b"<html>denied</html>", content_type="image/jpeg"),
        "/img/truncated.jpg": lambda r: Reply(
            body=encode(photo(3))[:3000], content_type="image/jpeg"
        ),
        "/img/pixel.png": lambda r: Reply(body=encode(Image.new("RGB", (1, 1)), "PNG")),
        "/img/bomb.png": lambda r: Reply(body=bomb, content_type="image/png"),
        "/img/huge.jpg": endless(200_000_000, declare=False),
        "/private/secret.jpg": lambda r: Reply(body=encode(photo(4))),
        "/etc/passwd": lambda r: Reply(body=encode(photo(5)), content_type="text/plain"),
        "/img/%2e%2e%2f%2e%2e%2fetc%2fpasswd": lambda r: Reply(body=encode(photo(6))),
    }
    for path, route in hostile.items():
        fake.route(path, route)
    urls = [p for p in hostile if p != "/loop/b"] + ["/img/../../etc/passwd", "/img/404.jpg"]
    for path in urls:
        fake.result("commons", "landslide", path, size=None)
    p = fake.params(timeout_s=1.0, retries=1, max_bytes=2_000_000, max_redirects=3)
    s = scrape(out, p, sources=["commons"], queries=["landslide"])
    assert s.rejected == {
        "timeout": 1,
        "redirect loop": 1,
        "not an image": 1,
        "corrupt": 1,
        "too small": 1,
        "too many pixels": 1,
        "too large": 1,
        "robots.txt": 1,
        "http 404": 1,
    }
    # busy (500 then 200), slow-down (429, Retry-After), /etc/passwd twice (once via ../..,
    # which the URL resolves), %2e%2e%2f: four distinct photos
    assert (s.downloaded, s.exact_duplicates, s.errors) == (4, 1, [])
    assert fake.hits["/img/busy.jpg"] == 2 and fake.hits["/img/slow-down.jpg"] == 2
    assert fake.hits["/private/secret.jpg"] == 0
    rows = assert_consistent(out)
    assert all("passwd" not in r.file and IMAGE_NAME.match(r.file) for r in rows)
    only_inside(tmp_path, out)


def test_sizes_known_from_the_search_are_not_downloaded(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/tiny.jpg", photo(1))
    fake.photo("/img/giant.jpg", photo(2))
    fake.result("commons", "q", "/img/tiny.jpg", size=(20, 20))
    fake.result("commons", "q", "/img/giant.jpg", size=(30_000, 30_000))
    s = scrape(out, fake.params(), queries=["q"], sources=["commons"])
    assert s.rejected == {"too small": 1, "too many pixels": 1}
    assert fake.hits["/img/tiny.jpg"] == fake.hits["/img/giant.jpg"] == 0


def test_a_bomb_below_pillows_error_limit_is_refused_quietly(
    fake: FakeServices, out: Path, recwarn: pytest.WarningsRecorder
) -> None:
    fake.route("/img/100mp.png", lambda r: Reply(body=bomb, content_type="image/png"))
    bomb = bomb_png(10_000)  # 100 M pixels: Pillow warns (> 89 M) but does not refuse
    fake.result("commons", "q", "/img/100mp.png", size=None)
    s = scrape(out, fake.params(), queries=["q"], sources=["commons"])
    assert s.rejected == {"too many pixels": 1}
    assert not [w for w in recwarn if issubclass(w.category, Image.DecompressionBombWarning)]


def test_licence_filter(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/nc.jpg", photo(1))
    fake.photo("/img/sa.jpg", photo(2))
    fake.result("commons", "q", "/img/nc.jpg", licence="by-nc")
    fake.result("commons", "q", "/img/sa.jpg", licence="by-sa")
    s = scrape(out, fake.params(licences=["by", "by-sa"]), queries=["q"], sources=["commons"])
    assert s.downloaded == 1 and s.rejected == {"licence": 1}
    assert fake.hits["/img/nc.jpg"] == 0
    assert [r.licence for r in read_manifest(out / MANIFEST)] == ["CC BY-SA 4.0"]


# ----------------------------------------------------------------------------- duplicates


def test_same_photo_under_three_urls_and_a_reencoded_copy_is_kept_once(
    fake: FakeServices, out: Path
) -> None:
    original = photo(7)
    data = encode(original)
    for i in range(3):
        fake.photo(f"/mirror{i}/slide.jpg", data)
    smaller = original.resize((288, 216)).point(lambda v: min(255, int(v * 1.04)))
    fake.photo("/img/reencoded.jpg", encode(smaller, quality=60))
    fake.photo("/img/other.jpg", photo(8))
    for path in ("/mirror0/slide.jpg", "/img/other.jpg", "/mirror1/slide.jpg"):
        fake.result("commons", "landslide", path)
    fake.result("openverse", "landslide", "/mirror2/slide.jpg")
    fake.result("bing", "landslide", "/img/reencoded.jpg")
    s = scrape(out, fake.params(), queries=["landslide"], sources=["commons", "openverse", "bing"])
    assert (s.downloaded, s.exact_duplicates, s.near_duplicates) == (2, 2, 1)
    rows = assert_consistent(out)
    assert len(rows) == 2
    assert hamming(rows[0].phash, rows[1].phash) > fake.params().dup_distance


@pytest.mark.parametrize("same", ["url", "bytes"])
@pytest.mark.parametrize("late", [None, "openverse", "bing"])
def test_the_most_informative_provenance_wins_whatever_the_order(
    fake: FakeServices, tmp_path: Path, same: str, late: str | None
) -> None:
    """Openverse (CC BY, an author) and Bing (licence unknown) return the same photo, under
    the same URL or another: the row keeps Openverse's provenance and lists both sources,
    whichever the threads get to first (`late` answers its searches 0.3 s after the other;
    a slow download leaves the other's candidate arriving while it is in flight)."""
    data = encode(photo(1))
    fake.route("/img/a.jpg", slow(data, 0.1))
    fake.route("/mirror/a.jpg", slow(data, 0.1))
    fake.result("openverse", "landslide", "/img/a.jpg", licence="by", author="Ann Lee")
    fake.result("bing", "landslide", "/img/a.jpg" if same == "url" else "/mirror/a.jpg")
    if late:
        fake.delay[late] = 0.3
    for run in range(3):
        out = tmp_path / f"run{run}"
        s = scrape(out, fake.params(), queries=["landslide"], sources=["bing", "openverse"])
        (row,) = assert_consistent(out)
        assert (row.source, row.licence, row.author) == ("openverse", "CC BY 2.0", "Ann Lee"), run
        assert row.image_url == fake.url("/img/a.jpg")
        assert row.licence_url == "https://creativecommons.org/licenses/by/2.0/"
        assert row.sources == "bing;openverse"
        assert s.downloaded == 1 and s.kept_by_source == {"openverse": 1}
        assert s.known + s.exact_duplicates == 1


def test_a_later_run_improves_the_provenance_without_downloading_again(
    fake: FakeServices, out: Path
) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.photo("/img/b.jpg", photo(2))
    fake.photo("/mirror/b.jpg", encode(photo(2)))
    fake.result("bing", "landslide", "/img/a.jpg")
    fake.result("bing", "landslide", "/img/b.jpg")
    scrape(out, fake.params(), queries=["landslide"], sources=["bing"])
    before = {r.image_url: r for r in read_manifest(out / MANIFEST)}
    assert {r.licence for r in before.values()} == {"unknown"}
    fake.result("openverse", "landslide", "/img/a.jpg", licence="cc0", author="Bo")
    fake.result("openverse", "landslide", "/mirror/b.jpg", licence="by-sa", author="Cy")
    s = scrape(out, fake.params(), queries=["landslide"], sources=["bing", "openverse"])
    assert (s.downloaded, s.known, s.exact_duplicates, s.upgraded) == (0, 3, 1, 2)
    assert fake.hits["/img/a.jpg"] == fake.hits["/img/b.jpg"] == 1  # not downloaded again
    rows = {r.file: r for r in assert_consistent(out)}
    a = rows[before[fake.url("/img/a.jpg")].file]
    assert (a.source, a.licence, a.author, a.sources) == (
        "openverse",
        "CC0 1.0",
        "Bo",
        "bing;openverse",
    )
    assert (a.fetched_at, a.sha256, a.image_url) == (
        before[a.image_url].fetched_at,
        before[a.image_url].sha256,
        fake.url("/img/a.jpg"),
    )
    b = rows[before[fake.url("/img/b.jpg")].file]
    assert (b.licence, b.author, b.image_url) == ("CC BY-SA 2.0", "Cy", fake.url("/mirror/b.jpg"))
    after = read_manifest(out / MANIFEST)
    s = scrape(out, fake.params(), queries=["landslide"], sources=["bing"])  # no downgrade
    assert s.upgraded == 0 and read_manifest(out / MANIFEST) == after


def test_a_manifest_written_before_the_sources_column_is_read_and_kept(
    fake: FakeServices, out: Path
) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.result("commons", "q", "/img/a.jpg")
    scrape(out, fake.params(), queries=["q"], sources=["commons"])
    (row,) = read_manifest(out / MANIFEST)
    with (out / MANIFEST).open(newline="") as fh:
        table = list(csv.reader(fh))
    with (out / MANIFEST).open("w", newline="") as fh:  # as versions before `sources` wrote it
        csv.writer(fh, lineterminator="\n").writerows(values[:-1] for values in table)
    assert (out / MANIFEST).read_text().splitlines()[0] == LEGACY_HEADER
    assert read_manifest(out / MANIFEST) == [row]  # `sources` from `source`
    fake.photo("/img/b.jpg", photo(2))
    fake.result("commons", "q", "/img/b.jpg")
    s = scrape(out, fake.params(), queries=["q"], sources=["commons"])
    assert s.downloaded == 1 and s.known == 1
    rows = assert_consistent(out)  # rewritten with the current header
    assert rows[0] == row and rows[1].sources == "commons"


def test_rerun_with_more_queries_only_adds_new_photos(fake: FakeServices, out: Path) -> None:
    for i in range(5):
        fake.photo(f"/img/{i}.jpg", photo(i))
    fake.photo("/copy/0.jpg", encode(photo(0)))  # photo 0 again, elsewhere
    for i in range(3):
        fake.result("commons", "landslide", f"/img/{i}.jpg")
        fake.result("commons", "frana", f"/img/{i}.jpg")  # the same results again
    fake.result("commons", "frana", "/img/3.jpg")
    fake.result("commons", "frana", "/img/4.jpg")
    fake.result("commons", "frana", "/copy/0.jpg")
    first = scrape(out, fake.params(), queries=["landslide"], sources=["commons"])
    before = {r.file: r for r in read_manifest(out / MANIFEST)}
    assert first.downloaded == 3
    second = scrape(out, fake.params(), queries=["landslide", "frana"], sources=["commons"])
    assert (second.downloaded, second.known, second.exact_duplicates) == (2, 6, 1)
    assert all(fake.hits[f"/img/{i}.jpg"] == 1 for i in range(5))  # never downloaded twice
    rows = assert_consistent(out)
    assert len(rows) == 5 and {r.file: r for r in rows if r.file in before} == before
    assert {r.query for r in rows if r.file not in before} == {"frana"}


# --------------------------------------------------------------------------- bad sources


def test_a_broken_source_is_reported_and_the_others_go_on(fake: FakeServices, out: Path) -> None:
    fake.route("/w/api.php", lambda r: Reply(body=b"{oops", content_type="application/json"))
    fake.route("/images/search", lambda r: Reply(body=b"<html><p>new</p></html>"))
    for i in range(3):
        fake.photo(f"/img/{i}.jpg", photo(i))
        fake.result("openverse", "landslide", f"/img/{i}.jpg")
    s = scrape(out, fake.params(), queries=["landslide"], sources=["commons", "openverse", "bing"])
    assert s.downloaded == 3 and len(s.errors) == 2
    commons = next(e for e in s.errors if e.startswith("commons"))
    assert commons.startswith("commons: query 'landslide': the API answered malformed JSON")
    assert any(
        e.startswith("bing: query 'landslide': the result page has no image") for e in s.errors
    )
    assert "2 source errors" in s.summary_line()
    assert_consistent(out)


def test_an_unreachable_source_is_not_asked_again_for_each_query(
    fake: FakeServices, out: Path
) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/w/api.php"
    fake.photo("/img/a.jpg", photo(1))
    fake.result("openverse", "q2", "/img/a.jpg")
    p = fake.params(commons_url=closed)
    s = scrape(out, p, queries=["q1", "q2", "q3"], sources=["commons", "openverse"])
    assert s.downloaded == 1 and len(s.errors) == 1
    assert s.errors[0].startswith("commons: query 'q1': API request failed: connection")
    assert s.errors[0].endswith("(skipped its 2 other queries)")
    with pytest.raises(ScrapeError, match="every search failed"):
        scrape(out, p, queries=["q1", "q2"], sources=["commons"])


def test_every_source_failing_is_an_error(fake: FakeServices, out: Path) -> None:
    fake.route("/w/api.php", lambda r: Reply(body=b"{oops", content_type="application/json"))
    fake.route("/v1/images/", lambda r: Reply(500, b"down", "text/plain"))
    with pytest.raises(ScrapeError) as info:
        scrape(out, fake.params(retries=0), queries=["a"], sources=["commons", "openverse"])
    assert (
        "every search failed" in info.value.message and "commons: query 'a'" in info.value.message
    )
    assert read_manifest(out / MANIFEST) == []  # the header, nothing else


def test_unknown_source_and_empty_queries(fake: FakeServices, out: Path) -> None:
    with pytest.raises(ScrapeError, match="unknown source 'flickr'"):
        scrape(out, fake.params(), sources=["flickr"])
    with pytest.raises(ScrapeError, match="no queries"):
        scrape(out, fake.params(), queries=["  "])
    assert not out.exists()


# ------------------------------------------------------------------- manifest and resume


def test_leftovers_of_a_killed_run_are_cleaned(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.result("commons", "q", "/img/a.jpg")
    scrape(out, fake.params(), queries=["q"], sources=["commons"])
    orphan = out / (("ab" * 32) + ".jpg")  # written, but killed before its row
    orphan.write_bytes(encode(photo(9)))
    tmp = out / ".manifest.csv.x1y2.tmp"
    tmp.write_text("half")
    mine = out / "notes.txt"  # not ours: left alone
    mine.write_text("keep")
    s = scrape(out, fake.params(), queries=["q"], sources=["commons"])
    assert not orphan.exists() and not tmp.exists() and mine.exists()
    assert any("interrupted run" in n for n in s.notes)
    mine.unlink()
    assert len(assert_consistent(out)) == 1


def test_moved_photos_still_count_as_collected(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.photo("/img/a-copy.jpg", encode(photo(1)))
    fake.result("commons", "q", "/img/a.jpg")
    scrape(out, fake.params(), queries=["q"], sources=["commons"])
    (row,) = read_manifest(out / MANIFEST)
    (out / row.file).unlink()  # curated away
    fake.result("commons", "q2", "/img/a-copy.jpg")
    s = scrape(out, fake.params(), queries=["q", "q2"], sources=["commons"])
    assert (s.downloaded, s.known, s.exact_duplicates) == (0, 1, 1)
    assert any("no file here" in n for n in s.notes)


def test_one_scrape_at_a_time_per_folder(fake: FakeServices, out: Path) -> None:
    holder = ManifestWriter(out)
    holder.open()
    try:
        with pytest.raises(ScrapeError, match="another scrape"):
            scrape(out, fake.params(), queries=["q"], sources=["commons"])
    finally:
        holder.close()
    scrape(out, fake.params(), queries=["q"], sources=["commons"])  # free again


def test_manifest_quotes_commas_quotes_and_newlines(fake: FakeServices, out: Path) -> None:
    fake.photo("/img/a.jpg", photo(1))
    fake.result("commons", "q", "/img/a.jpg", title='Slide, "big"\nand\tsteep', author="A, B")
    scrape(out, fake.params(), queries=["q"], sources=["commons"])
    (row,) = read_manifest(out / MANIFEST)
    assert row.title == 'Slide, "big" and steep' and row.author == "A, B"
    with (out / MANIFEST).open(newline="") as fh:
        assert len(list(csv.reader(fh))) == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sha256,file\n", "unexpected header"),
        (HEADER + "\n" + "x," * 15 + "a.jpg\n", "sha256: not 64 hex digits"),
        (
            HEADER + "\n" + "a" * 64 + ",," + "," * 10 + "1,2,../../etc/passwd,\n",
            "not a plain file",
        ),
        (HEADER + "\n" + "a" * 64 + ",," + "," * 10 + "wide,2,a.jpg,\n", "whole numbers"),
        (HEADER + "\n" + "a" * 64 + ",1,2\n", "expected 16 fields"),
        (LEGACY_HEADER + "\n" + "x," * 14 + "a.jpg\n", "sha256: not 64 hex digits"),
        (LEGACY_HEADER + "\n" + "a" * 64 + ",1,2\n", "expected 15 fields"),
    ],
    ids=["header", "sha", "traversal", "width", "short", "legacy-sha", "legacy-short"],
)
def test_read_manifest_errors_name_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / MANIFEST
    path.write_text(text)
    with pytest.raises(ScrapeError) as info:
        read_manifest(path)
    assert message in info.value.message and info.value.file == str(path)
    assert info.value.where in ("line 1", "line 2")


def test_read_manifest_of_nothing(tmp_path: Path) -> None:
    assert read_manifest(tmp_path / "none.csv") == []
    assert tuple(HEADER.split(",")) == FIELDS


def test_out_dir_that_is_a_file(fake: FakeServices, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ScrapeError, match="cannot use the output folder"):
        scrape(tmp_path / "f", fake.params(), queries=["q"], sources=["commons"])


def test_disk_writes_stay_in_the_folder_whatever_the_url(fake: FakeServices, out: Path) -> None:
    names = ["/a/..%2f..%2f..%2fevil.jpg", "/b/%00.jpg", "/c/" + "x" * 300 + ".jpg", "/d/a;b?.png"]
    for i, path in enumerate(names):
        fake.route(path.split("?")[0], lambda r, i=i: Reply(body=encode(photo(20 + i))))
        fake.result("commons", "q", path)
    s = scrape(out, fake.params(), queries=["q"], sources=["commons"])
    assert s.downloaded == 4, s.rejected
    only_inside(out.parents[2], out)
    assert all(IMAGE_NAME.match(p.name) for p in out.iterdir() if p.name != MANIFEST)
    assert os.listdir(out.parents[2]) == ["data"]


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"licences": ["cc-by"]}, "scrape.licences.0"),
        ({"sources": ["flickr"]}, "scrape.sources.0"),
        ({"sources": []}, "at least one source"),
        ({"bing_url": "ftp://example.org/"}, "expected an http(s) URL"),
        ({"contact": "me\r\nX-Evil: 1"}, "must be one line"),
        ({"user_agent": ""}, "must name the project"),
        ({"max_pixels": 1_000_000_000}, "scrape.max_pixels"),
        ({"dup_distance": 65}, "scrape.dup_distance"),
        ({"queries": ["landslide", " "]}, "must not be empty"),
    ],
)
def test_scrape_params_are_validated(section: dict, words: str) -> None:
    from landslide.errors import ParamsError
    from landslide.params import parse_params

    with pytest.raises(ParamsError) as info:
        parse_params({"scrape": section})
    assert words in str(info.value)


def test_scrape_params_defaults() -> None:
    from landslide.params import load_params

    p = load_params(Path(__file__).resolve().parents[1] / "params.yaml").scrape
    assert p.out_dir == Path("data/raw/incoming") and p.enabled is False
    assert p == type(p)()  # params.yaml states the defaults
