"""Pixels: a photo decoded upright, made RGB 8-bit, resized and encoded; the worker pool.

Pixels. The EXIF orientation is applied as `ImageOps.exif_transpose` does, but after
the resize (the two commute; transposing the small image is cheaper). A JPEG much
larger than the output is decoded at 1/2, 1/4 or 1/8 scale by libjpeg
(`Image.draft`), and the Lanczos resize reads the exact box of the photo in that
draft, so the geometry of `landslide.prepare.geometry` still holds to the sub-pixel.
Every mode becomes RGB 8-bit: L, P, 1, CMYK, YCbCr by Pillow's conversion;
transparency (RGBA, LA, PA, a palette or tRNS transparency) composited on black, the
letterbox colour; 16-bit (I;16*) scaled by 255 / 65535, never clipped; 32-bit integer
(I) taken as 8-bit when its values fit 0..255, as 16-bit when they fit 0..65535, else
stretched from its min..max; float (F) scaled by 255 when in 0..1, else stretched from
its min..max. Colour profiles are not applied.

Parallel. `prepare.workers` processes (0 = one per CPU; 1 = in this process, no pool)
started with `spawn` (the CLI's progress bar and Prefect run threads, and fork with
threads can hang), so a script that calls this with workers > 1 needs the usual
`if __name__ == "__main__":` guard. Each worker gets a path and the params and
returns the upright size; the outputs are the same bytes for any number of workers.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from landslide.annotations.images import BadImage, open_image
from landslide.io import write_bytes
from landslide.prepare.geometry import Layout, layout

RENDER_VERSION = 1  # bump whenever the pixels produced for the same input change
PAD = (0, 0, 0)  # letterbox bars and the background under transparent pixels
REDUCING_GAP = 3.0
ORIENTATION = 0x0112
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
SWAPS_SIDES = frozenset({5, 6, 7, 8})
SIXTEEN_BIT = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})

Progress = Callable[[int], None]


def render(
    path: Path, size: tuple[int, int], mode: str, quality: int, max_pixels: int
) -> tuple[bytes, tuple[int, int]]:
    """JPEG bytes of the photo at `path` laid out in `size`, and its upright size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        image = open_image(path, max_pixels)
        with image:
            try:
                picture, upright = _decode(image, size, mode)
            except BadImage:
                raise
            except Exception as exc:  # truncated or corrupt data, an unsupported mode
                raise BadImage(f"cannot decode: {exc}") from None
    buf = BytesIO()
    picture.save(buf, "JPEG", quality=quality)
    return buf.getvalue(), upright


def _decode(image: Image.Image, size: tuple[int, int], mode: str) -> tuple[Image.Image, Any]:
    stored_w, stored_h = image.size
    box: tuple[float, float, float, float] = (0, 0, stored_w, stored_h)
    if image.format == "JPEG":  # the orientation is read from the header, before decoding
        orientation = _orientation(image)
        lay = _upright_layout(stored_w, stored_h, orientation, size, mode)
        drafted = image.draft(None, _stored(lay.nw, lay.nh, orientation))
        if drafted is not None:
            box = drafted[1]
        image.load()
    else:
        image.load()
        orientation = _orientation(image)
        lay = _upright_layout(stored_w, stored_h, orientation, size, mode)
    rgb = to_rgb(image)
    picture = rgb.resize(
        _stored(lay.nw, lay.nh, orientation),
        Image.Resampling.LANCZOS,
        box=box,
        reducing_gap=REDUCING_GAP,
    )
    if orientation in TRANSPOSE:
        picture = picture.transpose(TRANSPOSE[orientation])
    if picture.size != size:
        canvas = Image.new("RGB", size, PAD)
        canvas.paste(picture, (lay.ox, lay.oy))
        picture = canvas
    return picture, (lay.width, lay.height)


def _orientation(image: Image.Image) -> int:
    """The EXIF orientation tag as `ImageOps.exif_transpose` reads it (1 when absent or bad)."""
    try:
        value = image.getexif().get(ORIENTATION, 1)
    except Exception:  # a corrupt EXIF block
        return 1
    return value if type(value) is int and value in TRANSPOSE else 1


def _upright_layout(w: int, h: int, orientation: int, size: tuple[int, int], mode: str) -> Layout:
    return layout(*_stored(w, h, orientation), size, mode)


def _stored(w: int, h: int, orientation: int) -> tuple[int, int]:
    """(w, h) turned between upright and stored orientation (the same swap both ways)."""
    return (h, w) if orientation in SWAPS_SIDES else (w, h)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB 8-bit (see the module doc for each mode)."""
    if image.mode in SIXTEEN_BIT or image.mode in ("I", "F"):
        return Image.fromarray(_to_uint8(np.asarray(image), image.mode)).convert("RGB")
    if image.has_transparency_data:
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*PAD, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image if image.mode == "RGB" else image.convert("RGB")


def _to_uint8(a: NDArray[Any], mode: str) -> NDArray[np.uint8]:
    if mode in SIXTEEN_BIT:
        return _scale(a, 65535)
    if mode == "I":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi <= 255:
            return a.astype(np.uint8)
        if lo >= 0 and hi <= 65535:
            return _scale(a, 65535)
        return _stretch(a.astype(np.float64))
    f = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if f.min() >= 0 and f.max() <= 1:
        return np.rint(f * 255).astype(np.uint8)
    return _stretch(f)


def _scale(a: NDArray[Any], top: int) -> NDArray[np.uint8]:
    """0..top -> 0..255, rounded to nearest."""
    return ((a.astype(np.uint32) * 255 + top // 2) // top).astype(np.uint8)


def _stretch(f: NDArray[np.float64]) -> NDArray[np.uint8]:
    lo, hi = float(f.min()), float(f.max())
    if hi <= lo:
        return np.zeros(f.shape, np.uint8)
    return np.rint((f - lo) * (255.0 / (hi - lo))).astype(np.uint8)


# ---------------------------------------------------------------------------- workers


@dataclass(frozen=True, slots=True)
class _Job:
    """One photo to render: small and picklable, sent to a worker process."""

    index: int
    source: Path
    output: Path
    size: tuple[int, int]
    mode: str
    quality: int
    max_pixels: int


@dataclass(frozen=True, slots=True)
class _Done:
    index: int
    width: int = 0  # upright size of the source
    height: int = 0
    nbytes: int = 0
    error: str = ""


def _run_job(job: _Job) -> _Done:
    try:
        data, (width, height) = render(job.source, job.size, job.mode, job.quality, job.max_pixels)
    except BadImage as exc:
        return _Done(job.index, error=str(exc))
    except OSError as exc:  # the photo vanished or cannot be read
        return _Done(job.index, error=f"cannot read: {exc}")
    write_bytes(job.output, data)
    return _Done(job.index, width, height, len(data))


def _execute(jobs: Sequence[_Job], workers: int, progress: Progress) -> Iterator[_Done]:
    """Run the jobs in-process (one worker) or in a pool of `workers` processes."""
    if workers <= 1 or len(jobs) <= 1:
        for job in jobs:
            done = _run_job(job)
            progress(1)
            yield done
        return
    # spawn, not fork: the CLI's progress bar runs a thread, and fork with threads can hang.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context)
    try:
        futures = [pool.submit(_run_job, job) for job in jobs]
        for future in as_completed(futures):
            done = future.result()
            progress(1)
            yield done
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
