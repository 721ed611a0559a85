"""Prepare stage: every photo and its polygons resized to `prepare.size`, one COCO file.

    summary = prepare(Path("data/raw/via_project.json"), Path("data/raw/images"),
                      Path("data/processed/prepared"), params)

It writes, atomically, into `out_dir`:

    images/<name>.jpg    each photo upright, RGB 8-bit, prepare.size, JPEG at jpeg_quality
                         (`sub/a.png` -> `images/sub/a.jpg`; see Names for `a.jpg` + `a.png`)
    annotations.json     COCO instances, in the order of the annotations; file names
                         relative to images/, width and height = prepare.size; the photos
                         of the folder the annotation file does not list in `info.unlisted`
    prepare.json         counts for DVC metrics (images, negatives, bad, unlisted, regions)
    .prepare-state.json  the incremental manifest, written last

Names. An output is named after its photo with the suffix .jpg. Photos whose outputs
would share a name (`X.jpg`, `X.jpeg`, `X.PNG`; compared ignoring case) get unique
ones, as `predict` names its overlays: the photo already named so (`X.jpg`) keeps it,
the others get `X-2.jpg`, `X-3.jpg`, ... in the order of their names (never a name
another photo's output has). The names depend only on the set of photo names, not
on their order, and annotations.json maps each photo to its output, so nothing
downstream (nor the VIA file) needs an edit; the summary lists the renamed ones.

Geometry. Polygons are continuous coordinates of the upright photo (pixel i covers
[i, i+1)). A w x h photo is scaled to nw x nh and placed at (ox, oy) in the W x H
output, and every vertex moves with it: x' = x * nw / w + ox, y' = y * nh / h + oy.
`stretch` (the study's): nw, nh = W, H and no offset. `letterbox`: scale
s = min(W / w, H / h), nw, nh = round(w * s), round(h * s), centred
(ox = (W - nw) // 2, oy = (H - nh) // 2) on black; the mapping uses nw / w rather
than s, so that it matches the pixels exactly. Vertices are clamped to the photo's
box in the output (a safeguard: polygons read from VIA already lie inside), rounded
to 1/1000 px, and a region left with fewer than 3 distinct points or no area is
dropped (counted in the summary).

Pixels. The EXIF orientation is applied as `ImageOps.exif_transpose` does, but after
the resize (the two commute; transposing the small image is cheaper). A JPEG much
larger than the output is decoded at 1/2, 1/4 or 1/8 scale by libjpeg
(`Image.draft`), and the Lanczos resize reads the exact box of the photo in that
draft, so the geometry above still holds to the sub-pixel. Every mode becomes RGB
8-bit: L, P, 1, CMYK, YCbCr by Pillow's conversion; transparency (RGBA, LA, PA, a
palette or tRNS transparency) composited on black, the letterbox colour; 16-bit
(I;16*) scaled by 255 / 65535, never clipped; 32-bit integer (I) taken as 8-bit when
its values fit 0..255, as 16-bit when they fit 0..65535, else stretched from its
min..max; float (F) scaled by 255 when in 0..1, else stretched from its min..max.
Colour profiles are not applied.

Incremental. An output is redone only when the key of its photo changed: the sha256
of the source bytes with the parameters that shape the pixels (size, mode,
jpeg_quality, the renderer and Pillow versions). Regions never need the pixels, so
they are mapped again on every run from the manifest's source size, and a polygon
edit rewrites annotations.json without re-encoding a photo. Outputs of photos that
left the input are removed. A killed run leaves no half-written file: every file is
written to a temporary name and renamed; annotations.json and prepare.json are
removed before the first photo changes and written again at the end; the manifest
marks the photos in work as pending before they start, records those done every few
seconds, and is completed last.

Parallel. `prepare.workers` processes (0 = one per CPU; 1 = in this process, no pool)
started with `spawn` (the CLI's progress bar and Prefect run threads, and fork with
threads can hang), so a script that calls this with workers > 1 needs the usual
`if __name__ == "__main__":` guard. Each worker gets a path and the params and
returns the upright size; the outputs are the same bytes for any number of workers.

prepare.json holds only counts that follow from the inputs and params; how much one
run redid (processed, unchanged, removed) is in the summary line, not in the metrics,
so that the file is the same after a fresh run and after an incremental one.

Bad photos (corrupt, truncated, a decompression bomb) are collected with the reason;
the stage then fails with a `PrepareError` naming them, or with `prepare.skip_bad`
leaves them out and lists them in the summary. Photos whose header cannot be read
are refused earlier, by `load_annotations`, with an `AnnotationError`.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import PIL
from numpy.typing import NDArray
from PIL import Image

from landslide.annotations import Annotations, ImageAnn, Region, load_annotations, write_coco
from landslide.annotations.images import BadImage, open_image
from landslide.annotations.model import Point
from landslide.annotations.regions import name_list
from landslide.errors import PrepareError
from landslide.io import remove_stale_temps, sha256_file, write_bytes, write_json
from landslide.params import Params, PrepareParams

__all__ = [
    "DEFAULT_OUT",
    "BadImage",
    "Layout",
    "PrepareSummary",
    "layout",
    "prepare",
    "prepare_annotations",
    "render",
    "to_rgb",
]

IMAGES_DIR = "images"
COCO_NAME = "annotations.json"
METRICS_NAME = "prepare.json"
STATE_NAME = ".prepare-state.json"
DEFAULT_OUT = Path("data/processed/prepared")
RUN_PREPARE = "run `landslide prepare` first (or `dvc repro prepare`)"  # its outputs missing
STATE_VERSION = 1
RENDER_VERSION = 1  # bump whenever the pixels produced for the same input change
PAD = (0, 0, 0)  # letterbox bars and the background under transparent pixels
DECIMALS = 3  # output polygon coordinates are rounded to 1/1000 px
REDUCING_GAP = 3.0
CHECKPOINT_S = 5.0  # how often the manifest records the photos done so far
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


# ---------------------------------------------------------------------------- summary


@dataclass(frozen=True)
class PrepareSummary:
    """What one run did; `metrics()` is what prepare.json holds."""

    images: int  # photos in the output set
    processed: int  # photos rendered in this run
    skipped: int  # photos unchanged since the last run
    removed: int  # outputs deleted because their photo left the input
    negatives: int  # photos without a landslide region
    regions: dict[str, int] = field(default_factory=dict)  # per class, in Params order
    dropped_regions: int = 0  # regions that degenerated in the resize
    bad: tuple[str, ...] = ()  # photos left out (prepare.skip_bad), with the reason
    unlisted: tuple[str, ...] = ()  # photos of the folder the annotations do not list
    renamed: tuple[tuple[str, str], ...] = ()  # (photo, output) given a unique output name
    size: tuple[int, int] = (512, 512)
    mode: str = "stretch"
    out_dir: Path = DEFAULT_OUT

    def metrics(self) -> dict[str, Any]:
        """Counts that depend only on the inputs and params (not on earlier runs)."""
        return {
            "images": self.images,
            "negatives": self.negatives,
            "bad": len(self.bad),
            "unlisted": len(self.unlisted),
            "regions": dict(self.regions),
            "dropped_regions": self.dropped_regions,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metrics(),
            "processed": self.processed,
            "skipped": self.skipped,
            "removed": self.removed,
            "bad_images": list(self.bad),
            "unlisted_images": list(self.unlisted),
            "renamed": dict(self.renamed),
            "size": list(self.size),
            "mode": self.mode,
            "out_dir": str(self.out_dir),
        }

    def summary_line(self) -> str:
        line = (
            f"prepare: {self.images} images ({self.processed} processed, {self.skipped} "
            f"unchanged, {self.removed} removed), {self.size[0]}x{self.size[1]} {self.mode} "
            f"-> {self.out_dir}"
        )
        if self.dropped_regions:
            line += f"; {self.dropped_regions} degenerate regions dropped"
        if self.bad:
            line += f"; {len(self.bad)} bad images left out: {'; '.join(self.bad)}"
        if self.unlisted:
            line += (
                f"; {len(self.unlisted)} photos not in the annotations left out "
                f"(annotations.unlisted): {name_list(self.unlisted, 10)}"
            )
        if self.renamed:
            pairs = [f"{a} -> {b}" for a, b in self.renamed]
            line += f"; {len(pairs)} outputs renamed to keep names apart: {name_list(pairs, 10)}"
        return line


# ---------------------------------------------------------------------------- stage


def prepare(
    annotations: Path,
    images_dir: Path,
    out_dir: Path,
    params: Params,
    *,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Read `annotations` (any VIA variant, or COCO) with `images_dir`; prepare them."""
    ann = load_annotations(annotations, images_dir, params)
    return prepare_annotations(ann, images_dir, out_dir, params, progress=progress)


