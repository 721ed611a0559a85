"""Writing the sample: the photos as JPEG, a VIA project, provenance and decisions.

`generate_sample` writes what a user has after scraping, curating and annotating
photos, so the whole pipeline runs on a fresh machine with no network and no data::

    out_dir/
      images/sample_0001.jpg ...   JPEG photos, some stored rotated with an EXIF tag
      via_project.json             a VIA 2.0.10 project, polygons in upright pixels
      provenance.csv               where each photo came from (here: this generator)
      decisions.csv                the curation decisions (all accepted, with a label)

About `negative_fraction` of the photos have no landslide. Everything is seeded from
(seed, photo index): the same params give byte-identical files, with no timestamps
anywhere.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from PIL import Image

from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.writers import via2_project
from landslide.errors import OutputExistsError, SampleError
from landslide.io import sha256_file, write_bytes, write_csv, write_text
from landslide.params import CLASSES, SampleParams
from landslide.sample.photo import render
from landslide.sample.plan import Plan, plan_photos

IMAGES_DIR = "images"
VIA_FILE = "via_project.json"
PROVENANCE_FILE = "provenance.csv"
DECISIONS_FILE = "decisions.csv"
PROJECT_NAME = "landslide-sample"
FIXED_TIME = "2021-01-01T00:00:00+00:00"  # no wall clock: the output is byte-identical
PROVENANCE_FIELDS = (
    "file",
    *("sha256", "source", "url", "page_url", "title", "author", "licence", "seed"),
    *("width", "height"),
)
DECISION_FIELDS = ("sha256", "file", "decision", "label", "note", "who", "when")
# EXIF orientation -> how the upright image is turned to be stored (exif_transpose undoes it).
STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}


@dataclass(frozen=True)
class SampleSummary:
    """What `generate_sample` wrote: counts for the one-line summary."""

    out_dir: Path
    images: int
    landslide_images: int
    negative_images: int
    regions: dict[str, int]  # class -> polygon count
    exif_rotated: int


def generate_sample(
    out_dir: Path,
    p: SampleParams,
    classes: Sequence[str] = CLASSES,
    *,
    force: bool = False,
    decisions_file: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Write `p.n` synthetic photos, their VIA project, provenance and decisions.

    The curation decisions go to `decisions_file` (default `out_dir/decisions.csv`;
    the pipeline reads them from `curate.decisions`).

    Raises OutputExistsError if `out_dir` is not empty (unless `force`, which removes
    only what this function writes), SampleError if it cannot write there.
    """
    out_dir = Path(out_dir)
    if "landslide" not in classes:
        raise SampleError(f"'landslide' must be one of the classes (got {list(classes)})")
    _prepare_out_dir(out_dir, force=force)
    images_dir = out_dir / IMAGES_DIR
    images: list[ImageAnn] = []
    sizes: dict[str, int] = {}
    provenance: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    counts = dict.fromkeys(classes, 0)
    landslide_images = 0
    plans = plan_photos(p)
    for plan in plans:
        upright, regions, negatives = render(plan, p.seed, classes)
        path = images_dir / plan.name
        write_bytes(path, _encode(upright, plan.orientation, p.jpeg_quality))
        size, digest = path.stat().st_size, sha256_file(path)
        images.append(_via_image(plan.name, regions))
        sizes[plan.name] = size
        for label, _ in regions:
            counts[label] += 1
        has_landslide = any(label == "landslide" for label, _ in regions)
        landslide_images += has_landslide
        provenance.append(_provenance_row(plan, digest, p.seed))
        decisions.append(_decision_row(plan, digest, has_landslide, negatives))
        if progress is not None:
            progress(1)
    write_csv(out_dir / PROVENANCE_FILE, provenance, PROVENANCE_FIELDS)
    write_csv(decisions_file or out_dir / DECISIONS_FILE, decisions, DECISION_FIELDS)
    # The project goes last: a run killed midway leaves no project that points at missing files.
    project = via2_project(
        Annotations(images=images), classes, "class", sizes=sizes, name=PROJECT_NAME
    )
    write_text(out_dir / VIA_FILE, _via_json(project))
    return SampleSummary(
        out_dir=out_dir,
        images=p.n,
        landslide_images=landslide_images,
        negative_images=p.n - landslide_images,
        regions=counts,
        exif_rotated=sum(1 for plan in plans if plan.orientation != 1),
    )


def _prepare_out_dir(out_dir: Path, *, force: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SampleError("exists and is not a directory", file=out_dir, hint="pick another --out")
    # dotfiles (the repo's .gitkeep) do not count: a fresh clone's data/raw is "empty"
    if out_dir.is_dir() and any(not f.name.startswith(".") for f in out_dir.iterdir()):
        if not force:
            raise OutputExistsError(
                "output directory is not empty", file=out_dir, hint="pass --force to overwrite"
            )
        shutil.rmtree(out_dir / IMAGES_DIR, ignore_errors=True)
        for name in (VIA_FILE, PROVENANCE_FILE, DECISIONS_FILE):
            (out_dir / name).unlink(missing_ok=True)
    try:
        (out_dir / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SampleError(f"cannot create: {exc.strerror}", file=out_dir) from None


def _encode(upright: Image.Image, orientation: int, quality: int) -> bytes:
    """JPEG bytes; a rotated photo is stored turned, with the EXIF tag that turns it back."""
    stored = upright if orientation == 1 else upright.transpose(STORED[orientation])
    options: dict[str, Any] = {"quality": quality, "optimize": False, "subsampling": "4:2:0"}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        options["exif"] = exif.tobytes()
    buf = BytesIO()
    stored.save(buf, format="JPEG", **options)
    return buf.getvalue()


def _provenance_row(plan: Plan, digest: str, seed: int) -> dict[str, Any]:
    kind = "landslide" if plan.landslide else "hillside"
    return {
        "file": plan.name,
        "sha256": digest,
        "source": "synthetic",
        "url": "",
        "page_url": "",
        "title": f"Synthetic {kind} photo {plan.index + 1:04d}",
        "author": "landslide sample generator",
        "licence": "CC0-1.0",
        "seed": seed,
        "width": plan.width,
        "height": plan.height,
    }


def _decision_row(
    plan: Plan, digest: str, has_landslide: bool, negatives: list[str]
) -> dict[str, Any]:
    note = ("hard negatives: " + ", ".join(negatives)) if negatives else ""
    return {
        "sha256": digest,
        "file": plan.name,
        "decision": "accepted",
        "label": "landslide" if has_landslide else "non-landslide",
        "note": note,
        "who": "synthetic",
        "when": FIXED_TIME,
    }


def _via_image(name: str, regions: list[tuple[str, list[tuple[int, int]]]]) -> ImageAnn:
    return ImageAnn(
        name,
        regions=tuple(
            Region(label, tuple(points), region_id=i)  # integer pixels, as VIA saves them
            for i, (label, points) in enumerate(regions)
        ),
    )


def _via_json(project: dict[str, Any]) -> str:
    """Compact JSON, as VIA's JSON.stringify writes it."""
    return json.dumps(project, ensure_ascii=False, separators=(",", ":"))
