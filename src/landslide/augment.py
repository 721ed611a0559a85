"""Augmented copies of the training split: pixels, masks, boxes and polygons move together.

The study multiplied its training photos with Keras' ImageDataGenerator (rotations,
shifts, flips, zoom, brightness). Here the same kinds of change come from
torchvision.transforms.v2, each applied with a probability from `AugmentParams`:
horizontal and vertical flip, rotation, affine shift and scale, resized crop (zoom
in), then, on the pixels only, colour jitter, Gaussian blur and Gaussian noise.

One sample is a `tv_tensors.Image` and a target dict: `masks` (`tv_tensors.Mask`,
N x H x W), `boxes` (`tv_tensors.BoundingBoxes`, XYXY), `labels` and, offline, the
polygon vertices of all instances as one `tv_tensors.KeyPoints` (N_vertices x 2).
Geometric transforms never clamp KeyPoints, so polygons keep their shape; afterwards
each polygon is rebuilt from its vertices and clipped to the image with shapely:
an instance pushed out of the image (or left smaller than `min_area` px²) is
dropped, one cut by the border keeps its largest visible part. Boxes are recomputed
from what is left (box = bounding box of the mask, or of the clipped polygon).

torchvision 0.29 flips KeyPoints as pixel indices (x -> W - 1 - x) while every other
geometric kernel (rotate, affine, resize, crop) treats them as continuous
coordinates, as polygons are; the flips here therefore flip KeyPoints as
x -> W - x (y -> H - y), so a flipped polygon lands exactly on its flipped pixels.

Two ways to use it (`augment.mode` in params.yaml):

- **offline** (default): `augment(train_json, images_dir, out_dir, p, classes)` writes
  `out_dir/images/` (the original training photos, hard-linked, plus `copies` JPEG
  copies `<stem>_aug<k>.jpg` of each), `out_dir/train.json` (COCO: originals and
  copies) and `out_dir/augment.json` (counts for DVC). Copy k of image f is drawn
  from a torch seed hashed from (seed, f, k): the same params give the same bytes,
  with any number of worker processes.
- **online**: `augment()` writes the originals only, and training applies
  `OnlineAugment(p)` to each sample in its Dataset::

      aug = OnlineAugment(params.augment) if params.augment.mode == "online" else None
      ...
      def __getitem__(self, i):
          image, target = read_sample(i)       # uint8 or float CxHxW, masks/boxes/labels
          if aug is not None:
              image, target = aug(image, target)
          return image, target

  The DataLoader's per-worker torch seeds (set from `train.seed`) make the draws
  reproducible. Validation and test samples never go through it.

Only training splits are ever augmented: `augment()` takes a train JSON, and the CLI
names `splits/<SET>/train.json` only.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from rasterio import features
from rasterio.transform import Affine
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from landslide.annotations.coco import read_coco, write_coco
from landslide.annotations.images import image_path
from landslide.annotations.model import Annotations, ImageAnn, Point, Region
from landslide.errors import AnnotationError
from landslide.io import write_bytes, write_json
from landslide.params import AugmentParams

MIN_AREA = 4.0  # px²: smaller instances are dropped (as annotations.min_region_area)
JPEG_QUALITY = 95
CROP_SCALE = (0.6, 1.0)  # resized crop: fraction of the image kept, then zoomed back
CROP_RATIO = (3 / 4, 4 / 3)
BLUR_KERNEL = 5
BLUR_SIGMA = (0.1, 1.5)
NOISE_SIGMA = 0.03  # on the [0, 1] scale
DECIMALS = 2  # polygon coordinates in the output JSON

Progress = Callable[[int], None]


# ------------------------------------------------------------------------ transforms


class _HorizontalFlip(v2.RandomHorizontalFlip):
    """RandomHorizontalFlip that flips KeyPoints as continuous coordinates (x -> W - x)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.KeyPoints):
            out = inpt.as_subclass(torch.Tensor).clone()
            out[..., 0] = inpt.canvas_size[1] - out[..., 0]
            return tv_tensors.wrap(out, like=inpt)
        return super().transform(inpt, params)


