"""Training: data, loop, losses, checkpoints and exact resume, MLflow, DDP, CLI errors."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import LIGHT_HEADS, run_cli, sqlite_tracking
from landslide.annotations import Annotations, ImageAnn, Region, write_coco
from landslide.augment import OnlineAugment
from landslide.data import DetectionDataset, collate_fn, dataset_dicts
from landslide.engine import (
    LOSS_KEYS,
    lr_lambda,
    study_names,
    train_one_epoch,
    validation_losses,
)
from landslide.errors import TrainError
from landslide.inference import best_score
from landslide.metrics import image_level
from landslide.model import build_model, load_model
from landslide.params import AugmentParams, Params, TrainParams
from landslide.train import TrainPaths, TrainProgress, read_checkpoint, resolve_device, train

# MLflow's sqlite store uses a SQLAlchemy loader option that SQLAlchemy 2.x deprecates
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy:DeprecationWarning")

CLASSES = ["landslide", "vegetation", "water_body", "building"]
SIZE = 64
LIGHT = {
    "weights": "none",
    "epochs": 2,
    "lr": 0.01,
    "batch_size": 2,
    "warmup_iters": 2,
    "grad_clip": 5.0,
    **LIGHT_HEADS,
}
ONLY_HFLIP = AugmentParams(
    hflip=1.0, vflip=0, rotate=0, affine=0, resized_crop=0, color_jitter=0, blur=0, noise=0
)


def square(x: int, y: int, side: int, label: str = "landslide") -> Region:
    return Region(label, ((x, y), (x + side, y), (x + side, y + side), (x, y + side)))


def make_images(root: Path, n: int, *, seed: int = 0, negatives_every: int = 3) -> list[ImageAnn]:
    """Dark noise with a bright square (a landslide) and, every third image, none."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    images = []
    for i in range(n):
        pixels = (rng.random((SIZE, SIZE, 3)) * 60).astype(np.uint8)
        regions: tuple[Region, ...] = ()
        if i % negatives_every != negatives_every - 1:
            x, y = (int(v) for v in rng.integers(4, 36, 2))
            pixels[y : y + 22, x : x + 22] = 230
            regions = (square(x, y, 22), square(2, 2, 6, "vegetation"))
            pixels[2:8, 2:8] = (20, 160, 20)
        name = f"im{i:02d}.png"
        Image.fromarray(pixels).save(root / "images" / name)
        images.append(ImageAnn(name, SIZE, SIZE, regions))
    return images


def make_data(root: Path, n_train: int = 4, n_val: int = 3) -> TrainPaths:
    images = make_images(root, n_train + n_val)
    write_coco(Annotations(images[:n_train]), root / "train.json", CLASSES)
    write_coco(Annotations(images[n_train:]), root / "val.json", CLASSES)
    return TrainPaths(
        root / "train.json", root / "images", root / "val.json", root / "images", root / "out"
    )


def light_params(tmp: Path, **train: Any) -> Params:
    return Params(
        classes=CLASSES,
        prepare={"size": (SIZE, SIZE)},
        train={**LIGHT, **train},
        mlflow={"tracking_uri": f"sqlite:///{tmp}/mlflow.db", "experiment": "train-tests"},
    )


@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A sqlite tracking store with the experiment's artifacts in the temp dir."""
    with sqlite_tracking(tmp_path_factory.mktemp("mlflow"), "train-tests") as (client, _, _):
        yield client


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory, tracking: Any) -> dict[str, Any]:
    """Two epochs in one go, logged to MLflow: shared by the output and resume tests."""
    tmp = tmp_path_factory.mktemp("straight")
    paths = make_data(tmp)
    params = light_params(tmp)
    result = train("A", "resnet50", params, paths=paths)
    return {"tmp": tmp, "paths": paths, "params": params, "result": result}


# --------------------------------------------------------------------------- data


