"""The embedded synthetic sample: determinism, VIA structure, EXIF, pixels = annotation."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageOps
from shapely.geometry import Polygon

from landslide.errors import OutputExistsError, SampleError
from landslide.io import sha256_file
from landslide.params import CLASSES, SampleParams
from landslide.sample import SampleSummary, generate_sample

SMALL = SampleParams(n=40, seed=7, min_side=64, max_side=128)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SampleSummary]:
    out = tmp_path_factory.mktemp("sample")
    return out, generate_sample(out, SMALL)


def _via(out: Path) -> dict[str, Any]:
    return json.loads((out / "via_project.json").read_text(encoding="utf-8"))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _hashes(out: Path) -> dict[str, str]:
    return {str(f.relative_to(out)): sha256_file(f) for f in sorted(out.rglob("*")) if f.is_file()}


def _regions(entry: dict[str, Any]) -> list[tuple[str, list[tuple[int, int]]]]:
    out = []
    for region in entry["regions"]:
        shape = region["shape_attributes"]
        points = list(zip(shape["all_points_x"], shape["all_points_y"], strict=True))
        out.append((region["region_attributes"]["class"], points))
    return out


def _upright(out: Path, name: str) -> Image.Image:
    with Image.open(out / "images" / name) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


# ---------------------------------------------------------------------------- determinism


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    p = SampleParams(n=12, seed=3, min_side=64, max_side=128)
    generate_sample(tmp_path / "a", p)
    generate_sample(tmp_path / "b", p)
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert len(a) == 12 + 3
    assert a == b


def test_different_seed_gives_different_images(tmp_path: Path) -> None:
    p = SampleParams(n=12, seed=3, min_side=64, max_side=128)
    generate_sample(tmp_path / "a", p)
    generate_sample(tmp_path / "b", p.model_copy(update={"seed": 4}))
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert a["via_project.json"] != b["via_project.json"]
    images = [k for k in a if k.startswith("images/")]
    assert all(a[k] != b[k] for k in images)


# ---------------------------------------------------------------------------- VIA project


def test_writes_n_images_and_a_via2_project(sample: tuple[Path, SampleSummary]) -> None:
    out, summary = sample
    files = sorted((out / "images").iterdir())
    assert [f.name for f in files] == [f"sample_{i:04d}.jpg" for i in range(1, 41)]
    via = _via(out)
    assert list(via) == [
        "_via_settings",
        "_via_img_metadata",
        "_via_attributes",
        "_via_data_format_version",
        "_via_image_id_list",
    ]
    assert via["_via_data_format_version"] == "2.0.10"
    assert via["_via_settings"]["project"]["name"] == "landslide-sample"
    assert set(via["_via_settings"]) == {"ui", "core", "project"}
    attribute = via["_via_attributes"]["region"]["class"]
    assert attribute["type"] == "dropdown"
    assert list(attribute["options"]) == list(CLASSES)
    assert via["_via_attributes"]["file"] == {}
    assert via["_via_image_id_list"] == list(via["_via_img_metadata"])
    for key, entry in via["_via_img_metadata"].items():
        size = (out / "images" / entry["filename"]).stat().st_size
        assert entry["size"] == size
        assert key == f"{entry['filename']}{size}"
        assert entry["file_attributes"] == {}
        for region in entry["regions"]:
            assert region["shape_attributes"]["name"] == "polygon"
            assert set(region["region_attributes"]) == {"class"}
    assert summary.images == 40


def test_classes_and_negatives(sample: tuple[Path, SampleSummary]) -> None:
    out, summary = sample
    entries = _via(out)["_via_img_metadata"].values()
    labels = [label for e in entries for label, _ in _regions(e)]
    assert len(set(labels)) >= 3
    assert set(labels) <= set(CLASSES)
    negatives = [e for e in entries if all(label != "landslide" for label, _ in _regions(e))]
    assert len(negatives) >= 10
    assert summary.negative_images == len(negatives) == round(40 * SMALL.negative_fraction)
    assert summary.regions == {c: labels.count(c) for c in CLASSES}
    per_image = [sum(label == "landslide" for label, _ in _regions(e)) for e in entries]
    assert max(per_image) <= 3


def test_all_four_classes_appear_in_the_default_sized_sample(tmp_path: Path) -> None:
    s = generate_sample(tmp_path, SampleParams(n=16, min_side=96, max_side=160))
    assert all(s.regions[c] > 0 for c in CLASSES), s.regions


def test_polygons_are_valid_and_inside_the_upright_image(
    sample: tuple[Path, SampleSummary],
) -> None:
    out, _ = sample
    sizes = {r["file"]: (int(r["width"]), int(r["height"])) for r in _csv(out / "provenance.csv")}
    for entry in _via(out)["_via_img_metadata"].values():
        width, height = sizes[entry["filename"]]
        for label, points in _regions(entry):
            assert all(isinstance(v, int) for xy in points for v in xy)
            assert len(set(points)) >= 3
            assert all(0 <= x < width and 0 <= y < height for x, y in points), entry["filename"]
            polygon = Polygon(points)
            assert polygon.is_valid and polygon.area > 0, (entry["filename"], label)
            if label == "landslide":
                assert len(points) <= 44


# ---------------------------------------------------------------------------- images


def test_exif_rotated_images_open_upright(sample: tuple[Path, SampleSummary]) -> None:
    out, summary = sample
    provenance = {r["file"]: r for r in _csv(out / "provenance.csv")}
    rotated = 0
    for name, row in provenance.items():
        upright_size = (int(row["width"]), int(row["height"]))
        with Image.open(out / "images" / name) as im:
            orientation = im.getexif().get(0x0112, 1)
            raw = im.size
            assert ImageOps.exif_transpose(im).size == upright_size
        if orientation in (6, 8):
            assert raw == upright_size[::-1]
        elif orientation in (1, 3):
            assert raw == upright_size
        rotated += orientation != 1
    assert rotated >= 1
    assert summary.exif_rotated == rotated


def test_quarter_turned_image_matches_its_upright_rendering(tmp_path: Path) -> None:
    """Storing rotated is lossless up to JPEG: transposing back gives the same picture."""
    p = SampleParams(n=10, seed=5, min_side=64, max_side=96, exif_fraction=0.5)
    generate_sample(tmp_path / "r", p)
    generate_sample(tmp_path / "u", p.model_copy(update={"exif_fraction": 0.0}))
    for name in sorted(f.name for f in (tmp_path / "r" / "images").iterdir()):
        with Image.open(tmp_path / "r" / "images" / name) as im:
            if im.getexif().get(0x0112, 1) == 1:
                continue
        a = np.asarray(_upright(tmp_path / "r", name), dtype=np.float32)
        b = np.asarray(_upright(tmp_path / "u", name), dtype=np.float32)
        assert a.shape == b.shape
        assert np.abs(a - b).mean() < 4.0, name


def test_sizes_vary_and_some_are_portrait(sample: tuple[Path, SampleSummary]) -> None:
    out, _ = sample
    sizes = [(int(r["width"]), int(r["height"])) for r in _csv(out / "provenance.csv")]
    assert len(set(sizes)) > 10
    assert any(h > w for w, h in sizes)
    assert any(w > h for w, h in sizes)
    ratios = {round(max(w, h) / min(w, h), 1) for w, h in sizes}
    assert len(ratios) >= 3
    assert all(min(w, h) >= 64 and max(w, h) <= 128 for w, h in sizes)


def test_landslide_pixels_differ_from_their_surroundings(tmp_path: Path) -> None:
    """The painted debris is where the polygon is: inside differs from a ring just outside."""
    out = tmp_path / "s"
    generate_sample(out, SampleParams(n=12, seed=11, min_side=160, max_side=240))
    contrasts = []
    for entry in _via(out)["_via_img_metadata"].values():
        image = np.asarray(_upright(out, entry["filename"]), dtype=np.float32)
        h, w, _ = image.shape
        for label, points in _regions(entry):
            if label != "landslide":
                continue
            inside, ring = _inside_and_ring(points, w, h)
            if inside.sum() < 100 or ring.sum() < 100:
                continue
            contrasts.append(float(np.abs(image[inside].mean(0) - image[ring].mean(0)).sum()))
    assert len(contrasts) >= 5
    assert min(contrasts) > 20, contrasts


def _inside_and_ring(points: list[tuple[int, int]], w: int, h: int) -> tuple[Any, Any]:
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).polygon(points, fill=255)
    core = mask.filter(ImageFilter.MinFilter(5))  # 2 px inside the outline
    near = mask.filter(ImageFilter.MaxFilter(5))  # 2 px outside the outline
    far = mask.filter(ImageFilter.MaxFilter(13))  # 6 px outside
    inside = np.asarray(core) > 0
    ring = (np.asarray(far) > 0) & ~(np.asarray(near) > 0)
    return inside, ring


# ---------------------------------------------------------------------------- CSVs


def test_decisions_agree_with_via_and_provenance_with_files(
    sample: tuple[Path, SampleSummary],
) -> None:
    out, _ = sample
    via = {e["filename"]: e for e in _via(out)["_via_img_metadata"].values()}
    decisions = _csv(out / "decisions.csv")
    provenance = _csv(out / "provenance.csv")
    assert list(decisions[0]) == ["sha256", "file", "decision", "label", "note", "who", "when"]
    assert list(provenance[0]) == [
        *("file", "sha256", "source", "url", "page_url", "title", "author", "licence"),
        *("seed", "width", "height"),
    ]
    assert len(decisions) == len(provenance) == 40
    for row in decisions:
        has_landslide = any(label == "landslide" for label, _ in _regions(via[row["file"]]))
        assert row["label"] == ("landslide" if has_landslide else "non-landslide")
        assert row["decision"] == "accepted"
        assert row["who"] == "synthetic"
        assert row["when"] == "2021-01-01T00:00:00+00:00"
        assert row["sha256"] == sha256_file(out / "images" / row["file"])
        if not has_landslide:
            assert row["note"].startswith("hard negatives: "), row
    for row in provenance:
        assert row["sha256"] == sha256_file(out / "images" / row["file"])
        assert (row["source"], row["url"], row["page_url"]) == ("synthetic", "", "")
        assert row["licence"] == "CC0-1.0"
        assert row["author"] == "landslide sample generator"
        assert row["seed"] == "7"


# ---------------------------------------------------------------------------- output dir


def test_refuses_a_non_empty_out_dir_unless_forced(tmp_path: Path) -> None:
    p = SampleParams(n=3, min_side=48, max_side=64)
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(OutputExistsError) as err:
        generate_sample(tmp_path, p)
    assert err.value.file == str(tmp_path)
    assert "--force" in (err.value.hint or "")
    assert not (tmp_path / "images").exists()

    generate_sample(tmp_path, p, force=True)
    (tmp_path / "images" / "stale.jpg").write_bytes(b"old")
    s = generate_sample(tmp_path, p.model_copy(update={"n": 2}), force=True)
    assert s.images == 2
    assert sorted(f.name for f in (tmp_path / "images").iterdir()) == [
        "sample_0001.jpg",
        "sample_0002.jpg",
    ]
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert len(_via(tmp_path)["_via_image_id_list"]) == 2


def test_out_dir_that_is_a_file_is_an_error(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(SampleError):
        generate_sample(target, SampleParams(n=1, min_side=48, max_side=64))


def test_progress_is_called_once_per_image(tmp_path: Path) -> None:
    calls: list[int] = []
    generate_sample(tmp_path, SampleParams(n=5, min_side=48, max_side=64), progress=calls.append)
    assert calls == [1] * 5


def test_classes_without_landslide_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SampleError):
        generate_sample(tmp_path, SampleParams(n=1), ["vegetation"])


def test_classes_left_out_are_not_annotated(tmp_path: Path) -> None:
    s = generate_sample(
        tmp_path, SampleParams(n=10, min_side=64, max_side=96), ["landslide", "water_body"]
    )
    assert set(s.regions) == {"landslide", "water_body"}
    labels = {
        label for e in _via(tmp_path)["_via_img_metadata"].values() for label, _ in _regions(e)
    }
    assert labels <= {"landslide", "water_body"}
    assert list(_via(tmp_path)["_via_attributes"]["region"]["class"]["options"]) == [
        "landslide",
        "water_body",
    ]