def prepare_annotations(
    ann: Annotations,
    images_dir: Path,
    out_dir: Path,
    params: Params,
    *,
    progress: Progress | None = None,
) -> PrepareSummary:
    """Resize the photos of `ann` (found in `images_dir`) and their regions into `out_dir`."""
    p = params.prepare
    images_dir, out_dir = Path(images_dir), Path(out_dir)
    progress = progress or (lambda n=1: None)
    _check_dirs(images_dir, out_dir)
    remove_stale_temps(out_dir)  # what a killed run left half-written
    if not ann.images:
        raise PrepareError(
            "no photos to prepare", file=ann.source or None, hint="annotate some photos first"
        )
    names = _output_names(ann)
    workers = p.workers or os.cpu_count() or 1
    sources = [images_dir / image.file_name for image in ann.images]
    keys = [_key(digest, p) for digest in _hashes(sources, workers)]

    state = _read_state(out_dir)
    images_out = out_dir / IMAGES_DIR
    wanted = set(names)
    kept = {
        name: {**state[name], "source": image.file_name}
        for image, name, key in zip(ann.images, names, keys, strict=True)
        if _still_valid(state.get(name), key, images_out / name)
    }
    todo = [i for i, name in enumerate(names) if name not in kept]
    stale = sorted(name for name in state if name not in wanted)
    progress(len(kept))

    if todo or stale:
        # From here until the end the set is in flux: nothing downstream may trust it.
        for name in (COCO_NAME, METRICS_NAME):
            (out_dir / name).unlink(missing_ok=True)
    removed = sum(_unlink(images_out / name) for name in stale)
    for leftover in images_out.rglob(".*.tmp"):  # from a run killed while writing
        leftover.unlink(missing_ok=True)
    pending = {names[i]: {"source": ann.images[i].file_name, "key": None} for i in todo}
    _write_state(out_dir, {**kept, **pending})

    jobs = [
        _Job(
            i,
            sources[i],
            images_out / names[i],
            p.size,
            p.mode,
            p.jpeg_quality,
            params.annotations.max_image_pixels,
        )
        for i in todo
    ]
    entries: dict[str, dict[str, Any]] = dict(kept)
    errors: dict[int, str] = {}
    checkpoint = time.monotonic()
    for done in _execute(jobs, workers, progress):
        image, name = ann.images[done.index], names[done.index]
        del pending[name]
        if done.error:
            errors[done.index] = done.error
        else:
            entries[name] = {
                "source": image.file_name,
                "key": keys[done.index],
                "width": done.width,
                "height": done.height,
                "bytes": done.nbytes,
            }
        if time.monotonic() - checkpoint > CHECKPOINT_S:  # a killed run keeps what it did
            _write_state(out_dir, {**entries, **pending})
            checkpoint = time.monotonic()
    bad = [(ann.images[i].file_name, errors[i]) for i in sorted(errors)]  # (file, reason)

    out_images, dropped = _output_images(ann, names, entries, p, bad)
    bad_names = {file for file, _ in bad}
    for image, name in zip(ann.images, names, strict=True):
        if image.file_name in bad_names:
            _unlink(images_out / name)  # an output that no longer matches its photo
    if bad and not p.skip_bad:
        _write_state(out_dir, entries)
        raise _bad_images_error(bad, images_dir)

    result = Annotations(
        images=out_images, source=str(out_dir / COCO_NAME), unlisted=list(ann.unlisted)
    )
    write_coco(result, out_dir / COCO_NAME, params.classes)
    counts = result.counts()
    summary = PrepareSummary(
        images=len(out_images),
        processed=sum(1 for i in todo if names[i] in entries),
        skipped=sum(1 for name in kept if name in entries),
        removed=removed,
        negatives=result.negatives,
        regions={c: counts.get(c, 0) for c in params.classes},
        dropped_regions=dropped,
        bad=tuple(f"{file} ({reason})" for file, reason in bad),
        unlisted=tuple(ann.unlisted),
        renamed=tuple(
            (image.file_name, name)
            for image, name in zip(ann.images, names, strict=True)
            if name != _plain_name(image.file_name)
        ),
        size=p.size,
        mode=p.mode,
        out_dir=out_dir,
    )
    write_json(out_dir / METRICS_NAME, summary.metrics())
    _write_state(out_dir, entries)
    return summary


