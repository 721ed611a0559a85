"""Training stage: Mask R-CNN for one backbone x set, with checkpoints, resume and MLflow.

    result = train("A", "resnet101", params)                 # landslide train --set A ...
    result = train("A", "resnet101", params, resume=True)    # continue after a stop

`train()` builds everything in one function, like torchvision's references/detection
`main()`: data, model, optimizer, schedule, checkpoint, loop. Inputs (`TrainPaths`):

* train: `data/processed/augmented/<SET>/train.json` + its `images/` (augment.mode
  offline), or `data/processed/splits/<SET>/train.json` + `data/processed/prepared/images`
  through `OnlineAugment` (augment.mode online);
* val: `data/processed/splits/<SET>/val.json` + `data/processed/prepared/images`.

Outputs in `models/<backbone>-set<SET>/`:

* `checkpoints/epoch_NNN.pt`: model, optimizer, lr_scheduler, scaler, RNG states, epoch,
  params, history; written atomically every `checkpoint_every` epochs and at the end;
  only the best (lowest val total loss; train loss without val) and the last are kept;
* `model.pt` + `model.json`: the **final** epoch's weights (as the study, which reports
  its 20th-epoch models), a plain state dict, and `ModelInfo` (classes, backbone,
  variant, size, epoch, best_epoch, val metrics); `load_model()` reads them;
* `metrics.json` (final train losses, val losses and image-level metrics; DVC metrics),
  `losses.csv` (one row per epoch; DVC plots) and `losses.png`.

`resume=True` continues from the last checkpoint and ends with the same weights as an
uninterrupted run (same seed, CPU, one process): the checkpoint restores torch, NumPy and
Python RNG states, and each epoch's shuffle comes from a generator seeded with
`seed + epoch`, never from the state of a previous epoch's loader. Validation runs with
its own seeded RNG, so it never moves the training stream.

MLflow (rank 0): a run named `<backbone>-set<SET>` (nested under an active parent run or
`$LANDSLIDE_PARENT_RUN_ID`), params (train.*, prepare.size, augment.mode, set, backbone),
per-epoch metrics with step = epoch (`train/<loss>`, `val/<loss>`, `val/precision`,
`val/recall`, `val/f1`, `val/accuracy`, `lr`), tags (git commit, data version, device,
backbone, set) and the output files as artifacts. A resumed run continues the same run.

Several processes: `torchrun --nproc_per_node=N -m landslide.train --backbone ... --set ...`
trains with DistributedDataParallel (NCCL on CUDA, gloo on CPU) and a DistributedSampler;
rank 0 validates, logs and writes.
"""

from __future__ import annotations

import math
import os
import random
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from landslide.data import DetectionDataset, collate_fn, dataset_dicts
from landslide.engine import (
    LOSS_KEYS,
    StepProgress,
    lr_lambda,
    train_one_epoch,
    validation_losses,
)
from landslide.errors import TrainError
from landslide.inference import TorchDetector, inference_on_dataset, resolve_device
from landslide.io import atomic_open, remove_stale_temps, write_csv, write_json
from landslide.metrics import ImageLevelEvaluator
from landslide.model import (
    LoadReport,
    ModelInfo,
    build_model,
    check_compatible,
    freeze_all_but_roi_heads,
    norm_of,
    safe_load,
    skeleton,
)
from landslide.params import BACKBONES, Params, TrainParams

CHECKPOINT_KEYS = ("model", "optimizer", "lr_scheduler", "epoch", "backbone", "classes")
VAL_METRICS = ("precision", "recall", "f1", "accuracy")


# --------------------------------------------------------------------------- paths


@dataclass(frozen=True)
class TrainPaths:
    train_json: Path
    train_images: Path
    val_json: Path | None
    val_images: Path | None
    out_dir: Path

    @classmethod
    def default(
        cls,
        set_name: str,
        backbone: str,
        params: Params,
        *,
        processed: Path = Path("data/processed"),
        models_dir: Path | None = None,
    ) -> TrainPaths:
        prepared = processed / "prepared" / "images"
        if params.augment.mode == "online":
            train_json, train_images = processed / "splits" / set_name / "train.json", prepared
        else:
            augmented = processed / "augmented" / set_name
            train_json, train_images = augmented / "train.json", augmented / "images"
        return cls(
            train_json=train_json,
            train_images=train_images,
            val_json=processed / "splits" / set_name / "val.json",
            val_images=prepared,
            out_dir=(models_dir or params.train.models_dir) / run_name(backbone, set_name),
        )