class _VerticalFlip(v2.RandomVerticalFlip):
    """RandomVerticalFlip that flips KeyPoints as continuous coordinates (y -> H - y)."""

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.KeyPoints):
            out = inpt.as_subclass(torch.Tensor).clone()
            out[..., 1] = inpt.canvas_size[0] - out[..., 1]
            return tv_tensors.wrap(out, like=inpt)
        return super().transform(inpt, params)


class _ZoomCrop(v2.RandomResizedCrop):
    """RandomResizedCrop resized back to the input's own size, whatever that is."""

    def __init__(self, scale: tuple[float, float], ratio: tuple[float, float]) -> None:
        super().__init__(size=(1, 1), scale=scale, ratio=ratio, antialias=True)

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        params = super().make_params(flat_inputs)
        params["size"] = list(v2.query_size(flat_inputs))
        return params

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.resized_crop, inpt, **params, interpolation=self.interpolation, antialias=True
        )


def build_transforms(p: AugmentParams) -> v2.Compose:
    """The augmentation pipeline: geometric transforms, then photometric ones (image only)."""
    bilinear = v2.InterpolationMode.BILINEAR
    lo, hi = sorted(p.scale)
    return v2.Compose(
        [
            _HorizontalFlip(p=p.hflip),
            _VerticalFlip(p=p.vflip),
            v2.RandomApply([v2.RandomRotation(p.max_degrees, interpolation=bilinear)], p=p.rotate),
            v2.RandomApply(
                [
                    v2.RandomAffine(
                        degrees=0,
                        translate=(p.max_shift, p.max_shift),
                        scale=(lo, hi),
                        interpolation=bilinear,
                    )
                ],
                p=p.affine,
            ),
            v2.RandomApply([_ZoomCrop(CROP_SCALE, CROP_RATIO)], p=p.resized_crop),
            v2.RandomApply(
                [v2.ColorJitter(p.brightness, p.contrast, p.saturation)], p=p.color_jitter
            ),
            v2.RandomApply([v2.GaussianBlur(BLUR_KERNEL, BLUR_SIGMA)], p=p.blur),
            v2.RandomApply([v2.GaussianNoise(sigma=NOISE_SIGMA)], p=p.noise),
        ]
    )