def test_dataset_targets_have_the_right_shapes_for_positives_and_negatives(tmp_path: Path):
    paths = make_data(tmp_path, n_train=3, n_val=0)
    ds = DetectionDataset(dataset_dicts(paths.train_json, paths.train_images, CLASSES))
    image, target = ds[0]
    assert image.dtype == torch.float32 and image.shape == (3, SIZE, SIZE)
    assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
    assert target["labels"].tolist() == [1, 2]  # landslide, vegetation: Params order
    assert target["masks"].dtype == torch.uint8 and target["masks"].shape == (2, SIZE, SIZE)
    assert target["area"].tolist() == [22 * 22, 6 * 6]
    box = target["boxes"][1].tolist()
    assert box == [2.0, 2.0, 8.0, 8.0]  # XYXY, pixel edges
    assert target["iscrowd"].tolist() == [0, 0]
    assert int(target["image_id"]) == 0
    _, negative = ds[2]
    assert negative["boxes"].shape == (0, 4) and negative["boxes"].dtype == torch.float32
    assert negative["masks"].shape == (0, SIZE, SIZE)
    assert negative["labels"].shape == (0,) and negative["labels"].dtype == torch.int64
    images, targets = collate_fn([ds[0], ds[2]])
    assert len(images) == 2 and len(targets) == 2


def test_dataset_with_online_augment_keeps_dtypes(tmp_path: Path):
    paths = make_data(tmp_path, n_train=3, n_val=0)
    records = dataset_dicts(paths.train_json, paths.train_images, CLASSES)
    ds = DetectionDataset(records, transform=OnlineAugment(ONLY_HFLIP))
    image, target = ds[0]
    assert type(image) is torch.Tensor and image.dtype == torch.float32
    assert target["boxes"].shape == (2, 4) and target["masks"].dtype == torch.uint8
    plain = DetectionDataset(records)[0][1]
    x1 = plain["boxes"][0, 2].item()
    assert target["boxes"][0, 0].item() == SIZE - x1  # flipped


def test_dataset_rejects_unknown_class_and_missing_image(tmp_path: Path):
    from landslide.errors import AnnotationError

    make_images(tmp_path, 1)
    write_coco(
        Annotations([ImageAnn("im00.png", SIZE, SIZE, (square(1, 1, 9, "rock"),))]),
        tmp_path / "bad.json",
        [*CLASSES, "rock"],
    )
    with pytest.raises(AnnotationError, match="'rock' is not one of the classes"):
        dataset_dicts(tmp_path / "bad.json", tmp_path / "images", CLASSES)
    write_coco(Annotations([ImageAnn("gone.png", SIZE, SIZE)]), tmp_path / "gone.json", CLASSES)
    with pytest.raises(AnnotationError, match="not found"):
        dataset_dicts(tmp_path / "gone.json", tmp_path / "images", CLASSES)


# --------------------------------------------------------------------------- engine pieces


def test_losses_get_the_study_names():
    raw = {
        "loss_classifier": torch.tensor(1.0),
        "loss_box_reg": torch.tensor(2.0),
        "loss_mask": torch.tensor(3.0),
        "loss_objectness": torch.tensor(4.0),
        "loss_rpn_box_reg": torch.tensor(5.0),
    }
    named = {k: float(v) for k, v in study_names(raw).items()}
    assert named == {
        "total": 15.0,
        "mrcnn_class": 1.0,
        "mrcnn_bbox": 2.0,
        "mrcnn_mask": 3.0,
        "rpn_class": 4.0,
        "rpn_bbox": 5.0,
    }
    assert set(named) == set(LOSS_KEYS)


def test_lr_warms_up_then_follows_the_schedule():
    warm = lr_lambda(TrainParams(warmup_iters=10, epochs=4), steps_per_epoch=5)
    assert warm(0) == pytest.approx(1e-3)
    assert warm(5) == pytest.approx(1e-3 * 0.5 + 0.5)
    assert warm(10) == warm(19) == 1.0
    step = lr_lambda(
        TrainParams(warmup_iters=0, lr_schedule="step", lr_steps=[2, 3], lr_gamma=0.1, epochs=4),
        steps_per_epoch=5,
    )
    assert [step(i * 5) for i in range(4)] == pytest.approx([1.0, 1.0, 0.1, 0.01])
    cosine = lr_lambda(TrainParams(warmup_iters=0, lr_schedule="cosine", epochs=4), 5)
    assert [cosine(i * 5) for i in range(4)] == pytest.approx(
        [0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)]
    )


