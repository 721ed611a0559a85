"""The data stages' sections: sample, scrape, curate, annotations, annotate, validation,
prepare, split and augment.

Defaults equal the published method (Ullo et al. 2021): four classes plus an implicit
background, 512x512 images, Set A train/val/test 101/28/31, Set B train 62 with the
same val and test.
"""

# Pydantic copies field defaults per instance; ruff sees `Section` (another module) as a
# plain class and would ask for ClassVar on every list default.
# ruff: noqa: RUF012

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from landslide.params.base import Fraction, Probability, Section, SplitSize


class SampleParams(Section):
    """The embedded synthetic sample (`landslide sample`)."""

    n: PositiveInt = 160  # the study's 160 images
    seed: int = 42
    min_side: Annotated[int, Field(ge=32)] = 480  # shorter image side, pixels
    max_side: Annotated[int, Field(ge=32)] = 1024  # longer image side, pixels
    negative_fraction: Fraction = 0.33  # images with no landslide
    exif_fraction: Probability = 0.15  # images stored rotated with an EXIF orientation tag
    jpeg_quality: Annotated[int, Field(ge=50, le=100)] = 90

    @model_validator(mode="after")
    def _sides(self) -> SampleParams:
        if self.min_side > self.max_side:
            raise ValueError(f"min_side ({self.min_side}) exceeds max_side ({self.max_side})")
        return self


Licence = Literal["cc0", "pdm", "by", "by-sa", "by-nd", "by-nc", "by-nc-sa", "by-nc-nd"]


class ScrapeParams(Section):
    """Image collection from search engines and open archives (`landslide scrape`)."""

    enabled: bool = False  # the Prefect flow scrapes first (needs network)
    queries: list[str] = ["landslide", "frana", "glissement de terrain", "deslizamiento"]
    sources: list[Literal["commons", "openverse", "bing"]] = ["commons", "openverse"]
    max_per_query: PositiveInt = 200  # search results taken per query from each source
    commons_url: str = "https://commons.wikimedia.org/w/api.php"
    openverse_url: str = "https://api.openverse.org/v1/images/"
    bing_url: str = "https://www.bing.com/images/search"
    commons_width: NonNegativeInt = 0  # ask Commons for a scaled copy this wide; 0 = original
    openverse_interval_s: Annotated[float, Field(ge=0)] = 3.0  # anonymous API: 20 requests/min
    user_agent: str = "landslide-pipeline/0.1"
    contact: str = ""  # email or URL sent in the User-Agent (Wikimedia asks for one)
    licences: list[Licence] = []  # empty = any licence; else e.g. [cc0, by, by-sa]
    robots: bool = True  # honour robots.txt for result pages and image downloads
    concurrency: Annotated[int, Field(ge=1, le=64)] = 4
    rate_per_host: PositiveFloat = 1.0  # requests per second per host
    timeout_s: PositiveFloat = 30.0
    retries: Annotated[int, Field(ge=0, le=10)] = 4
    backoff_s: PositiveFloat = 1.0  # first retry delay; doubles each retry
    max_retry_after_s: PositiveFloat = 300.0  # a longer Retry-After gives that URL up
    max_redirects: Annotated[int, Field(ge=0, le=20)] = 5
    max_bytes: PositiveInt = 25_000_000
    min_side: PositiveInt = 256  # shorter side, pixels
    max_pixels: Annotated[int, Field(ge=1, le=89_478_485)] = 50_000_000  # <= Pillow's bomb limit
    dup_distance: Annotated[int, Field(ge=0, le=64)] = 6  # phash bits: near-duplicate
    out_dir: Path = Path("data/raw/incoming")

    @field_validator("queries")
    @classmethod
    def _queries(cls, v: list[str]) -> list[str]:
        v = [q.strip() for q in v]
        if any(not q for q in v):
            raise ValueError("queries must not be empty strings")
        return list(dict.fromkeys(v))

    @field_validator("sources")
    @classmethod
    def _sources(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one source is required (commons, openverse, bing)")
        return list(dict.fromkeys(v))

    @field_validator("commons_url", "openverse_url", "bing_url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")) or any(c.isspace() for c in v):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v

    @field_validator("user_agent", "contact")
    @classmethod
    def _header(cls, v: str) -> str:
        if any(c in v for c in "\r\n\0"):
            raise ValueError("must be one line (it is sent in the User-Agent header)")
        return v.strip()

    @field_validator("user_agent")
    @classmethod
    def _product(cls, v: str) -> str:
        if not v:
            raise ValueError("must name the project, e.g. 'landslide-pipeline/0.1'")
        return v


