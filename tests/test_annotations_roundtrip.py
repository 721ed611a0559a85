"""Round trips: VIA 1/2/3 written and read back give the same regions; COCO within 1 px."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw
from pycocotools.coco import COCO

from landslide.annotations import (
    Annotations,
    ImageAnn,
    Region,
    read_coco,
    read_via,
    to_coco,
    via2_project,
    write_coco,
    write_via1,
    write_via2,
    write_via3,
)
from landslide.annotations.geometry import Outline, clean
from landslide.params import CLASSES, AnnotationsParams

P = AnnotationsParams()
SIZE = 200  # generated coordinates lie in [0, SIZE]

# ---------------------------------------------------------------------------- strategies

names = (
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCXYZ0123456789_- éü", min_size=1, max_size=10)
    .map(lambda s: s.strip())
    .filter(bool)
)
texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
attribute_pairs = st.lists(
    st.tuples(st.sampled_from(["note", "source", "Certainty"]), texts),
    max_size=2,
    unique_by=lambda kv: kv[0],
).map(tuple)


@st.composite
def rect(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    x, y = draw(st.integers(0, SIZE - 2)), draw(st.integers(0, SIZE - 2))
    w, h = draw(st.integers(2, SIZE - x)), draw(st.integers(2, SIZE - y))
    return ((x, y), (x + w, y), (x + w, y + h), (x, y + h))


@st.composite
def polygon(draw: st.DrawFn) -> tuple[tuple[int, int], ...]:
    """A star-shaped integer polygon (simple), kept only if the reader keeps it unchanged."""
    n = draw(st.integers(3, 12))
    cx, cy = draw(st.integers(20, SIZE - 20)), draw(st.integers(20, SIZE - 20))
    radius = min(cx, cy, SIZE - cx, SIZE - cy)
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=n, max_size=n))
    pts = tuple(
        (
            round(cx + r * radius * math.cos(2 * math.pi * k / n)),
            round(cy + r * radius * math.sin(2 * math.pi * k / n)),
        )
        for k, r in enumerate(radii)
    )
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    cleaned = clean(Outline(xs, ys, SIZE, SIZE), P.min_region_area)
    if cleaned.polygon != pts or cleaned.notes:
        pts = ((1, 1), (30, 2), (15, 25))
    return pts


@st.composite
def region(draw: st.DrawFn, index: int) -> Region:
    shape = draw(st.sampled_from(["rect", "polygon"]))
    pts = draw(rect() if shape == "rect" else polygon())
    return Region(draw(st.sampled_from(CLASSES)), pts, index, shape, draw(attribute_pairs))


@st.composite
def annotations(draw: st.DrawFn) -> Annotations:
    files = draw(st.lists(names, max_size=4, unique_by=str.casefold))
    images = []
    for stem in files:
        n = draw(st.integers(0, 4))
        regions = tuple(draw(region(i)) for i in range(n))
        suffix = draw(st.sampled_from([".jpg", ".png", ".JPG"]))
        images.append(ImageAnn(f"{stem}{suffix}", None, None, regions, draw(attribute_pairs)))
    return Annotations(images=images)


ROUND_TRIP = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


# ---------------------------------------------------------------------------- VIA


@ROUND_TRIP
@given(ann=annotations())
def test_via2_project_round_trip(tmp_path: Path, ann: Annotations) -> None:
    path = tmp_path / "via2.json"
    write_via2(ann, path, CLASSES, P.class_attribute)
    assert read_via(path, None, P, CLASSES).images == ann.images


@ROUND_TRIP
@given(ann=annotations())
def test_via1_round_trip(tmp_path: Path, ann: Annotations) -> None:
    path = tmp_path / "via1.json"
    write_via1(ann, path, P.class_attribute)
    assert read_via(path, None, P, CLASSES).images == ann.images


@ROUND_TRIP
@given(ann=annotations())
def test_via3_round_trip(tmp_path: Path, ann: Annotations) -> None:
    path = tmp_path / "via3.json"
    write_via3(ann, path, CLASSES, P.class_attribute)
    assert read_via(path, None, P, CLASSES).images == ann.images


@ROUND_TRIP
@given(ann=annotations())
def test_coco_round_trip_through_read_coco(tmp_path: Path, ann: Annotations) -> None:
    sized = Annotations(
        images=[ImageAnn(im.file_name, SIZE, SIZE, im.regions, im.attributes) for im in ann.images]
    )
    path = tmp_path / "coco.json"
    write_coco(sized, path, CLASSES)
    back = read_coco(path)
    assert [(im.file_name, im.width, im.height, im.attributes) for im in back.images] == [
        (im.file_name, im.width, im.height, im.attributes) for im in sized.images
    ]
    for a, b in zip(back.images, sized.images, strict=True):
        assert [(r.label, r.polygon, r.attributes) for r in a.regions] == [
            (r.label, r.polygon, r.attributes) for r in b.regions
        ]


def test_via2_project_is_what_via_2_0_10_saves() -> None:
    ann = Annotations(
        images=[
            ImageAnn("a.jpg", regions=(Region("landslide", ((1, 1), (9, 1), (5, 8))),)),
            ImageAnn("b.jpg"),
        ]
    )
    project = via2_project(ann, CLASSES, "class", sizes={"a.jpg": 1234})
    assert list(project) == [
        "_via_settings",
        "_via_img_metadata",
        "_via_attributes",
        "_via_data_format_version",
        "_via_image_id_list",
    ]
    assert project["_via_data_format_version"] == "2.0.10"
    assert project["_via_image_id_list"] == ["a.jpg1234", "b.jpg-1"]
    assert set(project["_via_settings"]) == {"ui", "core", "project"}
    dropdown = project["_via_attributes"]["region"]["class"]
    assert dropdown["type"] == "dropdown"
    assert dropdown["options"] == {c: c for c in CLASSES}
    entry = project["_via_img_metadata"]["a.jpg1234"]
    assert entry == {
        "filename": "a.jpg",
        "size": 1234,
        "regions": [
            {
                "shape_attributes": {
                    "name": "polygon",
                    "all_points_x": [1, 9, 5],
                    "all_points_y": [1, 1, 8],
                },
                "region_attributes": {"class": "landslide"},
            }
        ],
        "file_attributes": {},
    }


def test_written_files_are_deterministic(tmp_path: Path) -> None:
    ann = Annotations(
        images=[ImageAnn("a.jpg", 50, 40, (Region("water_body", ((1, 1), (9, 1), (5, 8))),))]
    )
    for write in (
        lambda p: write_coco(ann, p, CLASSES),
        lambda p: write_via2(ann, p, CLASSES, "class"),
        lambda p: write_via3(ann, p, CLASSES, "class"),
    ):
        first, second = tmp_path / "1" / "out.json", tmp_path / "2" / "out.json"
        write(first)
        write(second)
        assert first.read_bytes() == second.read_bytes()


# ---------------------------------------------------------------------------- COCO


def dilate(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1)
    out = np.zeros_like(mask)
    h, w = mask.shape
    for dy in range(3):
        for dx in range(3):
            out |= padded[dy : dy + h, dx : dx + w]
    return out


def pil_mask(polygon: tuple[tuple[float, float], ...], width: int, height: int) -> np.ndarray:
    image = Image.new("1", (width, height), 0)
    ImageDraw.Draw(image).polygon([tuple(p) for p in polygon], fill=1, outline=1)
    return np.array(image, dtype=bool)


def sample_annotations() -> Annotations:
    """Polygons of every kind the reader makes: integer, float, circle, rotated ellipse."""
    from landslide.annotations.shapes import outline

    def shape(**s: object) -> tuple[tuple[float, float], ...]:
        _, xs, ys = outline(s)
        return tuple(zip(xs, ys, strict=True))

    regions = (
        Region("landslide", ((10, 10), (60, 12), (70, 50), (30, 70), (12, 40))),
        Region("vegetation", shape(name="circle", cx=100.5, cy=40.25, r=22.7), shape="circle"),
        Region(
            "water_body",
            shape(name="ellipse", cx=60, cy=100, rx=40, ry=12, theta=0.6),
            shape="ellipse",
        ),
        Region("building", shape(name="rect", x=120, y=90, width=30.5, height=20), shape="rect"),
        Region("landslide", ((0, 0), (5, 0), (5, 5), (0, 5))),  # on the border
    )
    return Annotations(
        images=[
            ImageAnn("a.jpg", 160, 130, regions),
            ImageAnn("negative.jpg", 90, 60),  # no region: kept
        ]
    )


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_masks_match_the_rasterised_polygons(tmp_path: Path) -> None:
    ann = sample_annotations()
    path = tmp_path / "coco.json"
    write_coco(ann, path, CLASSES)
    coco = COCO(str(path))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASSES)
    assert coco.getCatIds() == [1, 2, 3, 4]
    assert sorted(coco.getImgIds()) == [1, 2]
    assert coco.getAnnIds(imgIds=[2]) == []  # the negative is kept, without annotations
    image = ann.images[0]
    for ann_id, region in zip(coco.getAnnIds(imgIds=[1]), image.regions, strict=True):
        record = coco.loadAnns([ann_id])[0]
        assert record["iscrowd"] == 0
        assert record["category_id"] == CLASSES.index(region.label) + 1
        assert record["area"] == pytest.approx(region.area)
        mask = coco.annToMask(record).astype(bool)
        drawn = pil_mask(region.polygon, image.width, image.height)
        assert mask.shape == (image.height, image.width)
        assert not (mask & ~dilate(drawn)).any(), region.label
        assert not (drawn & ~dilate(mask)).any(), region.label
        assert (
            abs(int(mask.sum()) - region.area) <= 0.1 * region.area + 2 * math.sqrt(region.area) * 4
        )


def test_coco_structure_and_bbox() -> None:
    ann = sample_annotations()
    coco = to_coco(ann, CLASSES)
    assert coco["images"][0] == {"id": 1, "file_name": "a.jpg", "width": 160, "height": 130}
    first = coco["annotations"][0]
    assert first["bbox"] == [10, 10, 60, 60]
    assert first["segmentation"] == [[10, 10, 60, 12, 70, 50, 30, 70, 12, 40]]
    assert [a["id"] for a in coco["annotations"]] == [1, 2, 3, 4, 5]
    assert {c["supercategory"] for c in coco["categories"]} == {"scene"}
    json.dumps(coco, allow_nan=False)  # plain JSON


def test_coco_needs_sizes() -> None:
    from landslide.errors import AnnotationError

    with pytest.raises(AnnotationError, match="image size unknown"):
        to_coco(Annotations(images=[ImageAnn("a.jpg")]), CLASSES)