def run_name(backbone: str, set_name: str) -> str:
    return f"{backbone}-set{set_name}"


# --------------------------------------------------------------------------- progress


class TrainProgress:
    """What the CLI shows while training; every hook does nothing by default."""

    def start(self, lines: Sequence[str]) -> None:
        """Once, before the first epoch: device, data, what the weights were loaded from."""

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        pass

    def step(self, step: int, steps: int, losses: dict[str, float], images_per_s: float) -> None:
        pass

    def epoch_end(self, row: dict[str, float]) -> None:
        pass


def epoch_line(row: dict[str, float], epochs: int) -> str:
    """The one-line summary of an epoch: the study's loss names, val metrics, lr, time."""
    val = (
        f" | val total {row['val_total']:.3f} P {_num(row['val_precision'])} "
        f"R {_num(row['val_recall'])} F1 {_num(row['val_f1'])}"
        if "val_total" in row
        else ""
    )
    return (
        f"epoch {int(row['epoch'])}/{epochs}: train total {row['train_total']:.3f} "
        f"(rpn_class {row['train_rpn_class']:.3f}, rpn_bbox {row['train_rpn_bbox']:.3f}, "
        f"mrcnn_class {row['train_mrcnn_class']:.3f}, mrcnn_bbox "
        f"{row['train_mrcnn_bbox']:.3f}, mrcnn_mask {row['train_mrcnn_mask']:.3f}){val}, "
        f"lr {row['lr']:.2g}, {row['train_seconds']:.0f} s"
    )


def _num(value: float | None) -> str:
    """A metric for a log line: two decimals, or n/a when undefined (None)."""
    return "n/a" if value is None else f"{value:.2f}"


class LogProgress(TrainProgress):
    """One log line per epoch, for drivers without a terminal of their own (Prefect)."""

    def __init__(self, log: Callable[[str], Any], name: str) -> None:
        self.log, self.name, self.epochs = log, name, 0

    def start(self, lines: Sequence[str]) -> None:
        for line in lines:
            self.log(f"{self.name}: {line}")

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs

    def epoch_end(self, row: dict[str, float]) -> None:
        self.log(f"{self.name} {epoch_line(row, self.epochs)}")


@dataclass
class TrainResult:
    out_dir: Path
    model_path: Path
    epochs: int
    start_epoch: int  # 1 on a fresh run; the first epoch trained after --resume
    history: list[dict[str, float]]
    best_epoch: int | None
    seconds: float
    device: str
    run_id: str | None = None
    load_report: list[str] = field(default_factory=list)

    @property
    def final(self) -> dict[str, float]:
        return self.history[-1] if self.history else {}

    def summary_line(self) -> str:
        last = self.final
        val = (
            f", val total {last['val_total']:.3f}, P/R/F1 {_num(last['val_precision'])}/"
            f"{_num(last['val_recall'])}/{_num(last['val_f1'])}"
            if "val_total" in last
            else ""
        )
        trained = self.epochs - self.start_epoch + 1
        if trained <= 0:
            return f"train: nothing left to train (epoch {self.epochs} done) -> {self.model_path}"
        return (
            f"train: {trained} epochs ({self.start_epoch}-{self.epochs}) in {self.seconds:.0f} s "
            f"on {self.device}, train total {last.get('train_total', float('nan')):.3f}{val} "
            f"-> {self.model_path}"
        )


