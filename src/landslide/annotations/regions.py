"""The one region parser every VIA layout feeds: raw records -> `Annotations`.

Each layout reader (in `via.py`, `via_csv.py`) only walks its own structure and yields
`RawImage` records (`records.py`) holding VIA 2-style region objects (`{"shape_attributes":
{...}, "region_attributes": {name: value}}`; VIA 2 files' own lists are used as they are).
`build_annotations` then, the same way for all (one region object is read by
`region_parser.RegionParser`):

- finds each image in the images directory (or keeps its name when there is none),
  refuses unsafe names, reads the upright size, applies `missing_image`;
- refuses images listed twice;
- turns each shape into a polygon (points and lines skipped with a warning);
- reads the class from `class_attribute` through the synonym map;
- cleans the polygons (clipping, degenerate, self-intersecting; see `geometry`);
- with a `review` policy, leaves out the regions a model pre-filled that no annotator
  has checked (`source: model`; `annotate.review: require`) or keeps them (`accept`);
- leaves out the images of the directory that the file does not list, naming them
  (`Annotations.unlisted`, a warning), or reads them as negatives or refuses them
  (`annotations.unlisted: skip | negative | error`).

Every problem is an `AnnotationError` naming the file, image and region, or a
warning in `Annotations.warnings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from landslide.annotations.geometry import clean, clean_mask
from landslide.annotations.images import BadImage, ImageDir, UnsafeName, safe_name, upright_size
from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.annotations.records import RawImage, RawProject
from landslide.annotations.region_parser import (
    UNREVIEWED,
    PendingImage,
    PendingRegion,
    RegionParser,
    RegionProblem,
    Review,
    other_attributes,
    region_where,
)
from landslide.annotations.shapes import ShapeError
from landslide.errors import AnnotationError
from landslide.params import AnnotationsParams

UNLISTED_SHOWN = 20  # names a warning shows; `Annotations.unlisted` has them all
UNLISTED_LEFT_OUT = "not in this file, left out (unknown, not negatives)"


def name_list(names: Sequence[str], limit: int = UNLISTED_SHOWN) -> str:
    """The first `limit` names, comma-separated, and how many more there are."""
    more = f", ... ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def build_annotations(
    raw: RawProject,
    source: str | Path,
    images_dir: Path | None,
    p: AnnotationsParams,
    classes: Sequence[str],
    *,
    review: Review = None,
) -> Annotations:
    """`Annotations` from the records of any layout (see the module docstring).

    `review="require"` leaves out the regions still marked `source: model` (one warning
    lists them); `"accept"` and None keep them, with their attributes.
    """
    return _Builder(raw, str(source), images_dir, p, classes, review).run()


def unreviewed_warning(source: str, wheres: Sequence[str]) -> str:
    """The one warning for the model regions `review: require` left out."""
    shown = "; ".join(wheres[:5]) + ("; ..." if len(wheres) > 5 else "")
    return (
        f"{source}: {len(wheres)} regions {UNREVIEWED} (source: model), left out "
        f"(annotate.review: require): {shown}; set their source to human in VIA once "
        "checked, or set annotate.review: accept"
    )


class _Builder:
    def __init__(
        self,
        raw: RawProject,
        source: str,
        images_dir: Path | None,
        p: AnnotationsParams,
        classes: Sequence[str],
        review: Review = None,
    ) -> None:
        self.raw, self.source, self.p = raw, source, p
        self.parser = RegionParser(raw, p, classes, review)
        self.images = _image_dir(images_dir, source) if images_dir is not None else None
        self.warnings = list(raw.warnings)

    def error(self, message: str, where: str | None = None, hint: str | None = None):
        return AnnotationError(message, file=self.source, where=where, hint=hint)

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(f"{self.source}: {where}: {message}")

    # ------------------------------------------------------------------ the steps

    def run(self) -> Annotations:
        images: list[PendingImage] = []
        seen: dict[str, str] = {}
        for record in self.raw.images:
            image = self.image(record, seen)
            if image is not None:
                images.append(image)
                indices = record.indices or range(len(record.regions))
                lines = record.lines or None
                for k, region in enumerate(record.regions):
                    line = lines[k] if lines else None
                    image.regions.append(self.region(image, region, indices[k], line))
        annotated = [self.finish(image) for image in self.clean(images)]
        if self.parser.left_out:
            self.warnings.append(unreviewed_warning(self.source, self.parser.left_out))
        negatives, unlisted = self.unlisted(seen)
        return Annotations(
            images=annotated + negatives,
            source=self.source,
            warnings=self.warnings,
            unlisted=unlisted,
        )

    def image(self, record: RawImage, seen: dict[str, str]) -> PendingImage | None:
        if not isinstance(record.name, str):
            raise self.error(
                f"file name missing or not a string (got {record.name!r})", record.entry
            )
        where = f"image {record.name!r}"
        try:
            name, note = safe_name(record.name)
        except UnsafeName as exc:
            raise self.error(str(exc), where) from None
        if note:
            self.warn(where, note)
        located = self.locate(name, where)
        if located is None:
            return None
        file_name, width, height = located
        if file_name in seen:
            raise self.error(
                f"listed twice ({seen[file_name]} and {record.entry})",
                f"image {file_name!r}",
                hint="keep one entry per photo",
            )
        seen[file_name] = record.entry
        if record.attributes is not None and not isinstance(record.attributes, dict):
            raise self.error("file_attributes is not an object", where)
        attributes = other_attributes(record.attributes or {}, self.raw.file_options)
        return PendingImage(file_name, width, height, attributes)

    def locate(self, name: str, where: str) -> tuple[str, int | None, int | None] | None:
        if self.images is None:
            return name, None, None
        try:
            rel = self.images.find(name)
        except UnsafeName as exc:
            raise self.error(str(exc), where) from None
        if rel is None:
            if self.p.missing_image == "skip":
                self.warn(where, f"not found in {self.images.root}: left out")
                return None
            raise self.error(
                f"not found in {self.images.root}",
                where,
                hint="put the photo there, or set annotations.missing_image: skip",
            )
        try:
            width, height = upright_size(self.images.path(rel), self.p.max_image_pixels)
        except BadImage as exc:
            raise self.error(str(exc), f"image {rel!r}") from None
        return rel, width, height

    def region(
        self, image: PendingImage, region: Any, index: int, line: int | None
    ) -> PendingRegion:
        try:
            return self.parser.parse(image, region, index, line)
        except RegionProblem as exc:
            raise self.error(exc.message, region_where(image, index, line), exc.hint) from None

    def clean(self, images: list[PendingImage]) -> list[PendingImage]:
        """Polygons for every region: the fast bulk check, then `clean` for the rest."""
        pending = [r for image in images for r in image.regions if not r.skipped]
        mask = clean_mask(pending, self.p.min_region_area)
        for region, unchanged in zip(pending, mask, strict=True):
            if unchanged:
                region.polygon = tuple(zip(region.xs, region.ys, strict=True))
                continue
            try:
                cleaned = clean(region, self.p.min_region_area)
            except ShapeError as exc:
                raise self.error(str(exc), region.where) from None
            region.polygon = cleaned.polygon
            if cleaned.polygon is None:
                region.skipped = "; ".join(cleaned.notes)
            else:
                for note in cleaned.notes:
                    self.warn(region.where, note)
        return images

    def finish(self, image: PendingImage) -> ImageAnn:
        regions = []
        for r in image.regions:
            if r.polygon is None:
                if r.skipped != UNREVIEWED:  # those are listed in one warning
                    self.warn(r.where, r.skipped)
                continue
            regions.append(Region(r.label, r.polygon, r.index, r.shape, r.attributes))
        return ImageAnn(
            image.file_name, image.width, image.height, tuple(regions), image.attributes
        )

    def unlisted(self, seen: dict[str, str]) -> tuple[list[ImageAnn], list[str]]:
        """The folder's photos this file does not list: (read as negatives, left out).

        A photo without an entry is unknown, not a negative: `annotations.unlisted: skip`
        leaves it out, `negative` reads it as a photo without a landslide, `error` stops.
        """
        if self.images is None:
            return [], []
        extra = [name for name in self.images.images() if name not in seen]
        if not extra:
            return [], []
        policy = self.p.unlisted
        shown = name_list(extra)
        count = f"{len(extra)} {'photo' if len(extra) == 1 else 'photos'} in {self.images.root}"
        if policy == "error":
            raise self.error(
                f"{count} not in this file: {shown}",
                hint="add them to the VIA project (or take them out of the folder), or set "
                "annotations.unlisted: skip to leave them out (negative: read them as negatives)",
            )
        if policy == "skip":
            self.warnings.append(
                f"{self.source}: {count} {UNLISTED_LEFT_OUT}: {shown}; "
                "add them to the VIA project, or set annotations.unlisted: negative"
            )
            return [], extra
        self.warnings.append(
            f"{self.source}: {count} not in this file, read as negatives "
            f"(annotations.unlisted: negative): {shown}"
        )
        images = []
        for name in extra:
            try:
                width, height = upright_size(self.images.path(name), self.p.max_image_pixels)
            except BadImage as exc:
                raise self.error(str(exc), f"image {name!r}") from None
            images.append(ImageAnn(name, width, height))
        return images, []


def _image_dir(images_dir: Path, source: str) -> ImageDir:
    if not Path(images_dir).is_dir():
        raise AnnotationError(
            f"images directory {str(images_dir)!r} not found", file=source, where=None
        )
    return ImageDir(Path(images_dir))
