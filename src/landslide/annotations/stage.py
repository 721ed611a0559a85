"""The annotate stage's entry points, one per CLI command: import, template, stats.

ann = load_annotations(Path("data/raw/via_project.json"), Path("data/raw/images"), params)
import_annotations(via_file, images_dir, Path("data/interim/annotations.json"), params)
make_template(images_dir, Path("via_project.json"), params)
annotation_stats(ann, params.classes)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from landslide.annotations.classes import ClassMap, ClassValueError
from landslide.annotations.coco import is_coco, parse_coco, write_coco
from landslide.annotations.images import ImageDir, UnsafeName
from landslide.annotations.model import Annotations, ImageAnn
from landslide.annotations.regions import build_annotations, unreviewed_warning
from landslide.annotations.via import load_document, parse_via, paused_gc
from landslide.annotations.writers import template_project
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams, Params


def load_annotations(
    path: str | Path, images_dir: Path | None, params: Params, *, review: bool = True
) -> Annotations:
    """Any VIA file or a COCO instances file, into the model with the classes of Params.

    Regions a model pre-filled and no annotator checked (`source: model`) follow
    `annotate.review`; `review=False` keeps every region as written (to rewrite a project).
    """
    with paused_gc():
        return _load(path, images_dir, params, params.annotate.review if review else None)


def _load(
    path: str | Path, images_dir: Path | None, params: Params, review: str | None
) -> Annotations:
    doc = load_document(path)
    if is_coco(doc.data):
        ann = parse_coco(doc.data, doc.path)
        ann = _coco_classes(ann, ClassMap(params.classes, params.annotations.synonyms))
        ann = _coco_review(ann, review)
        return _coco_images(ann, images_dir, params.annotations) if images_dir else ann
    return build_annotations(
        parse_via(doc), doc.path, images_dir, params.annotations, params.classes, review=review
    )


def _coco_review(ann: Annotations, review: str | None) -> Annotations:
    """`review: require` on COCO regions: those still marked `source: model` are left out."""
    if review != "require":
        return ann
    left_out: list[str] = []
    images = []
    for image in ann.images:
        kept = tuple(r for r in image.regions if not r.unreviewed)
        left_out += [
            f"image {image.file_name!r} region {r.region_id}" for r in image.regions if r.unreviewed
        ]
        images.append(replace(image, regions=kept) if len(kept) != len(image.regions) else image)
    if not left_out:
        return ann
    return replace(
        ann, images=images, warnings=[*ann.warnings, unreviewed_warning(ann.source, left_out)]
    )


def _coco_classes(ann: Annotations, classes: ClassMap) -> Annotations:
    images = []
    for image in ann.images:
        regions = []
        for r in image.regions:
            try:
                regions.append(replace(r, label=classes.label(r.label)))
            except ClassValueError as exc:
                raise AnnotationError(
                    str(exc),
                    file=ann.source,
                    where=f"image {image.file_name!r} region {r.region_id}",
                    hint="map the category in annotations.synonyms in the params file",
                ) from None
        images.append(replace(image, regions=tuple(regions)))
    return replace(ann, images=images)


def _coco_images(ann: Annotations, images_dir: Path, p: AnnotationsParams) -> Annotations:
    """Check that each image exists in `images_dir` (per `missing_image`)."""
    if not Path(images_dir).is_dir():
        raise AnnotationError(f"images directory {str(images_dir)!r} not found", file=ann.source)
    found = ImageDir(Path(images_dir))
    kept: list[ImageAnn] = []
    for image in ann.images:
        where = f"image {image.file_name!r}"
        try:
            rel = found.find(image.file_name)
        except UnsafeName as exc:
            raise AnnotationError(str(exc), file=ann.source, where=where) from None
        if rel is not None:
            kept.append(replace(image, file_name=rel))
        elif p.missing_image == "skip":
            ann.warnings.append(f"{ann.source}: {where}: not found in {images_dir}: left out")
        else:
            raise AnnotationError(
                f"not found in {images_dir}",
                file=ann.source,
                where=where,
                hint="put the photo there, or set annotations.missing_image: skip",
            )
    return replace(ann, images=kept)


def import_annotations(path: Path, images_dir: Path, out: Path, params: Params) -> Annotations:
    """Read `path` (any VIA variant, or COCO) with its images; write COCO JSON to `out`."""
    ann = load_annotations(path, images_dir, params)
    write_coco(ann, out, params.classes)
    return ann


def make_template(
    images_dir: Path, out: Path, params: Params, source: Path | None = None
) -> Annotations:
    """Write a VIA 2.0.10 project for the photos of `images_dir` (regions from `source`)."""
    if not Path(images_dir).is_dir():
        raise AnnotationError(f"images directory {str(images_dir)!r} not found")
    if source is not None:
        # a template lists every photo of the folder: those `source` lacks, without regions
        listed = params.annotations.model_copy(update={"unlisted": "negative"})
        ann = load_annotations(
            source, images_dir, params.model_copy(update={"annotations": listed}), review=False
        )
    else:
        names = ImageDir(Path(images_dir)).images()
        ann = Annotations(images=[ImageAnn(n) for n in names], source=str(images_dir))
    if not ann.images:
        raise AnnotationError(
            f"no photos in {images_dir}", hint="put .jpg/.png photos there, then run again"
        )
    return template_project(
        images_dir, out, params.classes, params.annotations.class_attribute, ann
    )


@dataclass(frozen=True)
class AnnotationStats:
    images: int
    negatives: int  # images without a landslide region
    unannotated: int  # images without any region
    regions: dict[str, int] = field(default_factory=dict)  # per class, in Params order
    images_with: dict[str, int] = field(default_factory=dict)  # images with >= 1 region
    warnings: int = 0
    unlisted: int = 0  # photos of the folder the file does not list, left out

    def summary(self) -> str:
        per_class = ", ".join(f"{k} {v}" for k, v in self.regions.items() if v) or "none"
        noun = "photo" if self.unlisted == 1 else "photos"
        left_out = (
            f"; {self.unlisted} {noun} of the folder not in the file, left out"
            if self.unlisted
            else ""
        )
        return (
            f"{self.images} images ({self.images - self.negatives} with a landslide, "
            f"{self.negatives} negatives), regions: {per_class}{left_out}"
        )


def annotation_stats(ann: Annotations, classes: Sequence[str]) -> AnnotationStats:
    counts = ann.counts()
    names = [*classes, *sorted(set(counts) - set(classes))]
    return AnnotationStats(
        images=len(ann.images),
        negatives=ann.negatives,
        unannotated=sum(1 for im in ann.images if not im.regions),
        regions={c: counts.get(c, 0) for c in names},
        images_with={
            c: sum(1 for im in ann.images if any(r.label == c for r in im.regions)) for c in names
        },
        warnings=len(ann.warnings),
        unlisted=len(ann.unlisted),
    )
