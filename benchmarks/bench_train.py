"""Training speed: our loop against a bare torchvision loop, and images/s per backbone.

    .venv/bin/python benchmarks/bench_train.py [--steps 6] [--repeats 3] [--size 512]

1. Overhead: `landslide.engine.train_one_epoch` (loss renaming, finite check, running
   means, lr scheduler, progress callback) against the loop of torchvision's tutorial
   (forward, sum, zero_grad, backward, step) on the same model, the same batches held
   in memory, interleaved runs from the same state, the fastest run of each (the least
   disturbed on a shared machine), time per step. Goal: ratio <= 1.05.
2. Throughput: images/s of a training step (batch 1, the study's 512x512, torchvision's
   default RPN/RoI sampling as in params.yaml) for ResNet-50 and ResNet-101, in the
   transfer regime (FrozenBatchNorm2d, trainable_layers 3: what COCO weights train
   with; random weights stand in for them, offline) and from scratch (all layers).

Prints a table; not a test.
"""

from __future__ import annotations

import argparse
import copy
import time
from typing import Any

import torch

from landslide.engine import train_one_epoch
from landslide.model import build_model, skeleton
from landslide.params import CLASSES, TrainParams

DEMO_SAMPLING = {
    "rpn_pre_nms_top_n_train": 300,
    "rpn_post_nms_top_n_train": 100,
    "rpn_batch_size_per_image": 64,
    "box_batch_size_per_image": 64,
}


def batches(n: int, batch: int, size: int, seed: int = 0) -> list[tuple[list, list]]:
    """`n` batches of noise images, each with one square landslide."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        images, targets = [], []
        for _ in range(batch):
            images.append(torch.rand(3, size, size, generator=g))
            x, y = (int(v) for v in torch.randint(0, size // 2, (2,), generator=g))
            side = size // 3
            masks = torch.zeros(1, size, size, dtype=torch.uint8)
            masks[0, y : y + side, x : x + side] = 1
            targets.append(
                {
                    "boxes": torch.tensor([[x, y, x + side, y + side]], dtype=torch.float32),
                    "labels": torch.tensor([1]),
                    "masks": masks,
                }
            )
        out.append((images, targets))
    return out


def bare_loop(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: list) -> None:
    model.train()
    for images, targets in data:
        loss_dict = model(images, targets)
        losses = sum(loss_dict.values())
        optimizer.zero_grad()
        losses.backward()
        optimizer.step()


def ours(model: torch.nn.Module, optimizer: torch.optim.Optimizer, data: list, sched: Any) -> None:
    train_one_epoch(
        model,
        optimizer,
        data,
        torch.device("cpu"),
        1,
        lr_scheduler=sched,
        progress=lambda *a: None,
    )


def overhead(args: argparse.Namespace) -> None:
    p = TrainParams(weights="none", **DEMO_SAMPLING)
    torch.manual_seed(0)
    model, _ = build_model("resnet50", CLASSES, p, size=(args.overhead_size,) * 2)
    data = batches(args.steps, 2, args.overhead_size)
    start = copy.deepcopy(model.state_dict())

    def fresh() -> tuple[torch.optim.Optimizer, Any]:
        """The same weights, optimizer state and RNG before every run: the same work."""
        model.load_state_dict(start)
        torch.manual_seed(1)
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lambda it: 1.0)

    bare_loop(model, fresh()[0], data[:2])  # warm-up
    times: dict[str, list[float]] = {"bare": [], "ours": []}
    for _ in range(args.repeats):
        for name in ("bare", "ours"):
            optimizer, sched = fresh()
            t = time.perf_counter()
            if name == "bare":
                bare_loop(model, optimizer, data)
            else:
                ours(model, optimizer, data, sched)
            times[name].append((time.perf_counter() - t) / len(data))
    # min: the run least disturbed by other processes on a shared machine
    bare, mine = min(times["bare"]), min(times["ours"])
    print(
        f"\n1. loop overhead: ResNet-50, {args.overhead_size}x{args.overhead_size}, batch 2, "
        f"{args.steps} steps x {args.repeats} interleaved repeats from the same state, "
        f"fastest run"
    )
    print(f"{'loop':<28}{'s/step':>10}")
    print(f"{'bare torchvision loop':<28}{bare:>10.3f}")
    print(f"{'landslide train_one_epoch':<28}{mine:>10.3f}")
    print(f"{'ratio (goal <= 1.05)':<28}{mine / bare:>10.3f}")


def calibrated(
    backbone: str, size: tuple[int, int], batch: tuple, *, norm: str, trainable_layers: int
) -> torch.nn.Module:
    """Random weights whose BatchNorm statistics come from one batch.

    A random ResNet-101 with identity FrozenBatchNorm2d overflows to NaN; pretrained
    weights (not downloadable offline) would have real statistics. One forward pass with
    momentum 1 gives the random network statistics that keep its activations finite.
    """
    torch.manual_seed(0)
    probe = skeleton(backbone, len(CLASSES), "v1", size, norm="batch")
    for m in probe.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.momentum = 1.0
    probe.train()
    with torch.no_grad():
        probe(*batch)
    model = skeleton(
        backbone, len(CLASSES), "v1", size, norm=norm, trainable_layers=trainable_layers
    )
    model.load_state_dict(probe.state_dict())
    return model


def throughput(args: argparse.Namespace) -> None:
    print(
        f"\n2. training throughput: batch 1, {args.size}x{args.size}, torchvision's default "
        f"RPN/RoI sampling, {torch.get_num_threads()} threads, {args.throughput_steps} steps"
    )
    print(f"{'backbone':<12}{'regime':<44}{'s/step':>8}{'images/s':>10}")
    regimes = {
        "transfer (trainable_layers 3, FrozenBN)": {"norm": "frozen", "trainable_layers": 3},
        "from scratch (all layers, BatchNorm2d)": {"norm": "batch", "trainable_layers": 5},
    }
    for backbone in ("resnet50", "resnet101"):
        for regime, kw in regimes.items():
            data = batches(args.throughput_steps + 1, 1, args.size)
            model = calibrated(backbone, (args.size,) * 2, data[0], **kw)
            trainable = [q for q in model.parameters() if q.requires_grad]
            optimizer = torch.optim.SGD(trainable, lr=1e-5, momentum=0.9)
            bare_loop(model, optimizer, data[:1])  # warm-up
            t = time.perf_counter()
            ours(model, optimizer, data[1:], None)
            per_step = (time.perf_counter() - t) / args.throughput_steps
            print(f"{backbone:<12}{regime:<44}{per_step:>8.2f}{1 / per_step:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=6, help="overhead: steps per run")
    parser.add_argument("--repeats", type=int, default=3, help="overhead: interleaved runs")
    parser.add_argument("--overhead-size", type=int, default=128)
    parser.add_argument("--size", type=int, default=512, help="throughput image side")
    parser.add_argument("--throughput-steps", type=int, default=3)
    args = parser.parse_args()
    overhead(args)
    throughput(args)


if __name__ == "__main__":
    main()
