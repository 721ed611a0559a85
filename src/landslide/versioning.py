"""Data versions with DVC: track the curated inputs, push and pull them.

The pipeline's inputs (the curated photos and the VIA project) are DVC-tracked, not
kept in git: `track_inputs` writes `data/raw/images.dvc` and `data/raw/via_project.json.dvc`
(small text files for git) and moves the bytes into DVC's cache; `push` copies the cache
to the default remote (a local directory that `make setup` configures; S3, GCS or SSH
with `dvc remote add -d …`). `inputs_version` names the tracked state in one short hash.

DVC needs a git repository and a `.dvc/` folder; without them, and without a remote for
`push`/`pull`, these functions raise `DataVersionError` with the command that fixes it.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from landslide.errors import DataVersionError

# The pipeline's inputs as dvc.yaml's first stage reads them.
INPUTS = (Path("data/raw/images"), Path("data/raw/via_project.json"))


@dataclass(frozen=True)
class TrackSummary:
    tracked: list[Path]  # the .dvc files written or confirmed
    version: str

    def summary_line(self) -> str:
        files = ", ".join(str(p) for p in self.tracked)
        return f"data: tracked {files} (data version {self.version}); commit them to git"


def check_repo(root: Path) -> None:
    """DataVersionError unless `root` is inside a git work tree with DVC initialised."""
    root = root.resolve()
    try:
        inside = subprocess.run(
            ["git", "rev-parse", "--is-inside-work-tree"],
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
    except FileNotFoundError:
        raise DataVersionError(
            "git is not installed; DVC versions data alongside a git repository",
            hint="install git (e.g. `apt-get install git`) and clone the project",
        ) from None
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise DataVersionError(
            "not a git repository; DVC versions data alongside git",
            file=root,
            hint="clone the project with git, or run `git init && dvc init` here",
        )
    if not _dvc_root(root):
        raise DataVersionError(
            "DVC is not initialised (no .dvc/ folder)",
            file=root,
            hint="run `dvc init` in the repository root, then `make setup` for a local remote",
        )


def _dvc_root(root: Path) -> Path | None:
    for folder in (root, *root.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return None


def _repo(root: Path) -> Any:
    from dvc.repo import Repo

    check_repo(root)
    return Repo(str(_dvc_root(root.resolve())))


def check_remote(root: Path, remote: str | None = None) -> str:
    """The remote `push`/`pull` would use; DataVersionError when none is configured."""
    repo = _repo(root)
    try:
        config = repo.config
        name = remote or config["core"].get("remote")
        known = sorted(config.get("remote", {}))
    finally:
        repo.close()
    if not name:
        raise DataVersionError(
            "no default DVC remote configured"
            + (f" (configured: {', '.join(known)})" if known else ""),
            file=root,
            hint="run `make setup` for a local one, or `dvc remote add -d storage "
            "s3://bucket/path` (gs://, ssh:// work too)",
        )
    if name not in known:
        raise DataVersionError(
            f"DVC remote {name!r} is not configured (configured: {', '.join(known) or 'none'})",
            file=root,
            hint=f"`dvc remote add {name} <url>` or pick one of the configured remotes",
        )
    return name


def track_inputs(root: Path = Path("."), inputs: Sequence[Path] = INPUTS) -> TrackSummary:
    """`dvc add` the pipeline's inputs; unchanged inputs are only re-checked (fast)."""
    missing = [p for p in inputs if not (root / p).exists()]
    if missing:
        raise DataVersionError(
            "nothing to track: input not found",
            file=root / missing[0],
            hint="run `landslide sample` (or `landslide curate apply`) first",
        )
    repo = _repo(root)
    try:
        repo.scm_context.quiet = True  # our summary line says to commit the .dvc files
        repo.add([str((root / p).resolve()) for p in inputs])
    except Exception as exc:  # DVC raises its own DvcException family
        raise DataVersionError(f"dvc add failed: {exc}", file=root / inputs[0]) from None
    finally:
        repo.close()
    tracked = [p.with_name(p.name + ".dvc") for p in inputs]
    return TrackSummary(tracked, inputs_version(root, inputs))


def inputs_version(root: Path = Path("."), inputs: Sequence[Path] = INPUTS) -> str:
    """A short hash of the inputs' .dvc files (their content hashes); '' when untracked."""
    digest = hashlib.sha256()
    found = False
    for p in inputs:
        dvc_file = root / p.with_name(p.name + ".dvc")
        if not dvc_file.is_file():
            continue
        found = True
        outs = (yaml.safe_load(dvc_file.read_text(encoding="utf-8")) or {}).get("outs", [])
        for out in outs:
            digest.update(f"{out.get('path')}:{out.get('md5')}\n".encode())
    return digest.hexdigest()[:12] if found else ""


def push(root: Path = Path("."), remote: str | None = None) -> int:
    """Push DVC-tracked data and models to the remote; returns the number of files sent."""
    name = check_remote(root, remote)
    repo = _repo(root)
    try:
        return int(repo.push(remote=name) or 0)
    except Exception as exc:
        raise DataVersionError(f"dvc push to {name!r} failed: {exc}", file=root) from None
    finally:
        repo.close()


def pull(root: Path = Path("."), remote: str | None = None) -> int:
    """Fetch and check out what the .dvc files and dvc.lock name; returns files fetched."""
    name = check_remote(root, remote)
    repo = _repo(root)
    try:
        result = repo.pull(remote=name)
    except Exception as exc:
        raise DataVersionError(f"dvc pull from {name!r} failed: {exc}", file=root) from None
    finally:
        repo.close()
    stats = result.get("stats", {}) if isinstance(result, dict) else {}
    return int(stats.get("fetched", 0))
