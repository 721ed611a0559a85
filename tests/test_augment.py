"""Augmentation: polygons, masks and boxes move with the pixels; copies are reproducible."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools.coco import COCO
from shapely.geometry import Polygon
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F
from typer.testing import CliRunner

from landslide.annotations.coco import read_coco, write_coco
from landslide.annotations.model import Annotations, ImageAnn, Region
from landslide.augment import (
    OnlineAugment,
    augment,
    augment_image,
    build_transforms,
    mask_boxes,
    rasterize,
    sample_seed,
    seeded,
)
from landslide.cli import app
from landslide.errors import AnnotationError
from landslide.params import AugmentParams

CLASSES = ["landslide", "vegetation", "water_body", "building"]
W = H = 64
OFF = {
    "hflip": 0.0,
    "vflip": 0.0,
    "rotate": 0.0,
    "affine": 0.0,
    "resized_crop": 0.0,
    "color_jitter": 0.0,
    "blur": 0.0,
    "noise": 0.0,
}


def only(**kw: Any) -> AugmentParams:
    """Params with every transform off except those named."""
    return AugmentParams(**{**OFF, **kw})


def square(x0: float, y0: float, x1: float, y1: float, label: str = "landslide") -> Region:
    return Region(label, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)))


def scene(regions: list[Region], seed: int = 0) -> torch.Tensor:
    """A textured image with each region painted bright: pixels and polygons agree."""
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
    for r in regions:
        img[rasterize(r.polygon, H, W).astype(bool)] = (200, 180, 160)
    return torch.from_numpy(img).permute(2, 0, 1).contiguous()


def run(transforms: Any, regions: list[Region], seed: int = 0):
    with seeded(seed):
        return augment_image(scene(regions), regions, transforms)


def vertices(region: Region) -> set[tuple[float, float]]:
    return {(round(x, 6), round(y, 6)) for x, y in region.polygon}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / max(1, (a | b).sum())


class Shift(v2.Transform):
    """A fixed translation in pixels, for instances pushed out or cut by the border."""

    def __init__(self, dx: float, dy: float) -> None:
        super().__init__()
        self.dx, self.dy = dx, dy

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(
            F.affine, inpt, angle=0.0, translate=[self.dx, self.dy], scale=1.0, shear=[0.0, 0.0]
        )


# ------------------------------------------------------------------------- geometry


def test_hflip_is_pixel_exact() -> None:
    region = square(10, 12, 30, 28)
    image = scene([region])
    with seeded(0):
        out = augment_image(image, [region], build_transforms(only(hflip=1.0)))
    assert vertices(out.regions[0]) == vertices(square(W - 30, 12, W - 10, 28))
    assert torch.equal(out.image, image.flip(-1))
    expected = torch.from_numpy(rasterize(region.polygon, H, W)).flip(-1)
    assert torch.equal(out.masks[0], expected)
    assert out.boxes[0].tolist() == [W - 30, 12, W - 10, 28]
    assert mask_boxes(out.masks)[0].tolist() == [W - 30, 12, W - 10, 28]


def test_vflip_is_pixel_exact() -> None:
    region = square(10, 12, 30, 28)
    image = scene([region])
    with seeded(0):
        out = augment_image(image, [region], build_transforms(only(vflip=1.0)))
    assert vertices(out.regions[0]) == vertices(square(10, H - 28, 30, H - 12))
    assert torch.equal(out.image, image.flip(-2))
    assert mask_boxes(out.masks)[0].tolist() == [10, H - 28, 30, H - 12]


def rotated(x: float, y: float, degrees: float) -> tuple[float, float]:
    """Counter-clockwise on screen (torchvision's sense) about the image centre."""
    a = math.radians(degrees)
    cx, cy = W / 2, H / 2
    return (
        cx + (x - cx) * math.cos(a) + (y - cy) * math.sin(a),
        cy - (x - cx) * math.sin(a) + (y - cy) * math.cos(a),
    )


@pytest.mark.parametrize("degrees", [90.0, 10.0, -7.0])
def test_rotation_lands_where_expected(degrees: float) -> None:
    region = square(14, 16, 34, 30)
    out = run(v2.RandomRotation((degrees, degrees)), [region])
    expected = Polygon([rotated(x, y, degrees) for x, y in region.polygon])
    got = Polygon(out.regions[0].polygon)
    assert got.hausdorff_distance(expected) < 0.01  # exact, up to the JSON's 2 decimals
    # the mask (moved as pixels) agrees with the polygon within 1 px
    assert np.allclose(mask_boxes(out.masks)[0], out.boxes[0], atol=1.0)
    assert iou(out.masks[0].numpy(), rasterize(out.regions[0].polygon, H, W)) > 0.85
    if degrees == 90.0:  # (x, y) -> (y, W - x): exact on the pixel grid
        assert mask_boxes(out.masks)[0].tolist() == [16, W - 34, 30, W - 14]


def test_scale_and_shift_land_where_expected() -> None:
    region = square(20, 22, 36, 40)
    affine = v2.RandomAffine(degrees=0, translate=(0, 0), scale=(1.25, 1.25))
    out = run(affine, [region])
    cx, cy = W / 2, H / 2
    want = [
        cx + 1.25 * (20 - cx),
        cy + 1.25 * (22 - cy),
        cx + 1.25 * (36 - cx),
        cy + 1.25 * (40 - cy),
    ]
    assert np.allclose(out.boxes[0], want, atol=1e-4)
    assert np.allclose(mask_boxes(out.masks)[0], want, atol=1.0)


@pytest.mark.parametrize(
    ("zoom", "atol"),
    [
        (False, 1.0),  # rotations, shifts, flips: the moved mask is within 1 px of the polygon
        # zoom (scale up to 1.1, resized crop up to ~1.5x) magnifies the mask's pixel steps:
        # nearest-neighbour resampling of a rasterised mask is then within 2 px
        (True, 2.0),
    ],
)
def test_random_geometry_keeps_masks_boxes_and_polygons_consistent(zoom: bool, atol: float) -> None:
    regions = [square(8, 8, 28, 26), square(34, 30, 56, 54, "vegetation")]
    if zoom:
        p = AugmentParams(max_degrees=30.0, resized_crop=0.5)
    else:
        p = AugmentParams(max_degrees=30.0, scale=(1.0, 1.0), resized_crop=0.0)
    transforms = build_transforms(p)
    seen = 0
    for seed in range(40):
        out = run(transforms, regions, seed)
        assert len(out.regions) == len(out.masks) == len(out.boxes) == out.kept
        assert out.kept + out.dropped == len(regions)
        for region, mask, bbox in zip(out.regions, out.masks, out.boxes, strict=True):
            xs, ys = zip(*region.polygon, strict=True)
            assert min(xs) >= 0 and min(ys) >= 0 and max(xs) <= W and max(ys) <= H
            assert bbox.tolist() == pytest.approx([min(xs), min(ys), max(xs), max(ys)], abs=1e-4)
            if mask.sum() < 20:
                continue  # a sliver at the border: no stable bbox to compare
            seen += 1
            assert np.allclose(mask_boxes(mask[None])[0], bbox, atol=atol), (seed, region)
            assert iou(mask.numpy(), rasterize(region.polygon, H, W)) > 0.8
    assert seen > 50


def test_instance_pushed_out_is_dropped_and_one_cut_keeps_its_visible_part() -> None:
    inside, cut, gone = square(4, 4, 14, 14), square(40, 20, 60, 40), square(52, 44, 62, 60)
    out = run(Shift(14, 0), [inside, cut, gone])
    assert (out.kept, out.clipped, out.dropped) == (2, 1, 1)
    moved_inside, visible = out.regions
    assert vertices(moved_inside) == vertices(square(18, 4, 28, 14))
    assert Polygon(visible.polygon).area == pytest.approx(10 * 20)  # 54..64 of 54..74
    assert vertices(visible) == vertices(square(54, 20, 64, 40))
    assert out.boxes[1].tolist() == [54, 20, 64, 40]
    assert mask_boxes(out.masks)[1].tolist() == [54, 20, 64, 40]
    assert [r.region_id for r in out.regions] == [0, 1]


def test_colour_transforms_leave_geometry_unchanged() -> None:
    region = square(10, 12, 30, 28)
    image = scene([region])
    with seeded(3):
        p = only(color_jitter=1.0, blur=1.0, noise=1.0)
        out = augment_image(image, [region], build_transforms(p))
    assert out.regions[0].polygon == region.polygon
    assert torch.equal(out.masks[0], torch.from_numpy(rasterize(region.polygon, H, W)))
    assert not torch.equal(out.image, image)


def test_same_seed_same_sample_other_copy_other_sample() -> None:
    regions = [square(10, 12, 30, 28)]
    transforms = build_transforms(AugmentParams())
    a = run(transforms, regions, sample_seed(42, "a.jpg", 1))
    b = run(transforms, regions, sample_seed(42, "a.jpg", 1))
    c = run(transforms, regions, sample_seed(42, "a.jpg", 2))
    assert torch.equal(a.image, b.image) and a.regions == b.regions
    assert not torch.equal(a.image, c.image)
    assert sample_seed(42, "a.jpg", 1) != sample_seed(43, "a.jpg", 1)
    assert sample_seed(42, "a.jpg", 1) == sample_seed(42, "a.jpg", 1)


# ---------------------------------------------------------------------------- online


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_online_transform_types_and_consistency(dtype: torch.dtype) -> None:
    regions = [square(8, 8, 28, 26), square(34, 30, 56, 54)]
    image = scene(regions)
    if dtype == torch.float32:
        image = image.float() / 255
    masks = torch.from_numpy(np.stack([rasterize(r.polygon, H, W) for r in regions]))
    target = {
        "masks": masks,
        "labels": torch.tensor([1, 2]),
        "boxes": mask_boxes(masks),
        "iscrowd": torch.zeros(2, dtype=torch.int64),
        "image_id": 7,
    }
    aug = OnlineAugment(AugmentParams(hflip=1.0, rotate=1.0, affine=1.0))
    for seed in range(5):
        torch.manual_seed(seed)
        img, out = aug(image, target)
        assert isinstance(img, tv_tensors.Image) and img.dtype == dtype
        assert img.shape == (3, H, W)
        assert isinstance(out["masks"], tv_tensors.Mask)
        assert isinstance(out["boxes"], tv_tensors.BoundingBoxes)
        assert out["boxes"].format == tv_tensors.BoundingBoxFormat.XYXY
        n = len(out["masks"])
        assert len(out["labels"]) == len(out["boxes"]) == len(out["iscrowd"]) == n
        assert (out["masks"].flatten(1).sum(1) >= 4).all()
        assert torch.equal(out["boxes"].as_subclass(torch.Tensor), mask_boxes(out["masks"]))
        assert out["image_id"] == 7
    assert target["masks"] is masks  # the caller's target is not modified


# --------------------------------------------------------------------------- offline


def make_split(root: Path, n: int = 3, suffix: str = ".jpg") -> tuple[Path, Path]:
    """A tiny train split: n images (one negative), COCO JSON written with write_coco."""
    images = root / "images"
    images.mkdir(parents=True)
    anns = []
    for i in range(n):
        regions = [] if i == n - 1 else [square(8 + i, 10, 30 + i, 28), square(40, 36, 60, 60)]
        name = f"p{i}{suffix}"
        arr = scene(regions, seed=i).permute(1, 2, 0).numpy()
        Image.fromarray(arr).save(images / name)
        regions = [Region(r.label, r.polygon, j) for j, r in enumerate(regions)]
        anns.append(ImageAnn(name, W, H, tuple(regions)))
    train = root / "splits" / "A" / "train.json"
    train.parent.mkdir(parents=True)
    write_coco(Annotations(anns), train, CLASSES)
    return train, images


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools
def test_offline_output_is_coco_with_originals_and_counts(tmp_path: Path) -> None:
    train, images = make_split(tmp_path)
    out = tmp_path / "aug"
    p = AugmentParams(copies=2, workers=1)
    s = augment(train, images, out, p, CLASSES)
    coco = COCO(str(out / "train.json"))
    names = [im["file_name"] for im in coco.dataset["images"]]
    assert names == [
        "p0.jpg", "p0_aug1.jpg", "p0_aug2.jpg",
        "p1.jpg", "p1_aug1.jpg", "p1_aug2.jpg",
        "p2.jpg", "p2_aug1.jpg", "p2_aug2.jpg",
    ]  # fmt: skip
    for name in names:
        assert (out / "images" / name).is_file()
        with Image.open(out / "images" / name) as im:
            assert im.size == (W, H)
    assert (out / "images" / "p0.jpg").read_bytes() == (images / "p0.jpg").read_bytes()
    counts = json.loads((out / "augment.json").read_text())
    assert counts == s.counts()
    assert counts["originals"] == 3 and counts["copies"] == 6 and counts["images"] == 9
    inst = counts["instances"]
    assert inst["originals"] == 4
    assert inst["kept"] + inst["dropped"] == 4 * 2
    copies = [
        a for a in coco.dataset["annotations"] if "_aug" in coco.imgs[a["image_id"]]["file_name"]
    ]
    assert len(copies) == inst["kept"]
    for a in coco.dataset["annotations"]:  # COCO bbox is the polygon's, masks decode
        mask = coco.annToMask(a)
        assert mask.sum() > 0
        x, y, w, h = a["bbox"]
        assert x >= 0 and y >= 0 and x + w <= W and y + h <= H
    back = read_coco(out / "train.json")
    extra = dict(back.images[1].attributes)
    assert extra["augmented_from"] == "p0.jpg" and extra["copy"] == "1"
    assert not list(tmp_path.glob(".aug.*"))  # no staging left behind


def test_offline_is_deterministic_and_workers_do_not_change_bytes(tmp_path: Path) -> None:
    train, images = make_split(tmp_path, n=4)
    p = AugmentParams(copies=2, workers=1)
    augment(train, images, tmp_path / "one", p, CLASSES)
    augment(train, images, tmp_path / "again", p, CLASSES)
    augment(train, images, tmp_path / "two", p.model_copy(update={"workers": 2}), CLASSES)
    one = files(tmp_path / "one")
    assert one == files(tmp_path / "again") == files(tmp_path / "two")
    assert one["images/p0_aug1.jpg"] != one["images/p0_aug2.jpg"]
    augment(train, images, tmp_path / "seed", p.model_copy(update={"seed": 7}), CLASSES)
    assert files(tmp_path / "seed")["images/p0_aug1.jpg"] != one["images/p0_aug1.jpg"]


def test_rerun_replaces_the_previous_output(tmp_path: Path) -> None:
    train, images = make_split(tmp_path)
    out = tmp_path / "aug"
    augment(train, images, out, AugmentParams(copies=2, workers=1), CLASSES)
    s = augment(train, images, out, AugmentParams(copies=1, workers=1), CLASSES)
    assert s.copies == 3
    assert not list((out / "images").glob("*_aug2.jpg"))


@pytest.mark.parametrize("workers", [1, 2])
def test_a_failed_run_leaves_the_previous_output_untouched(tmp_path: Path, workers: int) -> None:
    train, images = make_split(tmp_path, n=4)
    out = tmp_path / "aug"
    augment(train, images, out, AugmentParams(copies=1, workers=1), CLASSES)
    before = files(out)
    (images / "p2.jpg").unlink()  # a new file, not the inode hard-linked into the output
    (images / "p2.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(AnnotationError, match="cannot read image"):
        augment(train, images, out, AugmentParams(copies=2, workers=workers), CLASSES)
    assert files(out) == before
    assert not list(tmp_path.glob(".aug.*"))


def test_image_size_must_match_the_annotations(tmp_path: Path) -> None:
    train, images = make_split(tmp_path)
    Image.new("RGB", (W + 1, H)).save(images / "p1.jpg")
    with pytest.raises(AnnotationError, match=r"65x64 but the annotations say 64x64"):
        augment(train, images, tmp_path / "aug", AugmentParams(copies=1, workers=1), CLASSES)


def test_online_mode_writes_the_originals_only(tmp_path: Path) -> None:
    train, images = make_split(tmp_path, suffix=".png")
    out = tmp_path / "aug"
    s = augment(train, images, out, AugmentParams(mode="online", workers=1), CLASSES)
    assert (s.mode, s.originals, s.copies) == ("online", 3, 0)
    assert sorted(p.name for p in (out / "images").iterdir()) == ["p0.png", "p1.png", "p2.png"]
    assert len(read_coco(out / "train.json").images) == 3
    assert "online" in s.summary_line()


# ------------------------------------------------------------------------------- CLI


def test_cli_augments_each_set(tmp_path: Path) -> None:
    _, images = make_split(tmp_path)
    params = tmp_path / "params.yaml"
    params.write_text("augment: {copies: 1, workers: 1}\n", encoding="utf-8")
    out = tmp_path / "augmented"
    result = CliRunner().invoke(
        app,
        [
            "augment",
            "--set",
            "A",
            "--splits",
            str(tmp_path / "splits"),
            "--images",
            str(images),
            "--out",
            str(out),
            "--params",
            str(params),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "A: augment: 3 originals + 3 copies" in result.output
    assert (out / "A" / "train.json").is_file() and (out / "A" / "augment.json").is_file()


def test_cli_missing_train_json_is_a_user_error(tmp_path: Path) -> None:
    _, images = make_split(tmp_path)
    result = CliRunner().invoke(
        app,
        ["augment", "--set", "B", "--splits", str(tmp_path / "splits"), "--images", str(images)],
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "train.json" in result.output
    assert "Traceback" not in result.output
