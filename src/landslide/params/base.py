"""What every section shares: the `Section` base (unknown keys are errors, values are
checked on assignment), the value types (probability, fraction, split size) and the
names of the classes and backbones.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Probability = Annotated[float, Field(ge=0.0, le=1.0)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]


def _split_size(v: float) -> int | float:
    """A split size: an image count (whole number >= 1) or a fraction of the data (0 < f < 1)."""
    if 0 < v < 1:
        return v
    if v >= 1 and v == int(v):
        return int(v)
    raise ValueError(f"expected an image count (>= 1) or a fraction (0 < f < 1), got {v!r}")


SplitSize = Annotated[float, AfterValidator(_split_size)]

CLASSES = ("landslide", "vegetation", "water_body", "building")
BACKBONES = ("resnet50", "resnet101")


class Section(BaseModel):
    """A params section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
