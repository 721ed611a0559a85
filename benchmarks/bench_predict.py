"""Prediction speed and raster memory, measured side by side in one run.

    .venv/bin/python benchmarks/bench_predict.py [--photos 8] [--repeats 3] [--size 512]
        [--photo-size 1600x1200] [--small 4096] [--large 16384] [--dense-small 2048]
        [--dense-large 8192] [--dtype-side 2048] [--dtype-repeats 3] [--skip-raster]

1. Overhead of `landslide predict` on a folder of JPEG photos (decode, EXIF, resize as in
   training, inference, mapping masks back to the photo's pixels, RLE, polygons, overlays,
   JSON, CSV) against a bare torchvision forward (`model(images)` under inference_mode)
   on the same photos already decoded and resized in memory: the same ResNet-50 Mask
   R-CNN (random weights; offline), the same batches, interleaved runs, the fastest of
   each, as wall time and as CPU time of all threads (on a shared machine the wall time
   of the threaded `predict` gets a larger share of the cores; CPU time is the work
   done). A random model scores nothing high; the detector passed to `predict` marks its
   first `--instances` detections of each photo 0.9, as a trained model finding a few
   objects would, so that mapping back, RLE, polygons and overlays do their real work.
   Goal: ratio <= 1.05.
2. `predict-raster` peak resident memory on a large raster against a small one (default
   16384 x 16384 vs 4096 x 4096, RGB uint8, tiled deflate GeoTIFFs with red squares that
   cross tile borders), each in its own process, with a fast fake detector (red pixels
   are a landslide) at the model input 512 (each 1024 px tile resized, as with a real
   model); tiles/s. Goal: large / small peak RSS <= 1.15. The same with many instances
   (default 8192 x 8192 vs 2048 x 2048, a small red square in every 128-px cell, the fake
   detector finding one landslide per cell: 4096 vs 256 instances): goal <= 1.15 too.
   Then a 2048 x 2048 raster as uint8 and as uint16 (values x 100), both with a nodata
   border, fastest of interleaved runs: goal uint16 / uint8 seconds <= 1.3 (GDAL's block
   cache set in bytes, a sampled percentile stretch). A last row gives tiles/s of the
   real ResNet-50 Mask R-CNN on a 2048 x 2048 raster.

Prints rich tables; not a test (`make bench` runs it).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from landslide.inference import TorchDetector, model_input, read_photo
from landslide.model import ModelInfo, skeleton
from landslide.params import CLASSES, PredictParams
from landslide.predict import predict

OVERHEAD_GOAL, MEMORY_GOAL, DTYPE_GOAL = 1.05, 1.15, 1.3
TILE, OVERLAP, INPUT = 1024, 128, 512
console = Console(width=None if sys.stdout.isatty() else 110)  # tables unwrapped in logs


# --------------------------------------------------------------------------- 1. overhead


class Marked(TorchDetector):
    """The real model; its first `k` detections per photo scored 0.9 (see the doc).

    `seconds` adds up the time spent in the forward passes `predict` asks for.
    """

    def __init__(self, model: torch.nn.Module, info: ModelInfo, k: int) -> None:
        super().__init__(model, info)
        self.k = k
        self.seconds = 0.0

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        t = time.perf_counter()
        outputs = super().__call__(images)
        self.seconds += time.perf_counter() - t
        for out in outputs:
            out["scores"] = out["scores"].clone()
            out["scores"][: self.k] = 0.9
        return outputs


def write_photos(folder: Path, n: int, width: int, height: int) -> list[Path]:
    rng = np.random.default_rng(0)
    from PIL import Image

    folder.mkdir(parents=True)
    paths = []
    ys, xs = np.mgrid[0:height, 0:width]
    for i in range(n):
        base = np.stack([(xs * 120 // width) + 40, (ys * 100 // height) + 60, xs * 0 + 70], -1)
        noise = rng.integers(0, 40, (height, width, 3))
        pixels = (base + noise).clip(0, 255).astype(np.uint8)
        path = folder / f"photo_{i:02d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
    return paths


def overhead(args: argparse.Namespace, root: Path) -> None:
    width, height = (int(v) for v in args.photo_size.split("x"))
    paths = write_photos(root / "photos", args.photos, width, height)
    size = (args.size, args.size)
    info = ModelInfo(classes=list(CLASSES), backbone="resnet50", variant="v1", size=size)
    torch.manual_seed(0)
    model = skeleton("resnet50", len(CLASSES), "v1", size).eval()
    detector = Marked(model, info, args.instances)
    p = PredictParams(batch_size=args.batch)
    tensors = []
    for path in paths:
        with read_photo(path, p.max_image_pixels) as image:
            tensors.append(model_input(image, size))
    batches = [tensors[i : i + p.batch_size] for i in range(0, len(tensors), p.batch_size)]

    def bare() -> None:
        with torch.inference_mode():
            for batch in batches:
                model(batch)

    def ours() -> None:
        predict(paths, detector, root / "out", p)

    bare()  # warm-up (and the imports of the first predict call)
    predict(paths[:1], detector, root / "warm", p)
    runs: dict[str, list[float]] = {"bare": [], "ours": [], "inside": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        bare()
        runs["bare"].append((time.perf_counter() - t) / len(paths))
        detector.seconds = 0.0
        t = time.perf_counter()
        predict(paths, detector, root / "out", p)
        runs["ours"].append((time.perf_counter() - t) / len(paths))
        runs["inside"].append(detector.seconds / len(paths))
    # each predict run against the forward passes inside it: the same conditions
    own = min(o / i for o, i in zip(runs["ours"], runs["inside"], strict=True))
    bare_s, ours_s, inside_s = (min(runs[k]) for k in ("bare", "ours", "inside"))
    table = Table(
        title=f"1. predict overhead: {args.photos} JPEG photos {width}x{height} -> "
        f"{args.size}x{args.size}, ResNet-50 Mask R-CNN, batch {p.batch_size}, "
        f"{args.instances} instances/photo, {torch.get_num_threads()} threads, "
        f"fastest of {args.repeats} interleaved runs"
    )
    for col in ("run", "s/photo", "photos/s"):
        table.add_column(col, justify="right")
    table.add_row(
        "bare torchvision forward (tensors in memory)", f"{bare_s:.3f}", f"{1 / bare_s:.2f}"
    )
    table.add_row("landslide predict (files -> all outputs)", f"{ours_s:.3f}", f"{1 / ours_s:.2f}")
    table.add_row("  of which the forward passes inside it", f"{inside_s:.3f}", "")
    table.add_row(
        f"predict / its forward passes (goal <= {OVERHEAD_GOAL})",
        f"{own:.3f}",
        _verdict(own, OVERHEAD_GOAL),
    )
    table.add_row(
        f"predict / bare forward (goal <= {OVERHEAD_GOAL})",
        f"{ours_s / bare_s:.3f}",
        _verdict(ours_s / bare_s, OVERHEAD_GOAL),
    )
    console.print(table)
    console.print(
        "predict reads the next batch and writes the last one in threads while the model "
        "runs; on a loaded machine the two forward timings differ by more than the "
        "overhead, and the first ratio (same run, same conditions) is the one to trust."
    )


def _verdict(ratio: float, goal: float) -> str:
    return "met" if ratio <= goal else "not met"


# --------------------------------------------------------------------------- 2. raster memory


class RedDetector:
    """A fast fake: red pixels of each tile are one landslide scoring 0.9.

    With `cell` (model pixels), the red pixels of each cell of a `cell` grid over the
    model input are one landslide each: many small instances per tile.
    """

    def __init__(self, size: int = INPUT, cell: int | None = None) -> None:
        self.info = ModelInfo(
            classes=list(CLASSES), backbone="resnet50", variant="v1", size=(size, size)
        )
        self.cell = cell

    def __call__(self, images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        return [self._detect(image) for image in images]

    def _detect(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        red = ((image[0] > 0.6) & (image[1] < 0.4)).numpy()  # numpy: no threads to wake
        side = red.shape[-1]
        cell = self.cell or side
        boxes = []
        masks = np.zeros((0, side, side), dtype=bool)
        for y in range(0, side, cell):
            for x in range(0, side, cell):
                part = red[y : y + cell, x : x + cell]
                if part.any():
                    ys, xs = np.nonzero(part)
                    boxes.append([x + xs.min(), y + ys.min(), x + xs.max() + 1, y + ys.max() + 1])
        if boxes:
            masks = np.zeros((len(boxes), side, side), dtype=bool)
            for mask, (x0, y0, x1, y1) in zip(masks, boxes, strict=True):
                mask[y0:y1, x0:x1] = red[y0:y1, x0:x1]
        n = len(boxes)
        return {
            "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(n, 4),
            "labels": torch.ones(n, dtype=torch.int64),
            "scores": torch.full((n,), 0.9),
            "masks": torch.from_numpy(masks)[:, None],
        }


GROUND, RED = (90, 120, 70), (230, 20, 20)  # uint8 values; x 100 for uint16


def write_raster(
    path: Path,
    side: int,
    *,
    dtype: str = "uint8",
    border: int = 0,
    pitch: int = 1500,
    square: int = 120,
    first: int = 1000,
) -> Path:
    """An RGB tiled deflate GeoTIFF in UTM with red squares on a grid.

    `square`-px squares centred every `pitch` px from `first`: by default 120 px every
    1500 px, across tile borders; 24 px every 128 px from 64 puts one in the middle of
    each 128-px cell (tiles start at multiples of 896 = 7 x 128): many small instances.
    uint16 holds the uint8 values x 100; `border` px of nodata (0) on every side.
    """
    import rasterio
    from rasterio.transform import Affine
    from rasterio.windows import Window

    profile = {
        "driver": "GTiff",
        "width": side,
        "height": side,
        "count": 3,
        "dtype": dtype,
        "nodata": 0 if border else None,
        "crs": "EPSG:32633",
        "transform": Affine.translation(500_000, 4_100_000) @ Affine.scale(0.5, -0.5),
        "tiled": True,
        "blockxsize": 512,
        "blockysize": 512,
        "compress": "deflate",
    }
    scale = 100 if dtype == "uint16" else 1
    centres = range(first, side, pitch)
    strip = 1024
    with rasterio.open(path, "w", **profile) as ds:
        for y in range(0, side, strip):
            h = min(strip, side - y)
            block = np.empty((3, h, side), dtype=dtype)
            for c in range(3):
                block[c] = GROUND[c] * scale
            rows = np.arange(y, y + h)
            half = square // 2
            for cy in centres:
                inside = (rows >= cy - half) & (rows < cy + half)
                if not inside.any():
                    continue
                for cx in centres:
                    for c in range(3):
                        block[c, inside, cx - half : cx + half] = RED[c] * scale
            if border:
                block[:, :, :border] = 0
                block[:, :, side - border :] = 0
                block[:, (rows < border) | (rows >= side - border)] = 0
            ds.write(block, window=Window(0, y, side, h))
    return path


def child(raster: Path, out: Path, real: bool, cell: int | None) -> None:
    """Run in a fresh process: predict_raster and report peak RSS as JSON on stdout."""
    import PIL.Image  # noqa: F401  (imported by the first predict_raster: not timed)
    import pyogrio  # noqa: F401
    import rasterio.features  # noqa: F401
    import shapely  # noqa: F401

    from landslide.raster import predict_raster

    if real:
        torch.manual_seed(0)
        info = ModelInfo(
            classes=list(CLASSES), backbone="resnet50", variant="v1", size=(INPUT, INPUT)
        )
        detector: Any = TorchDetector(
            skeleton("resnet50", len(CLASSES), "v1", (INPUT, INPUT)).eval(), info
        )
    else:
        detector = RedDetector(cell=cell)
    baseline = peak_rss_mb()
    p = PredictParams(tile_size=TILE, tile_overlap=OVERLAP, batch_size=4)
    t = time.perf_counter()
    summary = predict_raster(raster, detector, out, p)
    seconds = time.perf_counter() - t
    peak = peak_rss_mb()
    print(
        json.dumps(
            {
                "peak_mb": peak,
                "baseline_mb": baseline,
                "seconds": seconds,
                "tiles": summary.processed,
                "instances": summary.instances,
            }
        )
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM (reset by exec, unlike ru_maxrss)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run_child(
    raster: Path, out: Path, real: bool = False, cell: int | None = None
) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", str(raster), str(out)]
    if real:
        cmd.append("--real")
    if cell:
        cmd += ["--cell", str(cell)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


DENSE_PITCH, DENSE_SQUARE, DENSE_CELL = 128, 24, 64  # one instance per 128-px cell


def raster_memory(args: argparse.Namespace, root: Path) -> None:
    fake, dense = "fake: red", f"fake: {DENSE_CELL}-px cells"
    rows: dict[str, tuple[str, str, dict[str, Any]]] = {}  # key: (raster, detector, result)

    def written(name: str, side: int, **kw: Any) -> Path:
        with console.status(f"writing a {side} x {side} GeoTIFF ({name})"):
            return write_raster(root / f"{name}.tif", side, **kw)

    def measure(raster: Path, **kw: Any) -> dict[str, Any]:
        with console.status(f"predict-raster on {raster.name}"):
            return run_child(raster, raster.with_suffix(".gpkg"), **kw)

    for key, side in (("small", args.small), ("large", args.large)):
        rows[key] = (f"{side} x {side}", fake, measure(written(key, side)))
    dense_kw = {"pitch": DENSE_PITCH, "square": DENSE_SQUARE, "first": DENSE_PITCH // 2}
    for key, side in (("dense_small", args.dense_small), ("dense_large", args.dense_large)):
        raster = written(key, side, **dense_kw)
        rows[key] = (f"{side} x {side}", dense, measure(raster, cell=DENSE_CELL))
    side, border = args.dtype_side, args.dtype_side // 32
    typed = {d: written(d, side, dtype=d, border=border) for d in ("uint8", "uint16")}
    for _ in range(args.dtype_repeats):  # interleaved; the fastest run of each
        for dtype, raster in typed.items():
            r = measure(raster)
            if dtype not in rows or r["seconds"] < rows[dtype][2]["seconds"]:
                rows[dtype] = (f"{side} x {side} {dtype}", fake, r)
    if not args.no_real:
        raster = written("real", 2048)
        rows["real"] = ("2048 x 2048", "ResNet-50", measure(raster, real=True))

    table = Table(
        title=f"2. predict-raster: tiles {TILE} px (overlap {OVERLAP}) -> model input {INPUT}, "
        "batch 4, each raster in its own process"
    )
    columns = ("raster", "detector", "tiles", "instances", "seconds", "tiles/s")
    columns += ("peak RSS MB", "above start")
    for col in columns:
        table.add_column(col, justify="right")

    def add(key: str) -> None:
        label, detector, r = rows[key]
        table.add_row(
            label,
            detector,
            str(r["tiles"]),
            str(r["instances"]),
            f"{r['seconds']:.2f}",
            f"{r['tiles'] / r['seconds']:.1f}",
            f"{r['peak_mb']:.0f}",
            f"{r['peak_mb'] - r['baseline_mb']:.0f}",
        )

    def ratio(label: str, column: str, num: str, den: str, goal: float) -> None:
        field = {"seconds": "seconds", "peak RSS MB": "peak_mb"}[column]
        value = rows[num][2][field] / rows[den][2][field]
        cells = [""] * (len(columns) - 2)  # between the label and the verdict
        cells[columns.index(column) - 1] = f"{value:.3f}"
        table.add_row(f"{label} (goal <= {goal})", *cells, _verdict(value, goal), end_section=True)

    add("small")
    add("large")
    ratio("large / small", "peak RSS MB", "large", "small", MEMORY_GOAL)
    add("dense_small")
    add("dense_large")
    ratio("large / small", "peak RSS MB", "dense_large", "dense_small", MEMORY_GOAL)
    add("uint8")
    add("uint16")
    ratio("uint16 / uint8", "seconds", "uint16", "uint8", DTYPE_GOAL)
    if "real" in rows:
        add("real")
    Console(width=None if console.is_terminal else 130).print(table)  # unwrapped in logs
    console.print(
        f"fake: red = the red pixels of a tile are one landslide; {DENSE_CELL}-px cells = "
        f"those of each cell of the model input, one landslide each (a {DENSE_SQUARE}-px "
        f"square every {DENSE_PITCH} px: many instances). uint8 and uint16: {border} px of "
        f"nodata around, the fastest of {args.dtype_repeats} interleaved runs of each; "
        "uint16 adds the percentile sample and the stretch to 8 bits."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--photo-size", default="1600x1200", help="WIDTHxHEIGHT of the JPEGs")
    parser.add_argument("--size", type=int, default=512, help="model input side")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--instances", type=int, default=3, help="scored 0.9 per photo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--small", type=int, default=4096)
    parser.add_argument("--large", type=int, default=16384)
    parser.add_argument("--dense-small", type=int, default=2048, help="many-instances rows")
    parser.add_argument("--dense-large", type=int, default=8192)
    parser.add_argument("--dtype-side", type=int, default=2048, help="uint8 vs uint16 rows")
    parser.add_argument("--dtype-repeats", type=int, default=3)
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--skip-raster", action="store_true")
    parser.add_argument("--no-real", action="store_true", help="no ResNet-50 raster row")
    parser.add_argument("--child", nargs=2, metavar=("RASTER", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--real", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cell", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(Path(args.child[0]), Path(args.child[1]), args.real, args.cell)
        return
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp:
        root = Path(tmp)
        if not args.skip_overhead:
            overhead(args, root)
        if not args.skip_raster:
            raster_memory(args, root)


if __name__ == "__main__":
    main()
