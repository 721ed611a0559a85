"""`params.yaml` -> `Params`: the sections put together, read, merged and validated.

A params file may start with `extends: OTHER.yaml` (relative to itself); the
other file is loaded first and this one overrides only the keys it names. That
is how `params.demo.yaml` changes just what a 2-core CPU needs::

    params = load_params("params.demo.yaml")   # params.yaml + demo overrides
    params.train.epochs

Unknown keys, wrong types and out-of-range values raise `ParamsError` naming the
key path (with a close match for a misspelt key).
"""

# Pydantic copies field defaults per instance; ruff sees `Section` (another module) as a
# plain class and would ask for ClassVar on every list default.
# ruff: noqa: RUF012

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError, field_validator, model_validator

from landslide.errors import ParamsError
from landslide.params.base import CLASSES, Section
from landslide.params.data import (
    AnnotateParams,
    AnnotationsParams,
    AugmentParams,
    CurateParams,
    PrepareParams,
    SampleParams,
    ScrapeParams,
    SplitParams,
    ValidateParams,
)
from landslide.params.model import EvaluateParams, PredictParams, TrainParams
from landslide.params.ops import MlflowParams, ScheduleParams

DEFAULT_PARAMS = Path("params.yaml")
PARAMS_ENV = "LANDSLIDE_PARAMS"


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

    @model_validator(mode="after")
    def _train_classes(self) -> Params:
        chosen = self.train.classes
        unknown = [c for c in chosen if c not in self.classes]
        if unknown:
            raise ValueError(
                f"train.classes: {', '.join(map(repr, unknown))} not in classes "
                f"({', '.join(self.classes)})"
            )
        if chosen and "landslide" not in chosen:
            raise ValueError("train.classes must include 'landslide' (the metrics are about it)")
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"train.classes: duplicate class names in {chosen}")
        return self

    @property
    def model_classes(self) -> list[str]:
        """The classes a trained model predicts: `train.classes`, or all `classes`."""
        return list(self.train.classes or self.classes)

    @property
    def category_ids(self) -> dict[str, int]:
        """COCO category ids: 1..N in the order of `classes` (0 is background)."""
        return {name: i for i, name in enumerate(self.classes, start=1)}

    def with_values(
        self, section: str, *, validated_as: str | None = None, **values: Any
    ) -> Params:
        """A copy with `values` set in `section`; None values (a command-line option not
        given) are left out. With `validated_as` (where they come from, for the error
        message) the result is validated like params.yaml; without, the values are
        taken as they are (typer has checked them)."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        if validated_as is not None:
            data = self.model_dump(mode="json")
            data[section].update(given)
            return parse_params(data, source=validated_as)
        copy = self.model_copy()
        setattr(copy, section, getattr(self, section).model_copy(update=given))
        return copy

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


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