def test_image_level_metrics_exact_numbers_and_zero_divisions():
    m, _ = image_level(
        [0.95, 0.85, 0.5, 0.9, 0.1, 0.0], [True, True, True, False, False, False], 0.8
    )
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (2, 1, 1, 2)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["non_landslide_precision"] == pytest.approx(2 / 3)  # tn / (tn + fn)
    assert m["non_landslide_recall"] == pytest.approx(2 / 3)  # tn / (tn + fp)
    # one definition with evaluate: an undefined ratio is None, not 0.0
    none, warnings = image_level([0.1, 0.2], [False, False], 0.8)
    assert none["precision"] is none["recall"] is none["f1"] is None
    assert none["accuracy"] == 1.0 and none["non_landslide_f1"] == 1.0
    assert any("precision undefined" in w for w in warnings)
    assert image_level([], [], 0.8)[0]["accuracy"] is None
    assert image_level([0.8], [True], 0.8)[0]["tp"] == 1  # the threshold counts as detected


def test_best_score_takes_the_landslide_class_only():
    outputs = [
        {"scores": torch.tensor([0.9, 0.7]), "labels": torch.tensor([2, 1])},
        {"scores": torch.tensor([]), "labels": torch.tensor([], dtype=torch.int64)},
    ]
    assert [best_score(o, 1) for o in outputs] == pytest.approx([0.7, 0.0])


class _NanModel(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))

    def forward(self, images: Any, targets: Any) -> dict[str, torch.Tensor]:
        return {"loss_classifier": self.w.sum() * float("nan"), "loss_mask": self.w.sum()}


def test_non_finite_loss_stops_with_epoch_step_and_cause():
    model = _NanModel()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    batch = ([torch.zeros(3, 4, 4)], [{"labels": torch.zeros(0, dtype=torch.int64)}])
    with pytest.raises(TrainError) as info:
        train_one_epoch(model, opt, [batch], torch.device("cpu"), epoch=3)
    text = info.value.render()
    assert "epoch 3 step 1" in text and "mrcnn_class nan" in text
    assert "lr" in text and "warm" in text and "FrozenBatchNorm2d" in text
    assert torch.equal(model.w.detach(), torch.ones(1))  # no step taken


def test_huge_learning_rate_is_caught_as_non_finite(tmp_path: Path):
    paths = make_data(tmp_path, n_train=4, n_val=0)
    params = light_params(tmp_path, lr=1e8, warmup_iters=0, grad_clip=0.0, epochs=3)
    with pytest.raises(TrainError, match=r"loss is not finite at epoch \d+ step \d+"):
        train("A", "resnet50", params, paths=paths, log_mlflow=False)


def test_negatives_only_batch_trains_and_validation_keeps_bn_statistics(tmp_path: Path):
    paths = make_data(tmp_path, n_train=3, n_val=0)
    params = light_params(tmp_path)
    ds = DetectionDataset(dataset_dicts(paths.train_json, paths.train_images, CLASSES))
    torch.manual_seed(0)
    model, _ = build_model("resnet50", CLASSES, params.train, size=(SIZE, SIZE))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.001)
    negatives = [collate_fn([ds[2], ds[2]])]
    mixed = [collate_fn([ds[0], ds[2]])]
    losses = train_one_epoch(model, opt, negatives + mixed, torch.device("cpu"), 1, grad_clip=5)
    assert set(losses) == set(LOSS_KEYS) and all(math.isfinite(v) for v in losses.values())
    bn = model.backbone.body.bn1
    before = (bn.running_mean.clone(), int(bn.num_batches_tracked))
    rng = torch.get_rng_state()
    val = validation_losses(model, mixed, torch.device("cpu"))
    assert all(math.isfinite(v) for v in val.values())
    assert torch.equal(bn.running_mean, before[0]) and int(bn.num_batches_tracked) == before[1]
    assert torch.equal(torch.get_rng_state(), rng)  # the training stream is untouched
    assert model.training and bn.training


