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

from landslide import raster as raster_module
from landslide.errors import RasterError
from landslide.model import ModelInfo
from landslide.params import CLASSES, PredictParams
from landslide.raster import outputs as raster_outputs
from landslide.raster import plan_tiles, predict_raster, sample_windows, tile_grid
from landslide.raster import reading as raster_reading
from landslide.raster import stage as raster_stage

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


# --------------------------------------------------------------------------- scale


class CacheSpy(ColourDetector):
    """Records GDAL's block cache size (bytes) while predict_raster is reading."""

    cache: int | None = None

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        from rasterio.env import get_gdal_config

        self.cache = get_gdal_config("GDAL_CACHEMAX")
        return super().__call__(images)


def test_gdal_block_cache_is_cache_mb_megabytes_while_reading(tmp_path: Path) -> None:
    # rasterio hands GDAL_CACHEMAX to GDALSetCacheMax64, in bytes: 64 meant 64 bytes, so
    # every block was decoded again for each row read from it (a 16-bit raster: minutes)
    raster = write_raster(tmp_path / "ortho.tif", scene(64, 64))
    detector = CacheSpy()
    predict_raster(raster, detector, tmp_path / "o.geojson", params())
    assert detector.cache == raster_module.CACHE_MB * 1024 * 1024 == 64 * 2**20


