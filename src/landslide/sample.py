"""The embedded synthetic sample: hillside photos with landslides, annotated in VIA.

`generate_sample` writes what a user has after scraping, curating and annotating
photos, so the whole pipeline runs on a fresh machine with no network and no data::

    out_dir/
      images/sample_0001.jpg ...   JPEG photos, some stored rotated with an EXIF tag
      via_project.json             a VIA 2.0.10 project, polygons in upright pixels
      provenance.csv               where each photo came from (here: this generator)
      decisions.csv                the curation decisions (all accepted, with a label)

Each photo is a scene painted with NumPy and Pillow: a sky with haze, a fractal
ridge line, textured grass with relief shading, and then objects of the four
classes: forest patches (vegetation), lakes and rivers (water_body), houses
(building) and landslide scars (landslide). A scar is a tongue of debris that
runs down-slope: narrow at a light scarp, widening to a lobate toe, with streaks
along the flow. About `negative_fraction` of the photos have no landslide but
carry hard negatives of similar colour and different shape and texture: ploughed
fields, dirt roads, rock outcrops and round bare-soil patches (never annotated).

Every object is painted through the raster of its integer polygon, and a polygon
painted over by a later one is clipped, so the annotation is the visible pixels.
Everything is seeded from (seed, photo index): the same params give byte-identical
files, with no timestamps anywhere.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFilter
from shapely import make_valid
from shapely.geometry import Polygon, box
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.writers import via2_project
from landslide.errors import OutputExistsError, SampleError
from landslide.io import sha256_file, write_bytes, write_csv, write_text
from landslide.params import CLASSES, SampleParams

__all__ = ["SampleSummary", "generate_sample"]

F32 = NDArray[np.float32]
RGB = NDArray[np.float32]  # shape (3,), 0..255
Rng = np.random.Generator

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

# Width:height; landscape dominates, as in photo collections, and a quarter are portrait.
ASPECTS = ((4, 3), (3, 2), (16, 9), (1, 1), (3, 4), (4, 3), (3, 2), (2, 3))
# EXIF orientation -> how the upright image is turned to be stored (exif_transpose undoes it).
STORED = {
    3: Image.Transpose.ROTATE_180,
    6: Image.Transpose.ROTATE_90,
    8: Image.Transpose.ROTATE_270,
}
LANDSLIDES_PER_IMAGE = ((1, 0.55), (2, 0.3), (3, 0.15))
MAX_LANDSLIDE_VERTICES = 40
MAX_VERTICES = 60

# Palettes (RGB). Landslide debris and hard negatives share the soil colours on purpose:
# what tells them apart is shape, scarp, streaks and orientation, not a colour channel.
SOIL = np.array(
    [[150, 124, 90], [124, 102, 78], [166, 144, 106], [140, 132, 118], [148, 118, 86]],
    dtype=np.float32,
)
GRASS = np.array(
    [[96, 128, 58], [118, 138, 70], [138, 140, 84], [82, 112, 54], [108, 122, 62]],
    dtype=np.float32,
)
FOREST = np.array([[40, 64, 32], [50, 74, 38], [34, 56, 36], [56, 70, 34]], dtype=np.float32)
ROCK = np.array([[128, 126, 120], [112, 110, 106], [146, 140, 130]], dtype=np.float32)
WATER = np.array([[44, 72, 92], [52, 84, 96], [38, 64, 78]], dtype=np.float32)
WALLS = np.array([[226, 220, 204], [210, 196, 170], [236, 232, 224], [190, 176, 150]], np.float32)
ROOFS = np.array([[160, 70, 50], [120, 60, 45], [90, 88, 90], [176, 96, 60]], dtype=np.float32)


@dataclass(frozen=True)
class SampleSummary:
    """What `generate_sample` wrote: counts for the one-line summary."""

    out_dir: Path
    images: int
    landslide_images: int
    negative_images: int
    regions: dict[str, int]  # class -> polygon count
    exif_rotated: int


@dataclass(frozen=True)
class _Plan:
    """One photo's name, upright size and role, decided for the whole sample at once."""

    index: int
    name: str
    width: int
    height: int
    landslide: bool
    orientation: int  # EXIF orientation; 1 = stored upright, no tag


@dataclass(frozen=True)
class _Scene:
    """The upright canvas: ridge line per column and the perspective it implies."""

    width: int
    height: int
    ridge: F32  # y of the skyline per column; < 0 where the photo shows no sky
    horizon: float  # mean ridge y clamped to the image (0 for a photo without sky)

    @property
    def short(self) -> int:
        return min(self.width, self.height)

    def scale_at(self, y: float) -> float:
        """Object scale at row y: small near the horizon, 1 at the bottom edge."""
        depth = (y - self.horizon) / max(1.0, self.height - self.horizon)
        return 0.35 + 0.65 * float(np.clip(depth, 0.0, 1.0))

    def ground_y(self, rng: Rng, x: float, lo: float, hi: float) -> float:
        """A row below the ridge at column x, between fractions lo..hi of the slope."""
        top = max(0.0, float(self.ridge[int(np.clip(x, 0, self.width - 1))]))
        return top + float(rng.uniform(lo, hi)) * (self.height - top)

    def terrain(self) -> Polygon:
        """The ground below the ridge, as a polygon (used to keep objects off the sky)."""
        xs = np.linspace(0, self.width - 1, 48)
        ys = np.interp(xs, np.arange(self.width), self.ridge)
        top = [(float(x), float(y) + 1.0) for x, y in zip(xs, ys, strict=True)]
        bottom = [(self.width + 1.0, self.height + 1.0), (-1.0, self.height + 1.0)]
        return Polygon([(-1.0, top[0][1]), *top, (self.width + 1.0, top[-1][1]), *bottom])


@dataclass(frozen=True)
class _Tongue:
    """A landslide scar: its polygon and the flow frame that its texture follows."""

    polygon: Polygon
    head: tuple[float, float]
    down: tuple[float, float]  # unit vector head -> toe
    length: float
    ts: F32  # positions along the flow, 0..1
    half_width: F32  # half width at ts
    crown: tuple[float, float, float]  # how far the head arc reaches upslope, its half width, u


@dataclass(frozen=True)
class _Patch:
    """A soft mask over a window of the image: where and how much to paint."""

    x0: int
    y0: int
    alpha: F32  # (h, w) in 0..1

    @property
    def window(self) -> tuple[slice, slice]:
        h, w = self.alpha.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)

    def grid(self) -> tuple[F32, F32]:
        """Image x and y coordinates of every pixel in the window."""
        h, w = self.alpha.shape
        ys, xs = np.mgrid[self.y0 : self.y0 + h, self.x0 : self.x0 + w]
        return xs.astype(np.float32), ys.astype(np.float32)


@dataclass
class _Photo:
    """One photo being composed: geometry first, then paint, then annotation."""

    scene: _Scene
    image: F32  # (h, w, 3), 0..255
    painted: list[tuple[str, Polygon]] = field(default_factory=list)  # class, as painted
    hard_negatives: list[str] = field(default_factory=list)