def sample_seed(seed: int, file_name: str, copy: int) -> int:
    """The torch seed of copy `copy` of `file_name`: stable across runs, processes and platforms."""
    digest = hashlib.sha256(f"{seed}\0{file_name}\0{copy}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """torch's CPU generator seeded with `seed` inside, restored afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ------------------------------------------------------------------ one image, polygons


@dataclass
class AugmentedImage:
    """One augmented sample: the pixels and the instances left in them."""

    image: torch.Tensor  # uint8, 3 x H x W
    regions: tuple[Region, ...]  # polygons clipped to the image
    masks: torch.Tensor | None  # uint8, N x H x W (one per kept region), None when not asked
    boxes: torch.Tensor  # float, N x 4, XYXY: bounding box of each kept polygon
    kept: int = 0
    clipped: int = 0  # kept, but cut by the border
    dropped: int = 0


def rasterize(polygon: Sequence[Point], height: int, width: int) -> np.ndarray:
    """uint8 mask of the pixels whose centre lies inside `polygon` (pixel i spans [i, i+1])."""
    geom = Polygon(polygon)
    if not geom.is_valid:
        geom = make_valid(geom)
    return features.rasterize(
        [(geom, 1)], out_shape=(height, width), transform=Affine.identity(), dtype="uint8"
    )


def mask_boxes(masks: torch.Tensor) -> torch.Tensor:
    """XYXY boxes of N x H x W masks in pixel-edge coordinates ([x0, y0, x1 + 1, y1 + 1])."""
    n = masks.shape[0]
    out = torch.zeros((n, 4), dtype=torch.float32)
    if n == 0:
        return out
    rows = masks.any(dim=2)  # N x H
    cols = masks.any(dim=1)  # N x W
    for i in range(n):
        ys = torch.nonzero(rows[i]).flatten()
        xs = torch.nonzero(cols[i]).flatten()
        if len(xs) and len(ys):
            out[i] = torch.tensor([xs[0], ys[0], xs[-1] + 1, ys[-1] + 1], dtype=torch.float32)
    return out


def augment_image(
    image: torch.Tensor,
    regions: Sequence[Region],
    transforms: Callable[..., Any],
    *,
    min_area: float = MIN_AREA,
    with_masks: bool = True,
) -> AugmentedImage:
    """Apply `transforms` to an image (uint8 3 x H x W) and its polygons, then clip them.

    The caller seeds torch (see `seeded`). With `with_masks` the instance masks are
    rasterised from the polygons and moved with the pixels too (nearest neighbour).
    """
    height, width = image.shape[-2:]
    polys = [np.asarray(r.polygon, dtype=np.float64).reshape(-1, 2) for r in regions]
    vertices = np.concatenate(polys) if polys else np.zeros((0, 2))
    target: dict[str, Any] = {
        "boxes": tv_tensors.BoundingBoxes(
            torch.tensor([_bounds(q) for q in polys], dtype=torch.float32).reshape(-1, 4),
            format="XYXY",
            canvas_size=(height, width),
        ),
        "labels": torch.arange(len(regions), dtype=torch.int64),
        "polygons": tv_tensors.KeyPoints(
            torch.from_numpy(vertices), canvas_size=(height, width), dtype=torch.float64
        ),
    }
    if with_masks:
        stack = (
            np.stack([rasterize(r.polygon, height, width) for r in regions])
            if regions
            else (np.zeros((0, height, width), dtype=np.uint8))
        )
        target["masks"] = tv_tensors.Mask(torch.from_numpy(stack))
    out_image, out = transforms(tv_tensors.Image(image), target)
    out_h, out_w = out_image.shape[-2:]
    frame = box(0.0, 0.0, float(out_w), float(out_h))
    moved = out["polygons"].as_subclass(torch.Tensor).numpy()
    kept_regions: list[Region] = []
    keep: list[int] = []
    clipped = 0
    start = 0
    for i, (region, q) in enumerate(zip(regions, polys, strict=True)):
        pts = moved[start : start + len(q)]
        start += len(q)
        result = _clip(pts, frame, out_w, out_h, min_area)
        if result is None:
            continue
        polygon, was_clipped = result
        clipped += was_clipped
        keep.append(i)
        kept_regions.append(
            Region(region.label, polygon, len(kept_regions), "polygon", region.attributes)
        )
    masks = None
    if with_masks:
        masks = out["masks"].as_subclass(torch.Tensor)[keep].contiguous()
    boxes = torch.tensor(
        [_bounds(np.asarray(r.polygon)) for r in kept_regions], dtype=torch.float32
    ).reshape(-1, 4)
    return AugmentedImage(
        image=out_image.as_subclass(torch.Tensor),
        regions=tuple(kept_regions),
        masks=masks,
        boxes=boxes,
        kept=len(kept_regions),
        clipped=clipped,
        dropped=len(regions) - len(kept_regions),
    )


def _bounds(points: np.ndarray) -> list[float]:
    return [
        float(points[:, 0].min()),
        float(points[:, 1].min()),
        float(points[:, 0].max()),
        float(points[:, 1].max()),
    ]


def _clip(
    pts: np.ndarray, frame: Polygon, width: int, height: int, min_area: float
) -> tuple[tuple[Point, ...], bool] | None:
    """The visible part of a moved polygon: (vertices, cut by the border?) or None (dropped)."""
    if len(pts) < 3 or not np.isfinite(pts).all():
        return None
    geom: Polygon | None = Polygon(pts)
    if geom.is_valid and frame.contains(geom):  # untouched: the vertices keep their order
        polygon = _rounded(pts, width, height)
        return (polygon, False) if polygon and geom.area >= min_area else None
    if not geom.is_valid:
        geom = _largest(make_valid(geom))
        if geom is None:
            return None
    full = geom.area
    visible = _largest(geom.intersection(frame))
    if visible is None or visible.area < min_area:
        return None
    polygon = _rounded(np.asarray(visible.exterior.coords)[:-1], width, height)
    return (polygon, bool(visible.area < full * (1 - 1e-6))) if polygon else None


def _rounded(pts: np.ndarray, width: int, height: int) -> tuple[Point, ...]:
    """Vertices rounded for the JSON, inside the image, no repeats; () when degenerate."""
    coords = pts.round(DECIMALS)
    coords[:, 0] = coords[:, 0].clip(0, width)
    coords[:, 1] = coords[:, 1].clip(0, height)
    coords = coords[np.any(coords != np.roll(coords, 1, axis=0), axis=1)]
    if len(coords) < 3:
        return ()
    return tuple((float(x), float(y)) for x, y in coords)


def _largest(geom: BaseGeometry) -> Polygon | None:
    """The largest polygon in a (multi)polygon or geometry collection, if any has an area."""
    parts = list(_polygons(geom))
    return max(parts, key=lambda g: g.area) if parts else None


def _polygons(geom: BaseGeometry) -> Iterator[Polygon]:
    if isinstance(geom, Polygon):
        if geom.area > 0:
            yield geom
    else:
        for part in getattr(geom, "geoms", ()):
            yield from _polygons(part)


# ----------------------------------------------------------------------------- online


class OnlineAugment:
    """The same transforms on the fly: `(image, target) -> (image, target)` for a Dataset.

    `image`: uint8 or float tensor C x H x W (or `tv_tensors.Image`). `target`: `masks`
    (N x H x W), `labels` (N), optionally `boxes` (N x 4, XYXY), `area`, `iscrowd`, and
    per-image entries such as `image_id` that pass through. Instances whose mask keeps
    fewer than `min_area` pixels are dropped from every per-instance entry; `boxes`
    (and `area`) are recomputed from the moved masks. No polygons: training reads masks.
    """

    PER_INSTANCE = ("masks", "boxes", "labels", "area", "iscrowd")

    def __init__(self, p: AugmentParams, *, min_area: float = MIN_AREA) -> None:
        self.transforms = build_transforms(p)
        self.min_area = min_area

    def __call__(
        self, image: torch.Tensor, target: dict[str, Any]
    ) -> tuple[tv_tensors.Image, dict[str, Any]]:
        height, width = image.shape[-2:]
        target = dict(target)
        masks = torch.as_tensor(target["masks"])
        if masks.dtype == torch.bool:
            masks = masks.to(torch.uint8)
        target["masks"] = tv_tensors.Mask(masks)
        boxes = target.get("boxes")
        target["boxes"] = tv_tensors.BoundingBoxes(
            mask_boxes(masks) if boxes is None else torch.as_tensor(boxes, dtype=torch.float32),
            format="XYXY",
            canvas_size=(height, width),
        )
        out_image, out = self.transforms(tv_tensors.Image(image), target)
        moved = out["masks"]
        areas = moved.as_subclass(torch.Tensor).flatten(1).sum(1) if len(moved) else None
        keep = areas >= self.min_area if areas is not None else torch.zeros(0, dtype=torch.bool)
        for key in self.PER_INSTANCE:
            if key in out and isinstance(out[key], torch.Tensor) and len(out[key]) == len(keep):
                out[key] = out[key][keep]  # indexing unwraps tv_tensors: plain tensors here
        out["masks"] = tv_tensors.Mask(out["masks"])
        out["boxes"] = tv_tensors.BoundingBoxes(
            mask_boxes(out["masks"].as_subclass(torch.Tensor)),
            format="XYXY",
            canvas_size=tuple(out_image.shape[-2:]),
        )
        if "area" in out and areas is not None:
            out["area"] = areas[keep].to(torch.float32)
        return out_image, out


# ---------------------------------------------------------------------------- offline


@dataclass
class AugmentSummary:
    """What one offline run wrote; `counts()` is the JSON DVC tracks."""

    out_dir: Path
    mode: str
    originals: int = 0
    copies: int = 0
    instances: int = 0  # regions in the originals
    kept: int = 0  # regions in the copies
    clipped: int = 0  # of those, cut by the border
    dropped: int = 0  # pushed out of the image or below the minimum area
    workers: int = 1
    copies_per_image: int = 0

    def counts(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "originals": self.originals,
            "copies_per_image": self.copies_per_image,
            "copies": self.copies,
            "images": self.originals + self.copies,
            "instances": {
                "originals": self.instances,
                "kept": self.kept,
                "clipped": self.clipped,
                "dropped": self.dropped,
            },
        }

    def summary_line(self) -> str:
        if self.mode == "online":
            return (
                f"augment: {self.originals} originals copied, no offline copies "
                f"(augment.mode online: training augments on the fly) -> {self.out_dir}"
            )
        return (
            f"augment: {self.originals} originals + {self.copies} copies; instances "
            f"{self.kept} kept ({self.clipped} clipped), {self.dropped} dropped "
            f"[{self.workers} {'worker' if self.workers == 1 else 'workers'}] -> {self.out_dir}"
        )


@dataclass
class _Job:
    index: int
    image: ImageAnn
    source: Path
    images_out: Path
    copies: int
    p: AugmentParams
    min_area: float
    jpeg_quality: int


@dataclass
class _Done:
    index: int
    images: list[ImageAnn] = field(default_factory=list)
    kept: int = 0
    clipped: int = 0
    dropped: int = 0


def copy_name(file_name: str, k: int) -> str:
    """`sub/a.png`, 2 -> `sub/a_aug2.jpg`."""
    path = PurePosixPath(file_name)
    return str(path.with_name(f"{path.stem}_aug{k}.jpg"))


def augment(
    train_json: Path,
    images_dir: Path,
    out_dir: Path,
    p: AugmentParams,
    classes: Sequence[str],
    *,
    min_area: float = MIN_AREA,
    jpeg_quality: int = JPEG_QUALITY,
    progress: Progress | None = None,
) -> AugmentSummary:
    """Originals plus `p.copies` augmented copies of each training image (offline mode).

    Writes `out_dir/images/`, `out_dir/train.json` (COCO) and `out_dir/augment.json`
    (counts). In online mode only the originals are written. The whole directory is
    built beside `out_dir` and renamed into place at the end: a killed run leaves the
    previous output untouched.
    """
    train_json, images_dir, out_dir = Path(train_json), Path(images_dir), Path(out_dir)
    ann = read_coco(train_json)
    copies = p.copies if p.mode == "offline" else 0
    _check_names(ann, copies, train_json)
    sources = [_source(images_dir, im, train_json) for im in ann.images]
    workers = min(resolve_workers(p.workers), max(1, len(ann.images)))
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out_dir)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".tmp"))
    staging.chmod(0o755)  # mkdtemp makes it private; it becomes out_dir
    try:
        jobs = [
            _Job(i, im, src, staging / "images", copies, p, min_area, jpeg_quality)
            for i, (im, src) in enumerate(zip(ann.images, sources, strict=True))
        ]
        done = sorted(_run(jobs, workers, progress), key=lambda d: d.index)
        out = Annotations(images=[im for d in done for im in d.images], source=str(train_json))
        (staging / "images").mkdir(exist_ok=True)
        write_coco(out, staging / "train.json", classes)
        summary = AugmentSummary(
            out_dir=out_dir,
            mode=p.mode,
            originals=len(ann.images),
            copies=copies * len(ann.images),
            instances=sum(len(im.regions) for im in ann.images),
            kept=sum(d.kept for d in done),
            clipped=sum(d.clipped for d in done),
            dropped=sum(d.dropped for d in done),
            workers=workers,
            copies_per_image=copies,
        )
        write_json(staging / "augment.json", summary.counts())
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def resolve_workers(workers: int) -> int:
    """0 -> the CPUs this process may use."""
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _check_names(ann: Annotations, copies: int, train_json: Path) -> None:
    owners: dict[str, str] = {}
    for im in ann.images:
        for name in [im.file_name] + [copy_name(im.file_name, k) for k in range(1, copies + 1)]:
            other = owners.setdefault(name, im.file_name)
            if other != im.file_name:
                raise AnnotationError(
                    f"output name {name!r} would be written for both {other!r} and "
                    f"{im.file_name!r}",
                    file=train_json,
                    hint="rename one of the images (copies are named <stem>_aug<k>.jpg)",
                )


