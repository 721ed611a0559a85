"""Model-assisted annotation: VIA projects pre-filled with a model's polygons.

Manual outlining is the main cost of a training set. Once a model exists, each new
photo can reach the annotator already outlined, so that they correct instead of draw::

    detector = load_detector("models:/landslide-maskrcnn@champion", params)
    ann, summary = prefill_project(Path("data/raw/images"), detector, params,
                                   existing=Path("data/raw/via_project.json"))
    write_project(ann, Path("prefill.json"), params, Path("data/raw/images"))

For each photo (read upright: EXIF orientation applied, as VIA shows it) the detector runs
through `landslide.inference.detect`, which maps every instance back to the photo's own
pixels. Each instance scoring at least `annotate.prefill_threshold` becomes one polygon
region per outer ring of its mask (parts under a tenth of its largest left out): the
outline simplified by `annotate.simplify` pixels, and further (the tolerance doubled each
time) until it has at most `annotate.max_vertices` vertices; rings smaller than
`annotations.min_region_area` are left out. Holes are not kept (VIA polygons have none).
Vertices are in the photo's upright pixels, to 1/10 px. A region carries
the class attribute (`annotations.class_attribute`) and two more region attributes:
`source: model` and `score` (three decimals), so the annotator sees what to check.

Regions already in `existing` (a VIA file of any version, or `Annotations`) are never
changed or removed, whoever drew them; a model region whose IoU with one of them is at
least `annotate.overlap_iou` is dropped. Photos that cannot be read are listed in the
summary and skipped. The written project is a VIA 2.0.10 project (the annotations
module's writer), with `source` a dropdown (model / human) that defaults to human for
the regions the annotator draws.

Reading it back: with `annotate.review: require` (the default) a region still marked
`source: model` is left out of the training data until the annotator sets it to human;
with `accept` it is taken as it is, and the validation stage counts those regions.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from landslide.annotations.geometry import iou, shape_of
from landslide.annotations.images import BadImage, ImageDir, UnsafeName, safe_name
from landslide.annotations.model import (
    MODEL_SOURCE,
    SCORE_ATTRIBUTE,
    SOURCE_ATTRIBUTE,
    Annotations,
    ImageAnn,
    Point,
    Region,
)
from landslide.annotations.via import read_via
from landslide.annotations.writers import write_via2
from landslide.errors import AnnotationError

if TYPE_CHECKING:
    from landslide.inference import Detector, Instance
    from landslide.params import AnnotateParams, Params

Advance = Callable[[int], None]
MAX_SIMPLIFY_STEPS = 40  # doublings of the tolerance before giving up on max_vertices
DECIMALS = 1  # vertices are written to 1/10 px
PART_FRACTION = 0.1  # parts of a mask smaller than this share of its largest are left out


@dataclass
class PrefillSummary:
    """What `prefill_project` did."""

    images: int = 0  # photos the model ran on
    prefilled: int = 0  # photos given at least one model region
    regions: int = 0  # model regions added
    overlapping: int = 0  # model regions dropped: over an existing region
    kept: int = 0  # regions of the existing project, kept as they were
    project_images: int = 0  # photos in the resulting project
    threshold: float = 0.5
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)
    out: Path | None = None
    seconds: float = 0.0

    def summary_line(self) -> str:
        skipped = f", {len(self.skipped)} photos skipped" if self.skipped else ""
        target = f" -> {self.out}" if self.out is not None else ""
        return (
            f"prefill: {self.images} photos, {self.regions} model regions on {self.prefilled} "
            f"photos (score >= {self.threshold:g}), {self.overlapping} dropped over existing "
            f"regions, {self.kept} existing regions kept{skipped}; {self.project_images} photos "
            f"in the project{target}"
        )


# --------------------------------------------------------------------------- the stage


def prefill_project(
    images: Path,
    detector: Detector,
    params: Params,
    existing: Path | Annotations | None = None,
    *,
    only: Iterable[str] | None = None,
    threshold: float | None = None,
    progress: Advance | None = None,
) -> tuple[Annotations, PrefillSummary]:
    """Run `detector` on the photos of `images` and add its polygons to a VIA project.

    `existing` (a VIA file or `Annotations`) is the project to merge into: its photos and
    regions are kept as they are and come first; the photos of `images` it lacks are added
    in name order. `only` limits the photos the model runs on (names relative to
    `images`; e.g. the photos `curate apply` just added); `threshold` overrides
    `annotate.prefill_threshold`. Nothing is written: see `write_project`.

    Raises PredictError for a detector made for other classes, AnnotationError for a
    missing images directory, an existing file that is not VIA or no photo at all.
    """
    from landslide.inference import check_classes

    started = time.perf_counter()
    p = params.annotate
    check_classes(detector.info, params.model_classes, getattr(detector, "source", None))
    images = Path(images)
    if not images.is_dir():
        raise AnnotationError(f"images directory {str(images)!r} not found")
    if isinstance(existing, Annotations):
        project = existing
    elif existing is not None:
        project = read_project(existing, params)
    else:
        project = Annotations(images=[], source=str(images))
    found = ImageDir(images)
    names = found.images()
    if not names and not project.images:
        raise AnnotationError(
            f"no photos in {images}", hint="put .jpg/.png photos there, then run again"
        )
    warnings = list(project.warnings)
    entries, index = _merged(project, found, names, warnings)
    wanted = set(names) if only is None else {_relative(n, found) for n in only}
    targets = [name for name in names if name in wanted]

    cutoff = p.prefill_threshold if threshold is None else threshold
    summary = PrefillSummary(threshold=cutoff)
    summary.kept = sum(len(im.regions) for im in project.images)
    batch = max(1, params.predict.batch_size)
    for start in range(0, len(targets), batch):
        chunk = targets[start : start + batch]
        results = _detect(found, chunk, detector, params, cutoff)
        for name, result in zip(chunk, results, strict=True):
            if isinstance(result, str):
                summary.skipped.append((str(found.path(name)), result))
                continue
            i = index[name]
            entries[i] = _prefilled(entries[i], result, params, summary)
        if progress is not None:
            progress(len(chunk))
    warnings += [f"skipped {file}: {reason}" for file, reason in summary.skipped]
    summary.warnings = warnings
    summary.project_images = len(entries)
    summary.seconds = time.perf_counter() - started
    return Annotations(images=entries, source=project.source, warnings=warnings), summary


def read_project(path: Path, params: Params) -> Annotations:
    """A VIA project to merge into, every region as written (AnnotationError if not VIA)."""
    path = Path(path)
    if not path.is_file():
        raise AnnotationError("project not found", file=path)
    return read_via(path, None, params.annotations, params.classes, review=None)


def write_project(ann: Annotations, out: Path, params: Params, images: Path) -> None:
    """Write `ann` as a VIA 2.0.10 project (atomically; keys use the photos' byte sizes)."""
    write_via2(
        ann, out, params.classes, params.annotations.class_attribute, images_dir=Path(images)
    )


def output_path(out: Path | None, project: Path | None, in_place: bool) -> Path:
    """Where the CLI writes: `out`, or `project` with `in_place`; never the input otherwise."""
    if in_place:
        if project is None:
            raise AnnotationError(
                "--in-place needs --project: there is no input project to replace"
            )
        if out is not None and Path(out).resolve() != Path(project).resolve():
            raise AnnotationError(
                f"--in-place writes {project}, but --out names {out}",
                hint="pass one of them",
            )
        return Path(project)
    if out is None:
        raise AnnotationError(
            "no output file", hint="pass --out FILE (or --in-place to replace --project)"
        )
    if project is not None and Path(out).resolve() == Path(project).resolve():
        raise AnnotationError(
            "--out is the input project: it would be replaced",
            file=out,
            hint="write elsewhere, or pass --in-place to replace it",
        )
    return Path(out)


# --------------------------------------------------------------------------- pieces


def _merged(
    project: Annotations, found: ImageDir, names: Sequence[str], warnings: list[str]
) -> tuple[list[ImageAnn], dict[str, int]]:
    """The project's photos, then those of the images directory it lacks (in name order),
    and where each photo of the directory is among them."""
    listed = _listed(project, found, warnings)
    new = [ImageAnn(name) for name in names if name not in listed]
    index = dict(listed)
    index.update({im.file_name: len(project.images) + k for k, im in enumerate(new)})
    return list(project.images) + new, index


def _prefilled(
    image: ImageAnn,
    result: tuple[int, int, list[Instance]],
    params: Params,
    summary: PrefillSummary,
) -> ImageAnn:
    """`image` with its upright size and the model's regions added after its own."""
    width, height, instances = result
    regions = _model_regions(instances, image.regions, params, summary)
    summary.images += 1
    summary.prefilled += bool(regions)
    summary.regions += len(regions)
    return replace(image, width=width, height=height, regions=(*image.regions, *regions))


def _listed(project: Annotations, found: ImageDir, warnings: list[str]) -> dict[str, int]:
    """Photo name (relative to the images directory) -> index in the existing project."""
    out: dict[str, int] = {}
    missing = []
    for i, image in enumerate(project.images):
        try:
            rel = found.find(image.file_name)
        except UnsafeName:
            rel = None
        if rel is None:
            missing.append(image.file_name)
        else:
            out.setdefault(rel, i)
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        warnings.append(
            f"{project.source}: {len(missing)} photos of the project are not in "
            f"{found.root}, kept as they are: {shown}"
        )
    return out


def _relative(name: str, found: ImageDir) -> str:
    try:
        rel = found.find(safe_name(str(name))[0])
    except UnsafeName:
        return str(name)
    return rel if rel is not None else str(name)


def _detect(
    found: ImageDir,
    names: Sequence[str],
    detector: Detector,
    params: Params,
    threshold: float,
) -> list[str | tuple[int, int, list[Instance]]]:
    """Per photo: (width, height, instances) upright, or why it could not be read."""
    from landslide.inference import detect, read_photo

    photos: list[Any] = []
    for name in names:
        try:
            photos.append(read_photo(found.path(name), params.predict.max_image_pixels))
        except (BadImage, OSError) as exc:
            photos.append(str(exc) or type(exc).__name__)
    readable = [im for im in photos if not isinstance(im, str)]
    try:
        preds = detect(
            detector,
            readable,
            threshold=threshold,
            mask_threshold=params.predict.mask_threshold,
            min_score=threshold,
            simplify=params.annotate.simplify,
        )
    finally:
        for image in readable:
            image.close()
    it = iter(preds)
    out: list[str | tuple[int, int, list[Instance]]] = []
    for item in photos:
        if isinstance(item, str):
            out.append(item)
        else:
            pred = next(it)
            out.append((pred.width, pred.height, pred.instances))
    return out


def _model_regions(
    instances: Sequence[Instance],
    existing: Sequence[Region],
    params: Params,
    summary: PrefillSummary,
) -> list[Region]:
    """The instances as VIA regions, those over an existing region dropped."""
    taken = [g for g in (shape_of(r.polygon) for r in existing) if g is not None]
    out: list[Region] = []
    for inst in instances:
        attributes = ((SOURCE_ATTRIBUTE, MODEL_SOURCE), (SCORE_ATTRIBUTE, f"{inst.score:.3f}"))
        polygons = [
            polygon
            for ring in inst.polygon
            if (polygon := outline(ring, params.annotate, params.annotations.min_region_area))
        ]
        largest = max((Region("", pts).area for pts in polygons), default=0.0)
        for polygon in polygons:
            if Region("", polygon).area < PART_FRACTION * largest:
                continue  # a speck of the mask, not worth an annotator's click
            geom = shape_of(polygon)
            if geom is not None and any(iou(geom, t) >= params.annotate.overlap_iou for t in taken):
                summary.overlapping += 1
                continue
            region_id = len(existing) + len(out)
            out.append(Region(inst.category, polygon, region_id, "polygon", attributes))
    return out


def outline(ring: Sequence[float], p: AnnotateParams, min_area: float) -> tuple[Point, ...] | None:
    """A COCO ring [x0, y0, x1, y1, ...] as a polygon of at most `p.max_vertices` vertices.

    The tolerance starts at `p.simplify` pixels and doubles until the ring is small
    enough (topology kept: the polygon stays simple); None when it has no area to speak of.
    """
    from shapely import Polygon

    points = list(zip(ring[0::2], ring[1::2], strict=True))
    if len(points) < 3:
        return None
    polygon = Polygon(points)
    if not polygon.is_valid:
        polygon = polygon.buffer(0)
        if polygon.geom_type != "Polygon":  # split in parts: keep the largest
            parts = list(getattr(polygon, "geoms", []))
            if not parts:
                return None
            polygon = max(parts, key=lambda g: g.area)
        polygon = Polygon(polygon.exterior)
    if polygon.area < min_area:
        return None
    tolerance = p.simplify
    simple = polygon
    for _ in range(MAX_SIMPLIFY_STEPS):
        if len(simple.exterior.coords) - 1 <= p.max_vertices:
            break
        tolerance = max(tolerance * 2, 0.5)
        simple = polygon.simplify(tolerance, preserve_topology=True)
    coords = list(simple.exterior.coords)[:-1]
    rounded = tuple((round(float(x), DECIMALS), round(float(y), DECIMALS)) for x, y in coords)
    if len(set(rounded)) < 3 or Region("", rounded).area < min_area:
        return None
    return rounded


__all__ = [
    "PrefillSummary",
    "outline",
    "output_path",
    "prefill_project",
    "read_project",
    "write_project",
]
