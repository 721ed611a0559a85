"""Curation without the browser: the decisions store, the catalogue, the checkpoint, apply."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import sample_project
from landslide.curate import (
    DECISION_FIELDS,
    MANIFEST_FIELDS,
    Change,
    CurationPaths,
    DecisionStore,
    apply_decisions,
    checkpoint,
    curation_status,
    load_catalogue,
    near_duplicate_groups,
    read_decisions,
    read_manifest,
    thumbnail,
)
from landslide.errors import CurationError
from landslide.params import Params


def photo_bytes(seed: int, shade: int = 0, size: tuple[int, int] = (96, 64)) -> bytes:
    """A JPEG of coarse random blocks: each seed its own perceptual hash, `shade` a near copy."""
    blocks = np.random.default_rng(seed).integers(0, 200, (6, 8, 3)).astype(np.uint8)
    image = Image.fromarray(np.clip(blocks.astype(int) + shade, 0, 255).astype(np.uint8))
    buf = io.BytesIO()
    image.resize(size, Image.Resampling.NEAREST).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def add_scraped(root: Path, photos: list[dict[str, object]]) -> list[str]:
    """Write photos and the scrape manifest (the scraper's layout); return their sha256s."""
    from landslide.curate import _phash

    folder = root / "data" / "raw" / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    rows, shas = [], []
    for spec in photos:
        data = spec.pop("data")
        assert isinstance(data, bytes)
        sha = hashlib.sha256(data).hexdigest()
        (folder / f"{sha}.jpg").write_bytes(data)
        row = dict.fromkeys(MANIFEST_FIELDS, "")
        row.update(sha256=sha, file=f"{sha}.jpg", source="commons", licence="CC BY-SA 4.0")
        row.update(title="a hillside", author="someone", width="96", height="64")
        row["phash"] = _phash(folder / f"{sha}.jpg") or ""
        row.update({k: str(v) for k, v in spec.items()})
        rows.append(row)
        shas.append(sha)
    manifest = folder / "manifest.csv"
    old = manifest.read_text(encoding="utf-8").splitlines()[1:] if manifest.exists() else []
    with manifest.open("w", newline="", encoding="utf-8") as fh:
        fh.write(",".join(MANIFEST_FIELDS) + "\n")
        for line in old:
            fh.write(line + "\n")
        csv.DictWriter(fh, MANIFEST_FIELDS, lineterminator="\n").writerows(rows)
    return shas


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The embedded sample (3 photos, nothing decided) in a project folder."""
    return sample_project(tmp_path, n=3, min_side=64, max_side=96, decisions="sample_decisions.csv")


@pytest.fixture
def params() -> Params:
    p = Params()
    p.curate.curator = "tester"
    return p


def paths_of(root: Path, params: Params) -> CurationPaths:
    return CurationPaths.from_params(params, root)


# ---------------------------------------------------------------------------- store


def test_store_writes_rows_with_who_and_when(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "d" / "decisions.csv", who="ana")
    a, b = "a" * 64, "b" * 64
    store.update([Change(a, "a.jpg", decision="accepted"), Change(b, "b.jpg", label="landslide")])
    rows = list(csv.DictReader((tmp_path / "d" / "decisions.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == DECISION_FIELDS
    assert [(r["sha256"], r["decision"], r["label"], r["who"]) for r in rows] == [
        (a, "accepted", "", "ana"),
        (b, "undecided", "landslide", "ana"),
    ]
    assert rows[0]["when"].endswith("+00:00")
    # a later change keeps the other fields and the row order
    store.update([Change(a, label="non-landslide", note="road cut\nnot a slide")])
    d = read_decisions(store.path)
    assert list(d) == [a, b]
    assert (d[a].decision, d[a].label, d[a].note) == (
        "accepted",
        "non-landslide",
        "road cut not a slide",
    )
    assert not list(tmp_path.glob("d/.decisions.csv.*"))  # no temporary file left


def test_store_leaves_an_unchanged_row_alone(tmp_path: Path) -> None:
    store = DecisionStore(tmp_path / "decisions.csv", who="ana")
    sha = "c" * 64
    store.update([Change(sha, "c.jpg", decision="rejected")], when="2024-01-01T00:00:00+00:00")
    before = store.path.read_bytes()
    DecisionStore(store.path, who="ben").update([Change(sha, decision="rejected")])
    assert store.path.read_bytes() == before


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (Change("z" * 64, decision="accepted"), "not 64 lowercase hex"),
        (Change("a" * 64, decision="maybe"), "decision 'maybe' unknown"),
        (Change("a" * 64, label="rockfall"), "label 'rockfall' unknown"),
        (Change("a" * 64, note="x" * 501), "note longer than 500"),
    ],
)
def test_store_refuses_bad_changes(tmp_path: Path, change: Change, message: str) -> None:
    store = DecisionStore(tmp_path / "decisions.csv", who="ana")
    with pytest.raises(CurationError, match=message):
        store.update([change])
    assert not store.path.exists()


def test_two_writers_lose_nothing(tmp_path: Path) -> None:
    """Two tabs (threads, each its own store) deciding at once: every decision survives."""
    path = tmp_path / "decisions.csv"
    shas = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(40)]

    def tab(who: str, mine: list[str]) -> None:
        store = DecisionStore(path, who=who)
        for sha in mine:
            store.update([Change(sha, f"{sha[:6]}.jpg", decision="accepted")])

    tabs = [threading.Thread(target=tab, args=(w, shas[k::2])) for k, w in enumerate("ab")]
    for t in tabs:
        t.start()
    for t in tabs:
        t.join()
    d = read_decisions(path)
    assert set(d) == set(shas)
    assert {d[s].who for s in shas[::2]} == {"a"} and {d[s].who for s in shas[1::2]} == {"b"}


def test_a_held_lock_times_out_with_a_typed_error(tmp_path: Path) -> None:
    from filelock import FileLock

    path = tmp_path / "decisions.csv"
    with FileLock(tmp_path / "decisions.csv.lock"):
        done: list[BaseException] = []

        def other() -> None:  # another process would hold it; a thread has its own handle
            try:
                DecisionStore(path, "b", timeout_s=0.2).update(
                    [Change("a" * 64, decision="rejected")]
                )
            except CurationError as exc:
                done.append(exc)

        t = threading.Thread(target=other)
        t.start()
        t.join()
    assert done and "locked" in str(done[0])


def test_read_decisions_names_the_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "decisions.csv"
    path.write_text(
        "sha256,file,decision,label,note,who,when\n" + "a" * 64 + ",a.jpg,acepted,,,,\n"
    )
    with pytest.raises(CurationError) as info:
        read_decisions(path)
    assert info.value.where == "line 2" and "acepted" in info.value.message


# ---------------------------------------------------------------------------- catalogue


def test_manifest_rows_must_stay_in_their_folder(tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    manifest = folder / "manifest.csv"
    for bad in ("../secret.jpg", "/etc/passwd", "https://example.org/a.jpg"):
        manifest.write_text(f"sha256,file\n{'a' * 64},{bad}\n")
        with pytest.raises(CurationError) as info:
            read_manifest(manifest)
        assert info.value.where == "line 2"
    manifest.write_text("sha256,file\nnot-a-hash,a.jpg\n")
    with pytest.raises(CurationError, match="64 hex"):
        read_manifest(manifest)


def test_near_duplicates_group_transitively() -> None:
    hashes = {"a": 0b0, "b": 0b111, "c": 0b111111, "d": (1 << 64) - 1, "e": 0b1 << 40}
    groups = near_duplicate_groups(hashes, 3)
    assert groups["a"] == groups["b"] == groups["c"] == groups["e"]  # a-b 3, b-c 3, a-e 1
    assert "d" not in groups
    assert near_duplicate_groups(hashes, 0) == {}


def test_catalogue_joins_manifest_and_curated_set(project: Path, params: Params) -> None:
    a, b, c = add_scraped(
        project,
        [
            {"data": photo_bytes(1), "title": "first"},
            {"data": photo_bytes(2), "title": "<b>second</b>"},
            {"data": photo_bytes(1, shade=4), "title": "first, brighter"},
        ],
    )
    cat = load_catalogue(paths_of(project, params), params.scrape.dup_distance)
    assert len(cat.photos) == 6
    assert {p.origin for p in cat.photos} == {"incoming", "curated"}
    sample = [p for p in cat.photos if p.origin == "curated"]
    assert {p.source for p in sample} == {"synthetic"} and all(p.licence for p in sample)
    # the near copy sits right after its original, in one group; the other photo in none
    order = [p.sha256 for p in cat.photos]
    assert order.index(c) == order.index(a) + 1
    assert cat.groups[a] == cat.groups[c] and b not in cat.groups
    assert cat.get(b).title == "<b>second</b>"  # kept as text; the page escapes it
    # photos of the curated set got a cached perceptual hash
    cache = json.loads((project / "data/interim/curate/phash.json").read_text())
    assert {p.sha256 for p in sample} <= set(cache)


def test_thumbnail_is_small_upright_and_cached(project: Path, params: Params) -> None:
    cat = load_catalogue(paths_of(project, params), params.scrape.dup_distance)
    photo = cat.photos[0]
    out = thumbnail(photo, 48, project / "cache")
    with Image.open(out) as im:
        assert max(im.size) == 48 and im.format == "JPEG"
    mtime = out.stat().st_mtime_ns
    assert thumbnail(photo, 48, project / "cache").stat().st_mtime_ns == mtime
    bad = photo.path.with_name("broken.jpg")
    bad.write_bytes(b"not a jpeg")
    from dataclasses import replace

    with pytest.raises(CurationError, match="thumbnail"):
        thumbnail(replace(photo, path=bad, sha256="f" * 64), 48, project / "cache")


# ---------------------------------------------------------------------------- checkpoint


def test_checkpoint_counts_undecided_scraped_photos(project: Path, params: Params) -> None:
    paths = paths_of(project, params)
    a, b = add_scraped(project, [{"data": photo_bytes(5)}, {"data": photo_bytes(6)}])
    s = checkpoint(params, project)
    assert (s.photos, s.incoming, len(s.undecided), s.waiting) == (5, 2, 5, 5)
    # the old call (no manifest) still counts only the curated set, as the flow did
    assert curation_status(paths.images_dir, paths.decisions, set()).waiting == 3
    store = DecisionStore(paths.decisions, "tester")
    curated = [p for p in load_catalogue(paths, 6).photos if p.origin == "curated"]
    store.update([Change(p.sha256, p.name, "accepted", "non-landslide") for p in curated])
    store.update([Change(a, decision="rejected"), Change(b, decision="accepted")])
    s = checkpoint(params, project)
    assert (s.accepted, s.rejected, s.undecided, s.unapplied) == (4, 1, [], [f"{b}.jpg"])
    assert s.waiting == 1 and "not applied" in s.summary_line()


# ---------------------------------------------------------------------------- apply


def test_apply_copies_accepted_and_extends_provenance_and_via(
    project: Path, params: Params
) -> None:
    from landslide.annotations import load_annotations

    paths = paths_of(project, params)
    via_before = load_annotations(paths.via_project, paths.images_dir, params)
    regions_before = {im.file_name: im.regions for im in via_before.images}
    a, b, c = add_scraped(
        project,
        [
            {"data": photo_bytes(7), "title": "Frana <script>x</script>", "author": "Rossi"},
            {"data": photo_bytes(8)},
            {"data": photo_bytes(9)},
        ],
    )
    store = DecisionStore(paths.decisions, "tester")
    store.update(
        [
            Change(a, f"{a}.jpg", "accepted", "landslide"),
            Change(b, f"{b}.jpg", "rejected"),
            Change(c, f"{c}.jpg", "accepted", "non-landslide"),
        ]
    )
    s = apply_decisions(paths, params)
    assert sorted(s.copied) == sorted([f"{a}.jpg", f"{c}.jpg"]) and s.via_written
    assert hashlib.sha256((paths.images_dir / f"{a}.jpg").read_bytes()).hexdigest() == a
    assert not (paths.images_dir / f"{b}.jpg").exists()
    rows = {r["file"]: r for r in csv.DictReader(paths.provenance.open(encoding="utf-8"))}
    assert len(rows) == 5
    assert rows[f"{a}.jpg"]["title"] == "Frana <script>x</script>"
    assert (rows[f"{a}.jpg"]["author"], rows[f"{a}.jpg"]["source"]) == ("Rossi", "commons")
    assert rows["sample_0001.jpg"]["seed"] == "42"  # the old columns are kept
    via = load_annotations(paths.via_project, paths.images_dir, params)
    names = [im.file_name for im in via.images]
    assert set(names) == set(regions_before) | {f"{a}.jpg", f"{c}.jpg"}
    for im in via.images:  # every existing region kept, new photos wait for polygons
        assert im.regions == regions_before.get(im.file_name, ())
    # the checkpoint now waits for a's polygon only; apply again changes nothing
    s2 = checkpoint(params, project)
    assert (s2.unapplied, s2.unannotated) == ([], [f"{a}.jpg"])
    before = paths.via_project.read_bytes()
    again = apply_decisions(paths, params)
    assert (again.copied, again.via_written, again.already) == ([], False, 2)
    assert paths.via_project.read_bytes() == before


def test_apply_refuses_a_file_that_changed_since_the_scrape(project: Path, params: Params) -> None:
    paths = paths_of(project, params)
    (a,) = add_scraped(project, [{"data": photo_bytes(10)}])
    (project / "data/raw/incoming" / f"{a}.jpg").write_bytes(photo_bytes(11))
    DecisionStore(paths.decisions, "t").update([Change(a, f"{a}.jpg", "accepted")])
    with pytest.raises(CurationError, match="changed since the scrape"):
        apply_decisions(paths, params)
    assert not (paths.images_dir / f"{a}.jpg").exists()


def test_apply_prune_moves_rejected_photos_out(project: Path, params: Params) -> None:
    paths = paths_of(project, params)
    cat = load_catalogue(paths, 6)
    first, *rest = cat.photos
    store = DecisionStore(paths.decisions, "t")
    store.update([Change(first.sha256, first.name, "rejected")])
    store.update([Change(p.sha256, p.name, "accepted") for p in rest])
    report = apply_decisions(paths, params)
    assert report.rejected_in_set == [first.name] and (paths.images_dir / first.name).exists()
    pruned = apply_decisions(paths, params, prune=True)
    assert pruned.pruned == [first.name] and pruned.via_images == 2
    assert (paths.rejected_dir / first.name).exists() and not (
        paths.images_dir / first.name
    ).exists()
    files = {r["file"] for r in csv.DictReader(paths.provenance.open(encoding="utf-8"))}
    assert first.name not in files