def _source(images_dir: Path, image: ImageAnn, train_json: Path) -> Path:
    hint = "pass the prepared images directory with --images"
    path = image_path(images_dir, image.file_name, train_json, hint)
    if image.width is None or image.height is None:
        raise AnnotationError(
            "image size unknown", file=train_json, where=f"image {image.file_name!r}"
        )
    return path


def _run(jobs: list[_Job], workers: int, progress: Progress | None) -> Iterable[_Done]:
    if workers <= 1:
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as in the workers: the same work, the same bytes
        try:
            for job in jobs:
                yield _augment_one(job)
                if progress:
                    progress(1)
        finally:
            torch.set_num_threads(threads)
        return
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker) as pool:
        pending: set[Future[_Done]] = {pool.submit(_augment_one, job) for job in jobs}
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for future in finished:
                    yield future.result()
                    if progress:
                        progress(1)
        except BaseException:
            for future in pending:
                future.cancel()
            raise


def _init_worker() -> None:
    torch.set_num_threads(1)


def _augment_one(job: _Job) -> _Done:
    im = job.image
    done = _Done(job.index, images=[im])
    _link(job.source, job.images_out / im.file_name)
    if job.copies == 0:
        return done
    pixels = _read_rgb(job.source, im)
    transforms = build_transforms(job.p)
    for k in range(1, job.copies + 1):
        with seeded(sample_seed(job.p.seed, im.file_name, k)):
            result = augment_image(
                pixels, im.regions, transforms, min_area=job.min_area, with_masks=False
            )
        name = copy_name(im.file_name, k)
        write_bytes(job.images_out / name, _jpeg(result.image, job.jpeg_quality))
        attributes = (*im.attributes, ("augmented_from", im.file_name), ("copy", str(k)))
        height, width = result.image.shape[-2:]
        done.images.append(ImageAnn(name, int(width), int(height), result.regions, attributes))
        done.kept += result.kept
        done.clipped += result.clipped
        done.dropped += result.dropped
    return done