# --------------------------------------------------------------------------- the stage


def test_training_writes_model_metrics_and_losses(straight: dict[str, Any]):
    result, paths = straight["result"], straight["paths"]
    out = paths.out_dir
    assert [int(r["epoch"]) for r in result.history] == [1, 2]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["train"]) == set(LOSS_KEYS)
    assert {"precision", "recall", "f1", "total", "threshold"} <= set(metrics["val"])
    lines = (out / "losses.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[:7] == ["epoch", *(f"train_{k}" for k in LOSS_KEYS)]
    assert "val_f1" in header and len(lines) == 3
    assert (out / "losses.png").read_bytes()[:4] == b"\x89PNG"
    kept = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
    best = result.best_epoch
    assert kept == sorted({f"epoch_{e:03d}.pt" for e in (best, 2)})
    model, info = load_model(out / "model.pt", classes=CLASSES, backbone="resnet50")
    assert info.epoch == 2 and info.size == (SIZE, SIZE) and info.norm == "batch"
    assert not model.training
    assert model.transform.min_size == (SIZE,) and model.transform.max_size == SIZE
    with torch.no_grad():
        (pred,) = model([torch.rand(3, SIZE, SIZE)])
    assert set(pred) == {"boxes", "labels", "scores", "masks"}


def test_mlflow_run_has_every_loss_per_epoch(straight: dict[str, Any], tracking: Any):
    run = tracking.get_run(straight["result"].run_id)
    assert run.info.run_name == "resnet50-setA"
    assert run.data.params["train.lr"] == "0.01" and run.data.params["set"] == "A"
    assert run.data.params["prepare.size"] == "[64, 64]"
    tags = run.data.tags
    assert tags["backbone"] == "resnet50" and tags["set"] == "A" and tags["device"] == "cpu"
    assert tags["data_version"].startswith(("sha256:", "dvc:"))
    names = [f"{split}/{k}" for split in ("train", "val") for k in LOSS_KEYS]
    names += ["val/precision", "val/recall", "val/f1", "lr"]
    for name in names:
        history = tracking.get_metric_history(run.info.run_id, name)
        assert sorted(m.step for m in history) == [1, 2], name
    artifacts = {a.path for a in tracking.list_artifacts(run.info.run_id, "model")}
    assert {"model/model.json", "model/losses.png"} <= artifacts
    assert "model/model.pt" not in artifacts  # the weights travel once, in the pyfunc model


def test_the_run_model_resolves_to_the_trained_weights(
    straight: dict[str, Any], tracking: Any, tmp_path: Path
) -> None:
    import os

    from landslide.registry import resolve_model

    run_id = straight["result"].run_id
    local = resolve_model(f"runs:/{run_id}/model", os.environ["MLFLOW_TRACKING_URI"], dst=tmp_path)
    trained = straight["paths"].out_dir / "model.pt"
    assert local.read_bytes() == trained.read_bytes()


def test_resume_gives_the_same_weights_as_a_straight_run(
    straight: dict[str, Any], tmp_path: Path, tracking: Any
):
    paths = make_data(tmp_path)
    params = light_params(tmp_path, epochs=1)
    first = train("A", "resnet50", params, paths=paths)
    assert [p.name for p in (paths.out_dir / "checkpoints").glob("*.pt")] == ["epoch_001.pt"]
    params.train.epochs = 2
    second = train("A", "resnet50", params, paths=paths, resume=True)
    assert second.start_epoch == 2 and second.run_id == first.run_id
    a = torch.load(straight["paths"].out_dir / "model.pt", weights_only=True)
    b = torch.load(paths.out_dir / "model.pt", weights_only=True)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    for r1, r2 in zip(second.history, straight["result"].history, strict=True):
        assert {k: v for k, v in r1.items() if k != "train_seconds"} == {
            k: v for k, v in r2.items() if k != "train_seconds"
        }
    steps = tracking.get_metric_history(second.run_id, "train/total")
    assert sorted(m.step for m in steps) == [1, 2]


def test_resume_errors(tmp_path: Path, straight: dict[str, Any]):
    paths = make_data(tmp_path)
    params = light_params(tmp_path, epochs=1)
    with pytest.raises(TrainError, match="nothing to resume"):
        train("A", "resnet50", params, paths=paths, resume=True, log_mlflow=False)
    ckpt_dir = paths.out_dir / "checkpoints"
    ckpt_dir.mkdir(parents=True)
    source = next((straight["paths"].out_dir / "checkpoints").glob("*.pt"))
    (ckpt_dir / "epoch_001.pt").write_bytes(source.read_bytes()[:5000])  # truncated
    with pytest.raises(TrainError, match="corrupt, truncated"):
        train("A", "resnet50", params, paths=paths, resume=True, log_mlflow=False)
    (ckpt_dir / "epoch_001.pt").write_bytes(source.read_bytes())
    with pytest.raises(TrainError, match="made for backbone resnet50, not resnet101"):
        train("A", "resnet101", params, paths=paths, resume=True, log_mlflow=False)
    other = light_params(tmp_path, epochs=1)
    other.classes = [*CLASSES, "rock"]
    with pytest.raises(TrainError, match=r"classes \[landslide, .*building\], not \[.*, rock\]"):
        train("A", "resnet50", other, paths=paths, resume=True, log_mlflow=False)
    state = read_checkpoint(ckpt_dir / "epoch_001.pt")
    assert state["epoch"] in (1, 2) and "rng" in state and "optimizer" in state


def test_nested_under_a_parent_run(tmp_path: Path, tracking: Any):
    import mlflow

    paths = make_data(tmp_path, n_train=2, n_val=0)
    params = light_params(tmp_path, epochs=1, batch_size=2)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("train-tests")
    with mlflow.start_run(run_name="flow") as parent:
        result = train("B", "resnet50", params, paths=paths)
    run = tracking.get_run(result.run_id)
    assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert run.info.run_name == "resnet50-setB"


def test_empty_train_split_is_a_typed_error(tmp_path: Path):
    write_coco(Annotations([]), tmp_path / "train.json", CLASSES)
    paths = TrainPaths(tmp_path / "train.json", tmp_path, None, None, tmp_path / "out")
    with pytest.raises(TrainError, match="training split is empty"):
        train("A", "resnet50", light_params(tmp_path), paths=paths, log_mlflow=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_requested_but_absent():
    with pytest.raises(TrainError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(TrainError, match="unknown device"):
        resolve_device("tpu9")


# --------------------------------------------------------------------------- CLI


def test_cli_empty_train_split_and_bad_backbone_exit_2(tmp_path: Path):
    (tmp_path / "params.yaml").write_text(
        "classes: [landslide, vegetation, water_body, building]\n"
        "train: {weights: none}\nprepare: {size: [64, 64]}\n"
    )
    splits = tmp_path / "data/processed/augmented/A"
    splits.mkdir(parents=True)
    write_coco(Annotations([]), splits / "train.json", CLASSES)
    result = run_cli(["train", "--backbone", "resnet50", "--set", "A"], tmp_path)
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "training split is empty" in result.output
    assert "Traceback" not in result.output
    result = run_cli(["train", "--backbone", "resnet18", "--set", "A"], tmp_path)
    assert result.exit_code == 2 and "unknown backbone 'resnet18'" in result.output
    assert "Traceback" not in result.output
    result = run_cli(["train", "--backbone", "resnet50", "--set", "C"], tmp_path)
    assert result.exit_code == 2 and "unknown set 'C'" in result.output
    result = run_cli(["train", "--backbone", "resnet50", "--set", "B"], tmp_path)
    assert result.exit_code == 2 and "training split not found" in result.output
    result = run_cli(["train", "--backbone", "resnet50", "--set", "A", "--resume"], tmp_path)
    assert result.exit_code == 2, result.output


@pytest.mark.slow
def test_cli_trains_one_epoch_with_a_summary(tmp_path: Path):
    make_data(tmp_path / "data", n_train=2, n_val=2)
    processed = tmp_path / "data/processed"
    (processed / "augmented/A").mkdir(parents=True)
    (processed / "splits/A").mkdir(parents=True)
    (processed / "prepared").mkdir(parents=True)
    os.replace(tmp_path / "data/train.json", processed / "augmented/A/train.json")
    os.replace(tmp_path / "data/val.json", processed / "splits/A/val.json")
    (processed / "augmented/A/images").symlink_to(tmp_path / "data/images")
    (processed / "prepared/images").symlink_to(tmp_path / "data/images")
    light = ", ".join(f"{k}: {v}" for k, v in {**LIGHT, "epochs": 1}.items())
    (tmp_path / "params.yaml").write_text(
        f"prepare: {{size: [64, 64]}}\ntrain: {{{light}}}\n"
        f"mlflow: {{tracking_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n"
    )
    env_uri = os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        result = run_cli(["train", "-b", "resnet50", "--set", "A"], tmp_path)
    finally:
        if env_uri is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env_uri
    assert result.exit_code == 0, result.output
    assert "epoch 1/1: train total" in result.output
    assert "train: 1 epochs (1-1)" in result.output
    assert (tmp_path / "models/resnet50-setA/model.pt").is_file()


# --------------------------------------------------------------------------- DDP


@pytest.mark.slow
def test_ddp_two_gloo_processes(tmp_path: Path):
    make_data(tmp_path / "data", n_train=2, n_val=0)
    processed = tmp_path / "processed"
    (processed / "augmented/A").mkdir(parents=True)
    os.replace(tmp_path / "data/train.json", processed / "augmented/A/train.json")
    (processed / "augmented/A/images").symlink_to(tmp_path / "data/images")
    light = ", ".join(f"{k}: {v}" for k, v in {**LIGHT, "epochs": 1, "batch_size": 1}.items())
    params_file = tmp_path / "params.yaml"
    params_file.write_text(
        f"prepare: {{size: [64, 64]}}\ntrain: {{{light}, device: cpu}}\n"
        f"mlflow: {{tracking_uri: 'sqlite:///{tmp_path}/mlflow.db'}}\n"
    )
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlflow.db",
    }
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--standalone",
        "-m",
        "landslide.train",
        "--backbone",
        "resnet50",
        "--set",
        "A",
        "--params",
        str(params_file),
        "--data",
        str(processed),
        "--models",
        str(tmp_path / "models"),
    ]
    # a session of its own: on a timeout the launcher and both workers are killed together
    proc = subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"torchrun timed out:\n{stdout}\n{stderr}")
    assert proc.returncode == 0, stdout + stderr
    assert "x 2 processes" in stderr
    assert stdout.count("train: 1 epochs") == 1  # rank 0 only
    out = tmp_path / "models/resnet50-setA"
    state = torch.load(out / "model.pt", weights_only=True)
    assert "backbone.body.conv1.weight" in state  # not wrapped in DDP's `module.`
    assert json.loads((out / "model.json").read_text())["epoch"] == 1


