"""The pieces `train()` assembles: datasets and loaders, validation, optimizer, process group.

Several processes (`torchrun`) train with DistributedDataParallel (NCCL on CUDA, gloo on
CPU) and a DistributedSampler; rank 0 validates.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler, SequentialSampler

from landslide.data import DetectionDataset, collate_fn, dataset_dicts
from landslide.engine import validation_losses
from landslide.errors import TrainError
from landslide.inference import TorchDetector, inference_on_dataset
from landslide.metrics import ImageLevelEvaluator
from landslide.params import Params, TrainParams
from landslide.train.outputs import VAL_METRICS
from landslide.train.progress import TrainPaths
from landslide.train.rng import _seed_worker


def _train_dataset(paths: TrainPaths, params: Params) -> DetectionDataset:
    if not paths.train_json.is_file():
        raise TrainError(
            "training split not found",
            file=paths.train_json,
            hint="run `landslide split` and `landslide augment` first (or `dvc repro augment`)",
        )
    records = dataset_dicts(
        paths.train_json, paths.train_images, params.classes, keep=params.model_classes
    )
    _check_train_classes(records, paths, params)
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
    records = dataset_dicts(
        paths.val_json, paths.val_images, params.classes, keep=params.model_classes
    )
    return DetectionDataset(records) if records else None


def _check_train_classes(records: list[dict[str, Any]], paths: TrainPaths, params: Params) -> None:
    """TrainError for a class of train.classes that no region of the training split has."""
    seen = {a["category_id"] for r in records for a in r["annotations"]}
    for i, name in enumerate(params.train.classes, start=1):
        if records and i not in seen:
            raise TrainError(
                f"train.classes names {name!r}, but no region of the training split has it",
                file=paths.train_json,
                hint=f"annotate {name!r} regions, or leave {name!r} out of train.classes "
                "([] trains all classes)",
            )


def _loaders(
    train_ds: DetectionDataset,
    val_ds: DetectionDataset | None,
    p: TrainParams,
    generator: torch.Generator,
    device: torch.device,
    rank: int,
    world: int,
) -> tuple[Any, DataLoader, DataLoader | None]:
    """The sampler and loader of the training set, and the val loader (rank 0 only)."""
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
        if val_ds is not None and rank == 0
        else None
    )
    return sampler, loader, val_loader


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


def make_optimizer(parameters: list[torch.nn.Parameter], p: TrainParams) -> torch.optim.Optimizer:
    """SGD with momentum (the study's), or AdamW (momentum is then its beta1).

    Both take PyTorch's fused kernels where the parameters' device has them (CPU, CUDA):
    the same update in one pass over all tensors. For ResNet-50 Mask R-CNN on one CPU
    core, AdamW's step takes 36 ms instead of 312 ms (a quarter of a 128 px demo step)."""
    fused = {"fused": True} if all(q.device.type in ("cpu", "cuda") for q in parameters) else {}
    if p.optimizer == "adamw":
        return torch.optim.AdamW(
            parameters, lr=p.lr, betas=(p.momentum, 0.999), weight_decay=p.weight_decay, **fused
        )
    return torch.optim.SGD(
        parameters, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay, **fused
    )


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
