"""Tiled inference on large georeferenced rasters (orthomosaics) to polygons in their CRS.

    detector = load_detector("models/resnet101-setA", params)
    summary = predict_raster(Path("ortho.tif"), detector, Path("landslides.gpkg"), params.predict)

- `tiles`: the grid of overlapping square windows (`Tile`, `tile_grid`).
- `reading`: opening the raster, its RGB bands, the 8-bit stretch, reading a tile.
- `merging`: detections of one object seen by overlapping tiles become one (`merge_pieces`).
- `outputs`: features in the raster's CRS (areas in m²) written to GeoPackage / GeoJSON.
- `stage`: `predict_raster` (the `landslide predict-raster` stage), `plan_tiles`.
"""

from landslide.raster.merging import Merged, Piece, merge_pieces
from landslide.raster.outputs import _feature, output_driver, write_features
from landslide.raster.reading import (
    CACHE_MB,
    SAMPLE_BLOCK_PIXELS,
    SAMPLE_PIXELS,
    _stretch,
    _to_uint8,
    percentiles,
    sample_windows,
)
from landslide.raster.stage import RasterSummary, plan_tiles, predict_raster
from landslide.raster.tiles import Tile, tile_grid

__all__ = [
    "CACHE_MB",
    "SAMPLE_BLOCK_PIXELS",
    "SAMPLE_PIXELS",
    "Merged",
    "Piece",
    "RasterSummary",
    "Tile",
    "_feature",
    "_stretch",
    "_to_uint8",
    "merge_pieces",
    "output_driver",
    "percentiles",
    "plan_tiles",
    "predict_raster",
    "sample_windows",
    "tile_grid",
    "write_features",
]
