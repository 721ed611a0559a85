"""VIA shapes -> polygons, and the clean-up rule (clipping, degenerate, self-intersecting)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from landslide.annotations.geometry import (
    Outline,
    _star_shaped,
    clean,
    clean_mask,
    shoelace,
)
from landslide.annotations.shapes import (
    MAX_VERTICES,
    MIN_VERTICES,
    NoArea,
    ShapeError,
    outline,
)


def area(xs: list[float], ys: list[float]) -> float:
    return shoelace(list(zip(xs, ys, strict=True)))


# ---------------------------------------------------------------------------- shapes


def test_rect_corners_are_exact() -> None:
    name, xs, ys = outline({"name": "rect", "x": 290, "y": 208, "width": 127, "height": 113})
    assert name == "rect"
    assert list(zip(xs, ys, strict=True)) == [(290, 208), (417, 208), (417, 321), (290, 321)]
    assert all(type(v) is int for v in xs + ys)  # integer rects stay integers


def test_rect_with_negative_size_is_normalised() -> None:
    _, xs, ys = outline({"name": "rect", "x": 10, "y": 10, "width": -4, "height": -2})
    assert list(zip(xs, ys, strict=True)) == [(6, 8), (10, 8), (10, 10), (6, 10)]


@pytest.mark.parametrize("r", [1.5, 3, 43, 250, 2000])
def test_circle_area_within_two_percent(r: float) -> None:
    name, xs, ys = outline({"name": "circle", "cx": 148, "cy": 268, "r": r})
    assert name == "circle"
    assert MIN_VERTICES <= len(xs) <= MAX_VERTICES
    assert area(xs, ys) == pytest.approx(math.pi * r * r, rel=0.02)
    # every vertex close to the circle (the polygon is a fit, not an inscribed one)
    radii = np.hypot(np.array(xs) - 148, np.array(ys) - 268)
    assert np.all(np.abs(radii - r) <= 0.01 * r)


@pytest.mark.parametrize(("rx", "ry", "theta"), [(27, 26, 0), (33, 57, 0), (93, 56, 0.7)])
def test_ellipse_area_and_rotation(rx: float, ry: float, theta: float) -> None:
    shape = {"name": "ellipse", "cx": 300, "cy": 223, "rx": rx, "ry": ry, "theta": theta}
    _, xs, ys = outline(shape)
    assert area(xs, ys) == pytest.approx(math.pi * rx * ry, rel=0.02)
    # the first vertex lies on the rotated major axis
    angle = math.atan2(ys[0] - 223, xs[0] - 300)
    assert angle == pytest.approx(theta, abs=1e-9)


def test_vertex_count_grows_with_size() -> None:
    small = outline({"name": "circle", "cx": 0, "cy": 0, "r": 5})[1]
    large = outline({"name": "circle", "cx": 0, "cy": 0, "r": 50})[1]
    huge = outline({"name": "circle", "cx": 0, "cy": 0, "r": 50_000})[1]
    assert len(small) == MIN_VERTICES < len(large) < len(huge) == MAX_VERTICES


@pytest.mark.parametrize("name", ["polygon", "polyline", "Polygon"])
def test_polygon_and_polyline_are_their_vertices(name: str) -> None:
    shape = {"name": name, "all_points_x": [1, 5, 3], "all_points_y": [1, 1, 4]}
    kind, xs, ys = outline(shape)
    assert kind == name.lower()
    assert (xs, ys) == ([1, 5, 3], [1, 1, 4])


@pytest.mark.parametrize("name", ["point", "line", "extreme_rectangle", "blob"])
def test_shapes_without_area_are_skipped(name: str) -> None:
    with pytest.raises(NoArea, match="skipped"):
        outline({"name": name, "cx": 1, "cy": 2})


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"name": "rect", "x": "10", "y": 0, "width": 1, "height": 1}, "'x' is not a number"),
        ({"name": "rect", "x": 1, "y": 0, "width": 1}, "'height' is missing"),
        ({"name": "rect", "x": True, "y": 0, "width": 1, "height": 1}, "'x' is not a number"),
        ({"name": "circle", "cx": float("nan"), "cy": 0, "r": 1}, "'cx' is not a finite"),
        ({"name": "circle", "cx": 0, "cy": 0, "r": float("inf")}, "'r' is not a finite"),
        ({"name": "circle", "cx": 0, "cy": 0, "r": 10**400}, "'r' is not a finite"),
        ({"name": "polygon", "all_points_x": [1, 2, 3], "all_points_y": [1, 2]}, "has 3 values"),
        ({"name": "polygon", "all_points_x": "1,2,3", "all_points_y": [1]}, "must be lists"),
        ({"name": 7}, "no 'name'"),
        ({"name": ["polygon"]}, "no 'name'"),
        ({}, "no 'name'"),
    ],
)
def test_bad_shape_values(shape: dict, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        outline(shape)


# ---------------------------------------------------------------------------- clean-up


def test_vertex_slightly_outside_is_clipped_with_a_note() -> None:
    cleaned = clean(Outline([10, 50, 30], [-1, 10, 40], 100, 100), 4.0)
    assert cleaned.polygon == ((10, 0), (50, 10), (30, 40))
    assert cleaned.notes == [
        "1 vertex outside the 100x100 image clipped to its border (first: (10, -1))"
    ]


def test_clipping_right_and_bottom_edges() -> None:
    cleaned = clean(Outline([10, 101, 30], [10, 10, 102], 100, 100), 4.0)
    assert cleaned.polygon == ((10, 10), (100, 10), (30, 100))
    assert "2 vertices outside" in cleaned.notes[0]


def test_unknown_size_clips_only_negative_coordinates() -> None:
    cleaned = clean(Outline([-2, 5000, 30], [10, 10, 9000]), 4.0)
    assert cleaned.polygon == ((0, 10), (5000, 10), (30, 9000))
    assert "negative" in cleaned.notes[0]


def test_closing_and_repeated_vertices_are_dropped() -> None:
    cleaned = clean(Outline([0, 0, 10, 10, 10, 0], [0, 0, 0, 10, 10, 0]), 4.0)
    assert cleaned.polygon == ((0, 0), (10, 0), (10, 10))
    assert cleaned.notes == []


@pytest.mark.parametrize(
    ("xs", "ys", "reason"),
    [
        ([1, 1, 1], [2, 2, 2], "1 distinct points"),
        ([1, 5, 1, 5], [2, 2, 2, 2], "2 distinct points"),
        ([0, 5, 10], [0, 5, 10], "zero area"),
        ([0, 1, 0], [0, 0, 1], "below annotations.min_region_area"),
    ],
)
def test_degenerate_regions_are_dropped_with_the_reason(
    xs: list[int], ys: list[int], reason: str
) -> None:
    cleaned = clean(Outline(xs, ys, 100, 100), 4.0)
    assert cleaned.polygon is None
    assert reason in cleaned.notes[-1]


def test_self_intersecting_bowtie_keeps_the_largest_part() -> None:
    # two triangles touching at (10, 10): the right one (200 px²) is larger than the left (50)
    cleaned = clean(Outline([0, 10, 30, 30, 10, 0], [5, 10, 0, 20, 10, 15], None, None), 4.0)
    assert cleaned.polygon is not None
    kept = shapely.Polygon(cleaned.polygon)
    assert kept.is_valid
    assert kept.area == pytest.approx(200.0)
    assert cleaned.notes == [
        "self-intersecting: repaired, kept the largest of 2 parts, 200 of 250 px²"
    ]


def test_polygon_collapsing_to_a_line_is_beyond_repair() -> None:
    # a spike going out and back along the same line: no area anywhere
    cleaned = clean(Outline([0, 10, 20, 10], [0, 0, 0, 0], None, None), 4.0)
    assert cleaned.polygon is None


@pytest.mark.parametrize(
    ("xs", "message"),
    [([1, "2", 3], "x of vertex 1 is not a number"), ([1, float("nan"), 3], "not a finite")],
)
def test_bad_coordinates_raise(xs: list, message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        clean(Outline(xs, [0, 5, 9]), 4.0)


# ---------------------------------------------------------------------------- the fast path


def _poly(draw: st.DrawFn) -> Outline:
    n = draw(st.integers(0, 9))
    coords = st.integers(-3, 40)
    xs = draw(st.lists(coords, min_size=n, max_size=n))
    ys = draw(st.lists(coords, min_size=n, max_size=n))
    size = draw(st.sampled_from([None, (30, 30), (41, 41)]))
    return Outline(xs, ys, *(size or (None, None)))


outlines = st.lists(st.composite(_poly)(), min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(outlines)
def test_fast_mask_only_passes_what_clean_leaves_unchanged(batch: list[Outline]) -> None:
    mask = clean_mask(batch, 4.0)
    for o, unchanged in zip(batch, mask, strict=True):
        cleaned = clean(o, 4.0)
        expected = cleaned.polygon == tuple(zip(o.xs, o.ys, strict=True)) and not cleaned.notes
        if unchanged:
            assert expected, (o, cleaned)


def test_fast_mask_passes_clean_polygons_of_both_kinds() -> None:
    star = Outline([0, 10, 10, 0], [0, 0, 10, 10], 20, 20)
    horseshoe = Outline([0, 30, 30, 20, 20, 10, 10, 0], [0, 0, 30, 30, 10, 10, 30, 30], 40, 40)
    assert list(clean_mask([star, horseshoe], 4.0)) == [True, True]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=3, max_size=12))
def test_star_shaped_polygons_are_valid_for_shapely(points: list[tuple[int, int]]) -> None:
    x = np.array([p[0] for p in points], float)
    y = np.array([p[1] for p in points], float)
    n = len(points)
    starts, lens = np.array([0]), np.array([n])
    nxt = np.arange(1, n + 1)
    nxt[-1] = 0
    if _star_shaped(x, y, starts, lens, nxt)[0]:
        assert shapely.Polygon(points).is_valid
