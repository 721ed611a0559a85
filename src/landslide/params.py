"""`params.yaml` → `Params`: the single, typed source of every parameter.

Defaults equal the published method (Ullo et al. 2021): 512x512 images, four
classes plus an implicit background, Set A train/val/test 101/28/31, Set B train
62 with the same val and test, 20 epochs at lr 0.001 and batch size 1, score
threshold 0.8, ResNet-50 and ResNet-101 backbones.

A params file may start with `extends: OTHER.yaml` (relative to itself); the
other file is loaded first and this one overrides only the keys it names. That
is how `params.demo.yaml` changes just what a 2-core CPU needs::

    params = load_params("params.demo.yaml")   # params.yaml + demo overrides
    params.train.epochs

Stages receive `Params` or one of its sections, never a dict. Unknown keys,
wrong types and out-of-range values raise `ParamsError` naming the key path.
"""

from __future__ import annotations

import difflib
import os
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from landslide.errors import ParamsError

DEFAULT_PARAMS = Path("params.yaml")
PARAMS_ENV = "LANDSLIDE_PARAMS"

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


class TrainParams(Section):
    """Mask R-CNN training (torchvision), transfer learning from COCO."""

    backbones: list[Literal["resnet50", "resnet101"]] = list(BACKBONES)
    sets: list[Literal["A", "B"]] = ["A", "B"]
    variant: Literal["v1", "v2"] = "v1"  # ResNet-50-FPN Mask R-CNN v1 or v2
    weights: str = "coco"  # coco | imagenet | none | path to a state dict
    trainable_layers: Annotated[int, Field(ge=0, le=5)] = 3
    train_heads_only: bool = False
    epochs: PositiveInt = 20
    optimizer: Literal["sgd", "adamw"] = "sgd"  # the study's SGD; AdamW learns faster from scratch
    lr: PositiveFloat = 0.001
    batch_size: PositiveInt = 1
    momentum: Annotated[float, Field(ge=0, lt=1)] = 0.9
    weight_decay: Annotated[float, Field(ge=0)] = 0.0001
    warmup_iters: NonNegativeInt = 100
    lr_schedule: Literal["none", "step", "cosine"] = "none"
    lr_steps: list[PositiveInt] = []  # epochs at which a step schedule multiplies lr by gamma
    lr_gamma: Annotated[float, Field(gt=0, le=1)] = 0.1
    grad_clip: Annotated[float, Field(ge=0)] = 10.0  # max gradient norm; 0 = off
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # mixed precision, CUDA only
    workers: NonNegativeInt = 0  # DataLoader workers
    seed: int = 42
    # torchvision's RPN/RoI sampling; the defaults are torchvision's, the demo lowers them.
    rpn_pre_nms_top_n_train: PositiveInt = 2000
    rpn_post_nms_top_n_train: PositiveInt = 2000
    rpn_pre_nms_top_n_test: PositiveInt = 1000
    rpn_post_nms_top_n_test: PositiveInt = 1000
    rpn_batch_size_per_image: PositiveInt = 256
    box_batch_size_per_image: PositiveInt = 512
    box_positive_fraction: float = Field(0.25, gt=0, lt=1)
    box_detections_per_img: PositiveInt = 100
    # RPN anchor side per FPN level (5 values, pixels); [] = torchvision's (32, 64, 128, 256,
    # 512). Small prepared images need smaller anchors (the demo's 128 px: 8 ... 128).
    anchor_sizes: list[PositiveInt] = []
    checkpoint_every: PositiveInt = 1  # epochs
    models_dir: Path = Path("models")

    @field_validator("anchor_sizes")
    @classmethod
    def _anchors(cls, v: list[int]) -> list[int]:
        if v and len(v) != 5:
            raise ValueError(f"one anchor size per FPN level: 5 values or [], got {len(v)}")
        return v


class EvaluateParams(Section):
    """Image-level metrics as in the study, plus COCO AP and pixel IoU."""

    threshold: Probability = 0.8
    sweep: tuple[Probability, Probability, PositiveFloat] = (0.05, 0.95, 0.05)
    mask_threshold: Probability = 0.5
    overlays: NonNegativeInt = 10  # test photos drawn with their detections
    split: Literal["test", "val"] = "test"
    calibrate: bool = False  # also report test metrics at the best-F1 threshold on val


