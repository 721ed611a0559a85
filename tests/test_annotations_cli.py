"""`landslide annotations import | template | stats`, and the sample -> import integration."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from PIL import Image
from pycocotools.coco import COCO
from typer.testing import CliRunner, Result

from landslide.annotations import load_annotations, read_via
from landslide.cli import app
from landslide.params import AnnotationsParams, Params, SampleParams

VIA = Path(__file__).resolve().parent / "fixtures" / "via"  # from shared/testdata/via
runner = CliRunner()


def params_file(tmp_path: Path, **annotations: object) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"annotations": annotations} if annotations else {}))
    return path


def photos(directory: Path, *names: str, size: tuple[int, int] = (640, 480)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", size).save(directory / name)
    return directory


def annotations(command: str, *args: str | Path, images: Path, out: Path, params: Path) -> Result:
    """`landslide annotations COMMAND ARGS --images IMAGES --out OUT -p PARAMS`, in-process."""
    argv = [command, *args, "--images", images, "--out", out, "-p", params]
    return runner.invoke(app, ["annotations", *map(str, argv)])


def via_project(tmp_path: Path) -> Path:
    data = {
        "a.jpg-1": {
            "filename": "a.jpg",
            "size": -1,
            "regions": [
                {
                    "shape_attributes": {
                        "name": "polygon",
                        "all_points_x": [10, 200, 120],
                        "all_points_y": [-1, 30, 300],
                    },
                    "region_attributes": {"class": "Landslide"},
                },
                {
                    "shape_attributes": {"name": "point", "cx": 5, "cy": 5},
                    "region_attributes": {"class": "water"},
                },
            ],
        },
        "b.jpg-1": {"filename": "./b.jpg", "size": -1, "regions": []},
    }
    path = tmp_path / "via.json"
    path.write_text(json.dumps(data))
    return path


def test_import_writes_coco_and_prints_summary_and_warnings(tmp_path: Path) -> None:
    images = photos(tmp_path / "images", "a.jpg", "b.jpg")
    out = tmp_path / "out" / "annotations.json"
    result = annotations(
        "import", via_project(tmp_path), images=images, out=out, params=params_file(tmp_path)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        f"import: 2 images (1 with a landslide, 1 negatives), regions: landslide 1, "
        f"2 warnings -> {out}"
    )
    assert "point skipped" in result.stderr
    assert "clipped" in result.stderr
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 2
    assert len(coco.getAnnIds()) == 1


def test_import_names_the_photos_the_file_does_not_list(tmp_path: Path) -> None:
    """Not negatives: left out, with a warning naming them and a count in the summary."""
    images = photos(tmp_path / "images", "a.jpg", "b.jpg", "c.jpg", "d.jpg")
    out = tmp_path / "annotations.json"
    args = ["annotations", "import", str(via_project(tmp_path)), "--images", str(images)]
    result = runner.invoke(app, [*args, "--out", str(out), "-p", str(params_file(tmp_path))])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == (
        "import: 2 images (1 with a landslide, 1 negatives), regions: landslide 1; "
        f"2 photos of the folder not in the file, left out, 3 warnings -> {out}"
    )
    assert "2 photos in" in result.stderr and "c.jpg, d.jpg" in result.stderr
    assert "left out (unknown, not negatives)" in result.stderr
    assert len(COCO(str(out)).getImgIds()) == 2
    result = runner.invoke(
        app, ["annotations", "stats", str(via_project(tmp_path)), "--images", str(images)]
    )
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout)["images"] == ["", "2"]
    assert "3 warnings" in result.output
    errors = runner.invoke(
        app, [*args, "--out", str(out), "-p", str(params_file(tmp_path, unlisted="error"))]
    )
    assert errors.exit_code == 2 and "Traceback" not in errors.output
    assert "2 photos in" in errors.output and "not in this file: c.jpg, d.jpg" in errors.output


def test_import_bad_file_is_a_short_error(tmp_path: Path) -> None:
    bad = tmp_path / "via.json"
    bad.write_text('{"a.jpg-1": {"filename": "a.jpg", "regions": [')
    result = annotations(
        "import",
        bad,
        images=photos(tmp_path / "i", "a.jpg"),
        out=tmp_path / "c.json",
        params=params_file(tmp_path),
    )
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2
    assert lines[0].startswith("error: ")
    assert "line 1, column" in lines[0] and "not valid JSON" in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "c.json").exists()


def test_import_unknown_class_names_region_and_known_classes(tmp_path: Path) -> None:
    path = via_project(tmp_path)
    path.write_text(path.read_text().replace("Landslide", "Landslde"))
    result = annotations(
        "import",
        path,
        images=photos(tmp_path / "i", "a.jpg", "b.jpg"),
        out=tmp_path / "c.json",
        params=params_file(tmp_path),
    )
    assert result.exit_code == 2
    first, *rest = result.stderr.strip().splitlines()
    assert first == (
        f"error: {path}: image 'a.jpg' region 0: class 'Landslde' unknown "
        "(known: landslide, vegetation, water_body, building)"
    )
    assert len(rest) == 1 and rest[0].strip().startswith("hint:")


def test_import_attributes_file_exit_2(tmp_path: Path) -> None:
    result = annotations(
        "import",
        VIA / "via2_attributes_only.json",
        images=photos(tmp_path / "i"),
        out=tmp_path / "c.json",
        params=params_file(tmp_path),
    )
    assert result.exit_code == 2
    assert "attributes file" in result.stderr


def test_template_lists_photos_with_the_dropdown(tmp_path: Path) -> None:
    images = photos(tmp_path / "images", "b.jpg", "a.png", "c.JPG", size=(32, 24))
    (images / "readme.txt").write_text("not a photo")
    out = tmp_path / "project.json"
    result = annotations("template", images=images, out=out, params=params_file(tmp_path))
    assert result.exit_code == 0, result.output
    assert "template: 3 photos, 0 regions" in result.stdout
    project = json.loads(out.read_text())
    size = (images / "a.png").stat().st_size
    assert project["_via_image_id_list"][0] == f"a.png{size}"
    assert [e["filename"] for e in project["_via_img_metadata"].values()] == [
        "a.png",
        "b.jpg",
        "c.JPG",
    ]
    assert project["_via_attributes"]["region"]["class"]["options"] == {
        c: c for c in Params().classes
    }
    assert project["_via_settings"]["core"]["default_filepath"] == "images/"
    # what VIA would save after annotating reads back: here, three negatives
    ann = read_via(out, images, AnnotationsParams(), Params().classes)
    assert [(im.file_name, im.width, len(im.regions)) for im in ann.images] == [
        ("a.png", 32, 0),
        ("b.jpg", 32, 0),
        ("c.JPG", 32, 0),
    ]


def test_template_from_an_existing_file_keeps_regions(tmp_path: Path) -> None:
    images = photos(tmp_path / "images", "a.jpg", "b.jpg")
    out = tmp_path / "project.json"
    result = annotations(
        "template",
        "--from",
        via_project(tmp_path),
        images=images,
        out=out,
        params=params_file(tmp_path),
    )
    assert result.exit_code == 0, result.output
    ann = load_annotations(out, images, Params())
    assert ann.counts() == {"landslide": 1}
    assert ann.images[0].regions[0].polygon == ((10, 0), (200, 30), (120, 300))


def test_template_of_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    result = annotations(
        "template",
        images=photos(tmp_path / "empty"),
        out=tmp_path / "p.json",
        params=params_file(tmp_path),
    )
    assert result.exit_code == 2
    assert "no photos" in result.stderr
    assert not (tmp_path / "p.json").exists()


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of a rich table: first cell -> the other cells, stripped."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) == 3:
            rows[cells[0]] = cells[1:]
    return rows


def test_stats_of_via_and_coco(tmp_path: Path) -> None:
    p = params_file(tmp_path, class_attribute="animal", synonyms={"landslide": ["crab"]})
    result = runner.invoke(
        app, ["annotations", "stats", str(VIA / "via2_project_rects_trimmed.json"), "-p", str(p)]
    )
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["landslide"] == ["742", "8"]
    assert rows["vegetation"] == ["0", "0"]
    assert rows["images"] == ["", "8"]
    assert rows["negatives (no landslide)"] == ["", "0"]

    images = photos(tmp_path / "images", "a.jpg", "b.jpg")
    coco = tmp_path / "coco.json"
    annotations(
        "import", via_project(tmp_path), images=images, out=coco, params=params_file(tmp_path)
    )
    result = runner.invoke(
        app, ["annotations", "stats", str(coco), "-p", str(params_file(tmp_path))]
    )
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert rows["landslide"] == ["1", "1"]
    assert rows["images"] == ["", "2"]
    assert rows["negatives (no landslide)"] == ["", "1"]


def test_sample_then_import(tmp_path: Path) -> None:
    sample = pytest.importorskip("landslide.sample")
    params = Params()
    s = sample.generate_sample(
        tmp_path / "raw", SampleParams(n=12, min_side=64, max_side=128), params.classes
    )
    out = tmp_path / "annotations.json"
    result = annotations(
        "import",
        tmp_path / "raw" / "via_project.json",
        images=tmp_path / "raw" / "images",
        out=out,
        params=params_file(tmp_path),
    )
    assert result.exit_code == 0, result.output
    coco = json.loads(out.read_text())
    assert len(coco["images"]) == s.images == 12
    assert [c["name"] for c in coco["categories"]] == list(params.classes)
    with_regions = {a["image_id"] for a in coco["annotations"]}
    landslide = {a["image_id"] for a in coco["annotations"] if a["category_id"] == 1}
    assert len(landslide) == s.landslide_images
    assert 12 - len(landslide) == s.negative_images > 0  # negatives are kept
    assert len(with_regions) <= 12
    counts = {c["name"]: 0 for c in coco["categories"]}
    for a in coco["annotations"]:
        counts[params.classes[a["category_id"] - 1]] += 1
    assert counts == s.regions
    # EXIF-rotated photos get their upright size, so no polygon needed clipping
    assert "clipped" not in result.stderr
