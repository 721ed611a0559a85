"""The pipeline's stages as dvc.yaml declares them, for the drivers that are not DVC.

`dvc.yaml` is the one place that says what each stage reads (data and code deps,
params keys) and writes (outs, metrics, plots). The Prefect flow reads the same
declarations to decide whether a stage must run: its cache key is a fingerprint of
the deps' content and the params values, as DVC's lock is; a stage whose outputs are
missing always runs. So `dvc repro` and the flow skip and redo the same work.

    specs = load_stages(Path("dvc.yaml"))
    key = fingerprint(specs["train@resnet50-A"], params, root)
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from landslide.errors import LandslideError
from landslide.params import Params

_VAR = re.compile(r"\$\{item\.([a-zA-Z_]+)\}")


@dataclass(frozen=True)
class StageSpec:
    """What one (expanded) dvc.yaml stage reads and writes."""

    name: str
    cmd: str
    deps: tuple[str, ...]
    params: tuple[str, ...]
    outs: tuple[str, ...]  # outs, metrics and plots files, all paths the stage writes

    def missing_outputs(self, root: Path) -> list[str]:
        return [o for o in self.outs if not (root / o).exists()]


def load_stages(dvc_yaml: Path, params: Params | None = None) -> dict[str, StageSpec]:
    """Every stage of dvc.yaml, with `matrix` stages expanded as `name@a-b`.

    A matrix axis given as `${train.backbones}` takes its values from `params` (as DVC
    takes them from params.yaml); without params, from the defaults.
    """
    params = params or Params()
    try:
        data = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LandslideError(f"cannot read the pipeline: {exc}", file=dvc_yaml) from None
    stages: dict[str, StageSpec] = {}
    for name, body in (data or {}).get("stages", {}).items():
        for suffix, item in _expand(_matrix(body.get("matrix"), params)):
            full = f"{name}@{suffix}" if suffix else name
            stages[full] = StageSpec(
                name=full,
                cmd=_subst(" ".join(str(body.get("cmd", "")).split()), item),
                deps=tuple(_subst(d, item) for d in _paths(body.get("deps"))),
                params=tuple(_subst(p, item) for p in _paths(body.get("params"))),
                outs=tuple(
                    _subst(o, item)
                    for key in ("outs", "metrics", "plots")
                    for o in _paths(body.get(key))
                ),
            )
    return stages


def _matrix(matrix: dict[str, Any] | None, params: Params) -> dict[str, list[Any]] | None:
    if not matrix:
        return None
    out = {}
    for axis, values in matrix.items():
        ref = re.fullmatch(r"\$\{([a-zA-Z_.]+)\}", values) if isinstance(values, str) else None
        out[axis] = list(param_value(params, ref.group(1))) if ref else list(values)
    return out


def _expand(matrix: dict[str, list[Any]] | None) -> Iterator[tuple[str, dict[str, Any]]]:
    if not matrix:
        yield "", {}
        return
    keys = list(matrix)
    for values in itertools.product(*(matrix[k] for k in keys)):
        yield "-".join(str(v) for v in values), dict(zip(keys, values, strict=True))


def _subst(text: str, item: dict[str, Any]) -> str:
    return _VAR.sub(lambda m: str(item[m.group(1)]), text)


def _paths(entries: list[Any] | None) -> list[str]:
    """Path strings of a deps/outs/params list whose entries may carry options."""
    out: list[str] = []
    for entry in entries or []:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict):
            out.extend(str(k) for k in entry)
    return out


def param_value(params: Params, key: str) -> Any:
    """The value of a dotted params key (`train.lr`, `split`, `classes`)."""
    value: Any = params.model_dump(mode="json")
    for part in key.split("."):
        value = value[part]
    return value


def fingerprint(spec: StageSpec, params: Params, root: Path) -> str:
    """sha256 over the stage's deps (file contents, directories walked) and params values."""
    h = hashlib.sha256(spec.name.encode())
    for dep in sorted(spec.deps):
        h.update(dep.encode())
        h.update(_content_hash(root / dep).encode())
    for key in sorted(spec.params):
        h.update(key.encode())
        h.update(json.dumps(param_value(params, key), sort_keys=True).encode())
    return h.hexdigest()


def _content_hash(path: Path) -> str:
    if path.is_file():
        return _file_hash(path)
    if path.is_dir():
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(f.relative_to(path)).encode())
            h.update(_file_hash(f).encode())
        return h.hexdigest()
    return "missing"


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


# The project's standard paths: dvc.yaml names the same ones (a test checks that).
# The pipeline's stages in order (`landslide flow run --until STAGE`).
PIPELINE = ("prepare", "validate", "split", "augment", "train", "evaluate", "report")

RAW_IMAGES = "data/raw/images"
VIA_PROJECT = "data/raw/via_project.json"
PROCESSED = "data/processed"
PREPARED = f"{PROCESSED}/prepared"
PREPARED_IMAGES = f"{PREPARED}/images"
PREPARED_COCO = f"{PREPARED}/annotations.json"
VALIDATION = "reports/validation"
SPLITS = f"{PROCESSED}/splits"
AUGMENTED = f"{PROCESSED}/augmented"
MODELS = "models"
EVALUATION = "reports/eval"
REPORT = "reports/report.md"
