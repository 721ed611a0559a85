"""MLflow helpers shared by the stages: where to log, which run, what to tag it with.

    with start_run("resnet101-setA", params.mlflow, tags=run_tags(train_json)) as run:
        mlflow.log_metrics({...}, step=epoch)

The tracking URI is `$MLFLOW_TRACKING_URI` when set, else `mlflow.tracking_uri` from
Params (MLflow 3's default `sqlite:///mlflow.db`). A run is nested under a parent when
one is active in this process (`mlflow.active_run()`) or when a driver (a Prefect flow)
names one in `$LANDSLIDE_PARENT_RUN_ID`. `run_id` continues an existing run (resume).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import yaml

from landslide.io import sha256_file
from landslide.params import MlflowParams

PARENT_ENV = "LANDSLIDE_PARENT_RUN_ID"
MAX_PARAM = 500  # characters; MLflow accepts 6000, long values help no one in the UI


def tracking_uri(p: MlflowParams) -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or p.tracking_uri


def mlflow_client(uri: str) -> Any:
    """An MLflow client for runs and the model registry of one store."""
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri, registry_uri=uri)


@contextmanager
def start_run(
    name: str,
    p: MlflowParams,
    *,
    tags: Mapping[str, str] | None = None,
    run_id: str | None = None,
) -> Iterator[Any]:
    """An MLflow run (nested under a parent when there is one); ended when the block ends."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(p))
    parent = mlflow.active_run()
    parent_id = parent.info.run_id if parent else os.environ.get(PARENT_ENV) or None
    if run_id is not None and not _run_exists(run_id):
        run_id = None
    if run_id is None:
        with store_lock(tracking_uri(p)):
            experiment = mlflow.set_experiment(p.experiment)
        run = mlflow.start_run(
            run_name=name,
            experiment_id=experiment.experiment_id,
            nested=parent is not None,
            parent_run_id=None if parent is not None else parent_id,
            tags=dict(tags or {}),
        )
    else:
        run = mlflow.start_run(run_id=run_id, nested=parent is not None, tags=dict(tags or {}))
    with run:
        yield run


def store_lock(uri: str) -> AbstractContextManager[Any]:
    """Serialise the first use of a local SQLite store: two trainings starting at once would
    both try to create MLflow's tables (`table ... already exists`)."""
    if not uri.startswith("sqlite:///"):
        return nullcontext()
    from filelock import FileLock

    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    return FileLock(f"{db}.lock", timeout=300)


def _run_exists(run_id: str) -> bool:
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    try:
        MlflowClient().get_run(run_id)
    except MlflowException:
        return False
    return True


def flatten(prefix: str, values: Mapping[str, Any]) -> dict[str, str]:
    """Nested values as `prefix.key` -> str: `{"a": {"b": 1}}` -> `{"prefix.a.b": "1"}`."""
    out = {}
    for key, value in values.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.update(flatten(name, value))
        else:
            out[name] = str(value)[:MAX_PARAM]
    return out


def git_commit(start: Path | None = None) -> str | None:
    """The commit checked out in the git work tree holding `start` (read from .git, no git)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        git = folder / ".git"
        if git.is_file():  # a worktree: "gitdir: PATH"
            text = git.read_text(encoding="utf-8").strip()
            git = (folder / text.removeprefix("gitdir:").strip()).resolve()
        if git.is_dir():
            return _head(git)
    return None


def _head(git: Path) -> str | None:
    try:
        head = (git / "HEAD").read_text(encoding="utf-8").strip()
        if not head.startswith("ref:"):
            return head or None
        ref = head.removeprefix("ref:").strip()
        common = git
        if (git / "commondir").is_file():
            common = (git / (git / "commondir").read_text().strip()).resolve()
        for base in (git, common):
            if (base / ref).is_file():
                return (base / ref).read_text(encoding="utf-8").strip()
        packed = common / "packed-refs"
        if packed.is_file():
            for line in packed.read_text(encoding="utf-8").splitlines():
                parts = line.split()
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0]
    except OSError:
        return None
    return None  # a branch with no commit yet


def data_version(path: Path, lock: Path = Path("dvc.lock")) -> str:
    """`dvc:<md5>` of the DVC output holding `path` (from dvc.lock), else `sha256:<file hash>`."""
    path = Path(path)
    if lock.is_file():
        try:
            stages = (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {})
        except (yaml.YAMLError, OSError, AttributeError):
            stages = {}
        target = os.path.normpath(path)
        best: tuple[int, str] | None = None
        for stage in stages.values() if isinstance(stages, dict) else ():
            for out in (stage or {}).get("outs", []) or []:
                out_path = os.path.normpath(str(out.get("path", "")))
                md5 = out.get("md5")
                inside = target == out_path or target.startswith(out_path + os.sep)
                if md5 and inside and (best is None or len(out_path) > best[0]):
                    best = (len(out_path), str(md5))
        if best is not None:
            return f"dvc:{best[1]}"
    return f"sha256:{sha256_file(path)}"


@contextmanager
def pipeline_run(p_params: Any, name: str = "pipeline") -> Iterator[str]:
    """A parent MLflow run for one pipeline (flow) run; yields its id.

    It is created with the client (not made active in this thread), so stages running
    in worker threads nest under it through `parent_env`. Ends FINISHED, or FAILED when
    the block raises.
    """
    import mlflow
    from mlflow import MlflowClient

    p: MlflowParams = p_params.mlflow
    mlflow.set_tracking_uri(tracking_uri(p))
    with store_lock(tracking_uri(p)):
        experiment = mlflow.set_experiment(p.experiment)
    client = MlflowClient()
    tags = {"landslide.kind": "pipeline"}
    commit = git_commit()
    if commit:
        tags["git_commit"] = commit
    run = client.create_run(experiment.experiment_id, run_name=name, tags=tags)
    client.log_param(
        run.info.run_id, "params", yaml.safe_dump(p_params.model_dump(mode="json"))[:MAX_PARAM]
    )
    status = "FAILED"
    try:
        yield run.info.run_id
        status = "FINISHED"
    finally:
        client.set_terminated(run.info.run_id, status=status)


@contextmanager
def parent_env(run_id: str) -> Iterator[None]:
    """Within the block, runs started by `start_run` nest under `run_id`."""
    old = os.environ.get(PARENT_ENV)
    os.environ[PARENT_ENV] = run_id
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(PARENT_ENV, None)
        else:
            os.environ[PARENT_ENV] = old
