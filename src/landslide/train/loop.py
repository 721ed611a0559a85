"""Training stage: Mask R-CNN for one backbone x set, with checkpoints, resume and MLflow.

    result = train("A", "resnet101", params)                 # landslide train --set A ...
    result = train("A", "resnet101", params, resume=True)    # continue after a stop

`train()` builds everything a run needs, like torchvision's references/detection `main()`:
data, model, optimizer, schedule, checkpoint, loop; here in named steps: set-up
(`_set_up`) and the model fresh or resumed (`_fit`), both in `start`; one epoch with its
validation (`_epoch`), the checkpoint (`_checkpoint`) and the final model (`_finish`).

Several processes: `torchrun --nproc_per_node=N -m landslide.train --backbone ... --set ...`
trains with DistributedDataParallel (NCCL on CUDA, gloo on CPU) and a DistributedSampler;
rank 0 validates, logs and writes.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch.utils.data import DistributedSampler

from landslide.engine import StepProgress, train_one_epoch
from landslide.io import write_json
from landslide.model import ModelInfo, check_backbone
from landslide.params import Params
from landslide.train.checkpoint import _trainable_layers, prune_checkpoints, save_checkpoint
from landslide.train.outputs import _metrics_json, write_history, write_model
from landslide.train.pieces import _init_distributed, _oom, _validate
from landslide.train.progress import TrainPaths, TrainProgress, TrainResult, run_name
from landslide.train.rng import rng_state
from landslide.train.start import _Fit, _fit, _Run, _set_up, _start_lines
from landslide.train.tracker import _Tracker


def train(
    set_name: str,
    backbone: str,
    params: Params,
    *,
    paths: TrainPaths | None = None,
    resume: bool = False,
    weights: str | None = None,
    progress: TrainProgress | None = None,
    log_mlflow: bool = True,
) -> TrainResult:
    """Train `backbone` on Set `set_name`; see the package docstring for what is written."""
    check_backbone(backbone)
    params, notes = _run_epochs(params, backbone, set_name)
    p = params.train
    progress = progress or TrainProgress()
    paths = paths or TrainPaths.default(set_name, backbone, params)
    rank, world, local_rank, own_group = _init_distributed(p.device)
    try:
        run = _set_up(set_name, backbone, params, paths, rank, world, local_rank)
        fit = _fit(run, resume, weights)
        if run.main:
            progress.start([*_start_lines(run, fit), *notes])
        started = time.perf_counter()
        tracker = _Tracker(
            enabled=log_mlflow and run.main,
            name=run_name(backbone, set_name),
            params=params,
            set_name=set_name,
            backbone=backbone,
            device=run.device,
            paths=paths,
            run_id=fit.run_id,
            weights=fit.weights_origin,
        )
        with tracker:
            tracker.seen.update(int(done["epoch"]) for done in fit.history)  # resumed: logged
            for epoch in range(fit.start_epoch, p.epochs + 1):
                _epoch(run, fit, epoch, tracker, progress)
            seconds = time.perf_counter() - started
            model_path = paths.out_dir / "model.pt"
            if run.main and fit.history:
                _finish(run, fit, model_path, tracker)
        if world > 1:
            dist.barrier()
        return TrainResult(
            out_dir=paths.out_dir,
            model_path=model_path,
            epochs=p.epochs,
            start_epoch=fit.start_epoch,
            history=fit.history,
            best_epoch=fit.best["epoch"],
            seconds=seconds,
            device=str(run.device),
            run_id=tracker.run_id,
            load_report=fit.report.lines(),
        )
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()


def _run_epochs(params: Params, backbone: str, set_name: str) -> tuple[Params, list[str]]:
    """train.run_epochs applied to this run (by run name, else backbone), and a note."""
    p = params.train
    name = run_name(backbone, set_name)
    key = name if name in p.run_epochs else backbone if backbone in p.run_epochs else None
    if key is None or p.run_epochs[key] == p.epochs:
        return params, []
    epochs = p.run_epochs[key]
    note = f"epochs {epochs} for {name} (train.run_epochs {key}; train.epochs is {p.epochs})"
    return params.with_values("train", epochs=epochs), [note]


# --------------------------------------------------------------------------- epochs


def _epoch(run: _Run, fit: _Fit, epoch: int, tracker: _Tracker, progress: TrainProgress) -> None:
    """Train and validate one epoch; on rank 0 record, log and checkpoint it."""
    p = run.params.train
    run.generator.manual_seed(p.seed + epoch)
    if isinstance(run.sampler, DistributedSampler):
        run.sampler.set_epoch(epoch)
    if run.main:
        progress.epoch_start(epoch, p.epochs, len(run.loader))
    try:
        row = _train_and_validate(run, fit, epoch, progress)
    except torch.OutOfMemoryError:
        raise _oom(run.device, p.batch_size, run.size) from None
    if not run.main:
        return
    fit.history.append(row)
    score = row.get("val_total", row["train_total"])
    if score < fit.best["loss"]:
        fit.best = {"epoch": epoch, "loss": score}
    tracker.log_epoch(row)
    if epoch % p.checkpoint_every == 0 or epoch == p.epochs:
        _checkpoint(run, fit, epoch, tracker.run_id)
    write_history(run.paths.out_dir, fit.history)
    progress.epoch_end(row)


def _train_and_validate(
    run: _Run, fit: _Fit, epoch: int, progress: TrainProgress
) -> dict[str, float]:
    """One pass over the training set, then validation (rank 0): the epoch's history row."""
    p = run.params.train
    t0 = time.perf_counter()
    step_hook: StepProgress | None = progress.step if run.main else None
    losses = train_one_epoch(
        fit.model,
        fit.optimizer,
        run.loader,
        run.device,
        epoch,
        scaler=fit.scaler,
        lr_scheduler=fit.scheduler,
        grad_clip=p.grad_clip,
        progress=step_hook,
        cpu_bf16=p.cpu_bf16,
    )
    # the lr of the epoch's last step (the scheduler has moved on since)
    last_lr = p.lr * fit.lr_factor(max(0, fit.scheduler.last_epoch - 1))
    row: dict[str, float] = {"epoch": epoch, "lr": last_lr}
    row.update({f"train_{k}": v for k, v in losses.items()})
    row["train_seconds"] = time.perf_counter() - t0
    if run.main and run.val_loader is not None:
        row.update(
            _validate(
                fit.raw_model, run.val_loader, run.val_ds, run.device, run.params, run.landslide_id
            )
        )
    return row


