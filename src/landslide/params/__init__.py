"""`params.yaml` -> `Params`: the single, typed source of every parameter.

    params = load_params("params.demo.yaml")   # params.yaml + demo overrides
    params.train.epochs

Stages receive `Params` or one of its sections, never a dict. `load` reads a params
file (following `extends:`) into `Params` and words validation errors; the sections
live in `data` (sample ... augment), `model` (train, evaluate, predict) and `ops`
(schedule, mlflow), on the shared types of `base`.
"""

from landslide.params.base import (
    BACKBONES,
    CLASSES,
    Fraction,
    Probability,
    Section,
    SplitSize,
)
from landslide.params.data import (
    AnnotateParams,
    AnnotationsParams,
    AugmentParams,
    CurateParams,
    Licence,
    PrepareParams,
    SampleParams,
    ScrapeParams,
    SetSizes,
    SplitParams,
    ValidateParams,
)
from landslide.params.load import (
    DEFAULT_PARAMS,
    PARAMS_ENV,
    Params,
    load_params,
    parse_params,
)
from landslide.params.model import EvaluateParams, PredictParams, TrainParams
from landslide.params.ops import MlflowParams, ScheduleParams

__all__ = [
    "BACKBONES",
    "CLASSES",
    "DEFAULT_PARAMS",
    "PARAMS_ENV",
    "AnnotateParams",
    "AnnotationsParams",
    "AugmentParams",
    "CurateParams",
    "EvaluateParams",
    "Fraction",
    "Licence",
    "MlflowParams",
    "Params",
    "PredictParams",
    "PrepareParams",
    "Probability",
    "SampleParams",
    "ScheduleParams",
    "ScrapeParams",
    "Section",
    "SetSizes",
    "SplitParams",
    "SplitSize",
    "TrainParams",
    "ValidateParams",
    "load_params",
    "parse_params",
]
