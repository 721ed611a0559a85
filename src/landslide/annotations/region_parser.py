"""One VIA 2-style region object -> a region on its way: outline, class, attributes.

`RegionParser.parse` checks the object's structure, turns its shape into an outline
(`shapes.outline`; points and lines have no area and are skipped), reads the class from
`class_attribute` through the synonym map and keeps the other attributes as text. With
`review: require` a region a model pre-filled and nobody checked is left out (and listed
in `left_out`). A problem is a `RegionProblem`: the builder (`regions`) adds the file,
image and region to the error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from landslide.annotations.classes import ClassMap, ClassValueError, value_text
from landslide.annotations.geometry import Outline
from landslide.annotations.model import Point, unreviewed
from landslide.annotations.records import Options, RawProject
from landslide.annotations.shapes import CONVEX, NoArea, ShapeError, outline
from landslide.params import AnnotationsParams

Review = str | None  # annotate.review: "require" | "accept"; None keeps every region as written
UNREVIEWED = "pre-filled by a model, not reviewed"


@dataclass(slots=True)
class PendingImage:
    file_name: str
    width: int | None
    height: int | None
    attributes: tuple[tuple[str, str], ...]
    regions: list[PendingRegion] = field(default_factory=list)


@dataclass(slots=True)
class PendingRegion(Outline):
    """One region on its way: the outline to clean, and what the Region will hold."""

    image: PendingImage | None = None
    index: int = 0
    line: int | None = None
    label: str = ""
    shape: str = ""
    attributes: tuple[tuple[str, str], ...] = ()
    polygon: tuple[Point, ...] | None = None
    skipped: str = ""  # why the region is left out

    @property
    def where(self) -> str:
        return region_where(self.image, self.index, self.line)


def region_where(image: PendingImage | None, index: int, line: int | None) -> str:
    name = image.file_name if image is not None else "?"
    return f"image {name!r} region {index}" + (f" (line {line})" if line is not None else "")


class RegionProblem(Exception):
    """What is wrong with one region (the builder adds the file, image and region)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


class RegionParser:
    def __init__(
        self,
        raw: RawProject,
        p: AnnotationsParams,
        classes: Sequence[str],
        review: Review = None,
    ) -> None:
        self.raw, self.p, self.review = raw, p, review
        self.left_out: list[str] = []  # unreviewed model regions, `review: require`
        self.classes = ClassMap(classes, p.synonyms)
        self.class_options = _lookup(raw.region_options, p.class_attribute) or {}

    def parse(
        self, image: PendingImage, region: Any, index: int, line: int | None
    ) -> PendingRegion:
        if type(region) is not dict:
            raise RegionProblem(f"expected a region object, got {region!r:.40}")
        shape = region.get("shape_attributes")
        if type(shape) is not dict:
            raise RegionProblem("shape_attributes missing or not an object")
        try:
            name, xs, ys = outline(shape)
        except NoArea as exc:
            return PendingRegion([], [], image=image, index=index, line=line, skipped=str(exc))
        except ShapeError as exc:
            raise RegionProblem(str(exc)) from None
        attributes = region.get("region_attributes")
        if attributes is None:
            attributes = {}
        elif type(attributes) is not dict:
            raise RegionProblem("region_attributes is not an object")
        label = self.label(attributes)
        others = other_attributes(attributes, self.raw.region_options, self.p.class_attribute)
        if self.review == "require" and unreviewed(others):
            self.left_out.append(region_where(image, index, line))
            return PendingRegion([], [], image=image, index=index, line=line, skipped=UNREVIEWED)
        size = (image.width, image.height)
        return PendingRegion(xs, ys, *size, name in CONVEX, image, index, line, label, name, others)

    def label(self, attributes: dict[str, Any]) -> str:
        key = self.p.class_attribute
        if key not in attributes:
            key = _lookup_key(attributes, key)
            if key is None:
                raise self.missing_class()
        try:
            return self.classes.label(attributes[key], self.class_options)
        except ClassValueError as exc:
            raise RegionProblem(
                str(exc), "map it in annotations.synonyms in the params file"
            ) from None

    def missing_class(self) -> RegionProblem:
        """No class attribute: say which attributes the file's regions do have."""
        found = sorted(
            {
                str(k)
                for image in self.raw.images
                for r in image.regions
                if isinstance(r, dict) and isinstance(r.get("region_attributes"), dict)
                for k in r["region_attributes"]
            }
        )
        missing = f"no class: region attribute {self.p.class_attribute!r} missing"
        if _lookup_key(dict.fromkeys(found), self.p.class_attribute) is not None:
            return RegionProblem(
                f"{missing}: this region has none (other regions of the file have one)",
                "give the region a class in VIA, or delete it",
            )
        names = ", ".join(found) if found else "none: the regions carry no attributes"
        return RegionProblem(
            f"{missing} (region attributes in this file: {names})",
            "set annotations.class_attribute to the attribute that holds the class",
        )


def other_attributes(
    attributes: dict[str, Any], options: Options, exclude: str = ""
) -> tuple[tuple[str, str], ...]:
    """(name, text) of every attribute but `exclude` (ignoring case), in file order."""
    if not attributes or (len(attributes) == 1 and exclude in attributes):
        return ()
    folded = exclude.casefold()
    return tuple(
        (str(k), value_text(v, options.get(k)))
        for k, v in attributes.items()
        if not exclude or str(k).casefold() != folded
    )


def _lookup(options: Options, name: str) -> dict[str, str] | None:
    key = name if name in options else _lookup_key(options, name)
    return options.get(key) if key is not None else None


def _lookup_key(mapping: dict[str, Any], name: str) -> str | None:
    """The key of `mapping` equal to `name` ignoring case and surrounding spaces."""
    wanted = name.strip().casefold()
    for key in mapping:
        if isinstance(key, str) and key.strip().casefold() == wanted:
            return key
    return None