def _checkpoint(run: _Run, fit: _Fit, epoch: int, run_id: str | None) -> None:
    """`checkpoints/epoch_NNN.pt`, then only it and the best one kept."""
    p = run.params.train
    save_checkpoint(
        run.ckpt_dir / f"epoch_{epoch:03d}.pt",
        {
            "model": fit.raw_model.state_dict(),
            "optimizer": fit.optimizer.state_dict(),
            "lr_scheduler": fit.scheduler.state_dict(),
            "scaler": fit.scaler.state_dict() if fit.scaler is not None else None,
            "rng": rng_state(),
            "epoch": epoch,
            "backbone": run.backbone,
            "classes": run.params.model_classes,
            "variant": p.variant,
            "size": list(run.size),
            "anchor_sizes": list(p.anchor_sizes),
            "anchor_ratios": list(p.anchor_ratios),
            "norm": fit.norm,
            "bn_eps": fit.bn_eps,
            "trainable_layers": _trainable_layers(fit.raw_model),
            "weights": fit.weights_origin,
            "params": run.params.model_dump(mode="json"),
            "history": fit.history,
            "best": fit.best,
            "mlflow_run_id": run_id,
        },
    )
    prune_checkpoints(run.ckpt_dir, keep={epoch, fit.best["epoch"]})


# --------------------------------------------------------------------------- finish


def _finish(run: _Run, fit: _Fit, model_path: Path, tracker: _Tracker) -> None:
    """The final epoch's model.pt + model.json, metrics.json, and their MLflow logging."""
    p = run.params.train
    info = ModelInfo(
        classes=run.params.model_classes,
        backbone=run.backbone,
        variant=p.variant,
        size=run.size,  # type: ignore[arg-type]
        norm=fit.norm,
        bn_eps=fit.bn_eps,
        rpn_pre_nms_top_n_test=p.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=p.rpn_post_nms_top_n_test,
        box_detections_per_img=p.box_detections_per_img,
        anchor_sizes=list(p.anchor_sizes),
        anchor_ratios=list(p.anchor_ratios),
        weights=str(fit.weights_origin),
        epoch=int(fit.history[-1]["epoch"]),
        epochs=p.epochs,
        best_epoch=fit.best["epoch"],
        metrics=_metrics_json(fit.history[-1], run.params.evaluate.threshold),
    )
    write_model(fit.raw_model, info, model_path)
    write_json(run.paths.out_dir / "metrics.json", info.metrics)
    tracker.log_outputs(run.paths.out_dir, info)