def _output_images(
    ann: Annotations,
    names: Sequence[str],
    entries: dict[str, dict[str, Any]],
    p: PrepareParams,
    bad: list[tuple[str, str]],
) -> tuple[list[ImageAnn], int]:
    """The prepared photos with their regions mapped, and the count of regions dropped.

    A photo whose annotated size is not its real upright size moves to `bad`.
    """
    out: list[ImageAnn] = []
    dropped = 0
    for image, name in zip(ann.images, names, strict=True):
        entry = entries.get(name)
        if entry is None:
            continue
        size = (entry["width"], entry["height"])
        if image.width is not None and (image.width, image.height) != size:
            bad.append((image.file_name, _size_mismatch(image, size)))
            del entries[name]
            continue
        regions = _map_regions(image.regions, layout(*size, p.size, p.mode))
        dropped += len(image.regions) - len(regions)
        out.append(
            replace(image, file_name=name, width=p.size[0], height=p.size[1], regions=regions)
        )
    return out, dropped


def _check_dirs(images_dir: Path, out_dir: Path) -> None:
    if not images_dir.is_dir():
        raise PrepareError(f"images directory {str(images_dir)!r} not found")
    src, dst = images_dir.resolve(), out_dir.resolve()
    if dst.is_relative_to(src) or src.is_relative_to(dst / IMAGES_DIR):
        raise PrepareError(
            f"output directory {str(out_dir)!r} overlaps the images directory "
            f"{str(images_dir)!r}: outputs would be read back as photos",
            hint="write the prepared set elsewhere, e.g. --out data/processed/prepared",
        )


