"""The set-up of a training run: what it runs with (`_Run`) and what trains (`_Fit`).

`_set_up` picks the device, seeds, cleans the output folder and loads the data;
`_fit` builds model, optimizer, schedule and scaler fresh, or from the last checkpoint
(`resume=True`: weights, optimizer, schedule, scaler, RNG states and history restored).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from landslide.data import DetectionDataset
from landslide.engine import lr_lambda
from landslide.inference import resolve_device
from landslide.io import remove_stale_temps
from landslide.model import LoadReport, build_model, norm_of
from landslide.params import Params
from landslide.train.checkpoint import resume_model
from landslide.train.pieces import _loaders, _train_dataset, _val_dataset, make_optimizer
from landslide.train.progress import TrainPaths
from landslide.train.rng import restore_rng, seed_everything


@dataclass
class _Run:
    """What a run is set up with: where, on which device and process, on which data."""

    set_name: str
    backbone: str
    params: Params
    paths: TrainPaths
    device: torch.device
    world: int
    main: bool  # rank 0: validates, logs and writes
    size: tuple[int, ...]
    landslide_id: int
    train_ds: DetectionDataset
    val_ds: DetectionDataset | None
    generator: torch.Generator  # the training shuffle's, seeded per epoch
    sampler: Any
    loader: DataLoader
    val_loader: DataLoader | None

    @property
    def ckpt_dir(self) -> Path:
        return self.paths.out_dir / "checkpoints"


@dataclass
class _Fit:
    """What trains and what moves on from epoch to epoch (all of it in a checkpoint)."""

    model: torch.nn.Module  # DistributedDataParallel with several processes
    raw_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    lr_factor: Callable[[int], float]
    scaler: torch.amp.GradScaler | None
    report: LoadReport
    weights_origin: str
    norm: str
    bn_eps: float
    history: list[dict[str, float]] = field(default_factory=list)
    best: dict[str, Any] = field(default_factory=lambda: {"epoch": None, "loss": math.inf})
    start_epoch: int = 1
    run_id: str | None = None


def _set_up(
    set_name: str,
    backbone: str,
    params: Params,
    paths: TrainPaths,
    rank: int,
    world: int,
    local_rank: int,
) -> _Run:
    """Device, seeds, a clean output folder and the data."""
    p = params.train
    device = resolve_device(p.device, local_rank if world > 1 else None)
    seed_everything(p.seed)
    main = rank == 0
    size = tuple(params.prepare.size)
    if main:
        remove_stale_temps(paths.out_dir)  # what a killed run left half-written
    landslide_id = params.model_classes.index("landslide") + 1
    train_ds = _train_dataset(paths, params)
    val_ds = _val_dataset(paths, params)
    generator = torch.Generator()
    sampler, loader, val_loader = _loaders(train_ds, val_ds, p, generator, device, rank, world)
    return _Run(
        set_name=set_name,
        backbone=backbone,
        params=params,
        paths=paths,
        device=device,
        world=world,
        main=main,
        size=size,
        landslide_id=landslide_id,
        train_ds=train_ds,
        val_ds=val_ds,
        generator=generator,
        sampler=sampler,
        loader=loader,
        val_loader=val_loader,
    )


def _fit(run: _Run, resume: bool, weights: str | None) -> _Fit:
    """Model, optimizer, schedule; or all of them from the last checkpoint."""
    p = run.params.train
    state: dict[str, Any] | None = None
    if resume:
        state, model, report, weights_origin = resume_model(
            run.ckpt_dir, run.backbone, run.params, run.size
        )
    else:
        model, report = build_model(
            run.backbone, run.params.model_classes, p, size=run.size, weights=weights
        )
        weights_origin = weights if weights is not None else p.weights
        if run.main and run.ckpt_dir.exists():
            shutil.rmtree(run.ckpt_dir)  # a fresh run: old checkpoints would mislead --resume
    model.to(run.device)
    trainable = [q for q in model.parameters() if q.requires_grad]
    optimizer = make_optimizer(trainable, p)
    lr_factor = lr_lambda(p, len(run.loader))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    amp = p.amp and run.device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if amp else None
    norm, bn_eps = norm_of(model)
    fit = _Fit(
        model=model,
        raw_model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        lr_factor=lr_factor,
        scaler=scaler,
        report=report,
        weights_origin=weights_origin,
        norm=norm,
        bn_eps=bn_eps,
    )
    if state is not None:
        _restore(fit, state)
    if run.world > 1:
        fit.model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[run.device.index] if run.device.type == "cuda" else None
        )
    return fit


def _restore(fit: _Fit, state: dict[str, Any]) -> None:
    """Resume: weights, optimizer, schedule, scaler, RNG and history from a checkpoint."""
    fit.raw_model.load_state_dict(state["model"])
    fit.optimizer.load_state_dict(state["optimizer"])
    fit.scheduler.load_state_dict(state["lr_scheduler"])
    if fit.scaler is not None and state.get("scaler"):
        fit.scaler.load_state_dict(state["scaler"])
    restore_rng(state.get("rng") or {})
    fit.history = list(state.get("history", []))
    fit.best = dict(state.get("best") or fit.best)
    fit.start_epoch = int(state["epoch"]) + 1
    fit.run_id = state.get("mlflow_run_id")


def _start_lines(run: _Run, fit: _Fit) -> list[str]:
    """What `progress.start` shows: device, data, what the weights were loaded from."""
    return [
        f"device {run.device}" + (f" x {run.world} processes" if run.world > 1 else ""),
        f"train {len(run.train_ds)} images ({run.paths.train_json}), val "
        f"{len(run.val_ds) if run.val_ds else 0} images",
        f"weights {fit.weights_origin}: " + "; ".join(fit.report.lines()),
    ]
