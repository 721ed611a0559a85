"""The export's check: ONNX Runtime and PyTorch run the same images and every detection
must match (same label, boxes, scores and mask probabilities within `Tolerance`); where
they differ, PyTorch's own float32 noise (against float64) widens the tolerance.

The images are a folder of photos (read as `predict` reads them) or synthetic ones at the
model's size.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch
from torch import Tensor

from landslide.errors import ExportError
from landslide.inference.onnx import OnnxDetector

CHECK_IMAGES = 3  # synthetic images the export is checked on when none are given
MAX_PIXELS = 89_478_485  # photos read for the check: Pillow's decompression-bomb limit
NOISE_FACTOR = 3.0  # two float32 runtimes each off by e from exact differ by up to 2e, + margin


@dataclass(frozen=True)
class Tolerance:
    """How close ONNX Runtime's detections must be to PyTorch's.

    A box coordinate may differ by `box_px` + `box_rel` x the box's longer side (float32
    rounding grows with the coordinates), a score by `score`, a mask (at 0.5) in `mask` of
    its pixels beyond a one-pixel band along its edge (`mask_diff`). `unmatched`: detections
    found by one runtime only (away from the score threshold) that are accepted.
    """

    box_px: float = 0.05
    box_rel: float = 1e-3
    score: float = 2e-3
    mask: float = 0.01
    unmatched: int = 0

    def box_bound(self, side: float) -> float:
        return self.box_px + self.box_rel * side

    def widened(self, noise: Parity, factor: float = NOISE_FACTOR) -> Tolerance:
        """At least `factor` times PyTorch's own float32 rounding noise (`noise`: PyTorch
        float32 against float64 on the same images)."""
        return Tolerance(
            box_px=max(self.box_px, factor * noise.box_px),
            box_rel=self.box_rel,
            score=max(self.score, factor * noise.score),
            mask=max(self.mask, factor * noise.mask),
            unmatched=max(self.unmatched, math.ceil(factor * len(noise.unmatched))),
        )


@dataclass
class Parity:
    """Differences between two runtimes' detections over the same images."""

    images: int = 0
    pairs: list[tuple[int, int, float, float, float, float]] = field(default_factory=list)
    # ^ (image, detection, box side px, max |diff| of box px, score, mask) per matched one
    unmatched: list[str] = field(default_factory=list)  # found by one runtime only
    borderline: int = 0  # found by one only, but at the score threshold or the per-image cap
    tolerance: Tolerance = Tolerance()
    noise: Parity | None = None  # PyTorch float32 against float64, when it was measured

    @property
    def detections(self) -> int:
        return len(self.pairs)

    @property
    def box_px(self) -> float:
        return max((p[3] for p in self.pairs), default=0.0)

    @property
    def score(self) -> float:
        return max((p[4] for p in self.pairs), default=0.0)

    @property
    def mask(self) -> float:
        return max((p[5] for p in self.pairs), default=0.0)

    @property
    def problems(self) -> list[str]:
        tol = self.tolerance
        out = list(self.unmatched) if len(self.unmatched) > tol.unmatched else []
        for image, i, side, box, score, mask in self.pairs:
            for name, value, bound in (
                ("box", box, tol.box_bound(side)),
                ("score", score, tol.score),
                ("mask", mask, tol.mask),
            ):
                if not value <= bound:  # NaN fails too
                    out.append(
                        f"image {image}: detection {i} {name} differs by {value:.3g} "
                        f"(> {bound:.3g})"
                    )
        return out

    @property
    def ok(self) -> bool:
        return not self.problems

    def within(self, tolerance: Tolerance) -> Parity:
        return replace(self, tolerance=tolerance)

    def line(self) -> str:
        text = (
            f"{self.images} images, {self.detections} detections: max |diff| boxes "
            f"{self.box_px:.2g} px, scores {self.score:.2g}, masks {self.mask:.2%} of pixels "
            "beyond the edge"
        )
        if self.noise is not None:
            text += (
                f" (within {NOISE_FACTOR:g}x PyTorch's own float32 noise: boxes "
                f"{self.noise.box_px:.2g} px, scores {self.noise.score:.2g}, masks "
                f"{self.noise.mask:.2%} against float64)"
            )
        return text


