"""One photo, composed: the scene, its objects laid out and painted in depth order, and
the annotation of what stays visible.

Each photo is a scene painted with NumPy and Pillow: a sky with haze, a fractal
ridge line, textured grass with relief shading, and then objects of the four
classes: forest patches (vegetation), lakes and rivers (water_body), houses
(building) and landslide scars (landslide). A scar is a tongue of debris that
runs down-slope: narrow at a light scarp, widening to a lobate toe, with streaks
along the flow. Photos without a landslide carry hard negatives of similar colour
and different shape and texture (never annotated).

A polygon painted over by a later one is clipped, so the annotation is the visible
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image
from shapely.ops import unary_union

from landslide.params import CLASSES
from landslide.sample.negatives import paint_hard_negatives
from landslide.sample.paint import (
    Photo,
    debris_style,
    paint_building,
    paint_landslide,
    paint_road,
    paint_vegetation,
    paint_water,
)
from landslide.sample.plan import Plan, Rng, seeded_rng
from landslide.sample.scene import (
    apply_camera,
    apply_haze,
    composite_terrain,
    new_scene,
    sky_and_haze,
)
from landslide.sample.shapes import (
    MAX_LANDSLIDE_VERTICES,
    MAX_VERTICES,
    int_points,
    min_region_area,
    place_buildings,
    place_landslides,
    place_roads,
    place_vegetation,
    place_water,
    to_pixels,
)


def render(
    plan: Plan, seed: int, classes: Sequence[str]
) -> tuple[Image.Image, list[tuple[str, list[tuple[int, int]]]], list[str]]:
    """Paint one upright photo; return it, its regions (class, integer polygon), hard negatives."""
    rng = seeded_rng(seed, 1, plan.index)
    scene = new_scene(rng, plan.width, plan.height)
    sky = sky_and_haze(rng, scene)
    photo = Photo(scene, composite_terrain(rng, scene, sky))
    _populate(rng, photo, plan.landslide)
    apply_haze(rng, photo.image, scene, sky)
    apply_camera(rng, photo.image)
    upright = Image.fromarray(np.clip(photo.image + 0.5, 0, 255).astype(np.uint8))
    regions = _annotate(photo, classes)
    return upright, regions, photo.hard_negatives


def _populate(rng: Rng, photo: Photo, landslide: bool) -> None:
    """Lay out every object (landslides first, so others avoid them), then paint in depth order."""
    scene = photo.scene
    tongues = place_landslides(rng, scene) if landslide else []
    scars = [t.polygon for t in tongues]
    vegetation = place_vegetation(rng, scene, int(rng.integers(0, 4)))
    water = place_water(rng, scene, scars) if rng.random() < 0.5 else []
    taken = [*scars, *(poly for poly, _ in water), *vegetation]
    for poly in vegetation:
        paint_vegetation(rng, photo, poly)
    roads = place_roads(rng, scene, landslide)
    for line, width in roads:
        paint_road(rng, photo, line, width)
    for poly, kind in water:
        paint_water(rng, photo, poly, kind)
    paint_hard_negatives(rng, photo, taken, landslide, bool(roads))
    buildings = place_buildings(rng, scene, taken)
    for house in buildings:
        paint_building(rng, photo, house)
    style = debris_style(rng)
    for tongue in tongues:
        paint_landslide(rng, photo, tongue, style)


def _annotate(photo: Photo, classes: Sequence[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """Each painted region minus what was painted over it later, as integer polygons."""
    scene = photo.scene
    regions: list[tuple[str, list[tuple[int, int]]]] = []
    for i, (label, polygon) in enumerate(photo.painted):
        if label not in classes:
            continue  # painted, but not a class the annotator uses: background
        later = [p for _, p in photo.painted[i + 1 :]]
        visible = polygon.difference(unary_union(later)) if later else polygon
        limit = MAX_LANDSLIDE_VERTICES if label == "landslide" else MAX_VERTICES
        parts = to_pixels(visible, scene.width, scene.height, min_region_area(scene), limit)
        keep = [q for q in parts[:3] if q.area >= 0.15 * parts[0].area]
        regions.extend((label, int_points(q)) for q in keep)
    order = {name: k for k, name in enumerate(("landslide", *CLASSES))}
    return sorted(regions, key=lambda r: order.get(r[0], len(order)))
