"""Where a photo lands in the prepared output, and its polygons with it.

Geometry. Polygons are continuous coordinates of the upright photo (pixel i covers
[i, i+1)). A w x h photo is scaled to nw x nh and placed at (ox, oy) in the W x H
output, and every vertex moves with it: x' = x * nw / w + ox, y' = y * nh / h + oy.
`stretch` (the study's): nw, nh = W, H and no offset. `letterbox`: scale
s = min(W / w, H / h), nw, nh = round(w * s), round(h * s), centred
(ox = (W - nw) // 2, oy = (H - nh) // 2) on black; the mapping uses nw / w rather
than s, so that it matches the pixels exactly. Vertices are clamped to the photo's
box in the output (a safeguard: polygons read from VIA already lie inside), rounded
to 1/1000 px, and a region left with fewer than 3 distinct points or no area is
dropped (counted in the summary).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from landslide.annotations import Region
from landslide.annotations.model import Point

DECIMALS = 3  # output polygon coordinates are rounded to 1/1000 px


@dataclass(frozen=True, slots=True)
class Layout:
    """A `width` x `height` upright photo scaled to nw x nh at (ox, oy) in the output."""

    width: int
    height: int
    nw: int
    nh: int
    ox: int = 0
    oy: int = 0

    def point(self, x: float, y: float) -> Point:
        return (x * self.nw / self.width + self.ox, y * self.nh / self.height + self.oy)

    def polygon(self, polygon: Sequence[Point]) -> tuple[Point, ...] | None:
        """The polygon in output pixels, or None when it degenerates."""
        x0, y0, x1, y1 = self.ox, self.oy, self.ox + self.nw, self.oy + self.nh
        pts: list[Point] = []
        for x, y in polygon:
            u, v = self.point(x, y)
            # clamp to the photo's box, round, and turn -0.0 into 0.0
            p = (
                round(min(max(u, x0), x1), DECIMALS) + 0.0,
                round(min(max(v, y0), y1), DECIMALS) + 0.0,
            )
            if not pts or p != pts[-1]:
                pts.append(p)
        while len(pts) > 1 and pts[-1] == pts[0]:
            pts.pop()
        if len(set(pts)) < 3 or Region("", tuple(pts)).area == 0:
            return None
        return tuple(pts)


def layout(width: int, height: int, size: tuple[int, int], mode: str) -> Layout:
    """Where a `width` x `height` photo lands in an output of `size` (see the module doc)."""
    out_w, out_h = size
    if mode == "stretch":
        return Layout(width, height, out_w, out_h)
    if mode != "letterbox":
        raise ValueError(f"unknown prepare mode {mode!r}")
    s = min(out_w / width, out_h / height)
    nw = min(out_w, max(1, round(width * s)))
    nh = min(out_h, max(1, round(height * s)))
    return Layout(width, height, nw, nh, (out_w - nw) // 2, (out_h - nh) // 2)


def _map_regions(regions: Sequence[Region], lay: Layout) -> tuple[Region, ...]:
    out = []
    for region in regions:
        polygon = lay.polygon(region.polygon)
        if polygon is not None:
            out.append(replace(region, polygon=polygon))
    return tuple(out)
