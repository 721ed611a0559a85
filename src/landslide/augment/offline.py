"""The `augment` stage (offline mode): originals plus augmented copies of each training image.

`augment(train_json, images_dir, out_dir, p, classes)` writes `out_dir/images/` (the
original training photos, hard-linked, plus `copies` JPEG copies `<stem>_aug<k>.jpg` of
each), `out_dir/train.json` (COCO: originals and copies) and `out_dir/augment.json`
(counts for DVC). In online mode it writes the originals only. Only training splits are
ever augmented: `augment()` takes a train JSON, and the CLI names
`splits/<SET>/train.json` only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landslide.annotations.coco import read_coco, write_coco
from landslide.annotations.images import image_path
from landslide.annotations.model import Annotations, ImageAnn
from landslide.augment.copies import Progress, _Job, _run, copy_name
from landslide.augment.geometry import MIN_AREA
from landslide.errors import AnnotationError
from landslide.io import write_json
from landslide.params import AugmentParams, Params

JPEG_QUALITY = 95


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


def augment_set(
    set_name: str,
    params: Params,
    *,
    splits: Path = Path("data/processed/splits"),
    images: Path = Path("data/processed/prepared/images"),
    out: Path = Path("data/processed/augmented"),
    progress: Progress | None = None,
) -> AugmentSummary:
    """dvc.yaml's `augment@<SET>`: `splits/<SET>/train.json` into `out/<SET>/`, with the
    augment section, the least region area (annotations) and the JPEG quality (prepare)."""
    return augment(
        splits / set_name / "train.json",
        images,
        out / set_name,
        params.augment,
        params.classes,
        min_area=params.annotations.min_region_area,
        jpeg_quality=params.prepare.jpeg_quality,
        progress=progress,
    )


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