class CurateParams(Section):
    """The human accept/reject checkpoint."""

    decisions: Path = Path("data/curation/decisions.csv")
    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8765
    curator: str = ""  # empty = the OS user
    thumbnail_size: Annotated[int, Field(ge=32, le=2048)] = 256
    cache_dir: Path = Path("data/interim/curate")  # thumbnails, perceptual hashes


class AnnotationsParams(Section):
    """Reading VIA files into the internal model."""

    class_attribute: str = "class"
    synonyms: dict[str, list[str]] = {
        "landslide": ["Landslide", "landslides", "slide", "frana", "scar", "debris flow"],
        "vegetation": ["Vegetation", "veg", "forest", "trees", "grass"],
        "water_body": ["water", "Water", "Water body", "water body", "river", "lake"],
        "building": ["Building", "buildings", "house", "houses"],
    }
    missing_image: Literal["error", "skip"] = "error"
    # A photo in the images folder that the annotation file does not list is unknown, not
    # a negative: skip = left out (a warning names them), negative = read as a photo
    # without a landslide, error = stop. `unannotated` is the old, deprecated name.
    unlisted: Literal["skip", "negative", "error"] = "skip"
    min_region_area: PositiveFloat = 4.0  # pixels
    max_image_pixels: PositiveInt = 89_478_485  # Pillow's decompression-bomb limit

    @model_validator(mode="before")
    @classmethod
    def _unannotated(cls, data: Any) -> Any:
        """The deprecated `unannotated: negative | error` is read as `unlisted`, with a warning."""
        if not isinstance(data, dict) or "unannotated" not in data:
            return data
        data = dict(data)
        old = data.pop("unannotated")
        if "unlisted" in data and data["unlisted"] != old:
            raise ValueError(
                f"unannotated ({old!r}) and unlisted ({data['unlisted']!r}) disagree: "
                "keep only unlisted (unannotated is its old, deprecated name)"
            )
        if old not in ("negative", "error"):
            raise ValueError(f"unannotated: expected negative or error, got {old!r}")
        data.setdefault("unlisted", old)
        warnings.warn(
            f"annotations.unannotated is deprecated: read as annotations.unlisted: {old} "
            "(rename the key; skip, the new default, leaves photos without an entry out)",
            FutureWarning,
            stacklevel=1,
        )
        return data


class AnnotateParams(Section):
    """Model-assisted annotation: VIA projects pre-filled with a model's polygons."""

    # The model that pre-fills new photos in `curate apply`: empty = off; a model.pt, a
    # model directory, an .onnx file, runs:/<run_id>/model or models:/<name>@<alias>
    # (`models:/landslide-maskrcnn@champion`: the registry champion, skipped if none yet).
    prefill_model: str = ""
    prefill_threshold: Probability = 0.5  # instances scoring at least this become regions
    # Unreviewed model regions (region attribute `source: model`) when annotations are
    # read for training: require = left out until an annotator sets `source` to human,
    # accept = taken as they are (the validation report counts them).
    review: Literal["require", "accept"] = "require"
    simplify: Annotated[float, Field(ge=0)] = 1.0  # outline tolerance, pixels
    max_vertices: Annotated[int, Field(ge=3, le=1000)] = 40  # per polygon (more simplified)
    overlap_iou: Annotated[float, Field(gt=0, le=1)] = 0.5  # drop model regions over a human's