class PredictParams(Section):
    """Inference on photos and on tiled orthomosaics."""

    threshold: Probability = 0.8  # image-level decision; raster polygons at or above it
    min_score: Probability = 0.5  # photo instances listed in the JSON and CSV
    mask_threshold: Probability = 0.5
    batch_size: PositiveInt = 4  # photos or tiles per forward pass
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    overlays: bool = True  # draw each photo with its detections
    overlay_max_side: PositiveInt = 1280  # overlays of larger photos are scaled down
    max_image_pixels: PositiveInt = 89_478_485  # larger photos are refused (decompression bomb)
    simplify: Annotated[float, Field(ge=0)] = 0.5  # polygon tolerance, pixels; 0 = exact
    tile_size: Annotated[int, Field(ge=64)] = 1024
    tile_overlap: NonNegativeInt = 128
    bands: list[PositiveInt] = []  # raster bands read as RGB; [] = 1, 2, 3 (1 for grey)
    uint16_scale: tuple[float, float] = (2.0, 98.0)  # percentile stretch for 16-bit rasters
    merge_iou: Probability = 0.5
    model_name: str = "landslide-maskrcnn"
    alias: str = "champion"

    @model_validator(mode="after")
    def _overlap(self) -> PredictParams:
        if self.tile_overlap >= self.tile_size:
            raise ValueError(
                f"tile_overlap ({self.tile_overlap}) must be smaller than "
                f"tile_size ({self.tile_size})"
            )
        lo, hi = self.uint16_scale
        if not 0 <= lo < hi <= 100:
            raise ValueError(f"uint16_scale: percentiles 0 <= low < high <= 100, got {lo}, {hi}")
        if self.bands and len(self.bands) not in (1, 3):
            raise ValueError(f"bands: 1 (grey) or 3 (RGB) band numbers, got {len(self.bands)}")
        return self


