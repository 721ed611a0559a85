"""Bad input: each a typed AnnotationError naming the file and where; classes and synonyms."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from landslide.annotations import read_via
from landslide.annotations.classes import ClassMap, ClassValueError
from landslide.errors import AnnotationError, LandslideError
from landslide.params import AnnotationsParams

CLASSES = ["landslide", "vegetation", "water_body", "building"]
SQUARE = {"name": "polygon", "all_points_x": [0, 10, 10, 0], "all_points_y": [0, 0, 10, 10]}


def write(tmp_path: Path, content: Any, name: str = "via.json") -> Path:
    path = tmp_path / name
    text = content if isinstance(content, str) else json.dumps(content)
    path.write_text(text, encoding="utf-8")
    return path


def export(*regions: dict[str, Any], name: str = "a.jpg") -> dict[str, Any]:
    return {f"{name}-1": {"filename": name, "size": -1, "regions": list(regions)}}


def region(shape: dict[str, Any] | None = None, **attributes: Any) -> dict[str, Any]:
    return {"shape_attributes": shape or SQUARE, "region_attributes": attributes}


def read(path: Path, **p: Any):
    return read_via(path, None, AnnotationsParams(**p), CLASSES)


def error(path: Path, **p: Any) -> AnnotationError:
    with pytest.raises(AnnotationError) as err:
        read(path, **p)
    assert isinstance(err.value, LandslideError)
    return err.value


# ---------------------------------------------------------------------------- the file


def test_error_format_names_file_image_region(tmp_path: Path) -> None:
    regions = [region(**{"class": "landslide"}) for _ in range(3)] + [
        region(**{"class": "Landslde"})
    ]
    err = error(write(tmp_path, export(*regions)))
    assert err.render().splitlines()[0] == (
        f"{tmp_path / 'via.json'}: image 'a.jpg' region 3: class 'Landslde' unknown "
        "(known: landslide, vegetation, water_body, building)"
    )
    assert err.hint and "synonyms" in err.hint


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a.jpg": {"filename": "a.jpg", "regions": [', "line 1, column 45"),
        ('{\n  "a.jpg": {\n    "filename": "a.jpg",,\n', "line 3, column 25"),
        ("{'single': 'quotes'}", "line 1, column 2"),
    ],
)
def test_not_json_names_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    err = error(write(tmp_path, text))
    assert err.where == where
    assert err.message.startswith("not valid JSON")


def test_truncated_json_says_so(tmp_path: Path) -> None:
    text = json.dumps(export(region(**{"class": "landslide"})))
    err = error(write(tmp_path, text[: len(text) // 2]))
    assert "truncated" in err.message


@pytest.mark.parametrize("content", ["", "   \n", "hello world", "just,one\n"])
def test_empty_or_unknown_text(tmp_path: Path, content: str) -> None:
    err = error(write(tmp_path, content, "via.txt"))
    assert any(m in err.message for m in ("empty", "unknown layout", "missing the column"))


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "via.json"
    path.write_bytes(b"\xff\xd8\xff\xe0 jpeg bytes")
    assert "not UTF-8" in error(path).message


def test_missing_file(tmp_path: Path) -> None:
    assert "cannot read" in error(tmp_path / "nope.json").message


@pytest.mark.parametrize(
    "content",
    [[1, 2, 3], {"foo": 1, "bar": [1]}, {"images": 1}, 42],
)
def test_unknown_layout_lists_the_known_ones(tmp_path: Path, content: Any) -> None:
    err = error(write(tmp_path, content))
    assert "unknown layout" in err.message
    for layout in ("VIA 1.x JSON", "VIA 2.x project", "VIA 3.x project", "VIA CSV export"):
        assert layout in err.message


def test_coco_file_is_not_read_as_via(tmp_path: Path) -> None:
    err = error(write(tmp_path, {"images": [], "annotations": [], "categories": []}))
    assert "COCO" in err.message


def test_csv_missing_columns_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, "filename,file_size,region_shape_attributes\na.jpg,1,{}\n", "via.csv")
    err = error(path)
    assert "region_attributes" in err.message
    assert err.where == "line 1"


def test_csv_cell_not_json_names_the_line(tmp_path: Path) -> None:
    text = (
        "filename,file_size,file_attributes,region_count,region_id,"
        "region_shape_attributes,region_attributes\n"
        'a.jpg,1,"{}",1,0,"{""name"":""rect"",""x"":1,""y"":1,""width"":5,""height"":5}",'
        '"{""class"":""landslide""}"\n'
        'b.jpg,1,"{}",1,0,"{""name"":""rect"",""x"":1",{}\n'
    )
    err = error(write(tmp_path, text, "via.csv"))
    assert err.where == "line 3"
    assert "region_shape_attributes is not valid JSON" in err.message


# ---------------------------------------------------------------------------- regions


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        (
            {"name": "polygon", "all_points_x": [0, 10, float("nan")], "all_points_y": [0, 0, 9]},
            "finite",
        ),
        (
            {"name": "polygon", "all_points_x": [0, 10, float("inf")], "all_points_y": [0, 0, 9]},
            "finite",
        ),
        (
            {"name": "polygon", "all_points_x": [0, "10", 5], "all_points_y": [0, 0, 9]},
            "not a number",
        ),
        (
            {"name": "polygon", "all_points_x": [0, None, 5], "all_points_y": [0, 0, 9]},
            "not a number",
        ),
        ({"name": "polygon", "all_points_x": [0, 10, 5], "all_points_y": [0, 9]}, "has 3 values"),
        ({"name": "rect", "x": "1", "y": 0, "width": 5, "height": 5}, "'x' is not a number"),
        ({"name": "circle", "cx": 1, "cy": 1}, "'r' is missing"),
    ],
)
def test_bad_coordinates(tmp_path: Path, shape: dict[str, Any], message: str) -> None:
    ok = region(**{"class": "landslide"})
    err = error(write(tmp_path, export(ok, region(shape, **{"class": "landslide"}))))
    assert err.where == "image 'a.jpg' region 1"
    assert message in err.message


def test_point_and_line_skipped_with_a_warning(tmp_path: Path) -> None:
    data = export(
        region({"name": "point", "cx": 3, "cy": 4}),
        region(**{"class": "landslide"}),
        region(
            {"name": "polyline", "all_points_x": [0, 9, 5], "all_points_y": [0, 0, 9]},
            **{"class": "water"},
        ),
    )
    ann = read(write(tmp_path, data))
    assert [(r.region_id, r.label, r.shape) for r in ann.images[0].regions] == [
        (1, "landslide", "polygon"),
        (2, "water_body", "polyline"),
    ]
    assert ann.warnings == [
        f"{tmp_path / 'via.json'}: image 'a.jpg' region 0: point skipped: has no area"
    ]


def test_degenerate_region_reported_and_dropped(tmp_path: Path) -> None:
    line = {"name": "polygon", "all_points_x": [0, 5, 10], "all_points_y": [0, 5, 10]}
    ann = read(write(tmp_path, export(region(line, **{"class": "landslide"}))))
    assert ann.images[0].regions == ()
    assert "region 0: dropped: zero area" in ann.warnings[0]


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({}, "no class: region attribute 'class' missing (region attributes in this file: none"),
        ({"type": "landslide"}, "(region attributes in this file: type)"),
        ({"class": ""}, "class is empty"),
        ({"class": None}, "class is null"),
        ({"class": {"landslide": True, "water": True}}, "several checked: landslide, water"),
        ({"class": {"landslide": False}}, "nothing checked"),
        ({"class": ["landslide"]}, "class is a list"),
    ],
)
def test_class_problems(tmp_path: Path, attributes: dict[str, Any], message: str) -> None:
    data = export({"shape_attributes": SQUARE, "region_attributes": attributes})
    assert message in error(write(tmp_path, data)).message


def test_one_region_without_class_among_others(tmp_path: Path) -> None:
    data = export(region(**{"class": "landslide"}), region())
    err = error(write(tmp_path, data))
    assert err.where == "image 'a.jpg' region 1"
    assert "this region has none" in err.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"a.jpg-1": {"filename": "a.jpg"}, "b.jpg-1": ["list"]}, "expected an image object"),
        ({"a.jpg-1": {"filename": "a.jpg", "regions": "none"}}, "'regions' must be a list"),
        ({"a.jpg-1": {"filename": 5, "regions": []}}, "file name missing or not a string"),
        ({"a.jpg-1": {"filename": "a.jpg", "regions": [5]}}, "expected a region object"),
        (
            {"a.jpg-1": {"filename": "a.jpg", "regions": [{"region_attributes": {}}]}},
            "shape_attributes",
        ),
        (
            {
                "a.jpg-1": {
                    "filename": "a.jpg",
                    "regions": [{"shape_attributes": SQUARE, "region_attributes": 3}],
                }
            },
            "region_attributes is not an object",
        ),
        (
            {"a.jpg-1": {"filename": "a.jpg", "regions": [], "file_attributes": [1]}},
            "file_attributes is not an object",
        ),
        ({"_via_img_metadata": []}, "_via_img_metadata is not an object"),
    ],
)
def test_structure_errors(tmp_path: Path, data: Any, message: str) -> None:
    assert message in error(write(tmp_path, data)).message


# ---------------------------------------------------------------------------- VIA 3


def via3(metadata: dict[str, Any], attribute: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "project": {"vid_list": ["1"]},
        "config": {},
        "attribute": attribute
        or {"1": {"aname": "class", "anchor_id": "FILE1_Z0_XY1", "type": 1, "options": {}}},
        "file": {"1": {"fid": "1", "fname": "a.jpg", "type": 2, "loc": 1, "src": ""}},
        "view": {"1": {"fid_list": ["1"]}},
        "metadata": metadata,
    }


@pytest.mark.parametrize(
    ("xy", "message"),
    [
        (["2", 1, 1, 5, 5], "must start with a shape id"),
        ([2, 1, 1, 5], "a rect needs 4 numbers"),
        ([7, 1, 1, 5, 5, 9], "x, y pairs"),
        ([42, 1], "must start with a shape id"),
        ([7, 0, 0, 10, "0", 5, 9], "not a number"),
    ],
)
def test_via3_bad_xy(tmp_path: Path, xy: list[Any], message: str) -> None:
    data = via3({"1_a": {"vid": "1", "flg": 0, "z": [], "xy": xy, "av": {"1": "landslide"}}})
    assert message in error(write(tmp_path, data)).message


def test_via3_metadata_of_an_unknown_view(tmp_path: Path) -> None:
    data = via3({"9_a": {"vid": "9", "z": [], "xy": [2, 1, 1, 5, 5], "av": {}}})
    assert "view '9' not found" in error(write(tmp_path, data)).message


def test_via3_select_checkbox_options_and_file_attributes(tmp_path: Path) -> None:
    attribute = {
        "1": {"aname": "kind", "type": 4, "options": {"0": "Landslide", "1": "Water body"}},
        "2": {"aname": "tags", "type": 2, "options": {"0": "fresh", "1": "old"}},
        "3": {"aname": "caption", "anchor_id": "FILE1_Z0_XY0", "type": 1, "options": {}},
    }
    data = via3(
        {
            "1_f": {"vid": "1", "z": [], "xy": [], "av": {"3": "a hillside"}},
            "1_a": {"vid": "1", "z": [], "xy": [2, 1, 1, 5, 5], "av": {"1": "0", "2": "0,1"}},
            "1_b": {"vid": "1", "z": [], "xy": [3, 20, 20, 4], "av": {"1": "1"}},
            "1_c": {"vid": "1", "z": [1.5, 2.0], "xy": [], "av": {"1": "1"}},
        },
        attribute,
    )
    ann = read(write(tmp_path, data), class_attribute="kind")
    (image,) = ann.images
    assert image.attributes == (("caption", "a hillside"),)
    assert [(r.label, r.shape, r.attributes) for r in image.regions] == [
        ("landslide", "rect", (("tags", "fresh,old"),)),
        ("water_body", "circle", ()),
    ]
    assert any("temporal segment" in w for w in ann.warnings)


# ---------------------------------------------------------------------------- classes


def test_synonyms_case_spaces_underscores() -> None:
    cm = ClassMap(CLASSES, AnnotationsParams().synonyms)
    for value, cls in [
        ("Landslide", "landslide"),
        ("  LANDSLIDE ", "landslide"),
        ("Water body", "water_body"),
        ("water_body", "water_body"),
        ("WATER-BODY", "water_body"),
        ("debris  flow", "landslide"),
        ("Houses", "building"),
        ("forest", "vegetation"),
    ]:
        assert cm.label(value) == cls, value


def test_checkbox_dicts_and_option_labels() -> None:
    cm = ClassMap(CLASSES, AnnotationsParams().synonyms)
    assert cm.label({"landslide": True, "water": False}) == "landslide"
    assert cm.label({"wb": True}, {"wb": "Water body"}) == "water_body"
    assert cm.label("ls", {"ls": "Landslide"}) == "landslide"
    assert cm.label(3, {"3": "house"}) == "building"
    with pytest.raises(ClassValueError, match="class 'lava' unknown"):
        cm.label("lava")


def test_synonyms_of_classes_not_in_params_are_unknown() -> None:
    cm = ClassMap(["landslide"], AnnotationsParams().synonyms)
    with pytest.raises(ClassValueError, match=r"unknown \(known: landslide\)"):
        cm.label("forest")


def test_via2_checkbox_and_dropdown_project(tmp_path: Path) -> None:
    data = {
        "_via_settings": {},
        "_via_img_metadata": export(
            region(kind={"ls": True}),
            region(kind="wb"),
            region(kind="Building"),
        ),
        "_via_attributes": {
            "region": {
                "kind": {
                    "type": "dropdown",
                    "options": {"ls": "Landslide", "wb": "Water body", "Building": "Building"},
                }
            },
            "file": {},
        },
    }
    ann = read(write(tmp_path, data), class_attribute="kind")
    assert [r.label for r in ann.images[0].regions] == ["landslide", "water_body", "building"]
