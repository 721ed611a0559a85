"""Merging detections across tiles.

An object on a tile border is seen by both tiles (whole or in part), and the
shared overlap shows both tiles the same pixels. Two detections of the same class from
tiles that overlap are one object when, inside the region the two tiles share, their masks
have an IoU of at least `predict.merge_iou`; objects merged this way (transitively, over
any number of tiles) become the union of their masks with the best score and the list of
tiles. Merging is computed in the raster's pixel grid: map coordinates are an affine image
of it, which scales every area by the same factor, so IoUs are the same in either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from landslide.raster.tiles import Tile


@dataclass
class Piece:
    """One tile's detection: its mask outline in raster pixels."""

    tile: Tile
    label: int
    score: float
    geom: Any  # shapely (Multi)Polygon, raster pixel coordinates


@dataclass
class Merged:
    label: int
    score: float
    geom: Any  # raster pixel coordinates
    tiles: list[str]


def merge_pieces(pieces: Sequence[Piece], merge_iou: float) -> list[Merged]:
    """Union of the pieces that show one object (see the module doc), best score first."""
    from shapely import STRtree, box, union_all

    parent = list(range(len(pieces)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    tree = STRtree([p.geom for p in pieces])
    for i, a in enumerate(pieces):
        for j in tree.query(a.geom, predicate="intersects"):
            j = int(j)
            b = pieces[j]
            if j <= i or a.tile == b.tile or a.label != b.label:
                continue
            ax0, ay0, ax1, ay1 = a.tile.bounds
            bx0, by0, bx1, by1 = b.tile.bounds
            shared = box(max(ax0, bx0), max(ay0, by0), min(ax1, bx1), min(ay1, by1))
            if shared.is_empty or shared.area == 0:
                continue
            ga, gb = a.geom.intersection(shared), b.geom.intersection(shared)
            union = ga.union(gb).area
            if union > 0 and ga.intersection(gb).area / union >= merge_iou:
                parent[find(i)] = find(j)
    groups: dict[int, list[Piece]] = {}
    for i, piece in enumerate(pieces):
        groups.setdefault(find(i), []).append(piece)
    merged = []
    for members in groups.values():
        names = sorted({m.tile.name for m in members}, key=lambda n: _tile_key(members, n))
        merged.append(
            Merged(
                label=members[0].label,
                score=max(m.score for m in members),
                geom=union_all([m.geom for m in members]),
                tiles=names,
            )
        )
    return sorted(merged, key=lambda m: (-m.score, m.geom.bounds[1], m.geom.bounds[0]))


def _tile_key(members: Sequence[Piece], name: str) -> tuple[int, int]:
    tile = next(m.tile for m in members if m.tile.name == name)
    return (tile.row, tile.col)