class ReadSpy:
    """A dataset whose reads are recorded (window, out_shape); the rest is the dataset's."""

    def __init__(self, ds: Any) -> None:
        self.ds = ds
        self.reads: list[tuple[Any, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ds, name)

    def read(self, *args: Any, **kw: Any) -> Any:
        self.reads.append((kw.get("window"), kw.get("out_shape")))
        return self.ds.read(*args, **kw)


def test_the_16_bit_stretch_reads_a_bounded_sample_of_whole_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a decimated read of the whole raster decodes every block, and each block again for
    # every output row once a row of blocks outgrows GDAL's cache (wide rasters: hours)
    monkeypatch.setattr(raster_reading, "SAMPLE_PIXELS", 4096)
    monkeypatch.setattr(raster_reading, "SAMPLE_BLOCK_PIXELS", 40 * 64 * 64)
    ys, xs = np.mgrid[0:700, 0:1000]
    values = (1000 + 3 * xs + 2 * ys).astype(np.uint16)  # percentiles need the whole extent
    data = np.stack([values, values + 500, values + 1000])
    raster = write_raster(
        tmp_path / "rgb16.tif", data, tiled=True, blockxsize=64, blockysize=64, nodata=0
    )
    warn: list[str] = []
    with rasterio.open(raster) as ds:
        spy = ReadSpy(ds)
        low, high = raster_module._stretch(spy, [1, 2, 3], params(), warn)
    windows = [w for w, _ in spy.reads]
    assert windows and None not in windows  # never the whole raster at once
    assert all(w.col_off % 64 == 0 and w.row_off % 64 == 0 for w in windows)
    assert all(w.width <= 64 and w.height <= 64 for w in windows)  # a block each
    assert sum(w.width * w.height for w in windows) <= 40 * 64 * 64
    sampled = sum(shape[1] * shape[2] for _, shape in spy.reads)
    assert 4096 // 2 <= sampled <= 2 * 4096  # about SAMPLE_PIXELS
    true_low, true_high = np.percentile(data, (2, 98))
    error = 0.05 * (true_high - true_low)  # 40 blocks of 176 on a gradient: the edges count
    assert abs(low - true_low) < error and abs(high - true_high) < error


def test_sample_windows_are_whole_blocks_spread_over_any_layout() -> None:
    limit = raster_module.SAMPLE_BLOCK_PIXELS
    for width, height, block in [
        (40_000, 30_000, (512, 512)),  # tiled
        (40_000, 30_000, (1, 40_000)),  # one row a strip
        (40_000, 30_000, (16, 40_000)),
        (300, 200, (16, 300)),  # small: every block
    ]:
        windows = sample_windows(width, height, block)
        bh, bw = block
        assert sum(w.width * w.height for w in windows) <= max(limit, bh * bw)
        assert all(w.row_off % bh == 0 and w.col_off % bw == 0 for w in windows)
        ny, nx = -(-height // bh), -(-width // bw)  # blocks down, across
        rows = sorted({w.row_off // bh for w in windows})
        cols = sorted({w.col_off // bw for w in windows})
        assert len(rows) * len(cols) == len(windows)  # a grid
        for picked, n in ((rows, ny), (cols, nx)):  # one in each of len(picked) equal bands
            bands = [int(i * len(picked) / n) for i in picked]
            assert bands == list(range(len(picked)))
    assert len(sample_windows(300, 200, (16, 300))) == 13


@pytest.mark.parametrize("dtype", ["uint16", "int16", "float32"])
def test_stretch_to_8_bits_by_table_equals_the_formula(dtype: str) -> None:
    rng = np.random.default_rng(0)
    if dtype == "float32":
        data = rng.normal(0, 3000, (3, 40, 50)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        data = rng.integers(info.min, info.max, (3, 40, 50), endpoint=True).astype(dtype)
    for low, high in [(1040.0, 2959.0), (-300.5, 123.25)]:
        scaled = (data.astype(np.float32) - low) * (255.0 / (high - low))
        expected = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
        assert np.array_equal(raster_module._to_uint8(data, (low, high)), expected)


@pytest.mark.parametrize("dtype", ["uint16", "int16", "uint8", "int8", "float32"])
def test_percentiles_by_histogram_equal_numpy(dtype: str) -> None:
    rng = np.random.default_rng(1)
    for n in (1, 2, 9, 100_001):
        values = rng.normal(0, 20_000, n).clip(-32_768, 65_535)
        if dtype != "float32":
            info = np.iinfo(dtype)
            values = values.clip(info.min, info.max)
        values = values.astype(dtype)
        for q in [(2.0, 98.0), (0.0, 100.0), (50.0, 50.5)]:
            got = raster_module.percentiles(values, q)
            assert got == pytest.approx(np.percentile(values.astype(np.float64), q), abs=1e-6)


class CellDetector(ColourDetector):
    """Red pixels of each CELL x CELL cell of the tile are one landslide: many instances."""

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        self.calls += 1
        outs = []
        for image in images:
            red = (image[0] > 0.6) & (image[1] < 0.4)
            boxes, masks = [], []
            for y in range(0, image.shape[-2], CELL):
                for x in range(0, image.shape[-1], CELL):
                    cell = torch.zeros_like(red)
                    cell[y : y + CELL, x : x + CELL] = red[y : y + CELL, x : x + CELL]
                    if cell.any():
                        ys, xs = torch.nonzero(cell, as_tuple=True)
                        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
                        masks.append(cell)
            outs.append(
                {
                    "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                    "labels": torch.full((len(boxes),), LANDSLIDE, dtype=torch.int64),
                    "scores": torch.full((len(boxes),), 0.9),
                    "masks": torch.stack(masks)[:, None].float()
                    if masks
                    else torch.zeros(0, 1, *red.shape),
                }
            )
        return outs


CELL = 32  # tiles start at multiples of 96 = 3 x 32: every tile sees the same cells


class Counted(dict):  # type: ignore[type-arg]
    """A feature that counts how many of its kind are alive."""

    alive = 0
    most = 0

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        Counted.alive += 1
        Counted.most = max(Counted.most, Counted.alive)

    def __del__(self) -> None:
        Counted.alive -= 1


@pytest.mark.parametrize("suffix", [".gpkg", ".geojson"])
def test_features_are_written_as_they_come_not_held_all_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    data = scene(288, 192)
    for y in range(12, 192, CELL):  # an 8-px square inside each 32-px cell: 9 x 6
        for x in range(12, 288, CELL):
            paint(data, (x, y, x + 8, y + 8), (230, 20, 20))
    raster = write_raster(tmp_path / "ortho.tif", data)
    feature = raster_module._feature
    monkeypatch.setattr(raster_stage, "_feature", lambda *a: Counted(feature(*a)))
    monkeypatch.setattr(raster_outputs, "WRITE_BATCH", 4)
    Counted.alive = Counted.most = 0
    out = tmp_path / f"o{suffix}"
    summary = predict_raster(raster, CellDetector(), out, params())
    assert summary.instances == 54 and summary.detections > 54  # overlaps seen twice
    if suffix == ".gpkg":
        from pyogrio import read_info

        assert read_info(out)["features"] == 54
    else:
        features = read_geojson(out)
        assert len(features) == 54
        assert all(f["properties"]["area_px"] == 64 for f in features)
    assert Counted.most <= 2 * 4  # a batch being written and the next one being made


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