def test_optimizer_choice() -> None:
    from landslide.params import TrainParams
    from landslide.train import make_optimizer

    weights = [torch.nn.Parameter(torch.zeros(2))]
    sgd = make_optimizer(weights, TrainParams(lr=0.01, momentum=0.8))
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.8
    adamw = make_optimizer(weights, TrainParams(optimizer="adamw", lr=3e-4, weight_decay=0.05))
    assert isinstance(adamw, torch.optim.AdamW)
    assert adamw.defaults["betas"] == (0.9, 0.999) and adamw.defaults["weight_decay"] == 0.05
    assert sgd.defaults["fused"] and adamw.defaults["fused"]  # one kernel over all tensors


def test_fused_steps_equal_the_plain_ones() -> None:
    from landslide.params import TrainParams
    from landslide.train import make_optimizer

    torch.manual_seed(0)
    start, grads = torch.randn(5, 3), [torch.randn(5, 3) for _ in range(3)]
    for optimizer in ("sgd", "adamw"):
        p = TrainParams(optimizer=optimizer, lr=0.01, weight_decay=0.01)
        fused, plain = torch.nn.Parameter(start.clone()), torch.nn.Parameter(start.clone())
        ours = make_optimizer([fused], p)
        cls = torch.optim.AdamW if optimizer == "adamw" else torch.optim.SGD
        same = ("lr", "momentum", "betas", "weight_decay")
        theirs = cls([plain], **{k: v for k, v in ours.defaults.items() if k in same})
        for g in grads:
            fused.grad, plain.grad = g.clone(), g.clone()
            ours.step()
            theirs.step()
        assert torch.allclose(fused, plain, atol=1e-6), optimizer


