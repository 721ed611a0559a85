"""Checkpoints: writing, listing, reading and pruning them; rebuilding a model from one.

`checkpoints/epoch_NNN.pt` holds model, optimizer, lr_scheduler, scaler, RNG states,
epoch, params and history; it is written atomically every `checkpoint_every` epochs and
at the end, and only the best (lowest val total loss; train loss without val) and the
last are kept. `resume=True` continues from the last one (see `landslide.train.rng` for
why it ends with the same weights as an uninterrupted run).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from landslide.errors import TrainError
from landslide.io import atomic_open
from landslide.model import (
    LoadReport,
    check_compatible,
    freeze_all_but_roi_heads,
    safe_load,
    skeleton,
)
from landslide.params import Params

CHECKPOINT_KEYS = ("model", "optimizer", "lr_scheduler", "epoch", "backbone", "classes")


def resume_model(
    ckpt_dir: Path, backbone: str, params: Params, size: tuple[int, ...]
) -> tuple[dict[str, Any], torch.nn.Module, LoadReport, str]:
    """The last checkpoint's state, its model rebuilt (weights not loaded yet), the load
    report and where its weights started; a TrainError when there is none."""
    last = last_checkpoint(ckpt_dir)
    if last is None:
        raise TrainError(
            "nothing to resume: no checkpoint",
            file=ckpt_dir,
            hint="train without --resume to start afresh",
        )
    state = read_checkpoint(last, params.model_classes, backbone)
    model = _model_from_checkpoint(state, backbone, params, size)
    report = LoadReport(f"checkpoint {last}", {str(last): len(state["model"])})
    return state, model, report, state.get("weights", "checkpoint")


def _model_from_checkpoint(
    state: dict[str, Any], backbone: str, params: Params, size: tuple[int, ...]
) -> torch.nn.Module:
    p = params.train
    if p.variant != state.get("variant", p.variant):
        raise TrainError(
            f"checkpoint is variant {state['variant']}, params ask for {p.variant}",
            hint=f"set train.variant: {state['variant']} to resume",
        )
    if list(size) != list(state.get("size", size)):
        raise TrainError(
            f"checkpoint was trained at {state['size']}, prepare.size is {list(size)}",
            hint="resume with the params it was trained with, or train afresh",
        )
    for key in ("anchor_sizes", "anchor_ratios"):
        had, want = list(state.get(key, getattr(p, key))), list(getattr(p, key))
        if had != want:
            raise TrainError(
                f"checkpoint was trained with train.{key} {had}, params say {want}",
                hint="resume with the params it was trained with, or train afresh",
            )
    model = skeleton(
        backbone,
        len(params.model_classes),
        p.variant,
        tuple(size),  # type: ignore[arg-type]
        norm=state.get("norm", "batch"),
        bn_eps=float(state.get("bn_eps", 1e-5)),
        trainable_layers=int(state.get("trainable_layers", 5)),
        p=p,
    )
    if p.train_heads_only:
        freeze_all_but_roi_heads(model)
    return model


def _trainable_layers(model: torch.nn.Module) -> int:
    """How many ResNet stages (from the top) train: what `skeleton` needs to rebuild it."""
    body = model.backbone.body  # type: ignore[union-attr]
    layers = ["layer4", "layer3", "layer2", "layer1", "conv1"]
    names = {n.split(".")[0] for n, q in body.named_parameters() if q.requires_grad}
    count = 0
    for name in layers:
        if name not in names:
            break
        count += 1
    return count


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_open(path, "wb") as fh:
        torch.save(state, fh)


def checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    out = []
    for path in ckpt_dir.glob("epoch_*.pt") if ckpt_dir.is_dir() else ():
        digits = path.stem.removeprefix("epoch_")
        if digits.isdigit():
            out.append((int(digits), path))
    return sorted(out)


def last_checkpoint(ckpt_dir: Path) -> Path | None:
    found = checkpoints(ckpt_dir)
    return found[-1][1] if found else None


def read_checkpoint(
    path: Path, classes: Sequence[str] | None = None, backbone: str | None = None
) -> dict[str, Any]:
    """A checkpoint (weights_only); corrupt, truncated or foreign -> TrainError."""
    state = safe_load(path)
    if not isinstance(state, dict) or any(k not in state for k in CHECKPOINT_KEYS):
        raise TrainError(
            "not a training checkpoint (needs " + ", ".join(CHECKPOINT_KEYS) + ")", file=path
        )
    check_compatible(state["classes"], state["backbone"], classes, backbone, file=path)
    return state


def prune_checkpoints(ckpt_dir: Path, keep: set[int | None]) -> None:
    for epoch, path in checkpoints(ckpt_dir):
        if epoch not in keep:
            path.unlink(missing_ok=True)
