"""Real VIA files (tests/fixtures/via, from shared/testdata): each loads or fails cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from landslide.annotations import read_via
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams

VIA = Path(__file__).resolve().parent / "fixtures" / "via"  # from shared/testdata/via
CLASSES = ["landslide", "vegetation", "water_body", "building"]

VIA1_NAMES = {
    "landslide": ['ellipse "red"', "rectangle 'black'", 'a "white" swan, good fortune'],
    "vegetation": ['ellipse on "yellow"; background', "a 'rect' in \"blue\", background"],
    "water_body": ["Water body"],
}


def params(**kw: object) -> AnnotationsParams:
    return AnnotationsParams(**kw)


def blank(directory: Path, name: str, size: tuple[int, int]) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size).save(path)
    return path


def via1_with_classes(tmp_path: Path) -> Path:
    """The VIA 1 fixture with a class on the three regions that have no attribute at all."""
    data = json.loads((VIA / "via1_all_shapes.json").read_text(encoding="utf-8"))
    for entry in data.values():
        for region in entry["regions"].values():
            if not region["region_attributes"]:
                region["region_attributes"] = {"name": "Water body"}
    path = tmp_path / "via1.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def via1_csv_with_classes(tmp_path: Path) -> Path:
    text = (VIA / "via1_all_shapes.csv").read_text(encoding="utf-8")
    text = text.replace(',"{}"\n', ',"{""name"":""Water body""}"\n')
    path = tmp_path / "via1.csv"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- VIA 1


@pytest.mark.parametrize("name", ["via1_all_shapes.json", "via1_all_shapes.csv"])
def test_via1_region_without_class_is_an_error_naming_it(name: str) -> None:
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / name, None, params(class_attribute="name", synonyms=VIA1_NAMES), CLASSES)
    text = str(err.value)
    assert "image 'test_pattern_qbist.jpg' region 5" in text
    assert "no class" in text


def test_via1_json_all_shapes(tmp_path: Path) -> None:
    p = params(class_attribute="name", synonyms=VIA1_NAMES)
    ann = read_via(via1_with_classes(tmp_path), None, p, CLASSES)
    assert [im.file_name for im in ann.images] == [
        "test_pattern_qbist.jpg",
        "sinus_test_pattern.jpg",
        "a_swan_swimming_in_geneve_lake.jpg",
    ]
    assert [len(im.regions) for im in ann.images] == [4, 1, 2]  # 12 regions, 5 points skipped
    points = [w for w in ann.warnings if "point skipped" in w]
    assert len(points) == 5
    assert "image 'test_pattern_qbist.jpg' region 2" in points[0]
    first = ann.images[0]
    assert ann.counts() == {"landslide": 3, "water_body": 2, "vegetation": 2}
    rect = next(r for r in first.regions if r.shape == "rect")
    assert rect.polygon == ((290, 208), (417, 208), (417, 321), (290, 321))
    swan = ann.images[1].regions[0]
    assert len(swan.polygon) == 11  # the closing vertex VIA 1 repeats is dropped
    assert swan.label == "landslide"


def test_via1_region_ids_and_shapes(tmp_path: Path) -> None:
    p = params(class_attribute="name", synonyms=VIA1_NAMES)
    first = read_via(via1_with_classes(tmp_path), None, p, CLASSES).images[0]
    assert [(r.region_id, r.shape) for r in first.regions] == [
        (0, "ellipse"),
        (1, "rect"),
        (5, "circle"),
        (6, "ellipse"),
    ]


def test_via1_csv_reads_like_the_json(tmp_path: Path) -> None:
    p = params(class_attribute="name", synonyms=VIA1_NAMES)
    from_json = read_via(via1_with_classes(tmp_path), None, p, CLASSES)
    from_csv = read_via(via1_csv_with_classes(tmp_path), None, p, CLASSES)
    assert from_csv.images == from_json.images
    assert len(from_csv.warnings) == len(from_json.warnings)


def test_via1_with_images_gets_sizes(tmp_path: Path) -> None:
    images = tmp_path / "images"
    for name in ("test_pattern_qbist.jpg", "sinus_test_pattern.jpg"):
        blank(images, name, (640, 480))
    blank(images, "A_Swan_Swimming_In_Geneve_Lake.JPG", (640, 480))  # other case
    p = params(class_attribute="name", synonyms=VIA1_NAMES)
    ann = read_via(via1_with_classes(tmp_path), images, p, CLASSES)
    assert [(im.width, im.height) for im in ann.images] == [(640, 480)] * 3
    assert ann.images[2].file_name == "A_Swan_Swimming_In_Geneve_Lake.JPG"


# ---------------------------------------------------------------------------- VIA 2


def test_via2_export_without_any_attribute_lists_none() -> None:
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via2_export_rects_size_minus1.json", None, params(), CLASSES)
    assert "region attributes in this file: none" in str(err.value)
    assert "bbc_sherlock_image1.jpg" in str(err.value)


def test_via2_export_size_minus1_loads_with_a_class(tmp_path: Path) -> None:
    data = json.loads((VIA / "via2_export_rects_size_minus1.json").read_text())
    for entry in data.values():
        for region in entry["regions"]:
            region["region_attributes"] = {"class": "Landslide"}
    path = tmp_path / "faces.json"
    path.write_text(json.dumps(data))
    ann = read_via(path, None, params(), CLASSES)
    assert len(ann.images) == 4
    assert ann.counts() == {"landslide": 9}
    assert all(r.shape == "rect" for im in ann.images for r in im.regions)


def _tracks() -> dict[str, list[str]]:
    data = json.loads((VIA / "via2_export_size_string_dotslash.json").read_text())
    tracks = {str(r["region_attributes"]["track"]) for e in data.values() for r in e["regions"]}
    return {"landslide": sorted(tracks)}


@pytest.mark.parametrize(
    "name", ["via2_export_size_string_dotslash.json", "via2_export_size_string_dotslash.csv"]
)
def test_via2_export_dotslash_names_numeric_attributes(name: str) -> None:
    p = params(class_attribute="track", synonyms=_tracks())
    ann = read_via(VIA / name, None, p, CLASSES)
    assert len(ann.images) == 266
    assert ann.counts() == {"landslide": 427}
    assert ann.images[0].file_name == "images/00011384.jpg"  # './' dropped
    assert ann.images[0].attributes == (("shot", "123"),)


def test_via2_export_json_and_csv_agree() -> None:
    p = params(class_attribute="track", synonyms=_tracks())
    a = read_via(VIA / "via2_export_size_string_dotslash.json", None, p, CLASSES)
    b = read_via(VIA / "via2_export_size_string_dotslash.csv", None, p, CLASSES)
    assert a.images == b.images


def test_via2_export_unknown_track_names_the_value() -> None:
    p = params(class_attribute="track", synonyms={"landslide": ["320", "321"]})
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via2_export_size_string_dotslash.json", None, p, CLASSES)
    assert "class '322' unknown (known: landslide, vegetation, water_body, building)" in str(
        err.value
    )


def test_via2_dotslash_prefix_found_in_images_dir_missing_skipped(tmp_path: Path) -> None:
    images = tmp_path / "photos"
    for name in ("00011384.jpg", "00011385.jpg", "00011386.jpg"):
        blank(images, name, (720, 576))
    p = params(class_attribute="track", synonyms=_tracks(), missing_image="skip")
    ann = read_via(VIA / "via2_export_size_string_dotslash.json", images, p, CLASSES)
    assert [im.file_name for im in ann.images] == ["00011384.jpg", "00011385.jpg", "00011386.jpg"]
    assert [(im.width, im.height) for im in ann.images] == [(720, 576)] * 3
    assert sum("not found" in w for w in ann.warnings) == 263


def test_via2_dotslash_missing_image_is_an_error_by_default(tmp_path: Path) -> None:
    images = tmp_path / "photos"
    blank(images, "00011384.jpg", (720, 576))
    p = params(class_attribute="track", synonyms=_tracks())
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via2_export_size_string_dotslash.json", images, p, CLASSES)
    assert "image './images/00011385.jpg'" in str(err.value)
    assert "not found" in str(err.value)


def test_via2_attributes_file_is_refused_clearly() -> None:
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via2_attributes_only.json", None, params(), CLASSES)
    assert "attributes file" in str(err.value)
    assert "not annotations" in str(err.value)


def test_via2_project_dropdown_class() -> None:
    p = params(class_attribute="animal", synonyms={"landslide": ["crab"]})
    ann = read_via(VIA / "via2_project_rects_trimmed.json", None, p, CLASSES)
    assert len(ann.images) == 8
    assert ann.counts() == {"landslide": 742}
    assert not ann.warnings


def test_via2_project_class_attribute_case_insensitive() -> None:
    p = params(class_attribute="Animal ", synonyms={"landslide": ["CRAB"]})
    ann = read_via(VIA / "via2_project_rects_trimmed.json", None, p, CLASSES)
    assert ann.counts() == {"landslide": 742}


def test_via2_project_unknown_class_lists_known() -> None:
    with pytest.raises(AnnotationError) as err:
        read_via(
            VIA / "via2_project_rects_trimmed.json", None, params(class_attribute="animal"), CLASSES
        )
    assert "class 'crab' unknown (known: landslide, vegetation, water_body, building)" in str(
        err.value
    )
    assert "region 0" in str(err.value)


# ---------------------------------------------------------------------------- VIA 3

VIA3_NAMES = {"landslide": ["swan"], "building": ["socrates", "plato"]}


def test_via3_project_attributes_by_id_remote_file() -> None:
    p = params(class_attribute="Name", synonyms=VIA3_NAMES)
    ann = read_via(VIA / "via3_project_rects_remote_file.json", None, p, CLASSES)
    assert [im.file_name for im in ann.images] == [
        "adutta_swan.jpg",
        "640px-David_-_The_Death_of_Socrates.jpg",
    ]
    assert ann.counts() == {"landslide": 1, "building": 2}
    assert any("remote file" in w for w in ann.warnings)
    socrates = ann.images[1].regions[0]
    assert socrates.polygon[0] == (378.921, 121.113)
    assert socrates.attributes == (("Caption", "Death of Socrates painting by David."),)


def test_via3_remote_file_missing_from_images_dir(tmp_path: Path) -> None:
    blank(tmp_path, "adutta_swan.jpg", (500, 400))
    p = params(class_attribute="Name", synonyms=VIA3_NAMES)
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via3_project_rects_remote_file.json", tmp_path, p, CLASSES)
    assert "not found" in str(err.value)
    assert "Socrates" in str(err.value)
    skip = p.model_copy(update={"missing_image": "skip"})
    ann = read_via(VIA / "via3_project_rects_remote_file.json", tmp_path, skip, CLASSES)
    assert [(im.file_name, im.width, im.height) for im in ann.images] == [
        ("adutta_swan.jpg", 500, 400)
    ]


def test_via3_without_the_class_attribute_lists_attribute_names() -> None:
    with pytest.raises(AnnotationError) as err:
        read_via(VIA / "via3_project_rects_remote_file.json", None, params(), CLASSES)
    assert "region attributes in this file: Caption, Name" in str(err.value)
