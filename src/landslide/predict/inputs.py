"""The photos to predict: files, folders and globs collected once each, read a batch at a
time (upright, as the model takes them); those that cannot be read say why."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from landslide.errors import PredictError
from landslide.inference import model_input, read_photo


def collect_inputs(specs: Sequence[str | Path], exclude: Path | None = None) -> list[Path]:
    """Files named by `specs` (files, folders walked recursively, globs), each once, in order.

    A folder gives every non-hidden file under it (non-images are skipped later, with a
    reason); `exclude` (the output directory) is left out of folders and globs.
    """
    skip = exclude.resolve() if exclude is not None else None
    seen: set[Path] = set()
    out: list[Path] = []

    def add(path: Path) -> None:
        resolved = path.resolve()
        if skip is not None and resolved.is_relative_to(skip):
            return
        if resolved not in seen:
            seen.add(resolved)
            out.append(path)

    for spec in specs:
        text = str(spec)
        path = Path(spec)
        if path.is_file():
            add(path)
        elif path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if not any(part.startswith(".") for part in file.relative_to(path).parts):
                    add(file)
        elif glob.has_magic(text):
            matches = sorted(Path(m) for m in glob.glob(text, recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                raise PredictError("no file matches the pattern", file=text)
            for file in files:
                add(file)
        else:
            raise PredictError(
                "not found", file=text, hint="pass photo files, folders or glob patterns"
            )
    return out


@dataclass
class Photo:
    """One input read ahead: the upright photo and its model input, or why it was skipped."""

    path: Path
    image: Image.Image | None = None
    tensor: torch.Tensor | None = None
    reason: str = ""


def read_batch(paths: Sequence[Path], size: tuple[int, int], max_pixels: int) -> list[Photo]:
    from landslide.annotations.images import BadImage

    out = []
    for path in paths:
        try:
            image = read_photo(path, max_pixels)
        except (BadImage, OSError) as exc:
            out.append(Photo(path, reason=str(exc)))
            continue
        try:
            out.append(Photo(path, image, model_input(image, size)))
        except (OSError, ValueError) as exc:  # a pixel format Pillow cannot convert
            image.close()
            out.append(Photo(path, reason=f"cannot convert to RGB: {exc}"))
    return out
