"""The offline copies of one training image: the original hard-linked, `copies` JPEG
copies `<stem>_aug<k>.jpg` drawn with their own seeds; run in worker processes or here.
"""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from landslide.annotations.model import ImageAnn
from landslide.augment.geometry import augment_image
from landslide.augment.transforms import build_transforms, sample_seed, seeded
from landslide.errors import AnnotationError
from landslide.io import write_bytes
from landslide.params import AugmentParams

Progress = Callable[[int], None]


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
