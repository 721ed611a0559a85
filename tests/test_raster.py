"""Tiled inference on georeferenced rasters: tiles, merging across borders, CRS, nodata, bands."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rasterio
import torch
from rasterio.errors import NotGeoreferencedWarning
from rasterio.transform import Affine
from shapely.geometry import box, shape

from landslide.errors import RasterError
from landslide.model import ModelInfo
from landslide.params import CLASSES, PredictParams
from landslide.raster import plan_tiles, predict_raster, tile_grid

TILE, OVERLAP = 128, 32  # tiles start at 0, 96, 192, ...
ORIGIN = (500_000.0, 4_100_000.0)  # UTM 33N, metres
PIXEL = 2.0  # metres
LANDSLIDE, BUILDING = 1, 4


class ColourDetector:
    """'Detects' red (and magenta) pixels as a landslide, blue ones as a building; masks exact.

    Its input size is the tile size, so tiles are not resized and the masks are exact.
    """

    def __init__(self, size: int = TILE) -> None:
        self.info = ModelInfo(
            classes=list(CLASSES), backbone="resnet50", variant="v1", size=(size, size)
        )
        self.calls = 0

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.calls += 1
        outs = []
        for image in images:
            r, g, b = image
            found = [
                (LANDSLIDE, (r > 0.6) & (g < 0.4) & (b < 0.4)),
                (LANDSLIDE, (r > 0.6) & (g < 0.4) & (b > 0.6)),  # magenta: another one
                (BUILDING, (b > 0.6) & (r < 0.4) & (g < 0.4)),
                (LANDSLIDE, (r > 0.9) & (g > 0.9) & (b > 0.9)),  # white: grey rasters
            ]
            found = [(label, m) for label, m in found if m.any()]
            boxes = []
            for _, m in found:
                ys, xs = torch.nonzero(m, as_tuple=True)
                boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            side = image.shape[-1]
            outs.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    "labels": torch.tensor([label for label, _ in found], dtype=torch.int64),
                    "scores": torch.full((len(found),), 0.9),
                    "masks": torch.stack([m for _, m in found])[:, None].float()
                    if found
                    else torch.zeros(0, 1, side, side),
                }
            )
        return outs


def write_raster(
    path: Path,
    data: np.ndarray,
    *,
    crs: str | None = "EPSG:32633",
    transform: Any = None,
    nodata: float | None = None,
    **extra: Any,
) -> Path:
    bands, height, width = data.shape
    profile: dict[str, Any] = {
        "driver": "GTiff",
        "width": width,
        "height": height,
        "count": bands,
        "dtype": data.dtype.name,
        "nodata": nodata,
        **extra,
    }
    if crs is not None:
        profile["crs"] = crs
        profile["transform"] = transform or from_origin(*ORIGIN, PIXEL, PIXEL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with rasterio.open(path, "w", **profile) as ds:
            ds.write(data)
    return path


def from_origin(west: float, north: float, xsize: float, ysize: float) -> Affine:
    return Affine.translation(west, north) @ Affine.scale(xsize, -ysize)


def scene(width: int, height: int) -> np.ndarray:
    data = np.zeros((3, height, width), dtype=np.uint8)
    data[:] = np.array([90, 120, 70], dtype=np.uint8)[:, None, None]
    return data


def paint(data: np.ndarray, rect: tuple[int, int, int, int], colour: tuple[int, ...]) -> None:
    x0, y0, x1, y1 = rect
    for c, v in enumerate(colour):
        data[c, y0:y1, x0:x1] = v


def map_box(rect: tuple[int, int, int, int]) -> Any:
    x0, y0, x1, y1 = rect
    ox, oy = ORIGIN
    return box(ox + x0 * PIXEL, oy - y1 * PIXEL, ox + x1 * PIXEL, oy - y0 * PIXEL)


def params(**kw: Any) -> PredictParams:
    return PredictParams(**{"tile_size": TILE, "tile_overlap": OVERLAP, "batch_size": 3, **kw})


def read_geojson(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text())["features"]


# --------------------------------------------------------------------------- tiles


def test_tile_grid_covers_the_raster_with_overlap() -> None:
    tiles = tile_grid(300, 200, TILE, OVERLAP)
    assert [(t.x, t.y, t.width, t.height) for t in tiles] == [
        (0, 0, 128, 128),
        (96, 0, 128, 128),
        (192, 0, 108, 128),
        (0, 96, 128, 104),
        (96, 96, 128, 104),
        (192, 96, 108, 104),
    ]
    assert [t.name for t in tiles[:3]] == ["r0c0", "r0c1", "r0c2"]
    assert len(tile_grid(128, 128, TILE, OVERLAP)) == 1
    assert len(tile_grid(50, 10, TILE, OVERLAP)) == 1


# --------------------------------------------------------------------------- merging


CROSSING = (80, 40, 150, 70)  # across the border of tiles r0c0 and r0c1
CORNER = (100, 100, 120, 140)  # in the overlap of four tiles, a building
INSIDE = (20, 160, 40, 180)  # in tile r1c0 only


def test_an_object_across_tile_borders_is_one_polygon_at_the_right_map_coordinates(
    tmp_path: Path,
) -> None:
    data = scene(200, 200)
    paint(data, CROSSING, (230, 20, 20))
    paint(data, CORNER, (20, 20, 230))
    paint(data, INSIDE, (230, 20, 20))
    raster = write_raster(tmp_path / "ortho.tif", data)
    out = tmp_path / "landslides.geojson"
    ticks: list[int] = []
    detector = ColourDetector()
    summary = predict_raster(raster, detector, out, params(), progress=ticks.append)
    assert summary.tiles == 4 and summary.processed == 4 and sum(ticks) == 4
    assert detector.calls == 2  # batches of 3 tiles
    assert summary.crs == "EPSG:32633" and summary.warnings == []
    features = read_geojson(out)
    assert summary.instances == len(features) == 3
    by_tiles = {f["properties"]["tiles"]: f for f in features}
    crossing = by_tiles["r0c0,r0c1"]
    assert crossing["properties"]["class"] == "landslide"
    assert crossing["properties"]["n_tiles"] == 2
    geom = shape(crossing["geometry"])
    assert geom.symmetric_difference(map_box(CROSSING)).area == pytest.approx(0, abs=1e-6)
    assert crossing["properties"]["area_m2"] == pytest.approx(70 * 30 * PIXEL**2)
    assert crossing["properties"]["area_px"] == pytest.approx(70 * 30)

    corner = by_tiles["r0c0,r0c1,r1c0,r1c1"]
    assert corner["properties"]["class"] == "building"
    assert shape(corner["geometry"]).symmetric_difference(map_box(CORNER)).area < 1e-6
    inside = by_tiles["r1c0"]
    assert shape(inside["geometry"]).symmetric_difference(map_box(INSIDE)).area < 1e-6
    doc = json.loads(out.read_text())
    assert doc["crs"]["properties"]["name"] == "urn:ogc:def:crs:EPSG::32633"


def test_geopackage_opens_with_its_crs_and_fields(tmp_path: Path) -> None:
    from pyogrio import read_info
    from pyogrio.raw import read

    data = scene(200, 120)
    paint(data, CROSSING, (230, 20, 20))
    raster = write_raster(tmp_path / "ortho.tif", data)
    out = tmp_path / "out" / "landslides.gpkg"
    predict_raster(raster, ColourDetector(), out, params())
    meta = read_info(out)
    assert meta["features"] == 1 and meta["geometry_type"] == "MultiPolygon"
    assert meta["crs"] == "EPSG:32633"
    assert list(meta["fields"]) == [
        "class",
        "label",
        "score",
        "area_m2",
        "area_px",
        "tiles",
        "n_tiles",
    ]
    _, _, geometry, fields = read(out)
    assert fields[0][0] == "landslide" and fields[5][0] == "r0c0,r0c1"
    assert shape_from_wkb(geometry[0]).symmetric_difference(map_box(CROSSING)).area < 1e-6
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files


def shape_from_wkb(wkb: bytes) -> Any:
    import shapely

    return shapely.from_wkb(wkb)


def test_two_detections_that_barely_overlap_stay_apart(tmp_path: Path) -> None:
    # tile r0c0 sees a landslide ending at x=100, tile r0c1 one starting at x=124: inside
    # their shared strip (96-128) they cover 4 and 4 px with no overlap -> IoU 0
    data = scene(200, 100)
    paint(data, (60, 10, 100, 30), (230, 20, 20))
    paint(data, (124, 10, 170, 30), (230, 20, 230))  # magenta: the fake's second instance
    raster = write_raster(tmp_path / "ortho.tif", data)
    summary = predict_raster(raster, ColourDetector(), tmp_path / "o.geojson", params())
    assert summary.instances == 2


# --------------------------------------------------------------------------- bad input


def test_nodata_tiles_are_skipped_and_nodata_is_cut_from_masks(tmp_path: Path) -> None:
    data = scene(300, 100)
    data[:, :, 180:] = 0  # nodata: the right third (the tile at x 192 holds only nodata)
    paint(data, (150, 20, 180, 40), (230, 20, 20))
    raster = write_raster(tmp_path / "ortho.tif", data, nodata=0)
    out = tmp_path / "o.geojson"
    summary = predict_raster(raster, ColourDetector(), out, params())
    assert (summary.tiles, summary.processed, summary.skipped) == (3, 2, 1)
    (feature,) = read_geojson(out)
    assert shape(feature["geometry"]).symmetric_difference(map_box((150, 20, 180, 40))).area < 1e-6


def test_all_nodata_raster_writes_an_empty_layer_with_a_warning(tmp_path: Path) -> None:
    raster = write_raster(tmp_path / "empty.tif", np.zeros((3, 64, 64), np.uint8), nodata=0)
    out = tmp_path / "o.gpkg"
    summary = predict_raster(raster, ColourDetector(), out, params())
    assert summary.processed == 0 and summary.instances == 0
    assert any("only nodata" in w for w in summary.warnings)
    from pyogrio import read_info

    assert read_info(out)["features"] == 0


def test_single_band_16_bit_raster_without_crs(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    grey = rng.integers(1000, 3000, (1, 150, 200)).astype(np.uint16)
    grey[0, 40:70, 80:150] = 40_000  # bright: above the 98th percentile
    raster = write_raster(tmp_path / "grey16.tif", grey, crs=None)
    out = tmp_path / "o.geojson"
    summary = predict_raster(raster, ColourDetector(), out, params())
    text = " ".join(summary.warnings)
    assert "band 1 read as grey" in text and "uint16 pixels stretched" in text
    assert "no CRS" in text and summary.crs is None
    (feature,) = read_geojson(out)
    geom = shape(feature["geometry"])  # pixel coordinates
    assert geom.symmetric_difference(box(80, 40, 150, 70)).area < 1e-6
    assert feature["properties"]["area_m2"] is None
    assert "crs" not in json.loads(out.read_text())


def test_geographic_crs_gives_areas_in_square_metres(tmp_path: Path) -> None:
    data = scene(100, 100)
    paint(data, (10, 10, 60, 50), (230, 20, 20))
    step = 1e-5  # degrees: about 1.11 m at the equator
    transform = from_origin(10.0, 0.5, step, step)
    raster = write_raster(tmp_path / "wgs84.tif", data, crs="EPSG:4326", transform=transform)
    out = tmp_path / "o.geojson"
    predict_raster(raster, ColourDetector(), out, params())
    (feature,) = read_geojson(out)
    expected = 50 * 40 * (step * 111_320) ** 2
    assert feature["properties"]["area_m2"] == pytest.approx(expected, rel=0.01)
    assert "crs" not in json.loads(out.read_text())  # WGS 84 is GeoJSON's own


def test_rasters_that_cannot_be_used(tmp_path: Path) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(RasterError, match="cannot open as a raster"):
        plan_tiles(text, params())
    raster = write_raster(tmp_path / "rgb.tif", scene(64, 64))
    with pytest.raises(RasterError, match="band 5 asked for"):
        predict_raster(raster, ColourDetector(), tmp_path / "o.geojson", params(bands=[5]))
    with pytest.raises(RasterError, match="unknown output format"):
        predict_raster(raster, ColourDetector(), tmp_path / "o.shp", params())


def test_four_bands_alpha_and_band_choice(tmp_path: Path) -> None:
    data = np.concatenate([scene(64, 64), np.full((1, 64, 64), 7, np.uint8)])
    paint(data, (10, 10, 30, 30), (230, 20, 20, 7))
    # RGBA (GDAL's default for 4 bands of uint8): alpha 0 is nodata, here over the square
    alpha = data.copy()
    alpha[3, :, :32] = 0
    raster = write_raster(tmp_path / "rgba.tif", alpha)
    summary = predict_raster(raster, ColourDetector(), tmp_path / "x.geojson", params())
    assert summary.instances == 0 and summary.warnings == []
    # RGB + near infrared: band 4 is not alpha, bands 1-3 are read
    raster = write_raster(tmp_path / "rgbn.tif", data, photometric="RGB")
    summary = predict_raster(raster, ColourDetector(), tmp_path / "a.geojson", params())
    assert summary.instances == 1 and "bands 1, 2, 3 read as RGB" in summary.warnings[0]
    # bands 3, 2, 1: the red square now reads blue, a building
    predict_raster(raster, ColourDetector(), tmp_path / "b.geojson", params(bands=[3, 2, 1]))
    (feature,) = read_geojson(tmp_path / "b.geojson")
    assert feature["properties"]["class"] == "building"


def test_cli_with_a_real_tiny_untrained_model(tmp_path: Path) -> None:
    import os

    from typer.testing import CliRunner

    from landslide.cli import app
    from landslide.model import skeleton
    from landslide.train import write_model

    torch.manual_seed(0)
    info = ModelInfo(
        classes=list(CLASSES),
        backbone="resnet50",
        variant="v1",
        size=(64, 64),
        rpn_post_nms_top_n_test=50,  # light RoI heads: an untrained model proposes junk
        box_detections_per_img=5,
    )
    write_model(skeleton("resnet50", len(CLASSES), "v1", (64, 64)), info, tmp_path / "model.pt")
    write_raster(tmp_path / "ortho.tif", scene(100, 90))
    args = ["predict-raster", "ortho.tif", "--model", "model.pt", "--out", "ls.gpkg"]
    args += ["--tile-size", "64", "--tile-overlap", "16", "--threshold", "0.05"]
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, args)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert "predict-raster: 100x90 px, 4 tiles" in result.stdout
    assert (tmp_path / "ls.gpkg").is_file()
