"""Models: architectures, where the weights come from, what trains, loading the final model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import torch
import torchvision.models._api as tv_api
from torch import nn
from torchvision.models import ResNet50_Weights, ResNet101_Weights, resnet101
from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights
from torchvision.ops import FrozenBatchNorm2d

from landslide.errors import TrainError
from landslide.model import ModelInfo, build_model, load_model, norm_of, skeleton
from landslide.params import TrainParams
from landslide.train import write_model

CLASSES = ["landslide", "vegetation", "water_body", "building"]
SIZE = (64, 64)


def params(**kw: Any) -> TrainParams:
    return TrainParams(**{"weights": "none", **kw})


def _no_network(url: str, *args: Any, **kwargs: Any) -> Any:
    raise URLError("[Errno -3] Temporary failure in name resolution")


@pytest.fixture(scope="module")
def coco_state() -> dict[str, torch.Tensor]:
    """What COCO_V1 holds: a 91-class ResNet-50-FPN Mask R-CNN, FrozenBatchNorm (faked)."""
    torch.manual_seed(1)
    return skeleton("resnet50", 90, "v1", SIZE, norm="frozen").state_dict()


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch, coco_state: dict[str, torch.Tensor]) -> list[str]:
    """torchvision's downloader answering from memory; returns the URLs asked for."""
    asked: list[str] = []

    def fake(url: str, *args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        asked.append(url)
        if url == MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url:
            return coco_state
        if url == ResNet101_Weights.IMAGENET1K_V1.url:
            torch.manual_seed(2)
            return resnet101().state_dict()
        if url == ResNet50_Weights.IMAGENET1K_V1.url:
            body = {k: v for k, v in coco_state.items() if k.startswith("backbone.body.")}
            return {k.removeprefix("backbone.body."): v for k, v in body.items()}
        raise URLError(f"unexpected download {url}")

    monkeypatch.setattr(tv_api, "load_state_dict_from_url", fake)
    return asked


def test_resnet50_from_scratch_has_new_predictors_and_batchnorm():
    model, report = build_model("resnet50", CLASSES, params(), size=SIZE)
    heads = model.roi_heads
    assert heads.box_predictor.cls_score.out_features == len(CLASSES) + 1
    assert heads.box_predictor.bbox_pred.out_features == 4 * (len(CLASSES) + 1)
    assert heads.mask_predictor.mask_fcn_logits.out_channels == len(CLASSES) + 1
    assert norm_of(model) == ("batch", 1e-5)
    assert not any(isinstance(m, FrozenBatchNorm2d) for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())  # untrained: all layers train
    assert model.transform.min_size == (64,) and model.transform.max_size == 64
    assert "all 5 layers train" in " ".join(report.lines())


def test_variants_and_resnet101_build():
    v2, _ = build_model("resnet50", CLASSES, params(variant="v2"), size=(128, 96))
    assert len(v2.rpn.head.conv) == 2  # the v2 RPN head has two convs
    assert v2.transform.min_size == (96,) and v2.transform.max_size == 128
    r101, _ = build_model("resnet101", CLASSES, params(), size=SIZE)
    assert len(r101.backbone.body.layer3) == 23
    assert r101.roi_heads.box_predictor.cls_score.out_features == 5
    with pytest.raises(TrainError, match="unknown backbone 'resnet18'"):
        build_model("resnet18", CLASSES, params(), size=SIZE)


def test_untrained_model_gives_finite_losses():
    torch.manual_seed(0)
    model, _ = build_model("resnet50", CLASSES, params(rpn_batch_size_per_image=32), size=SIZE)
    target = _mask_target()
    losses = model([torch.rand(3, 64, 64), torch.rand(3, 64, 64)], [target, target])
    assert all(torch.isfinite(v) for v in losses.values())


def test_coco_without_network_says_how_to_go_on(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", _no_network)
    for backbone, weights in (
        ("resnet50", "coco"),
        ("resnet101", "coco"),
        ("resnet50", "imagenet"),
    ):
        with pytest.raises(TrainError) as info:
            build_model(backbone, CLASSES, params(weights=weights), size=SIZE)
        text = info.value.render()
        assert "cannot fetch" in text and "name resolution" in text
        assert "--weights PATH" in text and "--weights none" in text


def test_resnet50_coco_loads_everything_but_the_predictors(downloads: list[str], coco_state):
    model, report = build_model(
        "resnet50", CLASSES, params(weights="coco", trainable_layers=3), size=SIZE
    )
    assert downloads == [MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url]
    state = model.state_dict()
    for key in ("backbone.body.layer3.0.conv1.weight", "rpn.head.conv.0.0.weight"):
        assert torch.equal(state[key], coco_state[key])
    assert torch.equal(
        state["roi_heads.box_head.fc6.weight"], coco_state["roi_heads.box_head.fc6.weight"]
    )
    assert state["roi_heads.box_predictor.cls_score.weight"].shape[0] == 5
    assert norm_of(model) == ("frozen", 0.0)  # COCO_V1 was trained with eps 0
    body = model.backbone.body
    trainable = {n.split(".")[0] for n, p in body.named_parameters() if p.requires_grad}
    assert trainable == {"layer2", "layer3", "layer4"}
    text = "\n".join(report.lines())
    assert "COCO_V1" in text and "roi_heads.box_predictor.cls_score.weight" in text


def test_resnet101_coco_takes_imagenet_body_and_coco_heads(downloads: list[str], coco_state):
    model, report = build_model("resnet101", CLASSES, params(weights="coco"), size=SIZE)
    assert set(downloads) == {
        ResNet101_Weights.IMAGENET1K_V1.url,
        MaskRCNN_ResNet50_FPN_Weights.COCO_V1.url,
    }
    state = model.state_dict()
    torch.manual_seed(2)
    imagenet = resnet101().state_dict()
    assert torch.equal(
        state["backbone.body.layer3.22.conv1.weight"], imagenet["layer3.22.conv1.weight"]
    )
    assert torch.equal(state["backbone.body.conv1.weight"], imagenet["conv1.weight"])  # not COCO's
    for key in (
        "backbone.fpn.layer_blocks.0.0.weight",
        "rpn.head.cls_logits.weight",
        "roi_heads.mask_head.0.0.weight",
    ):
        assert torch.equal(state[key], coco_state[key]), key
    text = "\n".join(report.lines())
    assert "IMAGENET1K_V1 (backbone body)" in text and "FPN, RPN, RoI heads" in text
    assert norm_of(model) == ("frozen", 1e-5)


def test_imagenet_loads_the_backbone_body_only(downloads: list[str], coco_state):
    torch.manual_seed(0)
    model, report = build_model("resnet50", CLASSES, params(weights="imagenet"), size=SIZE)
    state = model.state_dict()
    key = "backbone.body.layer1.0.conv1.weight"
    assert torch.equal(state[key], coco_state[key])
    assert not torch.equal(
        state["rpn.head.cls_logits.weight"], coco_state["rpn.head.cls_logits.weight"]
    )
    assert list(report.loaded) == ["ResNet50_Weights.IMAGENET1K_V1 (backbone body)"]


def _mask_target() -> dict[str, torch.Tensor]:
    target = {
        "boxes": torch.tensor([[10.0, 10.0, 40.0, 40.0]]),
        "labels": torch.tensor([1]),
        "masks": torch.zeros(1, 64, 64, dtype=torch.uint8),
    }
    target["masks"][0, 10:40, 10:40] = 1
    return target


def test_detectron2_head_init_starts_the_mask_and_class_losses_at_ln2(tmp_path: Path):
    light = {"rpn_batch_size_per_image": 32, "box_batch_size_per_image": 32}
    images, targets = [torch.rand(3, 64, 64)] * 2, [_mask_target()] * 2
    losses = {}
    for init in ("torchvision", "detectron2"):
        torch.manual_seed(0)
        model, _ = build_model("resnet50", CLASSES, params(head_init=init, **light), size=SIZE)
        losses[init] = {k: float(v) for k, v in model(images, targets).items()}
    # torchvision's Kaiming mask logits start far from ln 2 on an untrained backbone
    assert losses["torchvision"]["loss_mask"] > 1.5
    # detectron2's small normal init: every RoI starts near 50/50 (ln 2 = 0.693 for a
    # mask pixel; ln 5 = 1.61 for five classes)
    assert losses["detectron2"]["loss_mask"] == pytest.approx(0.693, abs=0.02)
    assert losses["detectron2"]["loss_classifier"] == pytest.approx(1.609, abs=0.05)
    weights = model.roi_heads.mask_predictor.mask_fcn_logits.weight
    assert float(weights.std()) == pytest.approx(0.001, rel=0.1)
    assert not model.roi_heads.box_predictor.cls_score.bias.any()
    # weights that hold fitting predictors win over the init
    torch.save(model.state_dict(), tmp_path / "w.pt")
    path_params = params(head_init="detectron2", weights=str(tmp_path / "w.pt"))
    loaded, _ = build_model("resnet50", CLASSES, path_params, size=SIZE)
    assert torch.equal(loaded.roi_heads.mask_predictor.mask_fcn_logits.weight, weights)


def test_weights_from_a_path(tmp_path: Path):
    torch.manual_seed(0)
    other, _ = build_model("resnet50", ["landslide", "rock"], params(), size=SIZE)
    path = tmp_path / "other.pt"
    torch.save(other.state_dict(), path)
    model, report = build_model("resnet50", CLASSES, params(weights=str(path)), size=SIZE)
    key = "backbone.fpn.inner_blocks.0.0.weight"
    assert torch.equal(model.state_dict()[key], other.state_dict()[key])
    assert norm_of(model)[0] == "frozen"  # a pretrained backbone keeps its statistics
    assert any("roi_heads.box_predictor" in k for k in report.skipped)
    torch.save({"model": other.state_dict(), "epoch": 3}, tmp_path / "ckpt.pt")  # a checkpoint
    build_model("resnet50", CLASSES, params(weights=str(tmp_path / "ckpt.pt")), size=SIZE)

    with pytest.raises(TrainError, match=r"weights do not fit.*missing: backbone.body.layer3.6"):
        build_model("resnet101", CLASSES, params(weights=str(path)), size=SIZE)
    state = other.state_dict()
    state["extra.head.weight"] = torch.zeros(3)
    state["backbone.fpn.inner_blocks.0.0.weight"] = torch.zeros(1, 2)
    torch.save(state, tmp_path / "odd.pt")
    with pytest.raises(TrainError) as info:
        build_model("resnet50", CLASSES, params(weights=str(tmp_path / "odd.pt")), size=SIZE)
    text = info.value.render()
    assert "1 unexpected: extra.head.weight" in text
    assert "backbone.fpn.inner_blocks.0.0.weight (1, 2) != (256, 256, 1, 1)" in text
    assert "odd.pt" in text and "hint:" in text


def test_bad_weight_files(tmp_path: Path):
    with pytest.raises(TrainError, match="weights file not found"):
        build_model("resnet50", CLASSES, params(weights=str(tmp_path / "no.pt")), size=SIZE)
    (tmp_path / "junk.pt").write_bytes(b"not a torch file at all")
    with pytest.raises(TrainError, match="corrupt, truncated"):
        build_model("resnet50", CLASSES, params(weights=str(tmp_path / "junk.pt")), size=SIZE)
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(TrainError, match="not a state dict"):
        build_model("resnet50", CLASSES, params(weights=str(tmp_path / "list.pt")), size=SIZE)


def test_pickled_code_is_refused(tmp_path: Path):
    class Evil:
        def __reduce__(self) -> Any:
            return (print, ("pwned",))

    torch.save({"model": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(TrainError, match="corrupt, truncated or not a torch file"):
        build_model("resnet50", CLASSES, params(weights=str(tmp_path / "evil.pt")), size=SIZE)


def test_train_heads_only_freezes_backbone_fpn_and_rpn():
    model, _ = build_model("resnet50", CLASSES, params(train_heads_only=True), size=SIZE)
    trainable = {n.split(".")[0] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"roi_heads"}
    assert any(p.requires_grad for p in model.roi_heads.mask_head.parameters())


def test_load_model_round_trip_and_errors(tmp_path: Path):
    torch.manual_seed(0)
    model, _ = build_model("resnet50", CLASSES, params(), size=SIZE)
    info = ModelInfo(classes=CLASSES, backbone="resnet50", variant="v1", size=SIZE, epoch=4)
    path = tmp_path / "model.pt"
    write_model(model, info, path)
    loaded, got = load_model(path, classes=CLASSES, backbone="resnet50")
    assert got.epoch == 4 and got.size == SIZE
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value)
    with pytest.raises(TrainError, match="made for backbone resnet50, not resnet101"):
        load_model(path, backbone="resnet101")
    with pytest.raises(TrainError, match=r"made for classes \[landslide, .*\], not \[landslide\]"):
        load_model(path, classes=["landslide"])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(TrainError, match="corrupt, truncated"):
        load_model(path)
    path.write_bytes(data)
    meta = json.loads(path.with_suffix(".json").read_text())
    path.with_suffix(".json").write_text(json.dumps({**meta, "backbone": "resnet101"}))
    with pytest.raises(TrainError, match=r"weights do not match model\.json"):
        load_model(path)
    path.with_suffix(".json").write_text("{")
    with pytest.raises(TrainError, match="not valid JSON"):
        load_model(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(TrainError, match=r"model.json not found"):
        load_model(path)


def test_model_info_json_round_trip(tmp_path: Path):
    info = ModelInfo(classes=CLASSES, backbone="resnet101", variant="v2", size=(512, 384))
    back = ModelInfo.from_json(json.loads(json.dumps(info.to_json())), tmp_path)
    assert back == info
    with pytest.raises(TrainError, match="unknown backbone"):
        ModelInfo.from_json({**info.to_json(), "backbone": "vgg"}, tmp_path)


def test_skeleton_norm_layers():
    frozen = skeleton("resnet50", 4, "v1", SIZE, norm="frozen", bn_eps=0.0)
    assert isinstance(frozen.backbone.body.bn1, FrozenBatchNorm2d)
    assert frozen.backbone.body.bn1.eps == 0.0
    assert isinstance(skeleton("resnet50", 4, "v1", SIZE).backbone.body.bn1, nn.BatchNorm2d)


def test_anchor_sizes_are_built_and_saved(tmp_path: Path):
    p = params(anchor_sizes=[8, 16, 32, 64, 128])
    model, _ = build_model("resnet50", CLASSES, p, size=SIZE)
    assert model.rpn.anchor_generator.sizes == ((8,), (16,), (32,), (64,), (128,))
    default, _ = build_model("resnet50", CLASSES, params(variant="v2"), size=SIZE)
    assert default.rpn.anchor_generator.sizes == ((32,), (64,), (128,), (256,), (512,))
    info = ModelInfo(
        classes=CLASSES, backbone="resnet50", variant="v1", size=SIZE, anchor_sizes=p.anchor_sizes
    )
    write_model(model, info, tmp_path / "model.pt")
    loaded, got = load_model(tmp_path / "model.pt")
    assert loaded.rpn.anchor_generator.sizes == model.rpn.anchor_generator.sizes
    assert got.anchor_sizes == [8, 16, 32, 64, 128]
    from landslide.errors import ParamsError
    from landslide.params import parse_params

    with pytest.raises(ParamsError, match=r"train\.anchor_sizes: one anchor size per FPN level"):
        parse_params({"train": {"anchor_sizes": [8, 16]}})


def test_anchor_ratios_are_built_and_saved(tmp_path: Path):
    p = params(anchor_ratios=[0.25, 0.5, 1, 2, 4])
    model, _ = build_model("resnet50", CLASSES, p, size=SIZE)
    assert model.rpn.anchor_generator.aspect_ratios[0] == (0.25, 0.5, 1.0, 2.0, 4.0)
    assert model.rpn.head.cls_logits.out_channels == 5  # one objectness per anchor shape
    default, _ = build_model("resnet50", CLASSES, params(), size=SIZE)
    assert default.rpn.anchor_generator.aspect_ratios[0] == (0.5, 1.0, 2.0)
    info = ModelInfo(
        classes=CLASSES,
        backbone="resnet50",
        variant="v1",
        size=SIZE,
        anchor_ratios=list(p.anchor_ratios),
    )
    write_model(model, info, tmp_path / "model.pt")
    loaded, got = load_model(tmp_path / "model.pt")
    assert loaded.rpn.anchor_generator.aspect_ratios == model.rpn.anchor_generator.aspect_ratios
    assert got.anchor_ratios == [0.25, 0.5, 1.0, 2.0, 4.0]
    # a model.json written before anchor_ratios existed loads with torchvision's ratios
    old = {k: v for k, v in info.to_json().items() if k != "anchor_ratios"}
    assert ModelInfo.from_json(old, tmp_path).anchor_ratios == []


def test_background_iou_threshold_reaches_the_roi_matcher():
    model, _ = build_model("resnet50", CLASSES, params(box_bg_iou_thresh=0.3), size=SIZE)
    matcher = model.roi_heads.proposal_matcher
    assert (matcher.low_threshold, matcher.high_threshold) == (0.3, 0.5)
