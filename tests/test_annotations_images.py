"""Images named by VIA files: safe names, lookup, EXIF upright size, bombs, non-images."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image

from landslide.annotations import read_via
from landslide.annotations.images import ImageDir, UnsafeName, safe_name, upright_size
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams

CLASSES = ["landslide", "vegetation", "water_body", "building"]


def blank(path: Path, size: tuple[int, int] = (64, 48), **save: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 60)).save(path, **save)
    return path


def via2(tmp_path: Path, entries: list[tuple[str, list[tuple[list, list]]]]) -> Path:
    """A VIA 2 export: (file name, [(xs, ys), ...]) with class landslide."""
    data = {}
    for i, (name, polygons) in enumerate(entries):
        data[f"{name}{i}"] = {
            "filename": name,
            "size": i,
            "regions": [
                {
                    "shape_attributes": {"name": "polygon", "all_points_x": xs, "all_points_y": ys},
                    "region_attributes": {"class": "landslide"},
                }
                for xs, ys in polygons
            ],
            "file_attributes": {},
        }
    path = tmp_path / "via.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with a tiny (invalid) body: costs nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    idat = zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("a.jpg", "a.jpg"),
        ("./images/a.jpg", "images/a.jpg"),
        ("  a b.jpg ", "a b.jpg"),
        ("sub\\b.png", "sub/b.png"),
        ("https://example.org/x/My%20Photo.jpg?x=1", "My Photo.jpg"),
    ],
)
def test_safe_name_normalises(raw: str, name: str) -> None:
    assert safe_name(raw)[0] == name


@pytest.mark.parametrize(
    "raw",
    [
        "../a.jpg",
        "images/../../a.jpg",
        "/etc/passwd",
        "C:\\photos\\a.jpg",
        "\\\\server\\a.jpg",
        "",
        " ",
    ],
)
def test_unsafe_names_are_refused(raw: str) -> None:
    with pytest.raises(UnsafeName):
        safe_name(raw)


@pytest.mark.parametrize("name", ["../secret.jpg", "/tmp/secret.jpg", "sub/../../secret.jpg"])
def test_path_traversal_refused_even_if_the_file_exists(tmp_path: Path, name: str) -> None:
    images = tmp_path / "images"
    images.mkdir()
    blank(tmp_path / "secret.jpg")
    path = via2(tmp_path, [(name, [])])
    for images_dir in (images, None):
        with pytest.raises(AnnotationError, match="refused"):
            read_via(path, images_dir, AnnotationsParams(), CLASSES)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symlinks")
def test_link_out_of_the_images_directory_is_refused(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    secret = blank(tmp_path / "secret.jpg")
    (images / "a.jpg").symlink_to(secret)
    path = via2(tmp_path, [("a.jpg", [])])
    with pytest.raises(AnnotationError, match="outside the images directory"):
        read_via(path, images, AnnotationsParams(), CLASSES)


def test_lookup_with_prefix_case_spaces_and_escapes(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for name in ("a.JPG", "my photo.jpg", "sub/c.png", "d.jpeg"):
        blank(images / name)
    found = ImageDir(images)
    assert found.find("a.jpg") == "a.JPG"
    assert found.find("images/a.jpg") == "a.JPG"
    assert found.find("my%20photo.jpg") == "my photo.jpg"
    assert found.find("sub/c.png") == "sub/c.png"
    assert found.find("data/images/sub/c.png") == "sub/c.png"
    assert found.find("D.JPEG") == "d.jpeg"
    assert found.find("e.jpg") is None
    assert found.images() == ["a.JPG", "d.jpeg", "my photo.jpg", "sub/c.png"]


def test_duplicate_filenames_are_an_error(tmp_path: Path) -> None:
    path = via2(tmp_path, [("a.jpg", []), ("./a.jpg", [])])
    with pytest.raises(AnnotationError, match="listed twice"):
        read_via(path, None, AnnotationsParams(), CLASSES)


def test_names_that_resolve_to_one_file_are_duplicates(tmp_path: Path) -> None:
    blank(tmp_path / "images" / "a.jpg")
    path = via2(tmp_path, [("a.jpg", []), ("A.JPG", [])])
    with pytest.raises(AnnotationError, match=r"image 'a\.jpg': listed twice"):
        read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)


def test_images_directory_missing(tmp_path: Path) -> None:
    path = via2(tmp_path, [("a.jpg", [])])
    with pytest.raises(AnnotationError, match=r"images directory .* not found"):
        read_via(path, tmp_path / "nope", AnnotationsParams(), CLASSES)


# ---------------------------------------------------------------------------- unlisted


def test_unlisted_photos_are_left_out_and_named(tmp_path: Path) -> None:
    """The issue's case: 10 landslide photos absent from the VIA file are not negatives."""
    images = tmp_path / "images"
    blank(images / "a.jpg")
    missing = [f"slide_{i:02d}.jpg" for i in range(10)]
    for name in missing:
        blank(images / name, (30, 20))
    (images / "notes.txt").write_text("not a photo")
    path = via2(tmp_path, [("a.jpg", [([1, 20, 5], [1, 1, 20])])])
    ann = read_via(path, images, AnnotationsParams(), CLASSES)
    assert [im.file_name for im in ann.images] == ["a.jpg"]
    assert ann.negatives == 0
    assert ann.unlisted == missing
    (warning,) = [w for w in ann.warnings if "not in this file" in w]
    assert "10 photos in" in warning and "left out (unknown, not negatives)" in warning
    assert all(name in warning for name in missing)
    assert "annotations.unlisted: negative" in warning