def test_log_progress_writes_one_line_per_epoch() -> None:
    from landslide.train import LogProgress

    lines: list[str] = []
    progress = LogProgress(lines.append, "resnet50-setA")
    progress.start(["device cpu"])
    progress.epoch_start(1, 2, steps=3)
    row = {k: 0.5 for k in ("train_total", "train_rpn_class", "train_rpn_bbox")}
    row |= {k: 0.25 for k in ("train_mrcnn_class", "train_mrcnn_bbox", "train_mrcnn_mask")}
    progress.epoch_end({"epoch": 1, "lr": 0.01, "train_seconds": 12.0, **row})
    assert lines == [
        "resnet50-setA: device cpu",
        "resnet50-setA epoch 1/2: train total 0.500 (rpn_class 0.500, rpn_bbox 0.500, "
        "mrcnn_class 0.250, mrcnn_bbox 0.250, mrcnn_mask 0.250), lr 0.01, 12 s",
    ]


# --------------------------------------------------------------------------- train.classes


def test_train_classes_landslide_alone(tmp_path: Path):
    """train.classes [landslide]: other regions are background; the model has one class."""
    paths = make_data(tmp_path)
    params = light_params(tmp_path, classes=["landslide"], epochs=1)
    assert params.model_classes == ["landslide"]
    records = dataset_dicts(paths.train_json, paths.train_images, CLASSES, keep=["landslide"])
    full = dataset_dicts(paths.train_json, paths.train_images, CLASSES)
    assert {a["category_id"] for r in records for a in r["annotations"]} == {1}
    assert sum(len(r["annotations"]) for r in full) > sum(len(r["annotations"]) for r in records)
    train("A", "resnet50", params, paths=paths, log_mlflow=False)
    model, info = load_model(paths.out_dir / "model.pt")
    assert info.classes == ["landslide"]
    assert model.roi_heads.box_predictor.cls_score.out_features == 2  # background, landslide
    with pytest.raises(TrainError, match=r"made for classes \[landslide\], not"):
        load_model(paths.out_dir / "model.pt", classes=CLASSES)


