"""What an annotator changed in a pre-filled project: IoU and vertex edits on known pairs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from helpers import run_cli
from landslide.annotations import Annotations, ImageAnn, Region, write_coco, write_via2
from landslide.annotations.diff import (
    DIFF_COLUMNS,
    diff_annotations,
    diff_files,
    diff_image,
    vertex_edits,
)
from landslide.params import CLASSES, Params

MODEL = (("source", "model"), ("score", "0.910"))
HUMAN = (("source", "human"), ("score", "0.910"))

SQUARE = ((0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
SHIFTED = ((5.0, 0.0), (15.0, 0.0), (15.0, 10.0), (5.0, 10.0))  # IoU with SQUARE: 50 / 150
FAR = ((20.0, 20.0), (30.0, 20.0), (30.0, 30.0), (20.0, 30.0))  # area 100, apart
TRIANGLE = ((40.0, 0.0), (50.0, 0.0), (40.0, 10.0))  # area 50, apart


def region(points: tuple[tuple[float, float], ...], label: str = "landslide", attrs=(), i=0):
    return Region(label, points, i, "polygon", tuple(attrs))


# --------------------------------------------------------------------------- vertices


def test_vertex_edits_count_kept_moved_added_removed() -> None:
    # one corner dragged, one vertex added on an edge
    after = ((0.0, 0.0), (10.0, 0.0), (12.0, 12.0), (5.0, 11.0), (0.0, 10.0))
    assert vertex_edits(SQUARE, after) == (3, 1, 1, 0)
    # a corner removed
    assert vertex_edits(SQUARE, ((0.0, 0.0), (10.0, 0.0), (0.0, 10.0))) == (3, 0, 0, 1)
    # within the tolerance a vertex is kept; beyond it, moved
    nudged = ((0.5, 0.0), (10.0, 0.8), (10.0, 10.0), (0.0, 10.0))
    assert vertex_edits(SQUARE, nudged, tolerance=1.0) == (4, 0, 0, 0)
    assert vertex_edits(SQUARE, nudged, tolerance=0.4) == (2, 2, 0, 0)
    # one to one: two human vertices near one model vertex keep only one
    twins = ((0.0, 0.0), (0.2, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 10.0))
    assert vertex_edits(SQUARE, twins) == (4, 0, 1, 0)
    assert vertex_edits((), SQUARE) == (0, 0, 4, 0)


def test_a_known_pair_gives_exact_iou_and_effort() -> None:
    human = [region(SQUARE), region(FAR, "building", i=1)]  # edited, drawn from scratch
    model = [region(SHIFTED, "vegetation", MODEL), region(TRIANGLE, attrs=MODEL, i=1)]
    d = diff_image("a.jpg", human, model)
    assert (d.model_regions, d.human_regions, d.matched, d.relabelled) == (2, 2, 1, 1)
    assert d.pair_ious == [pytest.approx(1 / 3)]
    # unions: human 200, model 150, shared 50 -> 50 / 300
    assert d.iou == pytest.approx(1 / 6)
    assert (d.kept, d.moved, d.added, d.removed) == (0, 4, 4, 0)
    # the triangle deleted: one action; the building drawn: 4 vertices added
    assert (d.regions_added, d.regions_deleted, d.edits, d.human_vertices) == (1, 1, 9, 8)
    # a pair below match_iou is a deletion plus a drawing
    apart = diff_image("a.jpg", [region(SQUARE)], [region(SHIFTED)], match_iou=0.5)
    assert (apart.matched, apart.moved, apart.added, apart.regions_deleted) == (0, 0, 4, 1)
    assert apart.edits == 5
    # untouched: IoU 1, no edits
    same = diff_image("a.jpg", [region(SQUARE)], [region(SQUARE, attrs=MODEL)])
    assert (same.iou, same.matched_iou, same.edits, same.kept) == (1.0, 1.0, 0, 4)
    # nothing on either side: no IoU to speak of
    assert diff_image("n.jpg", [], []).iou is None
    assert diff_image("n.jpg", [], [region(SQUARE)]).iou == 0.0


# --------------------------------------------------------------------------- projects


def project(*images: ImageAnn, source: str = "") -> Annotations:
    return Annotations(images=list(images), source=source)


def test_photos_are_paired_by_name_and_prior_regions_left_out() -> None:
    prior = region(FAR, "building")  # drawn before the prefill, kept by it
    prefill = project(
        ImageAnn("a.png", 50, 50, (prior, region(SHIFTED, attrs=MODEL, i=1))),
        ImageAnn("b.jpg", 50, 50, (region(SQUARE, attrs=MODEL),)),
        ImageAnn("extra.jpg", 50, 50, ()),
    )
    human = project(
        # a.png as prepare renames it; the model's region checked and moved onto SQUARE
        ImageAnn("a.jpg", 50, 50, (prior, region(SQUARE, attrs=HUMAN, i=1))),
        ImageAnn("b.jpg", 50, 50, (region(SQUARE, attrs=MODEL),)),  # accepted as it was
        ImageAnn("c.jpg", 50, 50, ()),  # not prefilled
    )
    report = diff_annotations(human, prefill)
    assert [d.image for d in report.images] == ["a.jpg", "b.jpg"] and report.missing == ["c.jpg"]
    a, b = report.images
    assert (a.model_regions, a.human_regions, a.matched, a.moved) == (1, 1, 1, 4)
    assert a.human_vertices == 4  # the prior building is nobody's work in this round
    assert (b.iou, b.edits) == (1.0, 0)
    assert report.mean_iou == pytest.approx((1 / 3 + 1) / 2)
    assert report.total("edits") == 4 and report.saving == pytest.approx(0.5)
    line = report.summary_line()
    assert "diff: 2 photos, 1 not in the prefill, mean IoU 0.667; 2 region pairs" in line
    assert "4 vertex edits against 8 drawn from scratch (saves 50%)" in line

    only = diff_annotations(human, prefill, only=["images/b.png"])
    assert [d.image for d in only.images] == ["b.jpg"] and only.missing == []

    # a file with no `source: model` at all: every region counts as the model's
    plain = project(ImageAnn("b.jpg", 50, 50, (region(SHIFTED),)))
    report = diff_annotations(human, plain, only=["b.jpg"])
    assert not report.marked and report.images[0].matched_iou == pytest.approx(1 / 3)


def test_cli_prints_the_table_and_writes_the_csv(tmp_path: Path) -> None:
    human = project(
        ImageAnn("a.jpg", 60, 40, (region(SQUARE), region(FAR, "building", i=1))),
        ImageAnn("b.jpg", 60, 40, ()),
    )
    prefill = project(
        ImageAnn("a.jpg", 60, 40, (region(SHIFTED, attrs=MODEL), region(TRIANGLE, attrs=MODEL))),
        ImageAnn("b.jpg", 60, 40, ()),
    )
    write_via2(human, tmp_path / "human.json", CLASSES, "class")
    write_via2(prefill, tmp_path / "prefill.json", CLASSES, "class")
    write_coco(project(ImageAnn("a.jpg", 60, 40, ())), tmp_path / "test.json", CLASSES)

    result = run_cli(
        ["annotations", "diff", "human.json", "prefill.json", "--out", "d.csv"], tmp_path
    )
    assert result.exit_code == 0, result.output
    table = result.stdout.split("diff:")[0]
    assert "IoU" in table and "a.jpg" in table and "0.167" in table and "0.333" in table
    assert "diff: 2 photos, mean IoU 0.167; 1 region pair, mean IoU 0.333;" in result.stdout
    assert "9 vertex edits against 8 drawn from scratch (12% more than drawing)" in result.stdout
    rows = list(csv.DictReader((tmp_path / "d.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == DIFF_COLUMNS
    assert rows[0] == {
        "image": "a.jpg",
        "model_regions": "2",
        "human_regions": "2",
        "matched": "1",
        "relabelled": "0",
        "iou": "0.1667",
        "matched_iou": "0.3333",
        "vertices_kept": "0",
        "vertices_moved": "4",
        "vertices_added": "4",
        "vertices_removed": "0",
        "regions_added": "1",
        "regions_deleted": "1",
        "edits": "9",
        "human_vertices": "8",
    }
    assert rows[1]["image"] == "b.jpg" and rows[1]["iou"] == "" and rows[1]["edits"] == "0"

    only = run_cli(
        ["annotations", "diff", "human.json", "prefill.json", "--only", "test.json"], tmp_path
    )
    assert only.exit_code == 0 and "diff: 1 photo," in only.stdout
    # buildings only: the building drawn from scratch is all there is to compare
    args = ["annotations", "diff", "human.json", "prefill.json", "--class", "building"]
    building = run_cli(args, tmp_path)
    assert building.exit_code == 0, building.output
    assert "0 region pairs, mean IoU n/a; 4 vertex edits against 4 drawn" in building.stdout

    bad = run_cli(["annotations", "diff", "human.json", "missing.json"], tmp_path)
    assert bad.exit_code == 2 and "missing.json" in bad.stderr and "Traceback" not in bad.stderr


def test_diff_files_reads_any_layout(tmp_path: Path) -> None:
    human = project(ImageAnn("a.jpg", 60, 40, (region(SQUARE),)))
    write_coco(human, tmp_path / "human.json", CLASSES)
    write_via2(
        project(ImageAnn("a.jpg", 60, 40, (region(SQUARE, attrs=MODEL),))),
        tmp_path / "prefill.json",
        CLASSES,
        "class",
    )
    params = Params()  # review: require would drop the model's regions; diff reads them all
    report = diff_files(tmp_path / "human.json", tmp_path / "prefill.json", params)
    assert report.marked and report.images[0].iou == 1.0 and report.images[0].edits == 0
