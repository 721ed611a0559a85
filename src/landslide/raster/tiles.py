"""The tile grid: square windows of `predict.tile_size` pixels overlapping by
`predict.tile_overlap`, row-major, the last one of each row and column reaching the edge
(edge tiles are smaller; the reader pads them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tile:
    """A window of the raster: grid position and pixel extent (edge tiles are smaller)."""

    row: int
    col: int
    x: int
    y: int
    width: int
    height: int

    @property
    def name(self) -> str:
        return f"r{self.row}c{self.col}"

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        return (self.x, self.y, self.x + self.width, self.y + self.height)


def _starts(n: int, size: int, overlap: int) -> list[int]:
    """Window starts along one axis: stride size - overlap, the last one reaching the end."""
    starts = [0]
    while starts[-1] + size < n:
        starts.append(starts[-1] + size - overlap)
    return starts


def tile_grid(width: int, height: int, size: int, overlap: int) -> list[Tile]:
    """Row-major tiles of `size` overlapping by `overlap` that cover width x height."""
    tiles = []
    for row, y in enumerate(_starts(height, size, overlap)):
        for col, x in enumerate(_starts(width, size, overlap)):
            tiles.append(Tile(row, col, x, y, min(size, width - x), min(size, height - y)))
    return tiles