# --------------------------------------------------------------------------- images


def read_images(
    folder: Path, size: tuple[int, int], max_pixels: int = MAX_PIXELS, limit: int = 8
) -> list[Tensor]:
    """Up to `limit` photos of `folder` (sorted), as the model takes them (predict's input)."""
    from landslide.annotations.images import BadImage
    from landslide.inference import model_input, read_photo

    out = []
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            photo = read_photo(path, max_pixels)
        except (BadImage, OSError):
            continue
        out.append(model_input(photo, size))
        photo.close()
        if len(out) == limit:
            break
    if not out:
        raise ExportError("no readable photo in the folder", file=folder)
    return out


def synthetic_images(size: tuple[int, int], n: int = CHECK_IMAGES, seed: int = 0) -> list[Tensor]:
    """Deterministic images at `size` (width, height): smooth terrain-like noise with a
    bright elongated patch, plus fine noise, so the heads see structure."""
    width, height = size
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        coarse = torch.rand(3, max(2, height // 16), max(2, width // 16), generator=g)
        image = torch.nn.functional.interpolate(
            coarse[None], size=(height, width), mode="bilinear", align_corners=False
        )[0]
        image = 0.2 + 0.4 * image + 0.05 * torch.rand(3, height, width, generator=g)
        x0, y0 = (
            int(v) for v in torch.randint(0, max(1, min(width, height) // 2), (2,), generator=g)
        )
        image[:, y0 : y0 + height // 3, x0 : x0 + width // 6] = torch.tensor([0.8, 0.7, 0.55])[
            :, None, None
        ]
        out.append(image.clamp(0, 1))
    return out


# --------------------------------------------------------------------------- checking


def check_parity(
    model: torch.nn.Module,
    detector: OnnxDetector,
    images: Sequence[Tensor],
    tolerance: Tolerance,
    score_thresh: float,
    cap: int,
) -> Parity:
    """`compare`; where differences exceed `tolerance`, measure PyTorch's own float32 noise
    on the same images (float32 against float64) and accept differences up to
    `NOISE_FACTOR` times it.

    A deep network amplifies rounding: on random-weight ResNet-101 at 512 px, PyTorch
    float32 and float64 disagree by ~0.4 px in boxes; ONNX Runtime is then judged by that.
    """
    parity = compare(model, detector, images, tolerance, score_thresh=score_thresh, cap=cap)
    if parity.ok:
        return parity
    noise = compare(model, float64(model), images, tolerance, score_thresh=score_thresh, cap=cap)
    widened = parity.within(tolerance.widened(noise))
    widened.noise = noise
    return widened


def compare(
    model: Callable[[list[Tensor]], list[dict[str, Tensor]]],
    onnx_model: Callable[[list[Tensor]], list[dict[str, Tensor]]],
    images: Sequence[Tensor],
    tolerance: Tolerance = Tolerance(),
    *,
    score_thresh: float = 0.05,
    cap: int = 100,
) -> Parity:
    """Run both on each image and match detections (same label, best box IoU >= 0.5).

    A detection found by one runtime only is borderline (not a problem) when its score is
    within `tolerance.score` of the score threshold, or of the lowest score kept where
    `cap` (`box_detections_per_img`) detections were kept: rounding decides those.
    """
    parity = Parity(tolerance=tolerance)
    for index, image in enumerate(images):
        with torch.no_grad():
            (ref,) = model([image])
        (got,) = onnx_model([image])
        parity.images += 1
        _match(index, ref, got, score_thresh, cap, parity)
    return parity


def _match(
    index: int,
    ref: dict[str, Tensor],
    got: dict[str, Tensor],
    score_thresh: float,
    cap: int,
    parity: Parity,
) -> None:
    from torchvision.ops import box_iou

    n_ref, n_got = len(ref["scores"]), len(got["scores"])
    # where a runtime kept `cap` detections, its lowest score is where the cap cut
    edges = [score_thresh]
    edges += [float(o["scores"].min()) for o in (ref, got) if len(o["scores"]) >= cap > 0]

    def one_sided(score: float, label: int, text: str) -> None:
        if any(abs(score - edge) <= parity.tolerance.score for edge in edges):
            parity.borderline += 1
        else:
            parity.unmatched.append(f"image {index}: {text} (label {label}, score {score:.4f})")

    used: set[int] = set()
    iou = box_iou(ref["boxes"], got["boxes"]) if n_ref and n_got else None
    for i in range(n_ref):
        label = int(ref["labels"][i])
        candidates = [j for j in range(n_got) if j not in used and int(got["labels"][j]) == label]
        j = (
            max(candidates, key=lambda c: float(iou[i, c]))
            if iou is not None and candidates
            else None
        )
        if j is None or float(iou[i, j]) < 0.5:  # type: ignore[index]
            one_sided(
                float(ref["scores"][i]), label, f"detection {i} missing from ONNX Runtime's output"
            )
            continue
        used.add(j)
        box = ref["boxes"][i]
        parity.pairs.append(
            (
                index,
                i,
                float(max(box[2] - box[0], box[3] - box[1])),
                float((box - got["boxes"][j]).abs().max()),
                abs(float(ref["scores"][i]) - float(got["scores"][j])),
                mask_diff(ref["masks"][i], got["masks"][j]),
            )
        )
    for j in range(n_got):
        if j not in used:
            text = "ONNX Runtime found a detection PyTorch did not"
            one_sided(float(got["scores"][j]), int(got["labels"][j]), text)


def float64(model: torch.nn.Module) -> Callable[[list[Tensor]], list[dict[str, Tensor]]]:
    """`model` computing in float64 (a copy), outputs back in float32: the reference that
    shows how far PyTorch's own float32 results are from exact."""
    import copy

    wide = copy.deepcopy(model).double().eval()

    def run(images: list[Tensor]) -> list[dict[str, Tensor]]:
        with torch.no_grad():
            outs = wide([image.double() for image in images])
        return [{k: v.float() if v.is_floating_point() else v for k, v in o.items()} for o in outs]

    return run


def mask_diff(a: Tensor, b: Tensor, threshold: float = 0.5) -> float:
    """How much two (1, H, W) mask probabilities disagree as masks: the pixels on one side of
    `threshold` in one and on the other in the other, leaving out a one-pixel band along
    `a`'s edge, as a fraction of the larger mask's pixels (0.0: equal up to the edge).

    torchvision pastes each mask at its box's corners truncated to integers: a corner a
    rounding error away from an integer moves the mask, or resamples it one pixel wider,
    which changes probabilities along the edge a lot and nowhere else.
    """
    ma, mb = a[0] >= threshold, b[0] >= threshold
    either = ma | mb
    if not bool(either.any()):
        return 0.0
    rows, cols = either.any(dim=1).nonzero(), either.any(dim=0).nonzero()
    top, bottom = max(int(rows.min()) - 1, 0), int(rows.max()) + 2
    left, right = max(int(cols.min()) - 1, 0), int(cols.max()) + 2
    ma, mb = ma[top:bottom, left:right], mb[top:bottom, left:right]

    def grow(m: Tensor) -> Tensor:
        return torch.nn.functional.max_pool2d(m[None, None].float(), 3, 1, 1)[0, 0] > 0

    band = grow(ma) & grow(~ma)  # pixels within one pixel of a's edge, both sides
    off = (ma ^ mb) & ~band
    return float(off.sum()) / max(int(ma.sum()), int(mb.sum()), 1)
