"""The training loop (the shape of torchvision's references/detection/engine.py).

    losses = train_one_epoch(model, optimizer, loader, device, epoch,
                             scaler=scaler, lr_scheduler=sched, grad_clip=10.0)
    val = validation_losses(model, val_loader, device)

Inference (eval outputs, the image-level decision) is `landslide.inference`'s, shared
with evaluate and predict.

Losses carry the study's names (matterport's Mask R-CNN): `total`, `rpn_class`
(torchvision's loss_objectness), `rpn_bbox` (loss_rpn_box_reg), `mrcnn_class`
(loss_classifier), `mrcnn_bbox` (loss_box_reg), `mrcnn_mask` (loss_mask).

The learning rate follows one `LambdaLR` stepped after every iteration
(`lr_lambda(p, steps_per_epoch)`): a linear warm-up from 1/1000 of `lr` over
`warmup_iters` iterations, times the per-epoch schedule (`none`, `step` at the epochs
in `lr_steps`, or `cosine` over `epochs`). Its state is one counter, so a resumed run
continues the exact curve. Unlike the references, `train_one_epoch` takes that
scheduler as `lr_scheduler` and steps it per iteration; there is no separate warm-up.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from landslide.errors import TrainError
from landslide.params import TrainParams

LOSS_NAMES = {
    "loss_objectness": "rpn_class",
    "loss_rpn_box_reg": "rpn_bbox",
    "loss_classifier": "mrcnn_class",
    "loss_box_reg": "mrcnn_bbox",
    "loss_mask": "mrcnn_mask",
}
LOSS_KEYS = ("total", *LOSS_NAMES.values())
WARMUP_FACTOR = 1e-3  # the first iteration's lr, as a fraction of lr (as the references)

# step, steps in the epoch, running mean losses, images per second
StepProgress = Callable[[int, int, dict[str, float], float], None]
Batch = tuple[Sequence[torch.Tensor], Sequence[dict[str, torch.Tensor]]]


def study_names(loss_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's loss names -> the study's, plus `total` (their sum)."""
    named = {LOSS_NAMES.get(k, k): v for k, v in loss_dict.items()}
    return {"total": sum(loss_dict.values()), **named}  # type: ignore[dict-item]


def lr_lambda(p: TrainParams, steps_per_epoch: int) -> Callable[[int], float]:
    """Factor of `lr` at iteration `it`: warm-up x per-epoch schedule."""
    steps_per_epoch = max(1, steps_per_epoch)

    def factor(it: int) -> float:
        warm = 1.0
        if it < p.warmup_iters:
            alpha = it / p.warmup_iters
            warm = WARMUP_FACTOR * (1 - alpha) + alpha
        epoch = it // steps_per_epoch  # 0-based
        if p.lr_schedule == "step":
            return warm * p.lr_gamma ** sum(1 for s in p.lr_steps if epoch >= s)
        if p.lr_schedule == "cosine":
            return warm * 0.5 * (1 + math.cos(math.pi * min(epoch, p.epochs) / p.epochs))
        return warm

    return factor


def to_device(batch: Batch, device: torch.device) -> tuple[list[torch.Tensor], list[dict]]:
    images, targets = batch
    return (
        [im.to(device, non_blocking=True) for im in images],
        [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets],
    )