# ============================================================================ public API


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
    plans = _plan(p)
    for plan in plans:
        upright, regions, negatives = _render(plan, p.seed, classes)
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


# ============================================================================ files


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


def _provenance_row(plan: _Plan, digest: str, seed: int) -> dict[str, Any]:
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
    plan: _Plan, digest: str, has_landslide: bool, negatives: list[str]
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


# ============================================================================ VIA project


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


# ============================================================================ the plan


def _rng(seed: int, *key: int) -> Rng:
    """A generator for one purpose of one sample: (seed, key...) -> independent stream."""
    return np.random.default_rng(np.random.SeedSequence(seed % 2**64, spawn_key=key))


def _plan(p: SampleParams) -> list[_Plan]:
    """Names, sizes, which photos are negatives and which are stored rotated.

    Each choice draws from its own stream, so changing one fraction changes nothing else.
    """
    n_negative = min(p.n, round(p.n * p.negative_fraction))
    negatives = set(_rng(p.seed, 0, 0).permutation(p.n)[:n_negative].tolist())
    n_exif = round(p.n * p.exif_fraction)
    if p.exif_fraction > 0 and p.n >= 10:
        n_exif = max(1, n_exif)
    rng = _rng(p.seed, 0, 1)
    rotated = rng.permutation(p.n)[:n_exif].tolist()
    orientations = {i: int(rng.choice([6, 8, 3], p=[0.45, 0.4, 0.15])) for i in rotated}
    if rotated:
        orientations[rotated[0]] = 6  # at least one quarter turn: width and height swap
    rng = _rng(p.seed, 0, 2)
    aspects = [ASPECTS[k] for _ in range(0, p.n, len(ASPECTS)) for k in rng.permutation(8)]
    plans = []
    for i in range(p.n):
        width, height = _size(rng, aspects[i], p.min_side, p.max_side)
        plans.append(
            _Plan(
                index=i,
                name=f"sample_{i + 1:04d}.jpg",
                width=width,
                height=height,
                landslide=i not in negatives,
                orientation=orientations.get(i, 1),
            )
        )
    return plans


def _size(rng: Rng, aspect: tuple[int, int], min_side: int, max_side: int) -> tuple[int, int]:
    """Upright (width, height): longer side in [min_side, max_side], shorter >= min_side."""
    a, b = aspect
    ratio = max(a, b) / min(a, b)
    long_lo = min(max_side, math.ceil(min_side * ratio))
    long = int(rng.integers(long_lo, max_side + 1))
    short = min(long, max(min_side, round(long / ratio)))
    return (long, short) if a >= b else (short, long)


# ============================================================================ one photo


def _render(
    plan: _Plan, seed: int, classes: Sequence[str]
) -> tuple[Image.Image, list[tuple[str, list[tuple[int, int]]]], list[str]]:
    """Paint one upright photo; return it, its regions (class, integer polygon), hard negatives."""
    rng = _rng(seed, 1, plan.index)
    scene = _scene(rng, plan.width, plan.height)
    sky = _sky(rng, scene)
    photo = _Photo(scene, _composite_terrain(rng, scene, sky))
    _populate(rng, photo, plan.landslide)
    _haze(rng, photo.image, scene, sky)
    _camera(rng, photo.image)
    upright = Image.fromarray(np.clip(photo.image + 0.5, 0, 255).astype(np.uint8))
    regions = _annotate(photo, classes)
    return upright, regions, photo.hard_negatives


def _populate(rng: Rng, photo: _Photo, landslide: bool) -> None:
    """Lay out every object (landslides first, so others avoid them), then paint in depth order."""
    scene = photo.scene
    tongues = _place_landslides(rng, scene) if landslide else []
    scars = [t.polygon for t in tongues]
    vegetation = _place_vegetation(rng, scene, int(rng.integers(0, 4)))
    water = _place_water(rng, scene, scars) if rng.random() < 0.5 else []
    taken = [*scars, *(poly for poly, _ in water), *vegetation]
    for poly in vegetation:
        _paint_vegetation(rng, photo, poly)
    roads = _place_roads(rng, scene, landslide)
    for line, width in roads:
        _paint_road(rng, photo, line, width)
    for poly, kind in water:
        _paint_water(rng, photo, poly, kind)
    _hard_negatives(rng, photo, taken, landslide, bool(roads))
    buildings = _place_buildings(rng, scene, taken)
    for house in buildings:
        _paint_building(rng, photo, house)
    style = _debris_style(rng)
    for tongue in tongues:
        _paint_landslide(rng, photo, tongue, style)


# ============================================================================ sky and terrain


def _scene(rng: Rng, width: int, height: int) -> _Scene:
    """A skyline: a fractal ridge a fifth to two fifths down, or none (a photo of the slope)."""
    if rng.random() < 0.2:
        ridge = np.full(width, -1.0, dtype=np.float32)
        return _Scene(width, height, ridge, 0.0)
    base = rng.uniform(0.14, 0.4) * height
    amp = rng.uniform(0.05, 0.14) * height
    tilt = rng.uniform(-0.08, 0.08) * height * np.linspace(-1, 1, width)
    ridge = base + amp * _line_noise(rng, width, cells=3, octaves=5) + tilt
    ridge = np.clip(ridge, 0.04 * height, 0.6 * height).astype(np.float32)
    return _Scene(width, height, ridge, float(np.clip(ridge.mean(), 0, height)))


