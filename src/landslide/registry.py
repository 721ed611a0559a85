"""The MLflow model registry: a training run's pyfunc model registered under an alias, and
any MLflow model URI resolved to a local model.pt.

    register(run_id, params.predict, tracking_uri)   # -> landslide-maskrcnn vN @champion
    resolve_model("models:/landslide-maskrcnn@champion", tracking_uri)  # -> local model.pt

Each training run logs an MLflow pyfunc model named `model` (`runs:/<run_id>/model`; see
`landslide.serving`) holding `model.pt` and `model.json` as artifacts. `register` makes it
a version of `predict.model_name` and points the alias at it; `resolve_model` downloads a
`runs:/…` or `models:/…` model once into a cache and returns its `model.pt`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
from mlflow.exceptions import MlflowException

from landslide.errors import ServingError
from landslide.model import ModelInfo
from landslide.params import PredictParams
from landslide.tracking import mlflow_client

PYFUNC_NAME = "model"  # runs:/<run_id>/model
WEIGHTS, DESCRIPTION = "model.pt", "model.json"  # artifact keys and file names
CACHE_ENV = "LANDSLIDE_MODEL_CACHE"
_ALIAS = re.compile(r"^[\w\-]{1,255}$")


# --------------------------------------------------------------------------- registry


@dataclass
class Registered:
    name: str
    version: str
    alias: str
    run_id: str
    model_id: str | None
    previous: str | None = None  # the version the alias pointed at before

    def summary_line(self) -> str:
        moved = f" (was version {self.previous})" if self.previous else ""
        return (
            f"register: {self.name} version {self.version} from run {self.run_id}; "
            f"alias {self.alias!r} -> version {self.version}{moved}; "
            f"serve: mlflow models serve -m models:/{self.name}@{self.alias} --env-manager local"
        )


def register(
    run_id: str,
    p: PredictParams,
    tracking_uri: str,
    alias: str | None = None,
    *,
    classes: Sequence[str] | None = None,
    tags: Mapping[str, str] | None = None,
    set_alias: bool = True,
) -> Registered:
    """Register the pyfunc model of `run_id` as `p.model_name` and point `alias` at it.

    `alias` defaults to `p.alias` (champion). `classes`, when given, must be those the
    model was trained for (params.yaml's). `tags` are added to the version's tags;
    `set_alias=False` registers the version without moving any alias (a retraining
    challenger, promoted later or not). Returns the new version.
    """
    alias = alias if alias is not None else p.alias
    _check_alias(alias)
    client = mlflow_client(tracking_uri)
    run = _get_run(client, run_id, tracking_uri)
    logged = _logged_model(client, run, tracking_uri)
    if classes is not None:
        info = _logged_info(logged)
        if list(info.classes) != list(classes):
            raise ServingError(
                f"run {run_id}'s model was made for classes [{', '.join(info.classes)}], "
                f"params.yaml has [{', '.join(classes)}]",
                hint="register a model trained with these classes, or set `classes:` in "
                "params.yaml to the model's",
            )
    try:
        client.create_registered_model(
            p.model_name, description="Landslide detection: torchvision Mask R-CNN (landslide)"
        )
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"):
            raise
    previous = client.get_registered_model(p.model_name).aliases.get(alias)
    version = client.create_model_version(
        p.model_name,
        source=f"models:/{logged.model_id}",
        run_id=run_id,
        model_id=logged.model_id,
        tags={
            **{k: v for k, v in run.data.tags.items() if k in ("backbone", "set", "data_version")},
            **dict(tags or {}),
        },
    )
    if set_alias:
        client.set_registered_model_alias(p.model_name, alias, version.version)
    return Registered(
        name=p.model_name,
        version=str(version.version),
        alias=alias if set_alias else "",
        run_id=run_id,
        model_id=logged.model_id,
        previous=str(previous) if previous is not None else None,
    )


def _check_alias(alias: str) -> None:
    if not _ALIAS.match(alias):
        raise ServingError(
            f"invalid alias {alias!r}: letters, digits, '_' and '-' only (1-255 characters)"
        )
    if alias.lower() == "latest" or re.fullmatch(r"[vV]\d+", alias):
        raise ServingError(f"alias {alias!r} is reserved by MLflow ('latest', 'v<N>')")


def _get_run(client: Any, run_id: str, tracking_uri: str) -> Any:
    try:
        return client.get_run(run_id)
    except MlflowException:
        raise ServingError(
            f"run {run_id!r} not found in the tracking store {tracking_uri}",
            hint="copy the run id from `make ui` or the training summary; the store is "
            "$MLFLOW_TRACKING_URI or mlflow.tracking_uri in params.yaml",
        ) from None


def _logged_model(client: Any, run: Any, tracking_uri: str) -> Any:
    """The newest pyfunc model the run logged (named `model`)."""
    models = [
        m
        for m in client.search_logged_models(
            experiment_ids=[run.info.experiment_id], filter_string=f"name = '{PYFUNC_NAME}'"
        )
        if m.source_run_id == run.info.run_id
    ]
    if not models:
        raise ServingError(
            f"run {run.info.run_id} ({run.info.run_name}) has no MLflow model "
            f"'{PYFUNC_NAME}' in {tracking_uri}",
            hint="runs trained by this version of `landslide train` log one; train again",
        )
    return max(models, key=lambda m: m.creation_timestamp)


def _logged_info(logged: Any) -> ModelInfo:
    import json

    with tempfile.TemporaryDirectory(prefix="landslide-info-") as tmp:
        path = mlflow.artifacts.download_artifacts(
            artifact_uri=f"{logged.artifact_location.rstrip('/')}/artifacts/{DESCRIPTION}",
            dst_path=tmp,
        )
        return ModelInfo.from_json(json.loads(Path(path).read_text(encoding="utf-8")), Path(path))


# --------------------------------------------------------------------------- resolving


def resolve_model(uri: str, tracking_uri: str, *, dst: Path | None = None) -> Path:
    """A local `model.pt` (with `model.json` beside it) for an MLflow model URI.

    `runs:/<run_id>/<path>` (the run's `model`, or a folder or model.pt among its artifacts),
    `models:/<name>@<alias>` or `models:/<name>/<version>`. Downloads go to `dst`, by default
    a cache keyed by the run or version (`$LANDSLIDE_MODEL_CACHE`, else
    `~/.cache/landslide/models`), so a second call downloads nothing.
    """
    client = mlflow_client(tracking_uri)
    if uri.startswith("runs:/"):
        run_id, _, path = uri.removeprefix("runs:/").partition("/")
        if not run_id:
            raise ServingError("no run id", file=uri, hint="runs:/<run_id>/model")
        run = _get_run(client, run_id, tracking_uri)
        path = path.strip("/") or PYFUNC_NAME
        source = f"runs:/{run_id}/{path}"
        # a resumed run logs its model again: the run's end time tells the versions apart
        key = f"run {run.info.run_id} {path} {run.info.end_time}"
    elif uri.startswith("models:/"):
        name, version = _version(client, uri.removeprefix("models:/"), tracking_uri)
        source = client.get_model_version_download_uri(name, version.version)
        key = f"version {name} {version.version} {version.model_id or version.run_id}"
    else:
        raise ServingError(
            "not an MLflow model URI",
            file=uri,
            hint="runs:/<run_id>/model, models:/<name>@<alias> or models:/<name>/<version>",
        )
    target = Path(dst) if dst is not None else _cache_dir(tracking_uri, key)
    found = _find_weights(target)
    if found is None:
        _download(source, target, tracking_uri, uri)
        found = _find_weights(target)
    if found is None:
        raise ServingError(
            f"no {WEIGHTS} with {DESCRIPTION} beside it in the model",
            file=uri,
            hint="point to a model logged by `landslide train` (runs:/<run_id>/model)",
        )
    return found


def _version(client: Any, rest: str, tracking_uri: str) -> tuple[str, Any]:
    if "@" in rest:
        name, alias = rest.split("@", 1)
    elif "/" in rest:
        name, alias = rest.rsplit("/", 1)[0], None
    else:
        raise ServingError(
            "a registered model needs an alias or a version",
            file=f"models:/{rest}",
            hint=f"models:/{rest}@champion or models:/{rest}/<version>",
        )
    registered = _registered(client, name, tracking_uri)
    if alias is not None:
        aliases = registered.aliases
        if alias not in aliases:
            known = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items()))
            raise ServingError(
                f"registered model {name!r} has no alias {alias!r} (aliases: {known or 'none'})",
                file=f"models:/{rest}",
                hint=f"set one with `landslide model register --run RUN --alias {alias}`",
            )
        return name, client.get_model_version(name, str(aliases[alias]))
    number = rest.rsplit("/", 1)[1]
    versions = sorted(
        (int(v.version) for v in client.search_model_versions(f"name = '{name}'")), reverse=True
    )
    if not number.isdigit() or int(number) not in versions:
        raise ServingError(
            f"registered model {name!r} has no version {number!r} "
            f"(versions: {', '.join(map(str, versions)) or 'none'})",
            file=f"models:/{rest}",
        )
    return name, client.get_model_version(name, number)


def _registered(client: Any, name: str, tracking_uri: str) -> Any:
    try:
        return client.get_registered_model(name)
    except MlflowException:
        names = sorted(m.name for m in client.search_registered_models())
        raise ServingError(
            f"no registered model {name!r} in {tracking_uri} "
            f"(registered: {', '.join(names) or 'none'})",
            hint="register a training run with `landslide model register --run RUN`",
        ) from None


def _cache_dir(tracking_uri: str, key: str) -> Path:
    root = os.environ.get(CACHE_ENV)
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "landslide" / "models"
    digest = hashlib.sha256(f"{tracking_uri}\n{key}".encode()).hexdigest()[:20]
    return base / digest


def _find_weights(root: Path) -> Path | None:
    """model.pt with model.json beside it: the pyfunc's artifacts/, the run's model/, or root."""
    if not root.is_dir():
        return None
    for folder in (root / "artifacts", root, root / PYFUNC_NAME, root / PYFUNC_NAME / "artifacts"):
        if (folder / WEIGHTS).is_file() and (folder / DESCRIPTION).is_file():
            return folder / WEIGHTS
    return None


def _download(source: str, target: Path, tracking_uri: str, uri: str) -> None:
    """Download into a temporary sibling of `target`, then rename it (a cut download
    never looks complete)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        try:
            got = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=source, dst_path=str(tmp), tracking_uri=tracking_uri
                )
            )
        except MlflowException as exc:
            first = str(exc.message).splitlines()[0]
            raise ServingError(f"cannot download the model: {first}", file=uri) from None
        if got.is_file() and got.suffix == ".pt":  # runs:/<id>/model/model.pt: fetch its json
            _download_sibling(source, got, tracking_uri, uri)
        shutil.rmtree(target, ignore_errors=True)
        os.replace(got if got.is_dir() else got.parent, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _download_sibling(source: str, weights: Path, tracking_uri: str, uri: str) -> None:
    json_uri = source[: -len(weights.name)] + DESCRIPTION
    try:
        mlflow.artifacts.download_artifacts(
            artifact_uri=json_uri, dst_path=str(weights.parent), tracking_uri=tracking_uri
        )
    except MlflowException:
        raise ServingError(f"no {DESCRIPTION} beside {weights.name}", file=uri) from None
