"""Tiled inference on large georeferenced rasters (orthomosaics) to polygons in their CRS.

    detector = load_detector("models/resnet101-setA", params)
    summary = predict_raster(Path("ortho.tif"), detector, Path("landslides.gpkg"), params.predict)

The raster (GeoTIFF, COG, anything GDAL reads; any CRS) is read with rasterio in square
windows of `predict.tile_size` pixels that overlap by `predict.tile_overlap`, in batches of
`predict.batch_size` tiles, so memory follows the tile batch, never the raster's size
(GDAL's block cache is capped at `CACHE_MB` MiB while a raster is read).

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

Merging. An object on a tile border is seen by both tiles (whole or in part), and the
shared overlap shows both tiles the same pixels. Two detections of the same class from
tiles that overlap are one object when, inside the region the two tiles share, their masks
have an IoU of at least `predict.merge_iou`; objects merged this way (transitively, over
any number of tiles) become the union of their masks with the best score and the list of
tiles. Merging is computed in the raster's pixel grid: map coordinates are an affine image
of it, which scales every area by the same factor, so IoUs are the same in either.

Output. Polygons (pixel-edge outlines, holes kept, simplified by `predict.simplify`
pixels) in the raster's CRS through its geotransform, with the fields `class`, `label`,
`score`, `area_m2` (for a projected CRS its linear unit squared in m²; for a geographic CRS
the area on an equal-area projection, EPSG:6933; empty without a CRS), `area_px`, `tiles`
(`r<row>c<col>` ids) and `n_tiles`. `.gpkg` is written with pyogrio (GDAL), `.geojson` as
plain JSON, a feature a line (with the legacy `crs` member when the CRS is not WGS 84,
which QGIS reads); both are written as the features come, a batch at a time.
A raster without a CRS gives polygons in pixel coordinates (x right, y down) and a warning.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from landslide.errors import RasterError
from landslide.inference import Detector
from landslide.io import atomic_open
from landslide.params import PredictParams
from landslide.predict import forward, mask_geometry, to_original

CACHE_MB = 64  # GDAL block cache while reading, MiB (its default is 5 % of the RAM)
# rasterio.Env(GDAL_CACHEMAX=n) calls GDALSetCacheMax64(n): bytes, whatever n is (64 meant
# 64 bytes: every block read decoded again for each row that used it); "64MB" is a TypeError
CACHE_BYTES = CACHE_MB << 20
SAMPLE_PIXELS = 1 << 20  # pixels (decimated) that measure the 16-bit stretch
SAMPLE_BLOCK_PIXELS = 1 << 25  # at most this many pixels of whole blocks decoded for them
FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global: areas of geographic CRSs
FIELDS = ("class", "label", "score", "area_m2", "area_px", "tiles", "n_tiles")
WRITE_BATCH = 1024  # features per GeoPackage write

Advance = Callable[[int], None]


# --------------------------------------------------------------------------- tiles


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


def plan_tiles(raster: Path, p: PredictParams) -> list[Tile]:
    """The tiles `predict_raster` will visit (opens the raster's header only)."""
    with _open(raster) as ds:
        return tile_grid(ds.width, ds.height, p.tile_size, p.tile_overlap)


# --------------------------------------------------------------------------- reading


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


# --------------------------------------------------------------------------- merging


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


# --------------------------------------------------------------------------- the stage


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


def _crs_name(crs: Any) -> str:
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.to_string() or "custom CRS")


def _feature(
    m: Merged, classes: Sequence[str], transform: Any, crs: Any, simplify: float
) -> dict[str, Any]:
    from shapely import MultiPolygon, Polygon
    from shapely.affinity import affine_transform

    geom = m.geom.simplify(simplify, preserve_topology=True) if simplify > 0 else m.geom
    if isinstance(geom, Polygon):
        geom = MultiPolygon([geom])
    elif not isinstance(geom, MultiPolygon):
        geom = MultiPolygon([g for g in getattr(geom, "geoms", []) if isinstance(g, Polygon)])
    t = transform
    mapped = affine_transform(geom, [t.a, t.b, t.d, t.e, t.c, t.f])
    name = classes[m.label - 1] if 0 < m.label <= len(classes) else str(m.label)
    return {
        "geometry": mapped,
        "properties": {
            "class": name,
            "label": m.label,
            "score": round(m.score, 6),
            "area_m2": _area_m2(mapped, crs),
            "area_px": round(float(m.geom.area), 3),
            "tiles": ",".join(m.tiles),
            "n_tiles": len(m.tiles),
        },
    }


