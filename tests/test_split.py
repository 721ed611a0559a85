"""Set A / Set B: exact study sizes, stratified, near-duplicates together, stable, nested."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance, ImageOps

from landslide.annotations import Annotations, load_annotations, read_coco, write_coco
from landslide.errors import SplitError
from landslide.params import Params, SampleParams, SplitParams
from landslide.sample import generate_sample
from landslide.split import split

CLASSES = Params().classes


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Annotations]:
    """160 tiny sample photos (the study's count) as a COCO file beside their images."""
    root = tmp_path_factory.mktemp("split")
    generate_sample(root / "sample", SampleParams(n=160, min_side=48, max_side=64), CLASSES)
    ann = load_annotations(
        root / "sample" / "via_project.json", root / "sample" / "images", Params()
    )
    return root / "sample" / "images", ann


def coco(tmp_path: Path, ann: Annotations, images: list | None = None) -> Path:
    path = tmp_path / "annotations.json"
    subset = Annotations(images=images if images is not None else ann.images, source="test")
    write_coco(subset, path, CLASSES)
    return path


def assignment(out: Path) -> dict[str, tuple[str, str]]:
    with (out / "assignment.csv").open() as fh:
        return {row["file"]: (row["split"], row["in_B"]) for row in csv.DictReader(fh)}


def names(out: Path, set_name: str, split_name: str) -> set[str]:
    return {im.file_name for im in read_coco(out / set_name / f"{split_name}.json").images}


def test_study_sizes_exact_and_nested(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    s = split(coco(tmp_path, ann), images_dir, tmp_path / "out", SplitParams(), CLASSES)
    a, b = s.counts["A"], s.counts["B"]
    assert [a[k]["images"] for k in ("train", "val", "test")] == [101, 28, 31]
    assert [b[k]["images"] for k in ("train", "val", "test")] == [62, 28, 31]
    out = tmp_path / "out"
    assert names(out, "B", "train") <= names(out, "A", "train")
    assert names(out, "B", "val") == names(out, "A", "val")
    assert names(out, "B", "test") == names(out, "A", "test")
    every = [names(out, "A", k) for k in ("train", "val", "test")]
    assert set.union(*every) == {im.file_name for im in ann.images}
    assert sum(len(x) for x in every) == 160  # disjoint
    assert s.notes == []
    assert json.loads((out / "summary.json").read_text())["sets"]["A"]["val"]["images"] == 28


def test_stratified(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    s = split(coco(tmp_path, ann), images_dir, tmp_path / "out", SplitParams(), CLASSES)
    share = sum(im.has_landslide for im in ann.images) / len(ann.images)
    for set_name in ("A", "B"):
        for c in s.counts[set_name].values():
            assert abs(c["landslide"] - share * c["images"]) <= 1, (set_name, c)


def test_deterministic_and_seeded(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    path = coco(tmp_path, ann)
    split(path, images_dir, tmp_path / "one", SplitParams(), CLASSES)
    split(path, images_dir, tmp_path / "two", SplitParams(), CLASSES)
    split(path, images_dir, tmp_path / "other", SplitParams(seed=7), CLASSES)
    for name in ("A/train.json", "A/test.json", "B/train.json", "assignment.csv"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    assert assignment(tmp_path / "one") != assignment(tmp_path / "other")


def test_order_of_the_input_does_not_matter(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    split(coco(tmp_path, ann), images_dir, tmp_path / "fwd", SplitParams(), CLASSES)
    reverse = coco(tmp_path / "rev", ann, list(reversed(ann.images)))
    split(reverse, images_dir, tmp_path / "rev", SplitParams(), CLASSES)
    assert assignment(tmp_path / "fwd") == assignment(tmp_path / "rev")


def test_stable_as_data_grows(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    out = tmp_path / "out"
    p = SplitParams(A={"train": 0.63, "val": 0.17, "test": 0.2}, B={"train": 0.39})
    split(coco(tmp_path, ann, ann.images[:140]), images_dir, out, p, CLASSES)
    before = assignment(out)
    s = split(coco(tmp_path, ann), images_dir, out, p, CLASSES)  # 20 new photos
    after = assignment(out)
    assert len(after) == 160
    for name, (split_name, in_b) in before.items():
        assert after[name][0] == split_name, name  # nobody moved between train/val/test
        if in_b == "1":
            assert after[name][1] == "1", name  # B's train only grows
    assert s.kept == 140
    new = [after[n][0] for n in after if n not in before]
    assert len(new) == 20 and {"train", "val", "test"} >= set(new)
    assert new.count("train") >= 8  # new photos fill the splits, mostly train


def test_near_duplicates_share_a_split(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    work = tmp_path / "images"
    shutil.copytree(images_dir, work)
    extra = []
    for image in ann.images[:12]:  # brighter, re-encoded copies: same slope, other bytes
        copy = f"dup_{image.file_name}"
        with Image.open(work / image.file_name) as im:
            ImageEnhance.Brightness(im.convert("RGB")).enhance(1.08).save(work / copy, quality=80)
        extra.append(type(image)(copy, image.width, image.height, image.regions))
    s = split(
        coco(tmp_path, ann, [*ann.images, *extra]), work, tmp_path / "out", SplitParams(), CLASSES
    )
    where = assignment(tmp_path / "out")
    for image in ann.images[:12]:
        assert where[image.file_name][0] == where[f"dup_{image.file_name}"][0]
    assert s.grouped_photos >= 24
    assert "scaled" in " ".join(s.notes) or "->" in " ".join(s.notes)  # 172 photos, not 160


def test_exif_rotated_copies_share_a_split(tmp_path: Path, photos) -> None:
    """A copy stored turned, with an orientation tag that shows it upright, is the same photo."""
    images_dir, ann = photos
    work = tmp_path / "images"
    shutil.copytree(images_dir, work)
    extra = []
    for image in ann.images[:12]:
        copy = f"turned_{image.file_name}"
        exif = Image.Exif()
        exif[0x0112] = 6  # shown turned 270 degrees: back upright
        with Image.open(work / image.file_name) as im:
            upright = ImageOps.exif_transpose(im).convert("RGB")
        upright.transpose(Image.Transpose.ROTATE_90).save(work / copy, exif=exif.tobytes())
        with Image.open(work / copy) as im:
            assert ImageOps.exif_transpose(im).size == upright.size  # displayed the same
        extra.append(type(image)(copy, image.width, image.height, image.regions))
    path = coco(tmp_path, ann, [*ann.images, *extra])
    s = split(path, work, tmp_path / "out", SplitParams(), CLASSES)
    where = assignment(tmp_path / "out")
    for image in ann.images[:12]:
        assert where[image.file_name][0] == where[f"turned_{image.file_name}"][0], image.file_name
    assert s.grouped_photos >= 24


def test_counts_scaled_to_the_data_and_said(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    s = split(
        coco(tmp_path, ann, ann.images[:80]), images_dir, tmp_path / "out", SplitParams(), CLASSES
    )
    a = s.counts["A"]
    assert sum(c["images"] for c in a.values()) == 80
    assert abs(a["train"]["images"] - 50.5) <= 1 and abs(a["test"]["images"] - 15.5) <= 1
    assert abs(s.counts["B"]["train"]["images"] - 31) <= 1
    assert any("80 photos" in note for note in s.notes)


def test_sizes_larger_than_the_data_without_scaling(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    with pytest.raises(SplitError, match="asks for 160 photos"):
        split(
            coco(tmp_path, ann, ann.images[:50]),
            images_dir,
            tmp_path / "o",
            SplitParams(scale=False),
            CLASSES,
        )


def test_an_empty_class_in_test_is_explained(tmp_path: Path, photos) -> None:
    images_dir, ann = photos
    only_landslides = [im for im in ann.images if im.has_landslide][:40]
    with pytest.raises(SplitError) as info:
        split(
            coco(tmp_path, ann, only_landslides), images_dir, tmp_path / "o", SplitParams(), CLASSES
        )
    assert "no non-landslide photo" in info.value.message
    assert "40 landslide and 0 non-landslide" in info.value.message


def test_missing_image_names_the_file(tmp_path: Path, photos) -> None:
    _, ann = photos
    with pytest.raises(SplitError, match="image not found") as info:
        split(coco(tmp_path, ann), tmp_path / "nowhere", tmp_path / "o", SplitParams(), CLASSES)
    assert ann.images[0].file_name in str(info.value.file)
