"""The page's sections beside the study's tables: the runs, how this run differs, the overlays."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from landslide.evaluate.mlflow_runs import read_metrics
from landslide.params import Params
from landslide.report.render import MISSING, Block, _distinct, _or, heading, image, para, table
from landslide.report.runs import Run, _read_csv

OVERLAYS_PER_RUN = 2


def runs_section(runs: Sequence[Run]) -> list[Block]:
    rows = []
    for r in runs:
        epochs = len(r.losses) if r.losses else (r.model or {}).get("epoch")
        images = (r.metrics or {}).get("images")
        mlflow = r.run_id or ("missing" if r.mlflow == "missing" else MISSING)
        rows.append([r.name, _or(epochs), _or(images), mlflow, ", ".join(r.missing()) or "ok"])
    blocks = [
        heading("Runs"),
        table(["run", "epochs trained", "test photos", "MLflow run", "status"], rows),
    ]
    missing = [r for r in runs if r.missing()]
    if missing:
        blocks.append(
            para(
                "Missing: "
                + "; ".join(f"{r.name} ({', '.join(r.missing())})" for r in missing)
                + '. Their cells below are "—"; train and evaluate them with '
                "`landslide train --backbone B --set S` and `landslide evaluate --backbone B "
                "--set S`."
            )
        )
    else:
        blocks.append(para("Every backbone x set of the study was trained and evaluated."))
    if all(r.mlflow == "not checked" for r in runs):
        blocks.append(para("MLflow runs were not checked (no tracking store found)."))
    return blocks


def differences_section(
    runs: Sequence[Run],
    study: Mapping[str, Any],
    params: Params,
    splits_summary: Path,
    provenance: Path,
) -> list[Block]:
    method = study["method"]
    models = [r.model for r in runs if r.model]
    details = [r.details for r in runs if r.details]
    sets = method["sets"]
    study_data = (
        f"{sets['A']['total']} real photos (search engines, archives); Set A train/val/test "
        f"{sets['A']['train']}/{sets['A']['val']}/{sets['A']['test']}, Set B train "
        f"{sets['B']['train']}"
    )
    size = method["image_size"]
    rows = [
        ["data", study_data, _our_data(splits_summary, provenance, details)],
        [
            "image size",
            f"{size[0]}x{size[1]}",
            _distinct(f"{m['size'][0]}x{m['size'][1]}" for m in models if m.get("size")),
        ],
        ["classes", ", ".join(method["classes"]), ", ".join(params.classes) + ", background"],
        ["starting weights", method["weights"], _distinct(str(m.get("weights")) for m in models)],
        ["epochs", method["epochs"], _distinct(str(m.get("epoch")) for m in models)],
        ["learning rate", method["learning_rate"], f"{params.train.lr:g}"],
        ["batch size", method["batch_size"], params.train.batch_size],
        ["score threshold", method["score_threshold"], f"{params.evaluate.threshold:g}"],
        [
            "training device",
            MISSING,
            _distinct(str(r.device or (r.model or {}).get("device")) for r in runs),
        ],
        [
            "evaluation device",
            MISSING,
            _distinct(str(d.get("device")) for d in details if d.get("device")),
        ],
        [
            "framework",
            "matterport Mask R-CNN (TensorFlow 1, Keras)",
            "torchvision Mask R-CNN (PyTorch)",
        ],
    ]
    return [
        heading("How this run differs from the study"),
        table(["aspect", "study", "this run"], rows),
    ]


def _our_data(splits_summary: Path, provenance: Path, details: Sequence[Mapping[str, Any]]) -> str:
    rows = _read_csv(provenance) or []
    sources = {r.get("source", "") for r in rows}
    if rows and sources == {"synthetic"}:
        kind = "synthetic sample (`landslide sample`)"
    elif rows:
        kind = "real photos"
    else:
        kind = "photos of unknown origin (no provenance.csv)"
    summary = read_metrics(splits_summary)
    counts = ""
    sets = (summary or {}).get("sets") or (summary or {}).get("counts")
    if isinstance(sets, dict):
        parts = []
        for set_name, splits in sets.items():
            if isinstance(splits, dict):
                sizes = "/".join(
                    str(v.get("images", "?") if isinstance(v, dict) else "?")
                    for v in splits.values()
                )
                parts.append(f"Set {set_name} {'/'.join(splits)} {sizes}")
        counts = "; " + "; ".join(parts)
    elif details:
        c = details[0].get("counts") or {}
        counts = (
            f"; test {c.get('images', '?')} photos ({c.get('landslide', '?')} landslide, "
            f"{c.get('non_landslide', '?')} without)"
        )
    return f"{kind}{' of ' + str(len(rows)) + ' photos' if rows else ''}{counts}"


def overlays_section(runs: Sequence[Run]) -> list[Block]:
    blocks: list[Block] = [
        heading("Overlays"),
        para(
            "Test photos with their detections (masks, boxes, class and score); the frame is "
            "the image-level outcome: green TP, red FP, orange FN, grey TN."
        ),
    ]
    shown = False
    for r in runs:
        for path in r.overlays[:OVERLAYS_PER_RUN]:
            blocks.append(image(path, f"{r.name}: {path.stem}"))
            shown = True
    if not shown:
        blocks.append(para("No overlays yet."))
    return blocks