def _area_m2(geom: Any, crs: Any) -> float | None:
    if crs is None or geom.is_empty:
        return None
    if crs.is_geographic:
        from rasterio.warp import transform_geom
        from shapely.geometry import mapping, shape

        projected = shape(transform_geom(crs, EQUAL_AREA, mapping(geom)))
        return round(float(projected.area), 3)
    _unit, factor = crs.linear_units_factor
    return round(float(geom.area) * factor * factor, 3)


# --------------------------------------------------------------------------- writing


def output_driver(out: Path) -> str:
    """The OGR driver for `out`'s suffix; RasterError for other suffixes or no pyogrio."""
    driver = FORMATS.get(Path(out).suffix.lower())
    if driver is None:
        raise RasterError(
            f"unknown output format {Path(out).suffix or '(no suffix)'!r}",
            file=out,
            hint="name the output .gpkg (GeoPackage) or .geojson",
        )
    if driver == "GPKG":
        try:
            import pyogrio  # noqa: F401
        except ImportError:
            raise RasterError(
                "writing GeoPackage needs pyogrio (pip install pyogrio)",
                file=out,
                hint="or write GeoJSON: --out landslides.geojson",
            ) from None
    return driver


def write_features(out: Path, driver: str, features: Iterable[dict[str, Any]], crs: Any) -> int:
    """Write `features` to `out` atomically (a temporary sibling, then a rename); their count.

    Features are consumed as they come, `WRITE_BATCH` at a time at most, so that writing
    holds no more than a batch of them besides the caller's geometries.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    if driver == "GeoJSON":
        with atomic_open(out, "w", encoding="utf-8") as fh:
            return _write_geojson(fh, features, crs)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    os.unlink(tmp)  # GDAL creates the file itself
    try:
        iterator = iter(features)
        batch, count = list(islice(iterator, WRITE_BATCH)), 0
        while True:  # the first batch (maybe empty) creates the layer, the others append
            _write_ogr(Path(tmp), driver, batch, crs, append=count > 0)
            count += len(batch)
            batch = list(islice(iterator, WRITE_BATCH))
            if not batch:
                break
        os.replace(tmp, out)
        return count
    finally:
        for leftover in (tmp, f"{tmp}-journal", f"{tmp}-wal", f"{tmp}-shm"):
            Path(leftover).unlink(missing_ok=True)


def _write_ogr(
    path: Path, driver: str, features: Sequence[dict[str, Any]], crs: Any, *, append: bool
) -> None:
    import shapely
    from pyogrio.raw import write

    props = [f["properties"] for f in features]
    geometry = np.array([shapely.to_wkb(f["geometry"]) for f in features], dtype=object)
    field_data = [
        np.array([p["class"] for p in props], dtype=object),
        np.array([p["label"] for p in props], dtype=np.int32),
        np.array([p["score"] for p in props], dtype=np.float64),
        np.array([np.nan if p["area_m2"] is None else p["area_m2"] for p in props], np.float64),
        np.array([p["area_px"] for p in props], dtype=np.float64),
        np.array([p["tiles"] for p in props], dtype=object),
        np.array([p["n_tiles"] for p in props], dtype=np.int32),
    ]
    write(
        str(path),
        geometry,
        field_data,
        list(FIELDS),
        layer="landslides",
        driver=driver,
        geometry_type="MultiPolygon",
        crs=crs.to_wkt() if crs is not None else None,
        append=append,
    )


def _write_geojson(fh: IO[str], features: Iterable[dict[str, Any]], crs: Any) -> int:
    """A GeoJSON FeatureCollection, a feature a line; the legacy `crs` member names a CRS
    other than WGS 84."""
    from shapely.geometry import mapping

    head: dict[str, Any] = {"type": "FeatureCollection", "name": "landslides"}
    epsg = crs.to_epsg() if crs is not None else None
    if epsg and epsg != 4326:
        head["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    fh.write(json.dumps(head)[:-1] + ', "features": [')
    count = 0
    for f in features:
        geometry = mapping(f["geometry"])
        feature = {"type": "Feature", "properties": f["properties"], "geometry": geometry}
        fh.write(("," if count else "") + "\n" + json.dumps(feature))
        count += 1
    fh.write("\n]}\n")
    return count


__all__ = [
    "RasterSummary",
    "Tile",
    "merge_pieces",
    "plan_tiles",
    "predict_raster",
    "tile_grid",
]
