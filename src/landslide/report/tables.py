"""The study's tables regenerated: Table I (loss), II and III (P / R / F1), IV and V (frames).

Ours beside the study's published figures (`study_results.yaml`), and the metrics beyond
the study (COCO AP, pixel IoU, the swept and calibrated thresholds).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from landslide.report.render import (
    MISSING,
    UNDEFINED,
    Block,
    _fmt,
    _percent,
    bullets,
    heading,
    para,
    table,
)
from landslide.report.runs import BACKBONES, LABELS, Run

SET_TABLES = {"A": ("II", "table_2_set_A"), "B": ("III", "table_3_set_B")}
FRAME_TABLES = {"resnet50": ("IV", "table_4_frames_resnet50"),
                "resnet101": ("V", "table_5_frames_resnet101")}  # fmt: skip
FRAMES_SHOWN = 10


def table_1(runs: Sequence[Run], study: Mapping[str, Any]) -> list[Block]:
    published = study["table_1_loss"]
    epochs = sorted({int(e) for losses in published.values() for e in losses})
    rows = []
    for backbone in BACKBONES:
        ref = {int(k): v for k, v in published.get(backbone, {}).items()}
        rows.append(
            [f"{LABELS[backbone]} (study)", *(_fmt(ref.get(e), 4, MISSING) for e in epochs)]
        )
        for r in (r for r in runs if r.backbone == backbone):
            ours = _losses_by_epoch(r.losses)
            rows.append([f"{r.label} (ours)", *(_fmt(ours.get(e), 4, MISSING) for e in epochs)])
    return [
        heading("Table I: training loss"),
        para(
            "Overall training loss (the sum of the five Mask R-CNN losses) at the end of each "
            "epoch; ours is the mean over the epoch's steps (losses.csv, train_total)."
        ),
        table(["run", *(f"epoch {e}" for e in epochs)], rows),
    ]


def _losses_by_epoch(rows: Sequence[Mapping[str, str]] | None) -> dict[int, float]:
    out: dict[int, float] = {}
    for row in rows or []:
        try:
            epoch = int(float(row["epoch"]))
            value = row.get("train_total") or row.get("total") or row.get("train/total")
            out[epoch] = float(value)  # type: ignore[arg-type]
        except (KeyError, TypeError, ValueError):
            continue
    return out


def prf_table(
    runs: Sequence[Run], study: Mapping[str, Any], set_name: str, threshold: float
) -> list[Block]:
    number, key = SET_TABLES[set_name]
    published = study[key]
    rows = []
    for backbone in BACKBONES:
        run = next(r for r in runs if r.backbone == backbone and r.set_name == set_name)
        for cls in ("landslide", "non_landslide"):
            ref = published.get(backbone, {}).get(cls, {})
            ours = (run.metrics or {}).get(cls) if run.evaluated else None
            row: list[Any] = [LABELS[backbone], cls.replace("_", "-")]
            for metric in ("precision", "recall", "f1"):
                row += [_ours(ours, metric), _fmt(ref.get(metric), 2, MISSING)]
            rows.append(row)
    accuracy = [
        f"{r.label}: accuracy {_fmt(r.metrics.get('accuracy'), 2, UNDEFINED)}, "
        f"TP {r.metrics.get('tp')} TN {r.metrics.get('tn')} FP {r.metrics.get('fp')} "
        f"FN {r.metrics.get('fn')} on {r.metrics.get('images')} test photos"
        for r in runs
        if r.set_name == set_name and r.metrics
    ]
    blocks = [
        heading(f"Table {number}: Set {set_name}, image-level precision, recall and F1"),
        para(
            f"A photo is predicted landslide when a landslide detection scores at least "
            f"{threshold:g}; the non-landslide rows take the non-landslide photos as positives."
        ),
        table(
            [
                "backbone",
                "class",
                "precision (ours)",
                "precision (study)",
                "recall (ours)",
                "recall (study)",
                "F1 (ours)",
                "F1 (study)",
            ],
            rows,
        ),
    ]
    if accuracy:
        blocks.append(bullets(accuracy))
    return blocks


def _ours(values: Mapping[str, Any] | None, metric: str) -> str:
    if values is None:
        return MISSING
    return _fmt(values.get(metric), 2, UNDEFINED)


def pick_frames(
    frames: Sequence[Mapping[str, str]], seed: int, k: int = FRAMES_SHOWN
) -> list[Mapping[str, str]]:
    """`k` frames drawn with `seed` from the frames sorted by image, shown in image order."""
    ordered = sorted(frames, key=lambda f: f.get("image", ""))
    chosen = random.Random(seed).sample(range(len(ordered)), min(k, len(ordered)))
    return [ordered[i] for i in sorted(chosen)]


def frames_tables(
    runs: Sequence[Run], study: Mapping[str, Any], backbone: str, seed: int
) -> list[Block]:
    number, key = FRAME_TABLES[backbone]
    published = study.get(key, [])
    blocks: list[Block] = []
    have = [r for r in runs if r.backbone == backbone and r.frames]
    if not have:
        return [
            heading(f"Table {number}: {LABELS[backbone]}, per-frame results"),
            para(f"No {LABELS[backbone]} run has been evaluated yet ({MISSING})."),
        ]
    for run in have:
        chosen = pick_frames(run.frames or [], seed)
        n = max(len(chosen), len(published))
        rows = []
        for i in range(n):
            f = chosen[i] if i < len(chosen) else {}
            ref = published[i] if i < len(published) else {}
            rows.append(
                [
                    i + 1,
                    f.get("image", MISSING),
                    f.get("ground_truth", MISSING).replace("_", "-"),
                    _percent(f.get("confidence")),
                    f.get("outcome", MISSING),
                    f"{ref['confidence']}%" if "confidence" in ref else MISSING,
                    ref.get("outcome", MISSING),
                ]
            )
        blocks += [
            heading(f"Table {number}: {run.label}, per-frame results"),
            para(
                f"Ten test photos drawn with seed {seed}; confidence is the highest landslide "
                "score. The study's frames are other photos (its own test set), shown beside "
                "for reference."
            ),
            table(
                [
                    "frame",
                    "image",
                    "ground truth",
                    "confidence (ours)",
                    "outcome (ours)",
                    "confidence (study)",
                    "outcome (study)",
                ],
                rows,
            ),
        ]
    return blocks


def beyond_section(runs: Sequence[Run]) -> list[Block]:
    rows = []
    for r in runs:
        if not r.metrics:
            rows.append([r.name, *([MISSING] * 9)])
            continue
        coco = r.metrics.get("coco") or {}
        box, mask = coco.get("box") or {}, coco.get("mask") or {}
        pixel = r.metrics.get("pixel") or {}
        best = r.metrics.get("best") or {}
        best_text = (
            f"{_fmt(best.get('f1'), 2, UNDEFINED)} @ {best['threshold']:g}"
            if best.get("threshold") is not None
            else UNDEFINED
        )
        cal = r.metrics.get("calibrated") or {}
        cal_text = (
            f"{_fmt((cal.get('landslide') or {}).get('f1'), 2, UNDEFINED)} @ {cal['threshold']:g}"
            if cal.get("threshold") is not None
            else "off"
        )
        rows.append(
            [
                r.name,
                _fmt(box.get("AP"), 3, UNDEFINED),
                _fmt(box.get("AP50"), 3, UNDEFINED),
                _fmt(mask.get("AP"), 3, UNDEFINED),
                _fmt(mask.get("AP50"), 3, UNDEFINED),
                _fmt(mask.get("AP75"), 3, UNDEFINED),
                _fmt(pixel.get("iou"), 3, UNDEFINED),
                _fmt(pixel.get("f1"), 3, UNDEFINED),
                best_text,
                cal_text,
            ]
        )
    return [
        heading("Beyond the study: instance, pixel and threshold metrics"),
        para(
            "COCO AP over all classes (pycocotools), landslide pixel IoU and F1 over the test "
            "set, the swept score threshold with the best image-level F1 on the test split, "
            "and (with `evaluate.calibrate`) the test F1 at the threshold chosen on the "
            "validation split, the honest way to pick one; the headline stays at the study's "
            "threshold."
        ),
        table(
            [
                "run",
                "box AP",
                "box AP50",
                "mask AP",
                "mask AP50",
                "mask AP75",
                "pixel IoU",
                "pixel F1",
                "best F1 @ threshold",
                "F1 @ threshold chosen on val",
            ],
            rows,
        ),
    ]
