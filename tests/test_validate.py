"""Validation stage: each kind of bad annotation or image is named with its file, region and why."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from typer.testing import CliRunner

from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.cli import app
from landslide.errors import ValidationFailed
from landslide.params import CLASSES, ValidateParams
from landslide.validate import validate

SQUARE = ((10.0, 10.0), (50.0, 10.0), (50.0, 50.0), (10.0, 50.0))
TRIANGLE = ((60.0, 20.0), (90.0, 20.0), (75.0, 60.0))


def noise_image(path: Path, width: int = 100, height: int = 80, seed: int = 0, **save) -> Path:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, **save)
    return path


@pytest.fixture
def images_dir(tmp_path: Path) -> Path:
    for i, name in enumerate(["a.png", "b.png", "c.png"]):
        noise_image(tmp_path / "images" / name, seed=i)
    return tmp_path / "images"


def clean() -> Annotations:
    """Two photos with landslides (and other classes), one negative; all 100x80."""
    return Annotations(
        images=[
            ImageAnn(
                "a.png", 100, 80, (Region("landslide", SQUARE, 0), Region("building", TRIANGLE, 1))
            ),
            ImageAnn("b.png", 100, 80, (Region("landslide", TRIANGLE, 0),)),
            ImageAnn("c.png", 100, 80, (Region("vegetation", SQUARE, 0),)),
        ],
        source="annotations.json",
    )


def run(ann: Annotations, images_dir: Path, **params):
    out = images_dir.parent / "report"
    return validate(ann, images_dir, out, ValidateParams(**params), list(CLASSES))


def named(report) -> set[tuple[str | None, int | None, str]]:
    return {(f.file, f.region, f.check) for f in report.failures}


def with_image(ann: Annotations, index: int, **changes) -> Annotations:
    images = list(ann.images)
    images[index] = dataclasses.replace(images[index], **changes)
    return Annotations(images=images, source=ann.source, warnings=list(ann.warnings))


def test_clean_annotations_pass(images_dir: Path) -> None:
    report = run(clean(), images_dir)
    assert report.passed, [str(f) for f in report.failures]
    data = json.loads(report.json_path.read_text())
    assert data["passed"] is True and data["failures"] == []
    assert all(c["success"] for c in data["checks"])
    assert len(data["checks"]) == 15  # every check ran, none skipped by the defaults
    metrics = json.loads(report.metrics_path.read_text())
    assert metrics == {
        "images": 3,
        "regions": 4,
        "regions_per_class": {"landslide": 2, "building": 1, "vegetation": 1},
        "landslide_images": 2,
        "negatives": 1,
        "failures": 0,
        "failed_checks": 0,
        "warnings": 0,
        "unreviewed_model_regions": 0,
        "unlisted": 0,
    }
    assert "**PASSED**" in report.md_path.read_text()
    table = report.table_path.read_text().splitlines()
    assert len(table) == 1 + 3 + 4  # header, image rows, region rows
    report.raise_if_failed()  # no error


def test_injected_faults_are_named_and_nothing_else(images_dir: Path) -> None:
    ann = clean()
    unknown = Region("rock", TRIANGLE, 1)
    ann = with_image(ann, 0, regions=(ann.images[0].regions[0], unknown))
    outside = ((80.0, 10.0), (130.0, 10.0), (130.0, 40.0))
    ann = with_image(ann, 1, regions=(Region("landslide", outside, 0),))
    ann.images.append(ImageAnn("missing.png", 100, 80, (Region("landslide", SQUARE, 0),)))

    report = run(ann, images_dir)

    assert named(report) == {
        ("a.png", 1, "class_known"),
        ("b.png", 0, "inside_image"),
        ("missing.png", None, "readable"),
    }
    by_check = {f.check: f for f in report.failures}
    assert "class 'rock' unknown (known: landslide," in by_check["class_known"].reason
    assert "outside the 100x80 image" in by_check["inside_image"].reason
    assert "x 80..130" in by_check["inside_image"].reason
    assert "not found" in by_check["readable"].reason
    data = json.loads(report.json_path.read_text())
    assert {(f["file"], f["region"], f["check"]) for f in data["failures"]} == named(report)
    md = report.md_path.read_text()
    assert "FAILED (3 failures)" in md
    assert "| a.png | 1 | class_known | class 'rock' unknown" in md
    assert "| missing.png |  | readable |" in md
    assert json.loads(report.metrics_path.read_text())["failures"] == 3
    with pytest.raises(ValidationFailed) as info:
        report.raise_if_failed()
    assert info.value.failures == 3
    assert str(report.md_path) in info.value.message


def test_identical_files_fail_naming_both(images_dir: Path) -> None:
    shutil.copy(images_dir / "a.png", images_dir / "copy.png")
    ann = clean()
    ann.images.append(ImageAnn("copy.png", 100, 80, (Region("landslide", SQUARE, 0),)))
    # identical bytes fail even where perceptual duplicates are allowed
    report = run(ann, images_dir, allow_duplicates=True)
    assert named(report) == {
        ("a.png", None, "duplicate_bytes"),
        ("copy.png", None, "duplicate_bytes"),
    }
    reasons = {f.file: f.reason for f in report.failures}
    assert reasons["a.png"].startswith("identical bytes to copy.png (sha256 ")
    assert reasons["copy.png"].startswith("identical bytes to a.png (sha256 ")


def test_perceptual_duplicates_fail_unless_allowed(images_dir: Path) -> None:
    # same pixels, different bytes (an extra PNG text chunk): same phash, another sha256
    pixels = Image.open(images_dir / "a.png")
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "re-uploaded")
    pixels.save(images_dir / "again.png", pnginfo=info)
    ann = clean()
    ann.images.append(ImageAnn("again.png", 100, 80, (Region("landslide", SQUARE, 0),)))

    report = run(ann, images_dir)
    assert named(report) == {
        ("a.png", None, "duplicate_image"),
        ("again.png", None, "duplicate_image"),
    }
    reasons = {f.file: f.reason for f in report.failures}
    assert reasons["a.png"].startswith("perceptual duplicate of again.png")

    allowed = run(ann, images_dir, allow_duplicates=True)
    assert allowed.passed
    assert any("again.png" in w and "allowed" in w for w in allowed.warnings)


@pytest.mark.parametrize(
    ("drop", "check"),
    [("negative", "has_negative"), ("landslide", "has_landslide")],
)
def test_a_set_without_negatives_or_landslides_fails(
    images_dir: Path, drop: str, check: str
) -> None:
    ann = clean()
    keep = [
        i for i in ann.images if (i.has_landslide if drop == "negative" else not i.has_landslide)
    ]
    report = run(Annotations(images=keep), images_dir)
    assert named(report) == {(None, None, check)}
    # the requirement can be switched off
    assert run(Annotations(images=keep), images_dir, **{f"require_{drop}": False}).passed


def test_warnings_are_reported_and_do_not_fail(images_dir: Path) -> None:
    ann = clean()
    ann.warnings.append("annotations.json: c.png: region 2: 3 vertices clipped to the image")
    report = run(ann, images_dir)
    assert report.passed
    assert report.warnings == ann.warnings
    data = json.loads(report.json_path.read_text())
    assert data["warnings"] == ann.warnings
    assert json.loads(report.metrics_path.read_text())["warnings"] == 1
    assert "3 vertices clipped" in report.md_path.read_text()


def test_unlisted_photos_are_a_warning_naming_them(images_dir: Path) -> None:
    """Photos of the folder the annotation file lacks: counted and named, not a failure."""
    ann = dataclasses.replace(clean(), unlisted=[f"slide_{i:02d}.jpg" for i in range(10)])
    report = run(ann, images_dir)
    assert report.passed
    (warning,) = report.warnings
    assert "10 photos" in warning and "slide_00.jpg" in warning and "slide_09.jpg" in warning
    assert "left out (unknown, not negatives" in warning
    assert json.loads(report.metrics_path.read_text())["unlisted"] == 10
    data = json.loads(report.json_path.read_text())
    assert data["unlisted"] == ann.unlisted and data["summary"]["warnings"] == 1
    md = report.md_path.read_text()
    assert "## Photos not in the annotation file" in md
    assert all(f"- `{name}`" in md for name in ann.unlisted)
    assert "(10 photos not in the annotations left out)" in report.summary_line()


def test_unlisted_photos_travel_from_prepare_to_the_report(tmp_path: Path) -> None:
    from landslide.annotations import load_annotations, write_via2
    from landslide.params import Params, PrepareParams
    from landslide.prepare import prepare

    raw = tmp_path / "raw"
    for i, name in enumerate(["a.png", "b.png", "c.png", "d.png"]):
        noise_image(raw / name, seed=i)
    listed = Annotations(
        images=[
            ImageAnn("a.png", regions=(Region("landslide", SQUARE, 0),)),
            ImageAnn("b.png"),
        ]
    )
    write_via2(listed, tmp_path / "via.json", list(CLASSES), "class", images_dir=raw)
    params = Params(prepare=PrepareParams(size=(100, 80), workers=1))
    prepare(tmp_path / "via.json", raw, tmp_path / "prepared", params)
    prepared = tmp_path / "prepared"
    ann = load_annotations(prepared / "annotations.json", prepared / "images", params)
    assert ann.unlisted == ["c.png", "d.png"]
    report = run(ann, prepared / "images")
    assert report.passed and report.unlisted == ["c.png", "d.png"]
    assert any("c.png, d.png" in w for w in report.warnings)
    # validate straight on the VIA file: the reader's warning, not a second one
    direct = run(load_annotations(tmp_path / "via.json", raw, params), raw)
    assert direct.unlisted == ["c.png", "d.png"]
    assert sum("c.png" in w for w in direct.warnings) == 1


BOWTIE = ((10.0, 10.0), (50.0, 50.0), (50.0, 10.0), (10.0, 50.0))


@pytest.mark.parametrize(
    ("region", "check", "words"),
    [
        (Region("landslide", ((10.0, 10.0), (50.0, 50.0)), 0), "min_vertices", "2 vertices"),
        (Region("landslide", BOWTIE, 0), "polygon_valid", "Self-intersection"),
        (Region("landslide", ((1.0, 1.0), (2.0, 1.0), (2.0, 2.0)), 0), "area_fraction", "6.25e-05"),
        (
            Region("landslide", ((0.0, 0.0), (100.0, 0.0), (100.0, 80.0), (0.0, 80.0)), 0),
            "area_fraction",
            "area is 1 of the image",
        ),
        (Region("", SQUARE, 0), "class_present", "no class"),
    ],
)
def test_bad_regions_are_named(images_dir: Path, region: Region, check: str, words: str) -> None:
    region = Region(region.label, region.polygon, region_id=1)
    ann = with_image(clean(), 1, regions=(Region("landslide", TRIANGLE, 0), region))
    report = run(ann, images_dir)
    assert named(report) == {("b.png", 1, check)}
    assert words in report.failures[0].reason


def test_bad_images_are_named(images_dir: Path) -> None:
    (images_dir / "b.png").write_bytes(b"not a picture")
    noise_image(images_dir / "c.png", 40, 30, seed=7)
    ann = clean()
    ann = with_image(ann, 2, width=40, height=30, regions=())
    ann = with_image(ann, 0, width=120)  # a.png is 100x80
    ann.images.append(ann.images[1])  # b.png listed twice
    report = run(ann, images_dir)
    assert named(report) == {
        ("a.png", None, "size_matches"),
        ("b.png", None, "readable"),
        ("b.png", None, "file_unique"),
        ("c.png", None, "min_image_side"),
    }
    reasons = {f.check: f.reason for f in report.failures}
    assert reasons["size_matches"] == "annotated as 120x80 but the upright image is 100x80"
    assert reasons["readable"].startswith("cannot read image")
    assert "40x30, smaller than 64 px" in reasons["min_image_side"]


def test_exif_rotation_gives_the_upright_size(images_dir: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 100x80, shown rotated 90 degrees: 80x100 upright
    noise_image(images_dir / "c.png", 100, 80, seed=2, exif=exif.tobytes())
    tall = ((5.0, 60.0), (75.0, 60.0), (75.0, 95.0))  # inside 80x100, outside 100x80
    ann = with_image(clean(), 2, width=80, height=100, regions=(Region("vegetation", tall, 0),))
    report = run(ann, images_dir)
    assert report.passed, [str(f) for f in report.failures]


def test_empty_annotations_fail(images_dir: Path) -> None:
    report = run(Annotations(), images_dir)
    assert named(report) == {
        (None, None, "images"),
        (None, None, "has_landslide"),
        (None, None, "has_negative"),
    }


# ------------------------------------------------------------------------------ CLI


def test_cli_failure_is_one_error_and_exit_2(
    images_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = clean()
    ann.images.append(ImageAnn("missing.png", 100, 80, ()))
    seen = {}

    def fake_load(path, images, params):
        seen.update(path=path, images=images)
        return ann

    import landslide.annotations

    monkeypatch.setattr(landslide.annotations, "load_annotations", fake_load, raising=False)
    out = tmp_path / "reports"
    result = CliRunner().invoke(
        app,
        ["validate", "--annotations", "ann.json", "--images", str(images_dir), "--out", str(out)],
    )
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert errors == [f"error: validation failed: 1 failure, report: {out / 'validation.md'}"]
    assert "hint: fix what the report lists" in result.output
    assert "missing.png: image file not found" in result.output
    assert f"validate: 4 images, 4 regions, 1 failure, 0 warnings -> {out}" in result.output
    assert seen == {"path": Path("ann.json"), "images": images_dir}
    assert (out / "validation.json").exists() and (out / "metrics.json").exists()


def test_sample_validates_clean_end_to_end(tmp_path: Path) -> None:
    sample = pytest.importorskip("landslide.sample")
    annotations = pytest.importorskip("landslide.annotations")
    if not hasattr(annotations, "load_annotations"):
        pytest.skip("landslide.annotations.load_annotations is not there yet")
    from landslide.params import SampleParams

    root = tmp_path / "sample"
    sample.generate_sample(root, SampleParams(n=12, min_side=64, max_side=128), list(CLASSES))
    out = tmp_path / "report"
    result = CliRunner().invoke(
        app,
        [
            "validate",
            "--annotations",
            str(root / "via_project.json"),
            "--images",
            str(root / "images"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "validate: 12 images" in result.output and "0 failures" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["images"] == 12 and metrics["failures"] == 0
    assert metrics["landslide_images"] >= 1 and metrics["negatives"] >= 1