class ScheduleParams(Section):
    """Scheduled retraining: challenger vs champion on a fixed test set."""

    cron: str = "0 3 * * 1"  # Mondays 03:00
    min_new_images: PositiveInt = 20
    scrape_first: bool = False
    backbones: list[Literal["resnet50", "resnet101"]] = ["resnet101"]
    set: Literal["A", "B"] = "A"  # the challengers train on this set's train split
    promotion_metric: Literal["f1", "recall", "precision", "accuracy"] = "f1"
    min_margin: Annotated[float, Field(ge=0, le=1)] = 0.01
    recall_tolerance: Annotated[float, Field(ge=0, le=1)] = 0.02
    # The promotion metric every champion must reach, the first one (no champion yet) included.
    floor: Probability = 0.5
    push: bool = True  # `dvc push` each new data version to the default remote
    prefill: bool = True  # pre-outline photos waiting for a polygon with the champion
    out_dir: Path = Path("reports/retrain")  # cycle reports; state.json: the last data version
    lock: Path = Path("reports/retrain/retrain.lock")  # one cycle at a time (owner's PID inside)
    models_dir: Path = Path("models/challengers")  # this cycle's challengers (emptied each cycle)

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str) -> str:
        fields = v.split()
        if len(fields) != 5:
            raise ValueError(
                f"expected a cron line of 5 fields (minute hour day month weekday), got {v!r}"
            )
        return " ".join(fields)

    @field_validator("backbones")
    @classmethod
    def _backbones(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one backbone is required (resnet50, resnet101)")
        return list(dict.fromkeys(v))


class MlflowParams(Section):
    tracking_uri: str = "sqlite:///mlflow.db"
    experiment: str = "landslide"


class Params(Section):
    """Every parameter of the pipeline, one section per stage."""

    seed: int = 42
    classes: list[str] = list(CLASSES)  # background (id 0) is implicit
    sample: SampleParams = SampleParams()
    scrape: ScrapeParams = ScrapeParams()
    curate: CurateParams = CurateParams()
    annotations: AnnotationsParams = AnnotationsParams()
    annotate: AnnotateParams = AnnotateParams()
    # not `validate`: that name would shadow pydantic's BaseModel.validate (a warning on import)
    validation: ValidateParams = ValidateParams()
    prepare: PrepareParams = PrepareParams()
    split: SplitParams = SplitParams()
    augment: AugmentParams = AugmentParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    predict: PredictParams = PredictParams()
    schedule: ScheduleParams = ScheduleParams()
    mlflow: MlflowParams = MlflowParams()

    @field_validator("classes")
    @classmethod
    def _classes(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one class is required")
        if "landslide" not in v:
            raise ValueError("'landslide' must be one of the classes (the metrics are about it)")
        if "background" in v:
            raise ValueError("'background' is implicit (class id 0); leave it out")
        if len(set(v)) != len(v):
            raise ValueError(f"duplicate class names in {v}")
        return v

    @property
    def category_ids(self) -> dict[str, int]:
        """COCO category ids: 1..N in the order of `classes` (0 is background)."""
        return {name: i for i, name in enumerate(self.classes, start=1)}

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


# --------------------------------------------------------------------------- loading


def load_params(path: str | Path | None = None) -> Params:
    """Read a params file (following `extends:`) into a validated `Params`.

    With no path: `$LANDSLIDE_PARAMS` if set, else `params.yaml` in the current
    directory. A missing default file gives the study's defaults; a missing file
    that was asked for by name is an error.
    """
    explicit = path is not None or PARAMS_ENV in os.environ
    path = Path(path or os.environ.get(PARAMS_ENV) or DEFAULT_PARAMS)
    if not path.exists() and not explicit:
        return Params()
    data = _read_chain(path, seen=())
    return parse_params(data, source=path)


def parse_params(data: dict[str, Any], source: str | Path = "<params>") -> Params:
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise _params_error(exc, source) from None


def _read_chain(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        chain = " -> ".join(str(p) for p in (*seen, resolved))
        raise ParamsError(f"'extends' loops: {chain}", file=path)
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ParamsError("extends: expected a file name", file=path)
    base = _read_chain(path.parent / parent, seen=(*seen, resolved))
    return _deep_merge(base, data)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise ParamsError(
            "file not found",
            file=path,
            hint="run from the project root, or pass --params PATH",
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else None
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ParamsError(f"not valid YAML: {problem}", file=path, where=where) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"cannot read: {exc}", file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamsError(
            f"expected a mapping of sections at the top level, got {type(data).__name__}",
            file=path,
        )
    return data


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


_TYPE_WORDS = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "int_parsing": "expected an integer",
    "int_type": "expected an integer",
    "int_from_float": "expected an integer",
    "bool_parsing": "expected true or false",
    "bool_type": "expected true or false",
    "string_type": "expected a string",
    "list_type": "expected a list",
    "tuple_type": "expected a list",
    "dict_type": "expected a mapping",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
}


def _params_error(exc: ValidationError, source: str | Path) -> ParamsError:
    """Turn pydantic's errors into one ParamsError naming each key path."""
    lines = []
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
        key = ".".join(loc) or "(top level)"
        kind = err["type"]
        if kind == "extra_forbidden":
            known = _known_keys(loc[:-1])
            close = difflib.get_close_matches(loc[-1], known, n=1)
            if close:
                msg = f"unknown key (did you mean '{close[0]}'?)"
            else:
                msg = "unknown key" + (f" (known: {', '.join(known)})" if known else "")
        elif kind in ("too_long", "too_short"):
            msg = f"wrong number of values, got {err['input']!r}"
        elif kind == "missing" and loc and loc[-1].isdigit():
            key = ".".join(loc[:-1])
            msg = f"wrong number of values, got {err['input']!r}"
        elif kind == "missing":
            msg = "required key is missing"
        elif kind in _TYPE_WORDS:
            msg = f"{_TYPE_WORDS[kind]}, got {err['input']!r}"
        elif kind == "value_error":
            msg = str(err["ctx"]["error"]) if "ctx" in err else err["msg"]
        else:
            msg = f"{err['msg'][0].lower()}{err['msg'][1:]}, got {err['input']!r}"
        lines.append(f"{key}: {msg}")
    # Unions (count or fraction) report once per member; keep the first message per key.
    unique: dict[str, str] = {}
    for line in lines:
        unique.setdefault(line.split(":", 1)[0], line)
    first, *rest = unique.values()
    return ParamsError(
        first,
        file=source,
        hint=("also: " + "; ".join(rest)) if rest else None,
    )


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the member type name ('int', 'constrained-float', ...) to union locations
    return isinstance(part, str) and (
        part in ("int", "float", "bool", "str", "none") or part.startswith("constrained-")
    )


def _known_keys(loc: list[str]) -> list[str]:
    model: type[BaseModel] | None = Params
    for part in loc:
        field = model.model_fields.get(part) if model else None
        ann = field.annotation if field else None
        model = ann if isinstance(ann, type) and issubclass(ann, BaseModel) else None
    return list(model.model_fields) if model else []