def _read_rgb(path: Path, im: ImageAnn) -> torch.Tensor:
    try:
        with Image.open(path) as raw:
            upright = ImageOps.exif_transpose(raw).convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise AnnotationError(f"cannot read image: {exc}", file=path) from None
    if upright.size != (im.width, im.height):
        raise AnnotationError(
            f"image is {upright.size[0]}x{upright.size[1]} but the annotations say "
            f"{im.width}x{im.height}",
            file=path,
            hint="augment the prepared images that the split's JSON was written for",
        )
    return torch.from_numpy(np.asarray(upright).copy()).permute(2, 0, 1).contiguous()


def _jpeg(image: torch.Tensor, quality: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image.permute(1, 2, 0).numpy()).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _link(src: Path, dst: Path) -> None:
    """Hard-link `src` to `dst` (atomically), or copy it where links are impossible."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:
        shutil.copyfile(src, tmp)
    os.replace(tmp, dst)


def _remove_stale(out_dir: Path) -> None:
    """Staging directories left by a killed run of this stage."""
    for pattern in (f".{out_dir.name}.*.tmp", f".{out_dir.name}.*.old"):
        for stale in out_dir.parent.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    old = None
    if out_dir.exists():
        old = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.", suffix=".old"))
        os.replace(out_dir, old / "previous")
    os.replace(staging, out_dir)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