def test_train_classes_the_annotations_lack_name_the_class_and_file(tmp_path: Path):
    paths = make_data(tmp_path)  # landslide and vegetation regions, no water_body
    params = light_params(tmp_path, classes=["landslide", "water_body"])
    with pytest.raises(TrainError, match=r"'water_body'.*no region of the training split") as info:
        train("A", "resnet50", params, paths=paths, log_mlflow=False)
    assert info.value.file == str(paths.train_json)


def test_train_classes_must_be_known_and_hold_landslide():
    from landslide.errors import ParamsError
    from landslide.params import parse_params

    with pytest.raises(ParamsError, match=r"train\.classes: 'rock' not in classes"):
        parse_params({"train": {"classes": ["landslide", "rock"]}})
    with pytest.raises(ParamsError, match=r"train\.classes must include 'landslide'"):
        parse_params({"train": {"classes": ["vegetation"]}})


def test_run_epochs_shortens_one_run_and_says_so(tmp_path: Path):
    class Lines(TrainProgress):
        def start(self, lines):  # type: ignore[no-untyped-def]
            self.lines = list(lines)

    paths = make_data(tmp_path)
    progress = Lines()
    params = light_params(tmp_path, epochs=2, run_epochs={"resnet50-setA": 1})
    result = train("A", "resnet50", params, paths=paths, log_mlflow=False, progress=progress)
    assert [int(r["epoch"]) for r in result.history] == [1] and result.epochs == 1
    assert "epochs 1 for resnet50-setA (train.run_epochs resnet50-setA; train.epochs is 2)" in (
        progress.lines
    )