def _sky(rng: Rng, scene: _Scene) -> tuple[F32, RGB]:
    """Sky gradient (deep blue on top, pale at the horizon), soft clouds; and the haze colour."""
    w, h = scene.width, scene.height
    overcast = rng.random() < 0.25
    if overcast:
        top = np.array([150, 160, 172], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
        low = np.array([200, 204, 208], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    else:
        top = np.array([72, 122, 196], np.float32) + rng.normal(0, 12, 3).astype(np.float32)
        low = np.array([196, 212, 228], np.float32) + rng.normal(0, 6, 3).astype(np.float32)
    span = max(1.0, scene.horizon + 0.05 * h)
    t = np.clip(np.arange(h, dtype=np.float32) / span, 0, 1) ** 0.8
    sky = top + (low - top) * t[:, None, None]
    sky = np.broadcast_to(sky, (h, w, 3)).copy()
    clouds = _contrast(_fbm(rng, h, w, cell=max(w, h) / 3, octaves=5), 2.2)
    amount = np.clip(clouds - rng.uniform(0.45, 0.65), 0, 1)[..., None] * (1.6 if overcast else 1.2)
    sky += (np.array([245, 246, 248], np.float32) - sky) * np.clip(amount, 0, 0.85)
    return sky, low


def _composite_terrain(rng: Rng, scene: _Scene, sky_haze: tuple[F32, RGB]) -> F32:
    """Sky, a hazy distant ridge, and the near slope below the ridge line."""
    sky, haze = sky_haze
    w, h = scene.width, scene.height
    rows = np.arange(h, dtype=np.float32)[:, None]
    image = sky.copy()
    if scene.horizon > 0:
        far = scene.ridge - rng.uniform(0.03, 0.1) * h * (1 + _line_noise(rng, w, 4, 4))
        far_colour = haze * 0.74 + np.array([34, 42, 54], np.float32) * rng.uniform(0.7, 1.1)
        shade = 0.92 + 0.12 * _fbm(rng, h, w, cell=max(4.0, w / 30), octaves=3)
        alpha = np.clip(rows - far[None, :] + 0.5, 0, 1)[..., None]
        image += (far_colour * shade[..., None] - image) * alpha
    ground = _terrain(rng, scene)
    alpha = np.clip(rows - scene.ridge[None, :] + 0.5, 0, 1)[..., None]
    image += (ground - image) * alpha
    return image.astype(np.float32)


def _terrain(rng: Rng, scene: _Scene) -> F32:
    """Grass and scrub: two greens mixed by low-frequency noise, grain, relief shading."""
    w, h = scene.width, scene.height
    pick = rng.choice(len(GRASS), 2, replace=False)
    c1, c2 = (GRASS[i] + rng.normal(0, 7, 3).astype(np.float32) for i in pick)
    rows = _ground_rows(scene)
    mix = _contrast(_fbm(rng, h, w, cell=max(w, h) / 3, octaves=4), 2.0)[rows]
    grain = _fbm(rng, h, w, cell=max(3.0, scene.short / 45), octaves=3)[rows]
    fine = _noise(rng, h, w, cell=max(1.0, scene.short / 200))[rows]
    height_field = _fbm(rng, h, w, cell=scene.short / 2.2, octaves=2)
    gullies = _noise(rng, h, w, scene.short / rng.uniform(8, 16), stretch=rng.uniform(2, 3))
    height_field = height_field + rng.uniform(0.04, 0.12) * gullies[rows]
    colour = c1 + (c2 - c1) * mix[..., None]
    light = (0.82 + 0.3 * grain + 0.1 * fine) * _relief(rng, height_field, scene.short)
    colour = colour * light[..., None]
    # scattered shrubs and lone trees, denser in places
    density = _fbm(rng, h, w, cell=max(w, h) / 4, octaves=2)
    dark = _dots(rng, h, w, rng.uniform(0.002, 0.012) * density, max(0.6, scene.short / 500))
    colour *= (1 - 0.4 * dark)[..., None]
    return colour.astype(np.float32)


def _relief(rng: Rng, height_field: F32, short: int) -> F32:
    """Hill shading of a height field lit from the upper left or right."""
    gy, gx = np.gradient(height_field * short * rng.uniform(0.3, 0.5))
    lx = rng.choice([-1.0, 1.0]) * 0.7
    shade = 1.0 + 0.4 * (gx * lx + gy * -0.7) / np.sqrt(1 + gx**2 + gy**2)
    return np.clip(shade, 0.7, 1.25).astype(np.float32)


def _ground_rows(scene: _Scene) -> NDArray[np.intp]:
    """Row index map that compresses texture toward the horizon (perspective)."""
    h, hz = scene.height, scene.horizon
    y = np.arange(h, dtype=np.float32)
    depth = np.clip((y - hz) / max(1.0, h - 1 - hz), 0, 1)
    mapped = np.where(y > hz, hz + (h - 1 - hz) * depth**0.6, y)
    return np.clip(np.rint(mapped), 0, h - 1).astype(np.intp)


def _haze(rng: Rng, image: F32, scene: _Scene, sky_haze: tuple[F32, RGB]) -> None:
    """Aerial perspective: the ground fades toward the haze colour near the horizon."""
    if scene.horizon <= 0:
        return
    haze = sky_haze[1]
    rows = np.arange(scene.height, dtype=np.float32)[:, None]
    below = rows - scene.ridge[None, :]
    reach = rng.uniform(0.15, 0.35) * (scene.height - scene.horizon)
    weight = rng.uniform(0.35, 0.6) * np.exp(-np.clip(below, 0, None) / reach)
    weight = np.where(below > 0, weight, 0.0)[..., None]
    image += (haze - image) * weight


def _camera(rng: Rng, image: F32) -> None:
    """A camera's touch: colour cast, vignetting and sensor noise."""
    h, w, _ = image.shape
    image *= (1 + rng.normal(0, 0.03, 3)).astype(np.float32)
    yy, xx = np.ogrid[-1 : 1 : complex(0, h), -1 : 1 : complex(0, w)]
    image *= (1 - rng.uniform(0.05, 0.18) * (xx**2 + yy**2) / 2)[..., None].astype(np.float32)
    image += rng.normal(0, 2.0, image.shape).astype(np.float32)


# ============================================================================ noise


def _noise(rng: Rng, h: int, w: int, cell: float, stretch: float = 1.0) -> F32:
    """Value noise in 0..1: a random grid every `cell` pixels, upscaled bicubically.

    `stretch` > 1 makes features that many times taller than wide (gullies down a slope).
    """
    cell = max(1.0, cell)
    gh = max(2, math.ceil(h / (cell * stretch)) + 1)
    gw = max(2, math.ceil(w / cell) + 1)
    grid = rng.random((gh, gw), dtype=np.float32)
    out = np.asarray(Image.fromarray(grid).resize((w, h), Image.Resampling.BICUBIC))
    return np.clip(out, 0, 1).astype(np.float32)


def _fbm(rng: Rng, h: int, w: int, cell: float, octaves: int) -> F32:
    """Fractal noise: octaves of value noise, each half the cell and half the weight."""
    total = np.zeros((h, w), np.float32)
    weight = 0.0
    for k in range(octaves):
        size = cell / 2**k
        if size < 1.0:
            break
        total += 0.5**k * _noise(rng, h, w, size)
        weight += 0.5**k
    return total / max(weight, 1e-6)


def _dots(rng: Rng, h: int, w: int, density: float | F32, radius: float) -> F32:
    """Sparse soft round dots in 0..1 (shrubs, boulders): random pixels, blurred."""
    seeds = np.where(rng.random((h, w), dtype=np.float32) < density, 255, 0).astype(np.uint8)
    blurred = Image.fromarray(seeds).filter(ImageFilter.GaussianBlur(radius))
    peak = 1.0 / (2 * np.pi * radius**2) if radius > 0.5 else 1.0
    return np.clip(np.asarray(blurred, np.float32) / 255 / min(1.0, peak * 1.5), 0, 1)


def _contrast(x: F32, gain: float) -> F32:
    return np.clip((x - 0.5) * gain + 0.5, 0, 1).astype(np.float32)


def _line_noise(rng: Rng, n: int, cells: int, octaves: int) -> F32:
    """1-D fractal noise in about -1..1 over n samples (skylines, banks, centre lines)."""
    x = np.arange(n, dtype=np.float32)
    out = np.zeros(n, np.float32)
    for k in range(octaves):
        m = cells * 2**k + 2
        out += 0.5**k * np.interp(x, np.linspace(0, n - 1, m), rng.uniform(-1, 1, m))
    return out / 1.6


# ============================================================================ geometry


def _blob(
    rng: Rng,
    centre: tuple[float, float],
    radii: tuple[float, float],
    rough: float,
    angle: float = 0.0,
    vertices: int = 28,
) -> Polygon:
    """A star-shaped irregular blob (always a valid polygon)."""
    theta = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    r = np.ones_like(theta)
    for j in range(2, 7):
        r += rough / j * rng.uniform(0.3, 1.0) * np.cos(j * theta + rng.uniform(0, 2 * np.pi))
    r = np.clip(r, 0.35, None)
    x, y = radii[0] * r * np.cos(theta), radii[1] * r * np.sin(theta)
    ca, sa = math.cos(angle), math.sin(angle)
    cx, cy = centre
    return Polygon(np.column_stack([cx + ca * x - sa * y, cy + sa * x + ca * y]))


def _landslide_polygon(
    rng: Rng, head: tuple[float, float], length: float, width: float, angle: float
) -> _Tongue:
    """A tongue running down-slope from `head`: narrow scarp, widening body, lobate toe.

    Built in a flow frame (s along the flow, u across), then turned by `angle` from
    straight down. At most 38 vertices.
    """
    toe_r = width / 2
    body = max(length - toe_r, 0.5 * length)
    ts = np.linspace(0.0, 1.0, 12, dtype=np.float32)
    narrow = rng.uniform(0.3, 0.5)  # head width / toe width
    ramp = ts ** rng.uniform(0.4, 0.9)
    neck = rng.uniform(0.0, 0.15) * np.sin(np.pi * np.clip(ts * 1.4, 0, 1))
    profile = np.clip(narrow + (1 - narrow) * ramp - neck, 0.25, 1).astype(np.float32)
    bow = rng.uniform(-0.15, 0.15) * body * np.sin(np.pi * ts)
    wobble_l = 1 + 0.2 * _line_noise(rng, 12, 3, 2) + rng.normal(0, 0.04, 12)
    wobble_r = 1 + 0.2 * _line_noise(rng, 12, 3, 2) + rng.normal(0, 0.04, 12)
    s = ts * body
    left = np.column_stack([s, bow - toe_r * profile * wobble_l])
    right = np.column_stack([s, bow + toe_r * profile * wobble_r])
    phi = np.linspace(-np.pi / 2, np.pi / 2, 11)[1:-1]  # toe arc, left -> right
    lobes = 1 + 0.25 * np.abs(np.sin(int(rng.integers(2, 4)) * (phi + np.pi / 2)))
    rx, ry = toe_r * rng.uniform(0.5, 0.9) * lobes, toe_r * lobes
    toe = np.column_stack([body + rx * np.cos(phi), bow[-1] + ry * np.sin(phi)])
    psi = np.linspace(np.pi / 2, -np.pi / 2, 7)[1:-1]  # crown arc, right -> left, upslope
    crown_half = toe_r * profile[0] * (wobble_l[0] + wobble_r[0]) / 2
    depth = rng.uniform(0.2, 0.45) * crown_half
    offset = (wobble_r[0] - wobble_l[0]) / 2 * toe_r * profile[0]
    crown = np.column_stack([-depth * np.cos(psi), offset + crown_half * np.sin(psi)])
    local = np.vstack([left, toe, right[::-1], crown])
    down = (math.sin(angle), math.cos(angle))
    across = (math.cos(angle), -math.sin(angle))
    x = head[0] + local[:, 0] * down[0] + local[:, 1] * across[0]
    y = head[1] + local[:, 0] * down[1] + local[:, 1] * across[1]
    polygon = Polygon(np.column_stack([x, y]))
    half = (toe_r * profile * (wobble_l + wobble_r) / 2).astype(np.float32)
    total = body + toe_r
    ts_total = (s / total).astype(np.float32)
    return _Tongue(polygon, head, down, total, ts_total, half, (depth, crown_half, offset))


def _polygon_parts(geometry: BaseGeometry) -> list[Polygon]:
    """The polygons in any geometry, largest first."""
    if isinstance(geometry, Polygon):
        parts = [geometry]
    elif hasattr(geometry, "geoms"):
        parts = [g for sub in geometry.geoms for g in _polygon_parts(sub)]
    else:
        parts = []
    return sorted((g for g in parts if not g.is_empty), key=lambda g: -g.area)


def _without_holes(polygon: Polygon) -> Polygon:
    """Cut a polygon with holes through each hole and keep the largest piece (VIA has no holes)."""
    for _ in range(8):
        if not polygon.interiors:
            return polygon
        x = Polygon(polygon.interiors[0]).representative_point().x
        _, y0, _, y1 = polygon.bounds
        pieces = _polygon_parts(polygon.difference(box(x - 0.5, y0 - 1, x + 0.5, y1 + 1)))
        if not pieces:
            break
        polygon = pieces[0]
    return Polygon(polygon.exterior)


def _to_pixels(
    geometry: BaseGeometry, width: int, height: int, min_area: float, max_vertices: int
) -> list[Polygon]:
    """Clip to the image, drop holes, round to integer pixels; the valid parts worth keeping."""
    clipped = make_valid(geometry).intersection(box(0, 0, width - 1, height - 1))
    out = []
    for part in _polygon_parts(clipped):
        if part.area < min_area:
            break
        pixel = _round(_without_holes(part), max_vertices)
        if pixel is not None and pixel.area >= min_area:
            out.append(pixel)
    return out


def _round(polygon: Polygon, max_vertices: int) -> Polygon | None:
    """Integer vertices, at most max_vertices, still a valid polygon (or None)."""
    tolerance = 0.5
    for _ in range(6):
        simple = polygon.simplify(tolerance, preserve_topology=True)
        coords = np.rint(np.asarray(simple.exterior.coords)[:-1]).astype(int)
        keep = np.any(coords != np.roll(coords, 1, axis=0), axis=1)
        coords = coords[keep]
        if len(coords) > max_vertices:
            tolerance *= 2
            continue
        if len(np.unique(coords, axis=0)) < 3:
            return None
        candidate = Polygon(coords)
        if candidate.is_valid and candidate.area > 0:
            return candidate
        parts = _polygon_parts(make_valid(candidate))
        if not parts:
            return None
        polygon, tolerance = parts[0], tolerance * 1.5
    return None


def _points(polygon: Polygon) -> list[tuple[int, int]]:
    return [(int(x), int(y)) for x, y in np.asarray(polygon.exterior.coords)[:-1]]


def _free(candidate: Polygon, taken: Sequence[Polygon], gap: float) -> bool:
    """True when the candidate keeps at least `gap` pixels from everything taken."""
    return not any(candidate.distance(other) < gap for other in taken)


def _min_area(scene: _Scene) -> float:
    return max(12.0, 2e-4 * scene.width * scene.height)


# ============================================================================ placing objects


def _place_landslides(rng: Rng, scene: _Scene) -> list[_Tongue]:
    """1-3 tongues, a few % to a quarter of the photo each, heads on the upper slope."""
    counts, weights = zip(*LANDSLIDES_PER_IMAGE, strict=True)
    wanted = int(rng.choice(counts, p=weights))
    terrain = scene.terrain()
    area = scene.width * scene.height
    placed: list[_Tongue] = []
    for attempt in range(60):
        if len(placed) == wanted:
            break
        shrink = 0.6 if attempt > 30 else 1.0
        x = rng.uniform(-0.03, 1.03) * scene.width
        y = scene.ground_y(rng, x, 0.02, 0.45)
        scale = scene.scale_at(y)
        frac = math.exp(rng.uniform(math.log(0.02), math.log(0.25))) * (0.45 + 0.55 * scale) ** 2
        elongation = rng.uniform(2.0, 4.5)
        width = math.sqrt(frac * shrink * area / (0.7 * elongation))
        spread = 0.4 if scene.horizon > 0 else 0.7
        tongue = _landslide_polygon(
            rng, (x, y), elongation * width, width, rng.uniform(-spread, spread)
        )
        body = tongue.polygon.intersection(terrain)
        if body.area < 0.7 * tongue.polygon.area or body.area < 0.008 * area:
            continue
        if _free(tongue.polygon, [t.polygon for t in placed], gap=0.02 * scene.short):
            placed.append(tongue)
    if not placed:  # a last resort that always fits: a modest tongue mid-slope
        x = scene.width / 2
        y = scene.ground_y(rng, x, 0.15, 0.2)
        width = 0.2 * scene.short
        placed.append(_landslide_polygon(rng, (x, y), 2.5 * width, width, 0.0))
    return placed


def _place_vegetation(rng: Rng, scene: _Scene, count: int) -> list[Polygon]:
    """Forest stands off the sky; landslides may cut through them (scars in a forest)."""
    terrain = scene.terrain()
    out: list[Polygon] = []
    for _ in range(count * 6):
        if len(out) == count:
            break
        poly = _vegetation_polygon(rng, scene)
        if poly.intersection(terrain).area > 0.8 * poly.area and _free(poly, out, 2.0):
            out.append(poly)
    return out


def _vegetation_polygon(rng: Rng, scene: _Scene) -> Polygon:
    """A forest stand: a large rough blob, wider than deep (seen obliquely)."""
    x = rng.uniform(0, 1) * scene.width
    y = scene.ground_y(rng, x, 0.05, 0.85)
    size = math.sqrt(rng.uniform(0.03, 0.16) * scene.width * scene.height) * scene.scale_at(y)
    aspect = rng.uniform(1.0, 2.2)
    return _blob(rng, (x, y), (size * aspect / 1.6, size / 1.6), 0.45, rng.uniform(-0.3, 0.3))


def _place_water(rng: Rng, scene: _Scene, taken: list[Polygon]) -> list[tuple[Polygon, str]]:
    """A lake on the lower slope or a river winding down to the bottom edge."""
    for _ in range(12):
        if rng.random() < 0.5:
            poly, kind = _lake_polygon(rng, scene), "lake"
        else:
            poly, kind = _river_polygon(rng, scene), "river"
        inside = poly.intersection(scene.terrain()).area > 0.9 * poly.area
        if inside and _free(poly, taken, gap=0.01 * scene.short):
            return [(poly, kind)]
    return []


def _lake_polygon(rng: Rng, scene: _Scene) -> Polygon:
    x = rng.uniform(0.1, 0.9) * scene.width
    y = scene.ground_y(rng, x, 0.25, 0.9)
    size = math.sqrt(rng.uniform(0.02, 0.08) * scene.width * scene.height) * scene.scale_at(y)
    flat = rng.uniform(0.3, 0.55) if scene.horizon > 0 else rng.uniform(0.6, 1.0)
    return _blob(rng, (x, y), (size, size * flat), 0.22, rng.uniform(-0.15, 0.15))


def _river_polygon(rng: Rng, scene: _Scene) -> Polygon:
    """A band between two banks, from mid-slope to past the bottom edge, wider when near."""
    w, h = scene.width, scene.height
    x0 = rng.uniform(0.15, 0.85) * w
    y0 = scene.ground_y(rng, x0, 0.2, 0.5)
    ys = np.linspace(y0, h + 0.05 * h, 16)
    t = (ys - y0) / (ys[-1] - y0)
    centre = x0 + rng.uniform(0.05, 0.15) * w * np.sin(rng.uniform(2, 5) * t + rng.uniform(0, 6))
    centre += rng.uniform(-0.2, 0.2) * w * t
    half = w * (rng.uniform(0.004, 0.01) + rng.uniform(0.015, 0.04) * t)
    half *= 1 + 0.15 * _line_noise(rng, 16, 2, 2)
    left = np.column_stack([centre - half, ys])
    right = np.column_stack([centre + half, ys])[::-1]
    return Polygon(np.vstack([left, right]))


def _place_roads(
    rng: Rng, scene: _Scene, landslide: bool
) -> list[tuple[NDArray[np.float64], float]]:
    """0-2 dirt roads: contour roads across the slope or a serpentine down it."""
    count = int(rng.choice([0, 1, 2], p=[0.45, 0.4, 0.15] if landslide else [0.35, 0.4, 0.25]))
    return [_road_line(rng, scene) for _ in range(count)]


def _road_line(rng: Rng, scene: _Scene) -> tuple[NDArray[np.float64], float]:
    w, h = scene.width, scene.height
    if rng.random() < 0.6:  # along the contour, gently winding
        xs = np.linspace(-0.05 * w, 1.05 * w, 24)
        y0 = scene.ground_y(rng, w / 2, 0.15, 0.9)
        ys = y0 + rng.uniform(-0.15, 0.15) * h * np.linspace(-1, 1, 24)
        ys += rng.uniform(0.02, 0.06) * h * np.sin(rng.uniform(2, 6) * xs / w + rng.uniform(0, 6))
    else:  # down the slope in wide bends
        ys = np.linspace(scene.ground_y(rng, w / 2, 0.05, 0.3), 1.05 * h, 24)
        t = np.linspace(0, 1, 24)
        xs = rng.uniform(0.2, 0.8) * w + rng.uniform(0.08, 0.2) * w * np.sin(
            rng.uniform(4, 9) * t + rng.uniform(0, 6)
        )
    width = max(1.5, rng.uniform(0.004, 0.01) * scene.short * scene.scale_at(float(ys.mean())))
    return np.column_stack([xs, ys]), width


def _place_buildings(rng: Rng, scene: _Scene, taken: list[Polygon]) -> list[Polygon]:
    """0-6 houses in a loose cluster on open ground."""
    count = int(rng.choice([0, 0, 1, 2, 3, 4, 6]))
    if count == 0:
        return []
    cx = rng.uniform(0.1, 0.9) * scene.width
    cy = scene.ground_y(rng, cx, 0.3, 0.85)
    terrain = scene.terrain()
    houses: list[Polygon] = []
    for _ in range(count * 8):
        if len(houses) == count:
            break
        x = cx + rng.normal(0, 0.08) * scene.width
        y = cy + rng.normal(0, 0.05) * scene.height
        house = _house_polygon(rng, scene, x, y)
        if not terrain.contains(house):
            continue
        if _free(house, [*taken, *houses], gap=0.006 * scene.short + 1):
            houses.append(house)
    return houses


def _house_polygon(rng: Rng, scene: _Scene, x: float, y: float) -> Polygon:
    """A house front: a wall rectangle with a gable (5 corners) or a flat roof (4)."""
    bw = max(6.0, rng.uniform(0.025, 0.055) * scene.short * scene.scale_at(y) * 1.4)
    bh = bw * rng.uniform(0.55, 0.85)
    if rng.random() < 0.7:
        roof = bw * rng.uniform(0.3, 0.5)
        pts = [(x, y + bh), (x + bw, y + bh), (x + bw, y), (x + bw / 2, y - roof), (x, y)]
    else:
        pts = [(x, y + bh), (x + bw, y + bh), (x + bw, y - 0.1 * bh), (x, y - 0.1 * bh)]
    return Polygon(pts)


# ============================================================================ painting


def _patch(scene: _Scene, geometry: Polygon, soft: float) -> _Patch | None:
    """Rasterise a polygon into a soft mask over its bounding window."""
    pad = math.ceil(3 * soft) + 2
    minx, miny, maxx, maxy = geometry.bounds
    x0, y0 = max(0, math.floor(minx) - pad), max(0, math.floor(miny) - pad)
    x1 = min(scene.width, math.ceil(maxx) + pad + 1)
    y1 = min(scene.height, math.ceil(maxy) + pad + 1)
    if x1 <= x0 or y1 <= y0:
        return None
    mask = Image.new("L", (x1 - x0, y1 - y0), 0)
    pts = [(float(x) - x0, float(y) - y0) for x, y in np.asarray(geometry.exterior.coords)]
    ImageDraw.Draw(mask).polygon(pts, fill=255)
    if soft > 0:
        mask = mask.filter(ImageFilter.GaussianBlur(soft))
    return _Patch(x0, y0, np.asarray(mask, dtype=np.float32) / 255.0)


def _blend(photo: _Photo, patch: _Patch, colour: F32) -> None:
    window = photo.image[patch.window]
    window += (colour - window) * patch.alpha[..., None]


def _jitter(rng: Rng, palette: F32, spread: float) -> F32:
    colour = palette[int(rng.integers(len(palette)))]
    return (colour + rng.normal(0, spread, 3)).astype(np.float32)


def _paint_area(
    photo: _Photo, label: str | None, polygon: Polygon, soft: float
) -> tuple[_Patch, Polygon] | None:
    """Round a polygon to pixels, record it if annotated, and return its soft mask."""
    scene = photo.scene
    max_vertices = MAX_LANDSLIDE_VERTICES if label == "landslide" else MAX_VERTICES
    parts = _to_pixels(polygon, scene.width, scene.height, _min_area(scene), max_vertices)
    if not parts:
        return None
    pixel = parts[0]
    patch = _patch(scene, pixel, soft)
    if patch is None:
        return None
    if label is not None:
        photo.painted.append((label, pixel))
    return patch, pixel


def _paint_vegetation(rng: Rng, photo: _Photo, polygon: Polygon) -> None:
    """Forest: dark green with tree crowns (bright tops, dark gaps) and a lit side."""
    done = _paint_area(photo, "vegetation", polygon, soft=1.0)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    scale = photo.scene.scale_at(patch.y0 + h / 2)
    crown = max(1.0, rng.uniform(0.006, 0.012) * photo.scene.short * scale)
    crowns = _noise(rng, h, w, crown) * 0.7 + _noise(rng, h, w, crown / 2) * 0.3
    shade = 0.45 + 1.0 * crowns**1.5 - 0.2 * (crowns < 0.35)
    xs, ys = patch.grid()
    lit = 1 + 0.12 * np.sin((xs - ys) / max(1.0, crown) * 1.3)  # crown tops catch the light
    tone = _contrast(_fbm(rng, h, w, max(2.0, w / 4), octaves=2), 1.6)
    c1, c2 = _jitter(rng, FOREST, 5), _jitter(rng, FOREST, 5) * rng.uniform(1.0, 1.35)
    colour = (c1 + (c2 - c1) * tone[..., None]) * (shade * lit)[..., None]
    _blend(photo, patch, colour.astype(np.float32))


def _paint_water(rng: Rng, photo: _Photo, polygon: Polygon, kind: str) -> None:
    """Water: dark blue-green, sky reflection toward the far bank, horizontal ripples."""
    done = _paint_area(photo, "water_body", polygon, soft=0.8)
    if done is None:
        return
    patch, pixel = done
    h, w = patch.alpha.shape
    _, ys = patch.grid()
    deep = _jitter(rng, WATER, 6)
    reflect = np.array([150, 170, 186], np.float32) + rng.normal(0, 8, 3).astype(np.float32)
    miny, maxy = pixel.bounds[1], pixel.bounds[3]
    t = np.clip((ys - miny) / max(1.0, maxy - miny), 0, 1)
    reflection = rng.uniform(0.15, 0.45)
    amount = reflection * (1 - t) if kind == "lake" else np.full_like(t, reflection * 0.6)
    ripples = np.asarray(
        Image.fromarray(_noise(rng, h, max(2, w // 10), cell=1.5)).resize(
            (w, h), Image.Resampling.BILINEAR
        )
    )
    colour = deep + (reflect - deep) * (amount + 0.2 * (ripples - 0.5))[..., None]
    _blend(photo, patch, colour.astype(np.float32))


def _paint_road(rng: Rng, photo: _Photo, line: NDArray[np.float64], width: float) -> None:
    """A dirt road: a thin, pale soil line with soft edges (never annotated)."""
    scene = photo.scene
    mask = Image.new("L", (scene.width, scene.height), 0)
    pts = [(float(x), float(y)) for x, y in line]
    ImageDraw.Draw(mask).line(pts, fill=255, width=max(2, round(width)), joint="curve")
    alpha = np.asarray(mask.filter(ImageFilter.GaussianBlur(0.7)), np.float32) / 255.0
    alpha = alpha * (np.arange(scene.height)[:, None] > scene.ridge[None, :] + 2)
    colour = _jitter(rng, SOIL, 8) * rng.uniform(1.0, 1.15)
    grain = 0.9 + 0.2 * _noise(rng, scene.height, scene.width, 2.0)
    photo.image += (colour * grain[..., None] - photo.image) * alpha[..., None]
    if "dirt road" not in photo.hard_negatives:
        photo.hard_negatives.append("dirt road")


def _paint_building(rng: Rng, photo: _Photo, house: Polygon) -> None:
    """A house: wall colour, a roof over the top part, a dark door or windows."""
    done = _paint_area(photo, "building", house, soft=0.0)
    if done is None:
        return
    patch, pixel = done
    xs, ys = patch.grid()
    miny, maxy = pixel.bounds[1], pixel.bounds[3]
    eave = miny + (maxy - miny) * rng.uniform(0.3, 0.45)
    wall, roof = _jitter(rng, WALLS, 6), _jitter(rng, ROOFS, 8)
    colour = np.where((ys < eave)[..., None], roof, wall)
    minx, maxx = pixel.bounds[0], pixel.bounds[2]
    door = (np.abs(xs - (minx + maxx) / 2) < max(1.0, (maxx - minx) / 10)) & (
        ys > maxy - (maxy - eave) * 0.55
    )
    colour = np.where(door[..., None], np.float32(0.35) * wall, colour)
    _blend(photo, patch, colour.astype(np.float32))


def _debris_style(rng: Rng) -> dict[str, Any]:
    """One photo's debris: two soil colours, a pale scarp, how streaky the flow is."""
    return {
        # fresh debris: a little brighter than the same soil weathered in a field
        "soil": (_jitter(rng, SOIL, 10) * 1.08, _jitter(rng, SOIL, 10) * 1.08),
        "scarp": np.array([206, 190, 160], np.float32) + rng.normal(0, 10, 3).astype(np.float32),
        "streaks": rng.uniform(0.3, 0.5),
        "regrowth": rng.uniform(0.1, 0.5),
    }


def _paint_landslide(rng: Rng, photo: _Photo, tongue: _Tongue, style: dict[str, Any]) -> None:
    """Debris in the flow frame: pale scarp at the head, streaks along the flow, dark rims."""
    scene = photo.scene
    soft = max(0.8, 0.004 * scene.short)
    done = _paint_area(photo, "landslide", tongue.polygon, soft=soft)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    xs, ys = patch.grid()
    dx, dy = xs - tongue.head[0], ys - tongue.head[1]
    s = dx * tongue.down[0] + dy * tongue.down[1]
    u = dx * tongue.down[1] - dy * tongue.down[0]
    t = np.clip(s / tongue.length, 0, 1)
    half = np.interp(t, tongue.ts, tongue.half_width).astype(np.float32)
    q = u / np.maximum(half, 1.0)  # -1..1 across the body
    c1, c2 = style["soil"]
    mottle = _fbm(rng, h, w, max(3.0, min(h, w) / 3), octaves=3)
    colour = c1 + (c2 - c1) * mottle[..., None]
    colour = colour * (1 + 0.1 * np.clip(1 - np.abs(q), 0, 1))[..., None]  # paler centre line
    wmax = float(tongue.half_width.max())
    skew = rng.uniform(-0.12, 0.12)  # streaks fan out a little toward the toe
    along = u * (1 - 0.35 * t) - skew * s
    streak = _streaks(rng, along, wmax, 5) + 0.5 * _streaks(rng, along, wmax, 14)
    streak = streak / 1.5 - 0.5
    grain = _fbm(rng, h, w, max(1.5, 0.008 * scene.short), octaves=2)
    boulders = _dots(rng, h, w, 0.01, max(0.5, 0.0015 * scene.short))
    pebbles = _dots(rng, h, w, 0.008, max(0.5, 0.0015 * scene.short))
    light = (1 - style["streaks"] * 1.6 * streak) * (0.92 + 0.16 * grain)
    light *= (1 - 0.35 * boulders) * (1 + 0.2 * pebbles)
    light *= np.where(q > 0, 1 - 0.3 * np.clip((q - 0.55) / 0.45, 0, 1), 1.0)  # shaded rim
    light *= np.where(q < 0, 1 + 0.12 * np.clip((-q - 0.55) / 0.45, 0, 1), 1.0)  # lit rim
    colour = colour * light[..., None]
    # the scarp: a pale band that follows the head arc, a faint shadow at its foot
    depth, crown_half, offset = tongue.crown
    arc = -depth * np.sqrt(np.clip(1 - ((u - offset) / crown_half) ** 2, 0, 1))
    below_crown = (s - arc) / tongue.length
    reach = rng.uniform(0.08, 0.16)
    scarp = np.clip(1.2 - below_crown / reach, 0, 1)[..., None] * 0.85
    colour += (style["scarp"] * (0.88 + 0.24 * grain[..., None]) - colour) * scarp
    colour *= 1 - 0.15 * np.exp(-(((below_crown - reach * 1.2) / 0.02) ** 2))[..., None]
    toe = np.clip((t - 0.7) / 0.3, 0, 1)[..., None]
    tufts = _noise(rng, h, w, max(1.0, 0.008 * scene.short))
    toe_colour = np.where((tufts > 0.7)[..., None], GRASS[3] * 0.8, colour * 0.85)
    colour += (toe_colour - colour) * toe * style["regrowth"] * (0.5 + tufts[..., None])
    colour = _stand_out(photo.image[patch.window], patch.alpha, colour)
    _blend(photo, patch, colour.astype(np.float32))


def _stand_out(background: F32, alpha: F32, colour: F32, margin: float = 22.0) -> F32:
    """Brighten debris that would vanish into dry grass: fresh scars are lighter than it."""
    outside, inside = alpha < 0.05, alpha > 0.5
    if not outside.any() or not inside.any():
        return colour
    luma = np.array([0.3, 0.59, 0.11], np.float32)
    gap = float(background[outside].mean(0) @ luma) + margin - float(colour[inside].mean(0) @ luma)
    return colour + gap if gap > 0 else colour


def _streaks(rng: Rng, across: F32, half_width: float, count: float) -> F32:
    """Bands along the flow: 1-D noise across it, about `count` bands per half width."""
    step = max(1.5, half_width / count)
    knots = np.arange(-2.5 * half_width, 2.5 * half_width + step, step)
    return np.interp(across, knots, rng.random(len(knots))).astype(np.float32)


# ============================================================================ hard negatives


def _hard_negatives(
    rng: Rng, photo: _Photo, taken: list[Polygon], landslide: bool, has_road: bool
) -> None:
    """Soil-coloured look-alikes that are not landslides: fields, rock, bare patches.

    Every photo without a landslide gets at least one look-alike (a road counts);
    about half of the landslide photos get some too.
    """
    if landslide and rng.random() < 0.5:
        return
    kinds = ["ploughed field", "rock outcrop", "bare soil"]
    wanted = int(rng.integers(1, 4)) if not landslide else int(rng.integers(1, 3))
    if not landslide and has_road:
        wanted = max(0, wanted - 1)
    scene = photo.scene
    terrain = scene.terrain()
    placed: list[Polygon] = []
    for _ in range(wanted * 10):
        if len(placed) == wanted:
            break
        kind = str(rng.choice(kinds, p=[0.4, 0.25, 0.35]))
        poly = _look_alike_polygon(rng, scene, kind)
        if poly.intersection(terrain).area < 0.9 * poly.area:
            continue
        if not _free(poly, [*taken, *placed], gap=0.01 * scene.short):
            continue
        placed.append(poly)
        painter = {"ploughed field": _paint_field, "rock outcrop": _paint_rock}
        painter.get(kind, _paint_bare)(rng, photo, poly)
        if kind not in photo.hard_negatives:
            photo.hard_negatives.append(kind)


def _look_alike_polygon(rng: Rng, scene: _Scene, kind: str) -> Polygon:
    x = rng.uniform(0.05, 0.95) * scene.width
    y = scene.ground_y(rng, x, 0.1, 0.9)
    size = math.sqrt(rng.uniform(0.015, 0.12) * scene.width * scene.height) * scene.scale_at(y)
    if kind == "ploughed field":
        return _field_polygon(rng, x, y, size)
    if kind == "rock outcrop":
        return _blob(rng, (x, y), (size * 0.55, size * 0.45), 0.6, rng.uniform(0, np.pi))
    ratio = rng.uniform(1.0, 1.6)  # round to oval, never tongue-like
    return _blob(rng, (x, y), (size * 0.6 * ratio, size * 0.6), 0.35, rng.uniform(0, np.pi))


def _field_polygon(rng: Rng, x: float, y: float, size: float) -> Polygon:
    """A parallelogram, wider than deep, sheared as if seen on a slope."""
    a = rng.uniform(-0.25, 0.25)
    wide, deep = size * rng.uniform(0.8, 1.4), size * rng.uniform(0.35, 0.7)
    e1 = np.array([math.cos(a), math.sin(a)]) * wide / 2
    e2 = np.array([rng.uniform(-0.5, 0.5), 1.0]) * deep / 2
    c = np.array([x, y])
    return Polygon([c - e1 - e2, c + e1 - e2, c + e1 + e2, c - e1 + e2])


def _paint_field(rng: Rng, photo: _Photo, polygon: Polygon) -> None:
    """Ploughed field: soil with regular parallel furrows along one side."""
    done = _paint_area(photo, None, polygon, soft=0.7)
    if done is None:
        return
    patch, pixel = done
    xs, ys = patch.grid()
    coords = np.asarray(pixel.exterior.coords)
    edge = coords[1] - coords[0] if rng.random() < 0.6 else coords[2] - coords[1]
    normal = np.array([-edge[1], edge[0]]) / max(1e-6, float(np.hypot(*edge)))
    scale = photo.scene.scale_at(float(ys.mean()))
    period = max(2.5, rng.uniform(0.008, 0.016) * photo.scene.short * scale)
    furrow = 0.5 + 0.5 * np.sin(2 * np.pi * (xs * normal[0] + ys * normal[1]) / period)
    h, w = patch.alpha.shape
    grain = _noise(rng, h, w, max(1.0, 0.004 * photo.scene.short))
    base = _jitter(rng, SOIL, 10)
    green = rng.random() < 0.3
    colour = base * (0.78 + 0.3 * furrow + 0.1 * grain)[..., None]
    if green:  # a sprouting crop along the ridges
        colour += (np.array([104, 128, 60], np.float32) - colour) * (0.5 * furrow)[..., None]
    margin = float(rng.uniform(0, 25))  # as light as a scar, or not: brightness is no cue
    colour = _stand_out(photo.image[patch.window], patch.alpha, colour, margin)
    _blend(photo, patch, colour.astype(np.float32))


def _paint_rock(rng: Rng, photo: _Photo, polygon: Polygon) -> None:
    """Rock outcrop: grey, craggy, with dark cracks and a lit side."""
    done = _paint_area(photo, None, polygon, soft=0.8)
    if done is None:
        return
    patch, pixel = done
    h, w = patch.alpha.shape
    xs, ys = patch.grid()
    crag = _fbm(rng, h, w, max(2.0, min(h, w) / 8), octaves=4)
    facets = _fbm(rng, h, w, max(2.0, min(h, w) / 4), octaves=2)
    cracks = np.abs(facets - 0.5) < 0.02
    cx, cy = pixel.centroid.x, pixel.centroid.y
    lit = np.clip(1 - 0.4 * ((xs - cx) + (ys - cy)) / max(1.0, math.sqrt(pixel.area)), 0.7, 1.3)
    light = (0.6 + 0.7 * crag) * (0.85 + 0.3 * (facets > 0.5)) * lit * np.where(cracks, 0.75, 1)
    colour = _jitter(rng, ROCK, 8) * light[..., None]
    _blend(photo, patch, colour.astype(np.float32))


def _paint_bare(rng: Rng, photo: _Photo, polygon: Polygon) -> None:
    """Bare soil: mottled soil colour, grainy, no scarp, no streaks, no direction."""
    done = _paint_area(photo, None, polygon, soft=1.5)
    if done is None:
        return
    patch, _ = done
    h, w = patch.alpha.shape
    c1, c2 = _jitter(rng, SOIL, 10), _jitter(rng, SOIL, 10)
    mottle = _contrast(_fbm(rng, h, w, max(3.0, min(h, w) / 3), octaves=3), 1.8)
    grain = _noise(rng, h, w, max(1.0, 0.004 * photo.scene.short))
    tufts = _noise(rng, h, w, max(1.0, 0.01 * photo.scene.short)) > 0.75
    colour = (c1 + (c2 - c1) * mottle[..., None]) * (0.88 + 0.24 * grain)[..., None]
    colour = np.where(tufts[..., None], colour * 0.6 + GRASS[0] * 0.4, colour)
    margin = float(rng.uniform(0, 25))  # as light as a scar, or not: brightness is no cue
    colour = _stand_out(photo.image[patch.window], patch.alpha, colour, margin)
    _blend(photo, patch, colour.astype(np.float32))


# ============================================================================ annotation


def _annotate(photo: _Photo, classes: Sequence[str]) -> list[tuple[str, list[tuple[int, int]]]]:
    """Each painted region minus what was painted over it later, as integer polygons."""
    scene = photo.scene
    regions: list[tuple[str, list[tuple[int, int]]]] = []
    for i, (label, polygon) in enumerate(photo.painted):
        if label not in classes:
            continue  # painted, but not a class the annotator uses: background
        later = [p for _, p in photo.painted[i + 1 :]]
        visible = polygon.difference(unary_union(later)) if later else polygon
        limit = MAX_LANDSLIDE_VERTICES if label == "landslide" else MAX_VERTICES
        parts = _to_pixels(visible, scene.width, scene.height, _min_area(scene), limit)
        keep = [q for q in parts[:3] if q.area >= 0.15 * parts[0].area]
        regions.extend((label, _points(q)) for q in keep)
    order = {name: k for k, name in enumerate(("landslide", *CLASSES))}
    return sorted(regions, key=lambda r: order.get(r[0], len(order)))