def test_unlisted_photos_can_be_read_as_negatives(tmp_path: Path) -> None:
    images = tmp_path / "images"
    blank(images / "a.jpg")
    blank(images / "z_extra.jpg", (30, 20))
    path = via2(tmp_path, [("a.jpg", [([1, 20, 5], [1, 1, 20])])])
    ann = read_via(path, images, AnnotationsParams(unlisted="negative"), CLASSES)
    assert [(im.file_name, im.width, len(im.regions)) for im in ann.images] == [
        ("a.jpg", 64, 1),
        ("z_extra.jpg", 30, 0),
    ]
    assert ann.negatives == 1 and ann.unlisted == []
    assert any("read as negatives" in w and "z_extra.jpg" in w for w in ann.warnings)


def test_unlisted_photos_can_be_an_error(tmp_path: Path) -> None:
    images = tmp_path / "images"
    blank(images / "a.jpg")
    blank(images / "b.jpg")
    path = via2(tmp_path, [("a.jpg", [])])
    with pytest.raises(AnnotationError, match=r"1 photo in .* not in this file: b\.jpg"):
        read_via(path, images, AnnotationsParams(unlisted="error"), CLASSES)


def test_the_old_unannotated_key_still_works(tmp_path: Path) -> None:
    images = tmp_path / "images"
    blank(images / "a.jpg")
    blank(images / "b.jpg")
    path = via2(tmp_path, [("a.jpg", [])])
    with pytest.warns(FutureWarning, match="annotations.unannotated is deprecated"):
        error = AnnotationsParams(unannotated="error")
    with pytest.raises(AnnotationError, match=r"not in this file: b\.jpg"):
        read_via(path, images, error, CLASSES)
    with pytest.warns(FutureWarning, match="unlisted: negative"):
        negative = AnnotationsParams(unannotated="negative")
    assert [im.file_name for im in read_via(path, images, negative, CLASSES).images] == [
        "a.jpg",
        "b.jpg",
    ]


def test_the_sample_lists_every_photo_it_writes(tmp_path: Path) -> None:
    from landslide.params import Params, SampleParams
    from landslide.sample import generate_sample

    generate_sample(tmp_path, SampleParams(n=12, min_side=48, max_side=64), CLASSES)
    ann = read_via(
        tmp_path / "via_project.json", tmp_path / "images", Params().annotations, CLASSES
    )
    assert ann.unlisted == [] and len(ann.images) == 12
    assert not any("not in this file" in w for w in ann.warnings)


def test_a_template_from_a_project_still_lists_every_photo(tmp_path: Path) -> None:
    from landslide.annotations import make_template
    from landslide.params import Params

    images = tmp_path / "images"
    blank(images / "a.jpg")
    blank(images / "b.jpg")
    path = via2(tmp_path, [("a.jpg", [([1, 20, 5], [1, 1, 20])])])
    ann = make_template(images, tmp_path / "project.json", Params(), path)
    assert [(im.file_name, len(im.regions)) for im in ann.images] == [("a.jpg", 1), ("b.jpg", 0)]


# ---------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("orientation", "upright"), [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))]
)
def test_exif_orientation_gives_the_upright_size(
    tmp_path: Path, orientation: int, upright: tuple[int, int]
) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = blank(tmp_path / "r.jpg", (40, 20), exif=exif.tobytes())
    assert upright_size(path, 10**6) == upright
    with Image.open(path) as im:
        from PIL import ImageOps

        assert ImageOps.exif_transpose(im).size == upright


def test_polygons_are_checked_against_the_upright_size(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40x20, shown 20x40
    blank(tmp_path / "images" / "r.jpg", (40, 20), exif=exif.tobytes())
    path = via2(tmp_path, [("r.jpg", [([2, 18, 10], [2, 2, 39])])])  # inside 20x40, not 40x20
    ann = read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)
    assert (ann.images[0].width, ann.images[0].height) == (20, 40)
    assert ann.images[0].regions[0].polygon == ((2, 2), (18, 2), (10, 39))
    assert not ann.warnings


def test_vertex_outside_the_image_clipped_with_a_warning(tmp_path: Path) -> None:
    blank(tmp_path / "images" / "a.jpg", (64, 48))
    path = via2(tmp_path, [("a.jpg", [([2, 60, 30], [-1, 5, 49])])])
    ann = read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)
    assert ann.images[0].regions[0].polygon == ((2, 0), (60, 5), (30, 48))
    (warning,) = ann.warnings
    assert "image 'a.jpg' region 0: 2 vertices outside the 64x48 image clipped" in warning


def test_image_bomb_refused_from_the_header(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "bomb.png").write_bytes(png_header(20_000, 20_000))
    path = via2(tmp_path, [("bomb.png", [])])
    with pytest.raises(AnnotationError, match="decompression bomb") as err:
        read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)
    assert "image 'bomb.png'" in str(err.value)


def test_max_image_pixels_is_the_limit(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "big.png").write_bytes(png_header(2_000, 1_000))
    path = via2(tmp_path, [("big.png", [])])
    ann = read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)
    assert (ann.images[0].width, ann.images[0].height) == (2_000, 1_000)
    with pytest.raises(AnnotationError, match=r"annotations.max_image_pixels \(1,000,000\)"):
        read_via(path, tmp_path / "images", AnnotationsParams(max_image_pixels=10**6), CLASSES)


@pytest.mark.parametrize("content", [b"this is not an image", b"", b"\x89PNG\r\n\x1a\n\0\0"])
def test_file_that_is_not_an_image(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.jpg").write_bytes(content)
    path = via2(tmp_path, [("a.jpg", [])])
    with pytest.raises(AnnotationError) as err:
        read_via(path, tmp_path / "images", AnnotationsParams(), CLASSES)
    assert "image 'a.jpg'" in str(err.value)
    assert "image" in err.value.message
