"""The output: merged objects as features in the raster's CRS, written as they come.

Polygons (pixel-edge outlines, holes kept, simplified by `predict.simplify`
pixels) in the raster's CRS through its geotransform, with the fields `class`, `label`,
`score`, `area_m2` (for a projected CRS its linear unit squared in m²; for a geographic CRS
the area on an equal-area projection, EPSG:6933; empty without a CRS), `area_px`, `tiles`
(`r<row>c<col>` ids) and `n_tiles`. `.gpkg` is written with pyogrio (GDAL), `.geojson` as
plain JSON, a feature a line (with the legacy `crs` member when the CRS is not WGS 84,
which QGIS reads); both are written as the features come, a batch at a time.
A raster without a CRS gives polygons in pixel coordinates (x right, y down).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import IO, Any

import numpy as np

from landslide.errors import RasterError
from landslide.io import atomic_open
from landslide.raster.merging import Merged

FORMATS = {".gpkg": "GPKG", ".geojson": "GeoJSON", ".json": "GeoJSON"}
EQUAL_AREA = "EPSG:6933"  # WGS 84 / NSIDC EASE-Grid 2.0 Global: areas of geographic CRSs
FIELDS = ("class", "label", "score", "area_m2", "area_px", "tiles", "n_tiles")
WRITE_BATCH = 1024  # features per GeoPackage write


# --------------------------------------------------------------------------- features


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