def _output_names(ann: Annotations) -> list[str]:
    """`sub/a.png` -> `sub/a.jpg`; photos that would share one get unique names (module doc)."""
    plain = [_plain_name(image.file_name) for image in ann.images]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(plain):
        groups.setdefault(name.casefold(), []).append(i)
    taken = set(groups)  # every photo's own name: a generated one never takes it
    names = list(plain)
    for key in sorted(groups):
        members = groups[key]
        if len(members) == 1:
            continue
        order = sorted(
            members,
            key=lambda i: (
                ann.images[i].file_name != plain[i],  # X.jpg keeps X.jpg
                ann.images[i].file_name.casefold(),
                ann.images[i].file_name,
            ),
        )
        for i in order[1:]:
            names[i] = _unique(plain[i], taken)
    return names


def _plain_name(file_name: str) -> str:
    return PurePosixPath(file_name).with_suffix(".jpg").as_posix()


def _unique(name: str, taken: set[str]) -> str:
    """`name` with -2, -3, ... before the suffix: the first not in `taken` (ignoring case)."""
    path = PurePosixPath(name)
    n = 2
    while (candidate := path.with_stem(f"{path.stem}-{n}").as_posix()).casefold() in taken:
        n += 1
    taken.add(candidate.casefold())
    return candidate


def _hashes(paths: Sequence[Path], workers: int) -> list[str]:
    """sha256 of each file (threads: hashlib releases the GIL on large buffers)."""
    try:
        if workers <= 1 or len(paths) <= 1:
            return [sha256_file(path) for path in paths]
        with ThreadPoolExecutor(max_workers=min(workers, 8)) as pool:
            return list(pool.map(sha256_file, paths))
    except OSError as exc:
        raise PrepareError(f"cannot read: {exc.strerror or exc}", file=exc.filename) from None


