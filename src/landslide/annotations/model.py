"""The internal annotation model every VIA variant is read into.

An `Annotations` set is a list of `ImageAnn` (one per photo, regions may be
empty: that photo is a negative); each `Region` has a class from Params and a
polygon in pixel coordinates of the *upright* image (EXIF orientation applied,
as the annotator saw it in VIA). Readers, writers, the COCO converter and the
validation stage all speak this model.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]

# Model-assisted annotation: a region a model pre-filled carries the region attributes
# `source: model` and `score`; the annotator sets `source` to `human` once it is checked.
SOURCE_ATTRIBUTE = "source"
SCORE_ATTRIBUTE = "score"
MODEL_SOURCE = "model"
HUMAN_SOURCE = "human"


def unreviewed(attributes: tuple[tuple[str, str], ...]) -> bool:
    """Whether region attributes say `source: model` (names and values ignore case)."""
    return any(
        name.strip().casefold() == SOURCE_ATTRIBUTE and value.strip().casefold() == MODEL_SOURCE
        for name, value in attributes
    )


@dataclass(frozen=True)
class Region:
    """One annotated instance: a class and a closed polygon (x, y) in upright pixels."""

    label: str
    polygon: tuple[Point, ...]
    region_id: int = 0  # index of the region in its image, as in the source file
    shape: str = "polygon"  # the VIA shape it came from (polygon, rect, circle, ...)
    attributes: tuple[tuple[str, str], ...] = ()  # other region attributes, kept for writers

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """COCO box: x, y, width, height."""
        xs = [p[0] for p in self.polygon]
        ys = [p[1] for p in self.polygon]
        return (min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    @property
    def unreviewed(self) -> bool:
        """Pre-filled by a model and not yet marked checked (`source: model`)."""
        return unreviewed(self.attributes)

    @property
    def area(self) -> float:
        """Shoelace area of the polygon."""
        pts = self.polygon
        s = 0.0
        for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
            s += x0 * y1 - x1 * y0
        return abs(s) / 2.0


@dataclass(frozen=True)
class ImageAnn:
    """One photo: its file name (relative to the images directory), upright size, regions."""

    file_name: str
    width: int | None = None  # upright size; None until the image has been opened
    height: int | None = None
    regions: tuple[Region, ...] = ()
    attributes: tuple[tuple[str, str], ...] = ()  # VIA file attributes

    @property
    def has_landslide(self) -> bool:
        return any(r.label == "landslide" for r in self.regions)


@dataclass
class Annotations:
    """A set of annotated photos plus the warnings produced while reading them."""

    images: list[ImageAnn] = field(default_factory=list)
    source: str = ""  # the file they were read from
    warnings: list[str] = field(default_factory=list)
    # photos of the images folder the file does not list, left out (`annotations.unlisted`)
    unlisted: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)

    def counts(self) -> dict[str, int]:
        """Regions per class."""
        out: dict[str, int] = {}
        for image in self.images:
            for region in image.regions:
                out[region.label] = out.get(region.label, 0) + 1
        return out

    @property
    def negatives(self) -> int:
        return sum(1 for image in self.images if not image.has_landslide)
