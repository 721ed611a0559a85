"""The `predict-raster` stage: detect tile by tile, merge across tiles, write polygons.

    detector = load_detector("models/resnet101-setA", params)
    summary = predict_raster(Path("ortho.tif"), detector, Path("landslides.gpkg"), params.predict)

The raster (GeoTIFF, COG, anything GDAL reads; any CRS) is read with rasterio in square
windows of `predict.tile_size` pixels that overlap by `predict.tile_overlap`, in batches of
`predict.batch_size` tiles, so memory follows the tile batch, never the raster's size
(GDAL's block cache is capped at `CACHE_MB` MiB while a raster is read). Pixels are read
as `landslide.raster.reading` says, detections merged as in `landslide.raster.merging`
and written as in `landslide.raster.outputs`. A raster without a CRS gives polygons in
pixel coordinates (x right, y down) and a warning.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from landslide.inference import Detector, forward, mask_geometry, to_original
from landslide.params import PredictParams
from landslide.raster.merging import Piece, merge_pieces
from landslide.raster.outputs import _crs_name, _feature, output_driver, write_features
from landslide.raster.reading import CACHE_BYTES, _bands, _open, _read_tile, _stretch
from landslide.raster.tiles import Tile, tile_grid

Advance = Callable[[int], None]


def plan_tiles(raster: Path, p: PredictParams) -> list[Tile]:
    """The tiles `predict_raster` will visit (opens the raster's header only)."""
    with _open(raster) as ds:
        return tile_grid(ds.width, ds.height, p.tile_size, p.tile_overlap)


@dataclass
class RasterSummary:
    raster: Path
    out: Path
    width: int = 0
    height: int = 0
    crs: str | None = None
    tiles: int = 0  # in the grid
    processed: int = 0  # tiles run through the model
    skipped: int = 0  # tiles holding only nodata
    detections: int = 0  # per-tile detections at or above the threshold
    instances: int = 0  # after merging across tiles
    threshold: float = 0.8
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def tiles_per_s(self) -> float:
        return self.processed / self.seconds if self.seconds > 0 else 0.0

    def summary_line(self) -> str:
        skipped = f" ({self.skipped} nodata skipped)" if self.skipped else ""
        crs = self.crs or "pixel coordinates"
        return (
            f"predict-raster: {self.width}x{self.height} px, {self.tiles} tiles{skipped}, "
            f"{self.detections} detections -> {self.instances} instances "
            f"(score >= {self.threshold:g}) in {crs}, {self.tiles_per_s:.1f} tiles/s "
            f"-> {self.out}"
        )


def predict_raster(
    raster: Path,
    detector: Detector,
    out: Path,
    p: PredictParams,
    *,
    progress: Advance | None = None,
) -> RasterSummary:
    """Detect in `raster` tile by tile, merge across tiles, write polygons to `out`."""
    import rasterio
    import shapely
    from rasterio.transform import Affine

    started = time.perf_counter()
    raster, out = Path(raster), Path(out)
    driver = output_driver(out)
    summary = RasterSummary(raster=raster, out=out, threshold=p.threshold)
    warn = summary.warnings
    info = detector.info
    classes = list(info.classes)
    # the pieces, outlines as WKB until merging: shapely (GEOS) geometries are small C
    # allocations made among each batch's big buffers (pixels, model inputs, masks) that
    # pin the heap pages those free, and the peak memory grew with the count (8192² vs
    # 2048² px, 4096 vs 256 instances: 1.2-1.4 x the peak RSS; 1.08 x as bytes)
    found: list[tuple[Tile, int, float, bytes]] = []
    with rasterio.Env(GDAL_CACHEMAX=CACHE_BYTES), _open(raster) as ds:
        summary.width, summary.height = ds.width, ds.height
        bands = _bands(ds, p, warn)
        stretch = _stretch(ds, bands, p, warn)
        crs = ds.crs if ds.crs and (ds.crs.to_wkt() or "") else None
        if crs is None:
            warn.append("the raster has no CRS: polygons in pixel coordinates, no area in m²")
            transform = Affine.identity()
        else:
            transform = ds.transform
            summary.crs = _crs_name(crs)
        tiles = tile_grid(ds.width, ds.height, p.tile_size, p.tile_overlap)
        summary.tiles = len(tiles)
        for batch in _batched(tiles, p.batch_size):
            read: list[tuple[Tile, np.ndarray, np.ndarray]] = []
            for tile in batch:
                got = _read_tile(ds, tile, bands, stretch, p.tile_size)
                if got is None:
                    summary.skipped += 1
                else:
                    read.append((tile, *got))
            detected = _detect_tiles(detector, read, p)
            outlines = shapely.to_wkb([d.geom for d in detected])
            for d, wkb in zip(detected, outlines, strict=True):
                found.append((d.tile, d.label, d.score, wkb))
            summary.processed += len(read)
            if progress is not None:
                progress(len(batch))
    if summary.processed == 0:
        warn.append("the raster holds only nodata: no tile was run, the output is empty")
    summary.detections = len(found)
    geoms = shapely.from_wkb([wkb for *_, wkb in found])
    pieces = [Piece(*f[:3], g) for f, g in zip(found, geoms, strict=True)]
    del found, geoms
    merged = merge_pieces(pieces, p.merge_iou)
    del pieces  # the merged geometries are new ones
    features = (_feature(m, classes, transform, crs, p.simplify) for m in merged)
    kept = (f for f in features if not f["geometry"].is_empty)
    summary.instances = write_features(out, driver, kept, crs)
    summary.seconds = time.perf_counter() - started
    return summary


def _detect_tiles(
    detector: Detector, read: Sequence[tuple[Tile, np.ndarray, np.ndarray]], p: PredictParams
) -> list[Piece]:
    from PIL import Image

    if not read:
        return []
    images = [Image.fromarray(rgb) for _, rgb, _ in read]
    outputs = forward(detector, images)
    pieces = []
    for (tile, _, valid), output in zip(read, outputs, strict=True):
        size = (p.tile_size, p.tile_size)
        for det in to_original(
            output,
            detector.info.size,
            size,
            min_score=p.threshold,
            mask_threshold=p.mask_threshold,
        ):
            h, w = det.mask.shape
            mask = det.mask & valid[det.y : det.y + h, det.x : det.x + w]
            if not mask.any():
                continue
            geom = mask_geometry(mask, tile.x + det.x, tile.y + det.y)
            pieces.append(Piece(tile, det.label, det.score, geom))
    return pieces


def _batched(items: Sequence[Tile], n: int) -> Iterator[Sequence[Tile]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