def train_one_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: Iterable[Batch],
    device: torch.device,
    epoch: int,
    *,
    scaler: torch.amp.GradScaler | None = None,
    lr_scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    grad_clip: float = 0.0,
    progress: StepProgress | None = None,
    cpu_bf16: bool = False,
) -> dict[str, float]:
    """One pass over `loader`; returns the mean of each loss (over steps, and over ranks).

    `scaler` turns on mixed precision (CUDA); `cpu_bf16` bfloat16 autocast on a CPU.
    `lr_scheduler` is stepped after every iteration. A loss that is not finite raises
    TrainError naming epoch and step.
    """
    model.train()
    sums = torch.zeros(len(LOSS_KEYS), dtype=torch.float64)
    steps = len(loader) if hasattr(loader, "__len__") else 0  # type: ignore[arg-type]
    images_seen, start = 0, time.perf_counter()
    step = 0
    for step, batch in enumerate(loader, start=1):
        images, targets = to_device(batch, device)
        bf16 = cpu_bf16 and device.type == "cpu"
        with torch.autocast(
            device_type=device.type,
            dtype=torch.bfloat16 if bf16 else None,
            enabled=scaler is not None or bf16,
        ):
            losses = study_names(model(images, targets))
        values = _values(losses)
        if not torch.isfinite(values).all():
            raise _not_finite(epoch, step, dict(zip(LOSS_KEYS, values.tolist(), strict=True)))
        optimizer.zero_grad(set_to_none=True)
        if scaler is not None:
            scaler.scale(losses["total"]).backward()
            if grad_clip > 0:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
        else:
            losses["total"].backward()
            if grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
        if lr_scheduler is not None:
            lr_scheduler.step()
        sums += values.double()
        images_seen += len(images)
        if progress is not None:
            means = dict(zip(LOSS_KEYS, (sums / step).tolist(), strict=True))
            progress(step, steps, means, images_seen / (time.perf_counter() - start))
    return _mean_over_ranks(sums, step)


def _values(losses: dict[str, torch.Tensor]) -> torch.Tensor:
    """The losses in LOSS_KEYS order on the CPU (0 for one the model does not have)."""
    zero = torch.zeros(())
    return torch.stack(
        [losses[k].detach().float().cpu().reshape(()) if k in losses else zero for k in LOSS_KEYS]
    )


def _not_finite(epoch: int, step: int, losses: dict[str, float]) -> TrainError:
    shown = ", ".join(f"{k} {v:.4g}" for k, v in losses.items())
    return TrainError(
        f"loss is not finite at epoch {epoch} step {step}: {shown}",
        hint="the learning rate is probably too high (lower train.lr), or there is no warm-up "
        "(train.warmup_iters), or a random backbone uses FrozenBatchNorm2d (train from "
        "scratch only with train.weights: none); train.grad_clip also helps",
    )


def _mean_over_ranks(sums: torch.Tensor, steps: int) -> dict[str, float]:
    total = torch.cat([sums, torch.tensor([float(steps)], dtype=torch.float64)])
    if dist.is_available() and dist.is_initialized():
        # gloo reduces CPU tensors; NCCL needs them on the rank's GPU
        device = torch.device("cuda", torch.cuda.current_device()) if _nccl() else "cpu"
        reduced = total.to(device)
        dist.all_reduce(reduced)
        total = reduced.cpu()
    n = max(1.0, float(total[-1]))
    return dict(zip(LOSS_KEYS, (total[:-1] / n).tolist(), strict=True))


def _nccl() -> bool:
    return dist.get_backend() == "nccl"


@torch.no_grad()
def validation_losses(
    model: nn.Module, loader: Iterable[Batch], device: torch.device, *, seed: int = 0
) -> dict[str, float]:
    """Mean losses on `loader` without learning from it.

    The model runs in train mode (only then does Mask R-CNN compute losses) with every
    BatchNorm layer in eval mode, so running statistics are not updated; torch's RNG
    (proposal sampling) is seeded with `seed` inside and restored afterwards, so the
    result is repeatable and the training run's random stream is untouched.
    """
    was_training = model.training
    model.train()
    norms = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for m in norms:
        m.eval()
    sums = torch.zeros(len(LOSS_KEYS), dtype=torch.float64)
    steps = 0
    devices = [device.index or 0] if device.type == "cuda" else []
    try:
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for batch in loader:
                images, targets = to_device(batch, device)
                losses = study_names(model(images, targets))
                sums += _values(losses).double()
                steps += 1
    finally:
        model.train(was_training)
    return dict(zip(LOSS_KEYS, (sums / max(1, steps)).tolist(), strict=True))
