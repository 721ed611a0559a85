"""What the prepare stage writes: file names, each photo's output name, the manifest, the summary.

Names. An output is named after its photo with the suffix .jpg. Photos whose outputs
would share a name (`X.jpg`, `X.jpeg`, `X.PNG`; compared ignoring case) get unique
ones, as `predict` names its overlays: the photo already named so (`X.jpg`) keeps it,
the others get `X-2.jpg`, `X-3.jpg`, ... in the order of their names (never a name
another photo's output has). The names depend only on the set of photo names, not
on their order, and annotations.json maps each photo to its output, so nothing
downstream (nor the VIA file) needs an edit; the summary lists the renamed ones.

The manifest (`.prepare-state.json`): output name -> its photo, key, upright size and
bytes (`landslide.prepare.stage` says when an output is redone).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import PIL

from landslide.annotations import Annotations
from landslide.annotations.regions import name_list
from landslide.errors import PrepareError
from landslide.io import sha256_file, write_json
from landslide.params import PrepareParams
from landslide.prepare.pixels import RENDER_VERSION

IMAGES_DIR = "images"
COCO_NAME = "annotations.json"
METRICS_NAME = "prepare.json"
STATE_NAME = ".prepare-state.json"
DEFAULT_OUT = Path("data/processed/prepared")
RUN_PREPARE = "run `landslide prepare` first (or `dvc repro prepare`)"  # its outputs missing
STATE_VERSION = 1


@dataclass(frozen=True)
class PrepareSummary:
    """What one run did; `metrics()` is what prepare.json holds."""

    images: int  # photos in the output set
    processed: int  # photos rendered in this run
    skipped: int  # photos unchanged since the last run
    removed: int  # outputs deleted because their photo left the input
    negatives: int  # photos without a landslide region
    regions: dict[str, int] = field(default_factory=dict)  # per class, in Params order
    dropped_regions: int = 0  # regions that degenerated in the resize
    bad: tuple[str, ...] = ()  # photos left out (prepare.skip_bad), with the reason
    unlisted: tuple[str, ...] = ()  # photos of the folder the annotations do not list
    renamed: tuple[tuple[str, str], ...] = ()  # (photo, output) given a unique output name
    size: tuple[int, int] = (512, 512)
    mode: str = "stretch"
    out_dir: Path = DEFAULT_OUT

    def metrics(self) -> dict[str, Any]:
        """Counts that depend only on the inputs and params (not on earlier runs)."""
        return {
            "images": self.images,
            "negatives": self.negatives,
            "bad": len(self.bad),
            "unlisted": len(self.unlisted),
            "regions": dict(self.regions),
            "dropped_regions": self.dropped_regions,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.metrics(),
            "processed": self.processed,
            "skipped": self.skipped,
            "removed": self.removed,
            "bad_images": list(self.bad),
            "unlisted_images": list(self.unlisted),
            "renamed": dict(self.renamed),
            "size": list(self.size),
            "mode": self.mode,
            "out_dir": str(self.out_dir),
        }

    def summary_line(self) -> str:
        line = (
            f"prepare: {self.images} images ({self.processed} processed, {self.skipped} "
            f"unchanged, {self.removed} removed), {self.size[0]}x{self.size[1]} {self.mode} "
            f"-> {self.out_dir}"
        )
        if self.dropped_regions:
            line += f"; {self.dropped_regions} degenerate regions dropped"
        if self.bad:
            line += f"; {len(self.bad)} bad images left out: {'; '.join(self.bad)}"
        if self.unlisted:
            line += (
                f"; {len(self.unlisted)} photos not in the annotations left out "
                f"(annotations.unlisted): {name_list(self.unlisted, 10)}"
            )
        if self.renamed:
            pairs = [f"{a} -> {b}" for a, b in self.renamed]
            line += f"; {len(pairs)} outputs renamed to keep names apart: {name_list(pairs, 10)}"
        return line


def _output_names(ann: Annotations) -> list[str]:
    """`sub/a.png` -> `sub/a.jpg`; photos that would share one get unique names (module doc)."""
    plain = [_plain_name(image.file_name) for image in ann.images]
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(plain):
        groups.setdefault(name.casefold(), []).append(i)
    taken = set(groups)  # every photo's own name: a generated one never takes it
    names = list(plain)
    for key in sorted(groups):
        members = groups[key]
        if len(members) == 1:
            continue
        order = sorted(
            members,
            key=lambda i: (
                ann.images[i].file_name != plain[i],  # X.jpg keeps X.jpg
                ann.images[i].file_name.casefold(),
                ann.images[i].file_name,
            ),
        )
        for i in order[1:]:
            names[i] = _unique(plain[i], taken)
    return names


def _plain_name(file_name: str) -> str:
    return PurePosixPath(file_name).with_suffix(".jpg").as_posix()


def _unique(name: str, taken: set[str]) -> str:
    """`name` with -2, -3, ... before the suffix: the first not in `taken` (ignoring case)."""
    path = PurePosixPath(name)
    n = 2
    while (candidate := path.with_stem(f"{path.stem}-{n}").as_posix()).casefold() in taken:
        n += 1
    taken.add(candidate.casefold())
    return candidate


def _hashes(paths: Sequence[Path], workers: int) -> list[str]:
    """sha256 of each file (threads: hashlib releases the GIL on large buffers)."""
    try:
        if workers <= 1 or len(paths) <= 1:
            return [sha256_file(path) for path in paths]
        with ThreadPoolExecutor(max_workers=min(workers, 8)) as pool:
            return list(pool.map(sha256_file, paths))
    except OSError as exc:
        raise PrepareError(f"cannot read: {exc.strerror or exc}", file=exc.filename) from None


def _key(digest: str, p: PrepareParams) -> str:
    """What an output depends on: the photo's bytes and the parameters of its pixels."""
    spec = {
        "render": RENDER_VERSION,
        "pillow": PIL.__version__,
        "sha256": digest,
        "size": list(p.size),
        "mode": p.mode,
        "jpeg_quality": p.jpeg_quality,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _still_valid(entry: Any, key: str, output: Path) -> bool:
    if not isinstance(entry, dict) or entry.get("key") != key:
        return False
    try:
        ok = output.stat().st_size == entry.get("bytes")
    except OSError:
        return False
    sizes = (entry.get("width"), entry.get("height"))
    return ok and all(type(v) is int and v > 0 for v in sizes)


def _read_state(out_dir: Path) -> dict[str, Any]:
    """The manifest of the last run: output name -> entry (empty when absent or unreadable)."""
    try:
        data = json.loads((out_dir / STATE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        return {}
    outputs = data.get("outputs")
    return outputs if isinstance(outputs, dict) else {}


def _write_state(out_dir: Path, entries: dict[str, Any]) -> None:
    outputs = {name: entries[name] for name in sorted(entries)}
    write_json(out_dir / STATE_NAME, {"version": STATE_VERSION, "outputs": outputs}, indent=1)


def _unlink(path: Path) -> int:
    try:
        path.unlink()
    except FileNotFoundError:
        return 0
    return 1