class ValidateParams(Section):
    """great-expectations checks on the annotation table (`landslide validate`)."""

    min_area_fraction: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0001  # 26 px² at 512x512
    max_area_fraction: Annotated[float, Field(gt=0.0, le=1.0)] = 0.95
    min_vertices: Annotated[int, Field(ge=3)] = 3
    min_image_side: PositiveInt = 64  # pixels, upright image
    require_landslide: bool = True  # at least one image with a landslide
    require_negative: bool = True  # at least one image without
    allow_duplicates: bool = False  # perceptual duplicates; identical bytes always fail
    dup_distance: Annotated[int, Field(ge=0, le=64)] = 0  # phash Hamming distance, 0 = same hash
    out_dir: Path = Path("reports/validation")

    @model_validator(mode="after")
    def _areas(self) -> ValidateParams:
        if self.min_area_fraction >= self.max_area_fraction:
            raise ValueError(
                f"min_area_fraction ({self.min_area_fraction}) must be smaller than "
                f"max_area_fraction ({self.max_area_fraction})"
            )
        return self


class PrepareParams(Section):
    """Resize images and annotations to the training size."""

    size: tuple[PositiveInt, PositiveInt] = (512, 512)  # width, height
    mode: Literal["stretch", "letterbox"] = "stretch"  # the study stretches
    workers: NonNegativeInt = 0  # 0 = one per CPU core
    jpeg_quality: Annotated[int, Field(ge=50, le=100)] = 95
    skip_bad: bool = False


class SetSizes(Section):
    train: SplitSize
    val: SplitSize | None = None
    test: SplitSize | None = None


class SplitParams(Section):
    """Set A and Set B: shared val/test, B's train a subset of A's."""

    A: SetSizes = SetSizes(train=101, val=28, test=31)
    B: SetSizes = SetSizes(train=62)
    seed: int = 42
    dup_distance: NonNegativeInt = 4  # perceptual-hash bits: near-duplicates share a split
    stratify: bool = True
    scale: bool = True  # counts that don't match the data's size are scaled to it

    @model_validator(mode="after")
    def _nested(self) -> SplitParams:
        if self.A.val is None or self.A.test is None:
            raise ValueError("A.val and A.test are required (Set B shares them)")
        if self.B.val is not None or self.B.test is not None:
            raise ValueError("B.val and B.test must be left out: Set B shares Set A's val and test")
        a, b = self.A.train, self.B.train
        if isinstance(a, int) == isinstance(b, int) and b > a:
            raise ValueError(f"B.train ({b}) must not exceed A.train ({a}): B is a subset of A")
        fractions = [s for s in (a, self.A.val, self.A.test) if isinstance(s, float)]
        if len(fractions) == 3 and sum(fractions) > 1.0 + 1e-9:
            raise ValueError(f"A's train, val and test fractions add up to {sum(fractions):g} > 1")
        return self


class AugmentParams(Section):
    """Augmented copies of each training image (the study multiplied its data)."""

    mode: Literal["offline", "online"] = "offline"
    copies: NonNegativeInt = 4
    seed: int = 42
    hflip: Probability = 0.5
    vflip: Probability = 0.1
    rotate: Probability = 0.5
    max_degrees: Annotated[float, Field(ge=0, le=180)] = 15.0
    affine: Probability = 0.5
    max_shift: Annotated[float, Field(ge=0, le=0.5)] = 0.1
    scale: tuple[PositiveFloat, PositiveFloat] = (0.9, 1.1)
    resized_crop: Probability = 0.25
    color_jitter: Probability = 0.8
    brightness: Annotated[float, Field(ge=0, le=1)] = 0.3
    contrast: Annotated[float, Field(ge=0, le=1)] = 0.3
    saturation: Annotated[float, Field(ge=0, le=1)] = 0.2
    blur: Probability = 0.1
    noise: Probability = 0.1
    workers: NonNegativeInt = 0  # processes writing offline copies; 0 = one per CPU core