def _key(digest: str, p: PrepareParams) -> str:
    """What an output depends on: the photo's bytes and the parameters of its pixels."""
    spec = {
        "render": RENDER_VERSION,
        "pillow": PIL.__version__,
        "sha256": digest,
        "size": list(p.size),
        "mode": p.mode,
        "jpeg_quality": p.jpeg_quality,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _still_valid(entry: Any, key: str, output: Path) -> bool:
    if not isinstance(entry, dict) or entry.get("key") != key:
        return False
    try:
        ok = output.stat().st_size == entry.get("bytes")
    except OSError:
        return False
    sizes = (entry.get("width"), entry.get("height"))
    return ok and all(type(v) is int and v > 0 for v in sizes)


def _read_state(out_dir: Path) -> dict[str, Any]:
    """The manifest of the last run: output name -> entry (empty when absent or unreadable)."""
    try:
        data = json.loads((out_dir / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    outputs = data.get("outputs")
    return outputs if isinstance(outputs, dict) else {}


def _write_state(out_dir: Path, entries: dict[str, Any]) -> None:
    outputs = {name: entries[name] for name in sorted(entries)}
    write_json(out_dir / STATE_NAME, {"version": STATE_VERSION, "outputs": outputs}, indent=1)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1


def _size_mismatch(image: ImageAnn, size: tuple[int, int]) -> str:
    return (
        f"the annotations give {image.width}x{image.height} but the upright photo is "
        f"{size[0]}x{size[1]}: its polygons may not fit it"
    )


def _bad_images_error(bad: list[tuple[str, str]], images_dir: Path) -> PrepareError:
    (file, reason), rest = bad[0], bad[1:]
    more = ""
    if rest:
        shown = ", ".join(f for f, _ in rest[:5]) + (", ..." if len(rest) > 5 else "")
        more = f"{len(rest)} more bad: {shown}; "
    return PrepareError(
        reason,
        file=images_dir / file,
        hint=f"{more}replace or remove the photo, or set prepare.skip_bad: true to leave it out",
    )


# ---------------------------------------------------------------------------- geometry


@dataclass(frozen=True, slots=True)
class Layout:
    """A `width` x `height` upright photo scaled to nw x nh at (ox, oy) in the output."""

    width: int
    height: int
    nw: int
    nh: int
    ox: int = 0
    oy: int = 0

    def point(self, x: float, y: float) -> Point:
        return (x * self.nw / self.width + self.ox, y * self.nh / self.height + self.oy)

    def polygon(self, polygon: Sequence[Point]) -> tuple[Point, ...] | None:
        """The polygon in output pixels, or None when it degenerates."""
        x0, y0, x1, y1 = self.ox, self.oy, self.ox + self.nw, self.oy + self.nh
        pts: list[Point] = []
        for x, y in polygon:
            u, v = self.point(x, y)
            # clamp to the photo's box, round, and turn -0.0 into 0.0
            p = (
                round(min(max(u, x0), x1), DECIMALS) + 0.0,
                round(min(max(v, y0), y1), DECIMALS) + 0.0,
            )
            if not pts or p != pts[-1]:
                pts.append(p)
        while len(pts) > 1 and pts[-1] == pts[0]:
            pts.pop()
        if len(set(pts)) < 3 or Region("", tuple(pts)).area == 0:
            return None
        return tuple(pts)


def layout(width: int, height: int, size: tuple[int, int], mode: str) -> Layout:
    """Where a `width` x `height` photo lands in an output of `size` (see the module doc)."""
    out_w, out_h = size
    if mode == "stretch":
        return Layout(width, height, out_w, out_h)
    if mode != "letterbox":
        raise ValueError(f"unknown prepare mode {mode!r}")
    s = min(out_w / width, out_h / height)
    nw = min(out_w, max(1, round(width * s)))
    nh = min(out_h, max(1, round(height * s)))
    return Layout(width, height, nw, nh, (out_w - nw) // 2, (out_h - nh) // 2)


def _map_regions(regions: Sequence[Region], lay: Layout) -> tuple[Region, ...]:
    out = []
    for region in regions:
        polygon = lay.polygon(region.polygon)
        if polygon is not None:
            out.append(replace(region, polygon=polygon))
    return tuple(out)


# ---------------------------------------------------------------------------- pixels


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
