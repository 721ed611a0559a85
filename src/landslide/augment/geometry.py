"""One image and its polygons through the pipeline, and masks / boxes from them.

One sample is a `tv_tensors.Image` and a target dict: `masks` (`tv_tensors.Mask`,
N x H x W), `boxes` (`tv_tensors.BoundingBoxes`, XYXY), `labels` and, offline, the
polygon vertices of all instances as one `tv_tensors.KeyPoints` (N_vertices x 2).
Geometric transforms never clamp KeyPoints, so polygons keep their shape; afterwards
each polygon is rebuilt from its vertices and clipped to the image with shapely:
an instance pushed out of the image (or left smaller than `min_area` px²) is
dropped, one cut by the border keeps its largest visible part. Boxes are recomputed
from what is left (box = bounding box of the mask, or of the clipped polygon).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid
from torchvision import tv_tensors

from landslide.annotations.model import Point, Region

MIN_AREA = 4.0  # px²: smaller instances are dropped (as annotations.min_region_area)
DECIMALS = 2  # polygon coordinates in the output JSON


@dataclass
class AugmentedImage:
    """One augmented sample: the pixels and the instances left in them."""

    image: torch.Tensor  # uint8, 3 x H x W
    regions: tuple[Region, ...]  # polygons clipped to the image
    masks: torch.Tensor | None  # uint8, N x H x W (one per kept region), None when not asked
    boxes: torch.Tensor  # float, N x 4, XYXY: bounding box of each kept polygon
    kept: int = 0
    clipped: int = 0  # kept, but cut by the border
    dropped: int = 0


def rasterize(polygon: Sequence[Point], height: int, width: int) -> np.ndarray:
    """uint8 mask of the pixels whose centre lies inside `polygon` (pixel i spans [i, i+1])."""
    geom = Polygon(polygon)
    if not geom.is_valid:
        geom = make_valid(geom)
    return features.rasterize(
        [(geom, 1)], out_shape=(height, width), transform=Affine.identity(), dtype="uint8"
    )


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """XYXY boxes of N x H x W masks in pixel-edge coordinates ([x0, y0, x1 + 1, y1 + 1])."""
    n = masks.shape[0]
    out = torch.zeros((n, 4), dtype=torch.float32)
    if n == 0:
        return out
    rows = masks.any(dim=2)  # N x H
    cols = masks.any(dim=1)  # N x W
    for i in range(n):
        ys = torch.nonzero(rows[i]).flatten()
        xs = torch.nonzero(cols[i]).flatten()
        if len(xs) and len(ys):
            out[i] = torch.tensor([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=torch.float32)
    return out


def augment_image(
    image: torch.Tensor,
    regions: Sequence[Region],
    transforms: Callable[..., Any],
    *,
    min_area: float = MIN_AREA,
    with_masks: bool = True,
) -> AugmentedImage:
    """Apply `transforms` to an image (uint8 3 x H x W) and its polygons, then clip them.

    The caller seeds torch (see `seeded`). With `with_masks` the instance masks are
    rasterised from the polygons and moved with the pixels too (nearest neighbour).
    """
    polys = [np.asarray(r.polygon, dtype=np.float64).reshape(-1, 2) for r in regions]
    target = _target(image, regions, polys, with_masks)
    out_image, out = transforms(tv_tensors.Image(image), target)
    out_h, out_w = out_image.shape[-2:]
    frame = box(0.0, 0.0, float(out_w), float(out_h))
    moved = out["polygons"].as_subclass(torch.Tensor).numpy()
    kept_regions: list[Region] = []
    keep: list[int] = []
    clipped = 0
    start = 0
    for i, (region, q) in enumerate(zip(regions, polys, strict=True)):
        pts = moved[start : start + len(q)]
        start += len(q)
        result = _clip(pts, frame, out_w, out_h, min_area)
        if result is None:
            continue
        polygon, was_clipped = result
        clipped += was_clipped
        keep.append(i)
        kept_regions.append(
            Region(region.label, polygon, len(kept_regions), "polygon", region.attributes)
        )
    masks = None
    if with_masks:
        masks = out["masks"].as_subclass(torch.Tensor)[keep].contiguous()
    boxes = torch.tensor(
        [_bounds(np.asarray(r.polygon)) for r in kept_regions], dtype=torch.float32
    ).reshape(-1, 4)
    return AugmentedImage(
        image=out_image.as_subclass(torch.Tensor),
        regions=tuple(kept_regions),
        masks=masks,
        boxes=boxes,
        kept=len(kept_regions),
        clipped=clipped,
        dropped=len(regions) - len(kept_regions),
    )


def _target(
    image: torch.Tensor, regions: Sequence[Region], polys: list[np.ndarray], with_masks: bool
) -> dict[str, Any]:
    """The target the transforms move: boxes, labels (instance indices), all the polygons'
    vertices as one KeyPoints and, `with_masks`, the masks rasterised from them."""
    height, width = image.shape[-2:]
    vertices = np.concatenate(polys) if polys else np.zeros((0, 2))
    target: dict[str, Any] = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor([_bounds(q) for q in polys], dtype=torch.float32).reshape(-1, 4),
            format="XYXY",
            canvas_size=(height, width),
        ),
        "labels": torch.arange(len(regions), dtype=torch.int64),
        "polygons": tv_tensors.KeyPoints(
            torch.from_numpy(vertices), canvas_size=(height, width), dtype=torch.float64
        ),
    }
    if with_masks:
        stack = (
            np.stack([rasterize(r.polygon, height, width) for r in regions])
            if regions
            else (np.zeros((0, height, width), dtype=np.uint8))
        )
        target["masks"] = tv_tensors.Mask(torch.from_numpy(stack))
    return target


def _bounds(points: np.ndarray) -> list[float]:
    return [
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    ]


def _clip(
    pts: np.ndarray, frame: Polygon, width: int, height: int, min_area: float
) -> tuple[tuple[Point, ...], bool] | None:
    """The visible part of a moved polygon: (vertices, cut by the border?) or None (dropped)."""
    if len(pts) < 3 or not np.isfinite(pts).all():
        return None
    geom: Polygon | None = Polygon(pts)
    if geom.is_valid and frame.contains(geom):  # untouched: the vertices keep their order
        polygon = _rounded(pts, width, height)
        return (polygon, False) if polygon and geom.area >= min_area else None
    if not geom.is_valid:
        geom = _largest(make_valid(geom))
        if geom is None:
            return None
    full = geom.area
    visible = _largest(geom.intersection(frame))
    if visible is None or visible.area < min_area:
        return None
    polygon = _rounded(np.asarray(visible.exterior.coords)[:-1], width, height)
    return (polygon, bool(visible.area < full * (1 - 1e-6))) if polygon else None


def _rounded(pts: np.ndarray, width: int, height: int) -> tuple[Point, ...]:
    """Vertices rounded for the JSON, inside the image, no repeats; () when degenerate."""
    coords = pts.round(DECIMALS)
    coords[:, 0] = coords[:, 0].clip(0, width)
    coords[:, 1] = coords[:, 1].clip(0, height)
    coords = coords[np.any(coords != np.roll(coords, 1, axis=0), axis=1)]
    if len(coords) < 3:
        return ()
    return tuple((float(x), float(y)) for x, y in coords)


def _largest(geom: BaseGeometry) -> Polygon | None:
    """The largest polygon in a (multi)polygon or geometry collection, if any has an area."""
    parts = list(_polygons(geom))
    return max(parts, key=lambda g: g.area) if parts else None


def _polygons(geom: BaseGeometry) -> Iterator[Polygon]:
    if isinstance(geom, Polygon):
        if geom.area > 0:
            yield geom
    else:
        for part in getattr(geom, "geoms", ()):
            yield from _polygons(part)
