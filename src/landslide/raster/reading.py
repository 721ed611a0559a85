"""Reading the raster: opening it, choosing its RGB bands, the 8-bit stretch, one tile.

Pixels. Bands `predict.bands` ([] = 1, 2, 3, or band 1 repeated for a grey raster) become
RGB 8-bit: uint8 as it is; any other type (uint16, int16, float) stretched linearly between
the `predict.uint16_scale` percentiles (2 and 98) of the valid pixels, one stretch for the
three bands (colours keep their balance), measured on about `SAMPLE_PIXELS` pixels: a
decimated read of whole blocks spread evenly over the raster (GDAL's approximate
statistics sample blocks the same way), so its cost does not grow with the raster.
Nodata (the nodata value, an alpha band or an internal mask: GDAL's dataset mask) is
black for the model and cut out of every mask; tiles holding only nodata are skipped.
Edge tiles are padded to the full tile with black, so that each tile is resized to the
model's input with the same scale, as the photos were in training.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from landslide.errors import RasterError
from landslide.params import PredictParams
from landslide.raster.tiles import Tile

CACHE_MB = 64  # GDAL block cache while reading, MiB (its default is 5 % of the RAM)
# rasterio.Env(GDAL_CACHEMAX=n) calls GDALSetCacheMax64(n): bytes, whatever n is (64 meant
# 64 bytes: every block read decoded again for each row that used it); "64MB" is a TypeError
CACHE_BYTES = CACHE_MB << 20
SAMPLE_PIXELS = 1 << 20  # pixels (decimated) that measure the 16-bit stretch
SAMPLE_BLOCK_PIXELS = 1 << 25  # at most this many pixels of whole blocks decoded for them


def _open(raster: Path) -> Any:
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

    raster = Path(raster)
    if not raster.exists():
        raise RasterError("raster not found", file=raster)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            return rasterio.open(raster)
    except RasterioIOError as exc:
        raise RasterError(
            f"cannot open as a raster: {exc}",
            file=raster,
            hint="pass a GeoTIFF / COG (or any raster GDAL reads)",
        ) from None


def _bands(ds: Any, p: PredictParams, warn: list[str]) -> list[int]:
    """Band numbers read as RGB (three numbers; a grey band is repeated)."""
    from rasterio.enums import ColorInterp

    if p.bands:
        missing = [b for b in p.bands if b > ds.count]
        if missing:
            raise RasterError(
                f"band {missing[0]} asked for (predict.bands) but the raster has {ds.count}",
                file=ds.name,
                hint="set predict.bands to band numbers between 1 and the band count",
            )
        return list(p.bands) * 3 if len(p.bands) == 1 else list(p.bands)
    interp = list(ds.colorinterp)
    if ds.count < 3:
        warn.append(
            f"{ds.count} band{'s' if ds.count > 1 else ''}: band 1 read as grey (R = G = B)"
        )
        if ds.count == 2 and interp[1] != ColorInterp.alpha:
            warn.append("band 2 is not an alpha band: ignored")
        return [1, 1, 1]
    if ds.count > 3 and not (ds.count == 4 and interp[3] == ColorInterp.alpha):
        warn.append(f"{ds.count} bands: bands 1, 2, 3 read as RGB (set predict.bands to choose)")
    return [1, 2, 3]


def _stretch(ds: Any, bands: Sequence[int], p: PredictParams, warn: list[str]) -> Any:
    """None for uint8; else (low, high): the percentile stretch measured on a sample."""
    from rasterio.enums import Resampling

    dtypes = {ds.dtypes[b - 1] for b in set(bands)}
    if dtypes == {"uint8"}:
        return None
    if any(str(d).startswith("complex") for d in dtypes):
        raise RasterError(
            f"complex pixels ({', '.join(sorted(dtypes))}) cannot be shown to the model",
            file=ds.name,
        )
    windows = sample_windows(ds.width, ds.height, ds.block_shapes[0])
    area = sum(w.width * w.height for w in windows)
    step = max(1, math.ceil(math.sqrt(area / SAMPLE_PIXELS)))
    unique = sorted(set(bands))
    parts = []
    for w in windows:  # one block each: decoded once, or read from an overview
        shape = (len(unique), math.ceil(w.height / step), math.ceil(w.width / step))
        got = ds.read(unique, window=w, out_shape=shape, masked=True, resampling=Resampling.nearest)
        parts.append(got.compressed())
    values = np.concatenate(parts)
    if values.dtype.kind == "f":
        values = values[np.isfinite(values)]
    if values.size == 0:
        return (0.0, 1.0)
    low, high = percentiles(values, p.uint16_scale)
    if high <= low:
        high = low + 1.0
    warn.append(
        f"{'/'.join(sorted(dtypes))} pixels stretched to 8 bits between percentiles "
        f"{p.uint16_scale[0]:g} and {p.uint16_scale[1]:g} ({low:g} .. {high:g})"
    )
    return (low, high)


def percentiles(values: np.ndarray, q: Sequence[float]) -> list[float]:
    """np.percentile(values, q) (linear); by a histogram for integers of up to 16 bits."""
    if values.dtype.kind not in "ui" or values.dtype.itemsize > 2:
        return [float(v) for v in np.percentile(values.astype(np.float64), q)]
    codes = values.ravel().view(f"u{values.dtype.itemsize}")  # value - lowest, in order
    lowest = int(np.iinfo(values.dtype).min)
    if lowest:
        codes = codes ^ np.array(-lowest, dtype=codes.dtype)  # flip the sign bit
    cumulative = np.cumsum(np.bincount(codes))
    ranks = (values.size - 1) * np.asarray(q, dtype=np.float64) / 100.0
    below = np.floor(ranks)
    at = np.searchsorted(
        cumulative, np.stack([below, np.minimum(below + 1, values.size - 1)]), "right"
    )
    a, b = at[0] + lowest, at[1] + lowest  # the values of rank below and below + 1
    return [float(v) for v in a + (ranks - below) * (b - a)]


def sample_windows(width: int, height: int, block: tuple[int, int]) -> list[Any]:
    """Whole blocks (h, w) evenly spread over the raster, at most SAMPLE_BLOCK_PIXELS pixels.

    A decimated read of the whole raster decodes every block, and decodes a block again
    for each output row it feeds once a row of blocks outgrows the block cache (a raster
    wider than about 20,000 px of 3 x 16 bits: hours); a block read alone is decoded once.
    The blocks are the middle ones of the cells of a grid of equal bands (rows x columns),
    so that no part of the raster, its edges included, weighs more than its area.
    """
    from rasterio.windows import Window

    bh, bw = min(block[0], height), min(block[1], width)
    ny, nx = math.ceil(height / bh), math.ceil(width / bw)
    k = max(1, min(ny * nx, SAMPLE_BLOCK_PIXELS // (bh * bw)))
    kx = min(nx, max(1, round(math.sqrt(k * nx / ny))))
    ky = min(ny, max(1, k // kx))
    rows = (np.arange(ky) + 0.5) * ny // ky  # the middle block of each of ky equal bands
    cols = (np.arange(kx) + 0.5) * nx // kx
    return [
        Window(c * bw, r * bh, min(bw, width - c * bw), min(bh, height - r * bh))
        for r in rows.astype(int).tolist()
        for c in cols.astype(int).tolist()
    ]


def _to_uint8(data: np.ndarray, stretch: Any) -> np.ndarray:
    if stretch is None:
        return data.astype(np.uint8, copy=False)
    low, high = stretch
    if data.dtype.kind in "ui" and data.dtype.itemsize <= 2:  # a table of every value
        index = np.dtype(f"u{data.dtype.itemsize}")
        values = np.arange(1 << (8 * index.itemsize), dtype=index).view(data.dtype)
        return _scale(values, low, high)[data.view(index)]
    return _scale(np.nan_to_num(data.astype(np.float32), nan=low), low, high)


def _scale(values: np.ndarray, low: float, high: float) -> np.ndarray:
    scaled = (values.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _read_tile(
    ds: Any, tile: Tile, bands: Sequence[int], stretch: Any, size: int
) -> tuple[np.ndarray, np.ndarray] | None:
    """(RGB uint8 size x size x 3, valid size x size bool), padded; None when all nodata."""
    from rasterio.windows import Window

    window = Window(tile.x, tile.y, tile.width, tile.height)
    valid = ds.dataset_mask(window=window) > 0
    if not valid.any():
        return None
    unique = sorted(set(bands))
    data = ds.read(unique, window=window)
    planes = _to_uint8(data, stretch)
    rgb = np.zeros((size, size, 3), dtype=np.uint8)
    for c, band in enumerate(bands):
        rgb[: tile.height, : tile.width, c] = planes[unique.index(band)]
    rgb[: tile.height, : tile.width][~valid] = 0
    padded = np.zeros((size, size), dtype=bool)
    padded[: tile.height, : tile.width] = valid
    return rgb, padded