# --------------------------------------------------------------------------- the stage


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
    """Train `backbone` on Set `set_name`; see the module docstring for what is written."""
    if backbone not in BACKBONES:
        raise TrainError(
            f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})",
            hint="pass --backbone resnet50 or --backbone resnet101",
        )
    p = params.train
    progress = progress or TrainProgress()
    paths = paths or TrainPaths.default(set_name, backbone, params)
    rank, world, local_rank, own_group = _init_distributed(p.device)
    try:
        device = resolve_device(p.device, local_rank if world > 1 else None)
        seed_everything(p.seed)
        main = rank == 0
        size = tuple(params.prepare.size)
        if main:
            remove_stale_temps(paths.out_dir)  # what a killed run left half-written

        # data
        landslide_id = params.classes.index("landslide") + 1
        train_ds = _train_dataset(paths, params)
        val_ds = _val_dataset(paths, params)
        generator = torch.Generator()
        if world > 1:
            sampler: Any = DistributedSampler(train_ds, world, rank, shuffle=True, seed=p.seed)
        else:
            sampler = RandomSampler(train_ds, generator=generator)
        loader = DataLoader(
            train_ds,
            batch_size=p.batch_size,
            sampler=sampler,
            num_workers=p.workers,
            collate_fn=collate_fn,
            generator=generator,
            worker_init_fn=_seed_worker,
            pin_memory=device.type == "cuda",
        )
        val_loader = (
            DataLoader(
                val_ds,
                batch_size=p.batch_size,
                sampler=SequentialSampler(val_ds),
                num_workers=p.workers,
                collate_fn=collate_fn,
            )
            if val_ds is not None and main
            else None
        )

        # model, optimizer, schedule; or all of them from the last checkpoint
        ckpt_dir = paths.out_dir / "checkpoints"
        state: dict[str, Any] | None = None
        if resume:
            last = last_checkpoint(ckpt_dir)
            if last is None:
                raise TrainError(
                    "nothing to resume: no checkpoint",
                    file=ckpt_dir,
                    hint="train without --resume to start afresh",
                )
            state = read_checkpoint(last, params.classes, backbone)
            model = _model_from_checkpoint(state, backbone, params, size)
            report = LoadReport(f"checkpoint {last}", {str(last): len(state["model"])})
            weights_origin = state.get("weights", "checkpoint")
        else:
            model, report = build_model(backbone, params.classes, p, size=size, weights=weights)
            weights_origin = weights if weights is not None else p.weights
            if main and ckpt_dir.exists():
                shutil.rmtree(ckpt_dir)  # a fresh run: old checkpoints would mislead --resume
        model.to(device)
        trainable = [q for q in model.parameters() if q.requires_grad]
        optimizer = make_optimizer(trainable, p)
        lr_factor = lr_lambda(p, len(loader))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
        amp = p.amp and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if amp else None
        history: list[dict[str, float]] = []
        best: dict[str, Any] = {"epoch": None, "loss": math.inf}
        start_epoch = 1
        run_id = None
        if state is not None:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["lr_scheduler"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            restore_rng(state.get("rng") or {})
            history = list(state.get("history", []))
            best = dict(state.get("best") or best)
            start_epoch = int(state["epoch"]) + 1
            run_id = state.get("mlflow_run_id")
        raw_model = model
        if world > 1:
            model = torch.nn.parallel.DistributedDataParallel(
                model, device_ids=[device.index] if device.type == "cuda" else None
            )
        norm, bn_eps = norm_of(raw_model)

        if main:
            progress.start(
                [
                    f"device {device}" + (f" x {world} processes" if world > 1 else ""),
                    f"train {len(train_ds)} images ({paths.train_json}), val "
                    f"{len(val_ds) if val_ds else 0} images",
                    f"weights {weights_origin}: " + "; ".join(report.lines()),
                ]
            )
        started = time.perf_counter()
        tracker = _Tracker(
            enabled=log_mlflow and main,
            name=run_name(backbone, set_name),
            params=params,
            set_name=set_name,
            backbone=backbone,
            device=device,
            paths=paths,
            run_id=run_id,
            weights=weights_origin,
        )
        with tracker:
            tracker.seen.update(int(done["epoch"]) for done in history)  # resumed: logged
            for epoch in range(start_epoch, p.epochs + 1):
                generator.manual_seed(p.seed + epoch)
                if isinstance(sampler, DistributedSampler):
                    sampler.set_epoch(epoch)
                if main:
                    progress.epoch_start(epoch, p.epochs, len(loader))
                t0 = time.perf_counter()
                step_hook: StepProgress | None = progress.step if main else None
                try:
                    losses = train_one_epoch(
                        model,
                        optimizer,
                        loader,
                        device,
                        epoch,
                        scaler=scaler,
                        lr_scheduler=scheduler,
                        grad_clip=p.grad_clip,
                        progress=step_hook,
                    )
                    # the lr of the epoch's last step (the scheduler has moved on since)
                    last_lr = p.lr * lr_factor(max(0, scheduler.last_epoch - 1))
                    row: dict[str, float] = {"epoch": epoch, "lr": last_lr}
                    row.update({f"train_{k}": v for k, v in losses.items()})
                    row["train_seconds"] = time.perf_counter() - t0
                    if main and val_loader is not None:
                        row.update(
                            _validate(raw_model, val_loader, val_ds, device, params, landslide_id)
                        )
                except torch.OutOfMemoryError:
                    raise _oom(device, p.batch_size, size) from None
                if not main:
                    continue
                history.append(row)
                score = row.get("val_total", row["train_total"])
                if score < best["loss"]:
                    best = {"epoch": epoch, "loss": score}
                tracker.log_epoch(row)
                if epoch % p.checkpoint_every == 0 or epoch == p.epochs:
                    save_checkpoint(
                        ckpt_dir / f"epoch_{epoch:03d}.pt",
                        {
                            "model": raw_model.state_dict(),
                            "optimizer": optimizer.state_dict(),
                            "lr_scheduler": scheduler.state_dict(),
                            "scaler": scaler.state_dict() if scaler is not None else None,
                            "rng": rng_state(),
                            "epoch": epoch,
                            "backbone": backbone,
                            "classes": list(params.classes),
                            "variant": p.variant,
                            "size": list(size),
                            "anchor_sizes": list(p.anchor_sizes),
                            "norm": norm,
                            "bn_eps": bn_eps,
                            "trainable_layers": _trainable_layers(raw_model),
                            "weights": weights_origin,
                            "params": params.model_dump(mode="json"),
                            "history": history,
                            "best": best,
                            "mlflow_run_id": tracker.run_id,
                        },
                    )
                    prune_checkpoints(ckpt_dir, keep={epoch, best["epoch"]})
                write_history(paths.out_dir, history)
                progress.epoch_end(row)
            seconds = time.perf_counter() - started
            model_path = paths.out_dir / "model.pt"
            if main and history:
                info = ModelInfo(
                    classes=list(params.classes),
                    backbone=backbone,
                    variant=p.variant,
                    size=size,  # type: ignore[arg-type]
                    norm=norm,
                    bn_eps=bn_eps,
                    rpn_pre_nms_top_n_test=p.rpn_pre_nms_top_n_test,
                    rpn_post_nms_top_n_test=p.rpn_post_nms_top_n_test,
                    box_detections_per_img=p.box_detections_per_img,
                    anchor_sizes=list(p.anchor_sizes),
                    weights=str(weights_origin),
                    epoch=int(history[-1]["epoch"]),
                    epochs=p.epochs,
                    best_epoch=best["epoch"],
                    metrics=_metrics_json(history[-1], params.evaluate.threshold),
                )
                write_model(raw_model, info, model_path)
                write_json(paths.out_dir / "metrics.json", info.metrics)
                tracker.log_outputs(paths.out_dir, info)
        if world > 1:
            dist.barrier()
        return TrainResult(
            out_dir=paths.out_dir,
            model_path=model_path,
            epochs=p.epochs,
            start_epoch=start_epoch,
            history=history,
            best_epoch=best["epoch"],
            seconds=seconds,
            device=str(device),
            run_id=tracker.run_id,
            load_report=report.lines(),
        )
    finally:
        if own_group and dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------- pieces


def _train_dataset(paths: TrainPaths, params: Params) -> DetectionDataset:
    if not paths.train_json.is_file():
        raise TrainError(
            "training split not found",
            file=paths.train_json,
            hint="run `landslide split` and `landslide augment` first (or `dvc repro augment`)",
        )
    records = dataset_dicts(paths.train_json, paths.train_images, params.classes)
    if not records:
        raise TrainError(
            "the training split is empty: no images to train on",
            file=paths.train_json,
            hint="check split sizes in params.yaml (split.A.train / split.B.train) and "
            "run `landslide split` again",
        )
    transform = None
    if params.augment.mode == "online":
        from landslide.augment import OnlineAugment

        transform = OnlineAugment(params.augment, min_area=params.annotations.min_region_area)
    return DetectionDataset(records, transform=transform)


def _val_dataset(paths: TrainPaths, params: Params) -> DetectionDataset | None:
    if paths.val_json is None or paths.val_images is None or not paths.val_json.is_file():
        return None
    records = dataset_dicts(paths.val_json, paths.val_images, params.classes)
    return DetectionDataset(records) if records else None


def _validate(
    model: torch.nn.Module,
    loader: DataLoader,
    dataset: DetectionDataset,
    device: torch.device,
    params: Params,
    landslide_id: int,
) -> dict[str, float | None]:
    """Val losses and the image-level metrics of evaluate (one definition: undefined is None)."""
    losses = validation_losses(model, loader, device, seed=params.train.seed)

    def inputs_of(images: Sequence[torch.Tensor], targets: Sequence[dict]) -> list[dict]:
        return [
            {"file_name": str(i), "has_landslide": dataset.has_landslide(i)}
            for i in (int(t["image_id"]) for t in targets)
        ]

    evaluator = ImageLevelEvaluator(landslide_id, params.evaluate.threshold, sweep=None)
    (result,) = inference_on_dataset(
        TorchDetector(model, device=device), loader, [evaluator], inputs_of
    )
    row: dict[str, float | None] = {f"val_{k}": v for k, v in losses.items()}
    row.update({f"val_{k}": result["metrics"][k] for k in VAL_METRICS})
    return row


def _metrics_json(row: dict[str, float], threshold: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "epoch": int(row["epoch"]),
        "train": {k: row[f"train_{k}"] for k in LOSS_KEYS},
    }
    if "val_total" in row:
        out["val"] = {k: row[f"val_{k}"] for k in (*LOSS_KEYS, *VAL_METRICS)}
        out["val"]["threshold"] = threshold
    return out


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
    anchors = list(state.get("anchor_sizes", p.anchor_sizes))
    if anchors != list(p.anchor_sizes):
        raise TrainError(
            f"checkpoint was trained with train.anchor_sizes {anchors}, params say "
            f"{list(p.anchor_sizes)}",
            hint="resume with the params it was trained with, or train afresh",
        )
    model = skeleton(
        backbone,
        len(params.classes),
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


def make_optimizer(parameters: list[torch.nn.Parameter], p: TrainParams) -> torch.optim.Optimizer:
    """SGD with momentum (the study's), or AdamW (momentum is then its beta1)."""
    if p.optimizer == "adamw":
        return torch.optim.AdamW(
            parameters, lr=p.lr, betas=(p.momentum, 0.999), weight_decay=p.weight_decay
        )
    return torch.optim.SGD(parameters, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)


def _oom(device: torch.device, batch: int, size: tuple[int, ...]) -> TrainError:
    return TrainError(
        f"out of memory on {device} (batch size {batch}, images {size[0]}x{size[1]})",
        hint="lower train.batch_size, or prepare.size, or train.rpn_*/box_batch_size_per_image",
    )


def _init_distributed(device_spec: str) -> tuple[int, int, int, bool]:
    """(rank, world size, local rank, whether this call started the process group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0, False
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), local_rank, False
    cuda = device_spec != "cpu" and torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local_rank)
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return rank, world, local_rank, True


# --------------------------------------------------------------------------- RNG


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _seed_worker(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """torch (CPU, CUDA), NumPy and Python RNG states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        },
        "python": {"version": version, "state": list(internal), "gauss": gauss},
    }


