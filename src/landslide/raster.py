"""Tiled inference on large georeferenced rasters (orthomosaics) to polygons in their CRS.

    detector = load_detector("models/resnet101-setA", params)
    summary = predict_raster(Path("ortho.tif"), detector, Path("landslides.gpkg"), params.predict)

The raster (GeoTIFF, COG, anything GDAL reads; any CRS) is read with rasterio in square
windows of `predict.tile_size` pixels that overlap by `predict.tile_overlap`, in batches of
`predict.batch_size` tiles, so memory follows the tile batch, never the raster's size
(GDAL's block cache is capped at `CACHE_MB` while a raster is read).

Pixels. Bands `predict.bands` ([] = 1, 2, 3, or band 1 repeated for a grey raster) become
RGB 8-bit: uint8 as it is; any other type (uint16, int16, float) stretched linearly between
the `predict.uint16_scale` percentiles (2 and 98) of the valid pixels, one stretch for the
three bands (colours keep their balance), measured on a decimated read of at most
`SAMPLE_PIXELS` pixels. Nodata (the nodata value, an alpha band or an internal mask:
GDAL's dataset mask) is black for the model and cut out of every mask; tiles holding only
nodata are skipped. Edge tiles are padded to the full tile with black, so that each tile
is resized to the model's input with the same scale, as the photos were in training.

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
plain JSON (with the legacy `crs` member when the CRS is not WGS 84, which QGIS reads).
A raster without a CRS gives polygons in pixel coordinates (x right, y down) and a warning.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from landslide.errors import RasterError
from landslide.io import atomic_open
from landslide.params import PredictParams
from landslide.predict import Detector, forward, mask_geometry, to_original

CACHE_MB = 64  # GDAL block cache while reading (its default is 5 % of the RAM)
SAMPLE_PIXELS = 1 << 20  # pixels read (decimated) to measure the 16-bit stretch
FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global: areas of geographic CRSs
FIELDS = ("class", "label", "score", "area_m2", "area_px", "tiles", "n_tiles")

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
    factor = max(1.0, math.sqrt(ds.width * ds.height / SAMPLE_PIXELS))
    shape = (max(1, round(ds.height / factor)), max(1, round(ds.width / factor)))
    unique = sorted(set(bands))
    sample = ds.read(
        unique, out_shape=(len(unique), *shape), masked=True, resampling=Resampling.nearest
    )
    values = sample.compressed().astype(np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return (0.0, 1.0)
    low, high = (float(v) for v in np.percentile(values, p.uint16_scale))
    if high <= low:
        high = low + 1.0
    warn.append(
        f"{'/'.join(sorted(dtypes))} pixels stretched to 8 bits between percentiles "
        f"{p.uint16_scale[0]:g} and {p.uint16_scale[1]:g} ({low:g} .. {high:g})"
    )
    return (low, high)


def _to_uint8(data: np.ndarray, stretch: Any) -> np.ndarray:
    if stretch is None:
        return data.astype(np.uint8, copy=False)
    low, high = stretch
    scaled = (np.nan_to_num(data.astype(np.float32), nan=low) - low) * (255.0 / (high - low))
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
    from rasterio.transform import Affine

    started = time.perf_counter()
    raster, out = Path(raster), Path(out)
    driver = output_driver(out)
    summary = RasterSummary(raster=raster, out=out, threshold=p.threshold)
    warn = summary.warnings
    info = detector.info
    classes = list(info.classes)
    pieces: list[Piece] = []
    with rasterio.Env(GDAL_CACHEMAX=CACHE_MB), _open(raster) as ds:
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
            pieces.extend(_detect_tiles(detector, read, p))
            summary.processed += len(read)
            if progress is not None:
                progress(len(batch))
    if summary.processed == 0:
        warn.append("the raster holds only nodata: no tile was run, the output is empty")
    summary.detections = len(pieces)
    merged = merge_pieces(pieces, p.merge_iou)
    features = [_feature(m, classes, transform, crs, p.simplify) for m in merged]
    features = [f for f in features if not f["geometry"].is_empty]
    summary.instances = len(features)
    write_features(out, driver, features, crs)
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


def write_features(out: Path, driver: str, features: Sequence[dict[str, Any]], crs: Any) -> None:
    """Write `features` to `out` atomically (a temporary sibling, then a rename)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if driver == "GeoJSON":
        with atomic_open(out, "w", encoding="utf-8") as fh:
            json.dump(geojson(features, crs), fh)
            fh.write("\n")
        return
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    os.unlink(tmp)  # GDAL creates the file itself
    try:
        _write_ogr(Path(tmp), driver, features, crs)
        os.replace(tmp, out)
    finally:
        for leftover in (tmp, f"{tmp}-journal", f"{tmp}-wal", f"{tmp}-shm"):
            Path(leftover).unlink(missing_ok=True)


def _write_ogr(path: Path, driver: str, features: Sequence[dict[str, Any]], crs: Any) -> None:
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
    )


def geojson(features: Sequence[dict[str, Any]], crs: Any) -> dict[str, Any]:
    """A GeoJSON FeatureCollection; the legacy `crs` member names a CRS other than WGS 84."""
    from shapely.geometry import mapping

    doc: dict[str, Any] = {"type": "FeatureCollection", "name": "landslides"}
    if crs is not None and crs.to_epsg() != 4326:
        epsg = crs.to_epsg()
        if epsg:
            doc["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    doc["features"] = [
        {"type": "Feature", "properties": f["properties"], "geometry": mapping(f["geometry"])}
        for f in features
    ]
    return doc


__all__ = [
    "RasterSummary",
    "Tile",
    "merge_pieces",
    "plan_tiles",
    "predict_raster",
    "tile_grid",
]
