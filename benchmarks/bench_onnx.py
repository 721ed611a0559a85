"""Inference speed: ONNX Runtime against PyTorch eager on CPU, Mask R-CNN at 512x512.

    .venv/bin/python benchmarks/bench_onnx.py [--size 512] [--images 2] [--repeats 3]
        [--backbones resnet50 resnet101]

For each backbone: one model as `landslide train` leaves it (the transfer regime:
FrozenBatchNorm2d, torchvision's default RPN/RoI settings as in params.yaml; random
weights whose BatchNorm statistics come from one batch stand in for trained ones, offline,
as in bench_train.py), written as model.pt + model.json and exported by
`landslide.export.export_onnx`. Then the same images (synthetic, at the model's size) run
through PyTorch eager (`load_model`'s MaskRCNN under `torch.inference_mode`) and ONNX
Runtime (`OnnxDetector`, CPU provider) with the same number of threads, interleaved, each
image's fastest run of `--repeats` (the least disturbed on a shared machine), in seconds per
image. Ratio = PyTorch / ONNX Runtime; goal >= 1.3. Beside: the largest differences between
the two runtimes' detections (boxes, scores, masks; `landslide.export.compare`) and, in
brackets, those between PyTorch float32 and float64 on the same images: the rounding noise
of the model itself, which a deep random-weight network amplifies (parity: within the
export's tolerance, or within 3x that noise, as `export_onnx`'s check allows).

Prints a table; not a test.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from bench_train import batches, calibrated
from landslide.export import (
    OnnxDetector,
    Tolerance,
    compare,
    export_onnx,
    float64,
    synthetic_images,
)
from landslide.model import ModelInfo, load_model
from landslide.params import CLASSES, TrainParams
from landslide.train import write_model

GOAL = 1.3


def write_trained_like(folder: Path, backbone: str, size: int) -> Path:
    """model.pt + model.json of a calibrated random model in the transfer regime."""
    p = TrainParams()
    model = calibrated(
        backbone, (size, size), batches(1, 1, size)[0], norm="frozen", trainable_layers=3
    )
    info = ModelInfo(
        classes=list(CLASSES),
        backbone=backbone,
        variant="v1",
        size=(size, size),
        norm="frozen",
        bn_eps=1e-5,
        rpn_pre_nms_top_n_test=p.rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=p.rpn_post_nms_top_n_test,
        box_detections_per_img=p.box_detections_per_img,
    )
    write_model(model, info, folder / "model.pt")
    return folder / "model.pt"


def timed(run: object, image: torch.Tensor) -> float:
    t = time.perf_counter()
    run([image])  # type: ignore[operator]
    return time.perf_counter() - t


def bench(backbone: str, args: argparse.Namespace, tmp: Path) -> tuple[list[str], list[str]]:
    model_pt = write_trained_like(tmp / backbone, backbone, args.size)
    started = time.perf_counter()
    export_onnx(model_pt, tmp / f"{backbone}.onnx", check=False)
    export_s = time.perf_counter() - started
    model, info = load_model(model_pt)
    detector = OnnxDetector(tmp / f"{backbone}.onnx", threads=torch.get_num_threads())
    images = synthetic_images(info.size, args.images, seed=1)

    def eager(batch: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        with torch.inference_mode():
            return model(batch)

    eager(images[:1])  # warm-up: allocator, lazy inits
    detector(images[:1])
    times: dict[str, list[float]] = {"torch": [], "onnx": []}
    for image in images:
        runs: dict[str, list[float]] = {"torch": [], "onnx": []}
        for _ in range(args.repeats):
            runs["torch"].append(timed(eager, image))
            runs["onnx"].append(timed(detector, image))
        for name in times:
            times[name].append(min(runs[name]))
    kw = {"score_thresh": float(model.roi_heads.score_thresh), "cap": info.box_detections_per_img}
    parity = compare(eager, detector, images, **kw)
    noise = compare(eager, float64(model), images, **kw)  # PyTorch's own float32 rounding
    judged = parity.within(Tolerance().widened(noise))
    torch_s = sum(times["torch"]) / len(images)
    onnx_s = sum(times["onnx"]) / len(images)
    ratio = torch_s / onnx_s
    mark = "[green]" if ratio >= GOAL else "[red]"
    row = [
        backbone,
        f"{parity.detections / len(images):.0f}",
        f"{torch_s:.2f}",
        f"{onnx_s:.2f}",
        f"{mark}{ratio:.2f}x",
        f"{parity.box_px:.1e} ({noise.box_px:.1e})",
        f"{parity.score:.1e} ({noise.score:.1e})",
        f"{parity.mask:.1%} ({noise.mask:.1%})",
        "[green]yes" if parity.ok else ("[green]within 3x noise" if judged.ok else "[red]no"),
        f"{export_s:.0f}",
    ]
    return row, [f"{backbone}: {problem}" for problem in judged.problems]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="image side (the study's 512)")
    parser.add_argument("--images", type=int, default=2, help="images per backbone")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per image")
    parser.add_argument(
        "--backbones",
        nargs="+",
        default=["resnet50", "resnet101"],
        choices=["resnet50", "resnet101"],
    )
    args = parser.parse_args()
    import onnxruntime

    table = Table(
        title=(
            f"ONNX Runtime {onnxruntime.__version__} vs PyTorch {torch.__version__} eager, CPU, "
            f"{args.size}x{args.size}, {torch.get_num_threads()} threads each, fastest of "
            f"{args.repeats} interleaved runs per image, {args.images} images"
        )
    )
    for column in (
        "backbone",
        "dets/img",
        "torch s/img",
        "ORT s/img",
        f"ratio (goal {GOAL})",
        "max |diff| box px (fp32 vs fp64)",
        "score",
        "mask px off edge",
        "parity",
        "export s",
    ):
        table.add_column(column, justify="left" if column == "backbone" else "right")
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-onnx-") as tmp:
        for backbone in args.backbones:
            row, problems = bench(backbone, args, Path(tmp))
            table.add_row(*row)
            notes.extend(problems)
    Console(width=max(Console().width, 120)).print(table)
    for line in notes:
        print(line)


if __name__ == "__main__":
    main()