def restore_rng(state: dict[str, Any]) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        n = state["numpy"]
        keys = n["keys"].numpy().astype(np.uint32)
        np.random.set_state((n["kind"], keys, n["pos"], n["has_gauss"], n["cached"]))
    if "python" in state:
        py = state["python"]
        random.setstate((py["version"], tuple(py["state"]), py["gauss"]))


# --------------------------------------------------------------------------- files


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


def write_model(model: torch.nn.Module, info: ModelInfo, path: Path) -> None:
    """`model.pt` (plain state dict) and `model.json`, each written atomically."""
    with atomic_open(path, "wb") as fh:
        torch.save(model.state_dict(), fh)
    write_json(path.with_suffix(".json"), info.to_json())


HISTORY_COLUMNS = (
    "epoch",
    *(f"train_{k}" for k in LOSS_KEYS),
    *(f"val_{k}" for k in LOSS_KEYS),
    *(f"val_{k}" for k in VAL_METRICS),
    "lr",
    "train_seconds",
)


def write_history(out_dir: Path, history: list[dict[str, float]]) -> None:
    """`losses.csv` (DVC plots) and `losses.png` (loss curves)."""
    rows = [{k: _fmt(row.get(k)) for k in HISTORY_COLUMNS} for row in history]
    write_csv(out_dir / "losses.csv", rows, HISTORY_COLUMNS)
    plot_losses(history, out_dir / "losses.png")


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    """Train and val losses per epoch, one panel per loss (matplotlib, no GUI backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 3).flatten()
    epochs = [row["epoch"] for row in history]
    for ax, key in zip(axes, LOSS_KEYS, strict=True):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], "o-", label="train")
        if history and f"val_{key}" in history[0]:
            ax.plot(epochs, [row.get(f"val_{key}") for row in history], "s--", label="val")
        ax.set_title(key)
        ax.set_xlabel("epoch")
        ax.legend()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=80)


# --------------------------------------------------------------------------- MLflow


class _Tracker:
    """One MLflow run for the training run, or nothing (disabled, or not rank 0)."""

    def __init__(
        self,
        *,
        enabled: bool,
        name: str,
        params: Params,
        set_name: str,
        backbone: str,
        device: torch.device,
        paths: TrainPaths,
        run_id: str | None,
        weights: str,
    ) -> None:
        self.enabled = enabled
        self.name = name
        self.params = params
        self.set_name = set_name
        self.backbone = backbone
        self.device = device
        self.paths = paths
        self.run_id = run_id
        self.weights = weights
        self.seen: set[int] = set()
        self._ctx: Any = None

    def __enter__(self) -> _Tracker:
        if not self.enabled:
            return self
        import mlflow

        from landslide.tracking import data_version, flatten, git_commit, start_run

        tags = {
            "backbone": self.backbone,
            "set": self.set_name,
            "device": str(self.device),
            "data_version": data_version(self.paths.train_json),
        }
        commit = git_commit()
        if commit:
            tags["git_commit"] = commit
            tags["mlflow.source.git.commit"] = commit
        self._ctx = start_run(self.name, self.params.mlflow, tags=tags, run_id=self.run_id)
        run = self._ctx.__enter__()
        resumed = self.run_id == run.info.run_id
        self.run_id = run.info.run_id
        if not resumed:
            values = flatten("train", self.params.train.model_dump(mode="json"))
            values.update(
                {
                    "train.weights": self.weights,
                    "prepare.size": str(list(self.params.prepare.size)),
                    "augment.mode": self.params.augment.mode,
                    "classes": ",".join(self.params.classes),
                    "evaluate.threshold": str(self.params.evaluate.threshold),
                    "set": self.set_name,
                    "backbone": self.backbone,
                }
            )
            mlflow.log_params(values)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._ctx is not None:
            self._ctx.__exit__(*exc)

    def log_epoch(self, row: dict[str, float]) -> None:
        epoch = int(row["epoch"])
        if not self.enabled or epoch in self.seen:
            return
        import mlflow

        metrics = {"lr": row["lr"], "train/seconds": row["train_seconds"]}
        for key, value in row.items():
            for split in ("train", "val"):
                name = key.removeprefix(f"{split}_")
                if key.startswith(f"{split}_") and name in (*LOSS_KEYS, *VAL_METRICS):
                    # an undefined ratio (None) is NaN in MLflow: a gap, never a false 0.0
                    metrics[f"{split}/{name}"] = math.nan if value is None else value
        mlflow.log_metrics(metrics, step=epoch)
        self.seen.add(epoch)

    def log_outputs(self, out_dir: Path, info: ModelInfo | None = None) -> None:
        if not self.enabled:
            return
        import mlflow

        # the weights travel once, inside the pyfunc model (hundreds of MB per run)
        names = ["model.json", "metrics.json", "losses.csv", "losses.png"]
        if info is None:
            names.insert(0, "model.pt")
        for name in names:
            if (out_dir / name).is_file():
                mlflow.log_artifact(str(out_dir / name), artifact_path="model")
        if info is not None:  # the MLflow pyfunc model: runs:/<run_id>/model, registrable
            from landslide.serving import log_pyfunc_model

            log_pyfunc_model(out_dir / "model.pt", info, self.params.predict)


# --------------------------------------------------------------------------- entry point


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m landslide.train ...` (and torchrun): the same options as `landslide train`."""
    from landslide.cli import app

    app(["train", *(sys.argv[1:] if argv is None else argv)], prog_name="landslide.train")


if __name__ == "__main__":
    main()
