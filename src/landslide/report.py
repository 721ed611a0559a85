"""Report stage: the study's tables regenerated from this run, with the study's figures beside.

    result = report(Path("reports/report.md"), params)    # and reports/report.html

Reads, for each backbone x set of the study (ResNet-50 / ResNet-101 x Set A / Set B):
`models/<run>/losses.csv` and `model.json` (what `landslide train` writes) and
`reports/eval/<run>/metrics.json`, `eval.json`, `frames.csv`, `overlays/` (what
`landslide evaluate` writes). The study's figures come from one file,
`landslide/study_results.yaml` (package data); none is written in this module.

Writes one Markdown page, the same page as self-contained HTML (inline CSS, images as
base64 data URIs; nothing is fetched), and `<stem>_losses.png` (every run's loss curves
on one plot) beside them. Sections: the runs found (and which are missing: not trained,
not evaluated, no MLflow run), how this run differs from the study (data, weights,
device, epochs, image size, ...), Table I (training loss at the study's epochs; an
epoch the run does not have is "—"), Tables II and III (image-level precision, recall,
F1 for the landslide and non-landslide class, ours beside the study's), Tables IV and V
(ten test frames drawn with `params.seed`, the study's frames beside for reference),
COCO AP and pixel IoU (beyond the study), loss curves and a few overlays. A missing run
never stops the report: its cells are "—" and the runs section names it.
"""

from __future__ import annotations

import base64
import csv
import html
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from landslide.evaluate import markdown_table, read_metrics, save_figure
from landslide.io import write_text
from landslide.params import Params

STUDY_FILE = "study_results.yaml"
BACKBONES = ("resnet50", "resnet101")
SETS = ("A", "B")
LABELS = {"resnet50": "ResNet-50", "resnet101": "ResNet-101"}
SET_TABLES = {"A": ("II", "table_2_set_A"), "B": ("III", "table_3_set_B")}
FRAME_TABLES = {"resnet50": ("IV", "table_4_frames_resnet50"),
                "resnet101": ("V", "table_5_frames_resnet101")}  # fmt: skip
FRAMES_SHOWN = 10
OVERLAYS_PER_RUN = 2
MISSING = "—"  # a run or an epoch this run does not have
UNDEFINED = "n/a"  # a metric the run has but that is undefined (zero division)


def load_study() -> dict[str, Any]:
    """The study's published figures (Ullo et al. 2021), from the package's YAML file."""
    text = resources.files("landslide").joinpath(STUDY_FILE).read_text(encoding="utf-8")
    return yaml.safe_load(text)


# --------------------------------------------------------------------------- what a run left


@dataclass
class Run:
    backbone: str
    set_name: str
    losses: list[dict[str, str]] | None = None  # losses.csv rows
    model: dict[str, Any] | None = None  # model.json
    metrics: dict[str, Any] | None = None  # evaluation metrics.json
    details: dict[str, Any] | None = None  # evaluation eval.json
    frames: list[dict[str, str]] | None = None  # frames.csv rows
    overlays: list[Path] = field(default_factory=list)
    run_id: str | None = None
    mlflow: str = "not checked"  # found | missing | not checked
    device: str | None = None  # the training device, from the MLflow run's tags

    @property
    def name(self) -> str:
        return f"{self.backbone}-set{self.set_name}"

    @property
    def label(self) -> str:
        return f"{LABELS.get(self.backbone, self.backbone)} Set {self.set_name}"

    @property
    def trained(self) -> bool:
        return self.model is not None or bool(self.losses)

    @property
    def evaluated(self) -> bool:
        return self.metrics is not None

    def missing(self) -> list[str]:
        out = []
        if not self.trained:
            out.append("not trained")
        if not self.evaluated:
            out.append("not evaluated")
        if self.mlflow == "missing":
            out.append("no MLflow run")
        return out


def collect_runs(
    models_dir: Path, eval_dir: Path, params: Params, *, check_mlflow: bool = True
) -> list[Run]:
    """Every backbone x set of the study, with whatever files each left."""
    runs = []
    for backbone in BACKBONES:
        for set_name in SETS:
            run = Run(backbone, set_name)
            model_dir, ev = models_dir / run.name, eval_dir / run.name
            run.losses = _read_csv(model_dir / "losses.csv")
            run.model = read_metrics(model_dir / "model.json")
            run.metrics = read_metrics(ev / "metrics.json")
            run.details = read_metrics(ev / "eval.json")
            run.frames = _read_csv(ev / "frames.csv")
            run.overlays = sorted((ev / "overlays").glob("*.jpg")) if ev.is_dir() else []
            runs.append(run)
    if check_mlflow:
        _find_mlflow_runs(runs, params)
    return runs


def _read_csv(path: Path) -> list[dict[str, str]] | None:
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None


def _find_mlflow_runs(runs: Sequence[Run], params: Params) -> None:
    from mlflow.exceptions import MlflowException

    from landslide.evaluate import find_run, mlflow_client
    from landslide.tracking import tracking_uri

    try:
        client = mlflow_client(tracking_uri(params.mlflow))
        if client is None:
            return
        for run in runs:
            run.run_id = find_run(client, run.name, params.mlflow.experiment, run.model or {})
            run.mlflow = "found" if run.run_id else "missing"
            if run.run_id:
                run.device = client.get_run(run.run_id).data.tags.get("device")
    except (MlflowException, OSError):
        return


# --------------------------------------------------------------------------- document


@dataclass
class Block:
    """One piece of the page: heading, paragraph, bullets, table or image."""

    kind: str
    text: str = ""
    level: int = 2
    items: list[str] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    image: Path | None = None


def heading(text: str, level: int = 2) -> Block:
    return Block("heading", text, level=level)


def para(text: str) -> Block:
    return Block("para", text)


def bullets(items: Iterable[str]) -> Block:
    return Block("bullets", items=list(items))


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> Block:
    return Block("table", headers=list(headers), rows=[list(r) for r in rows])


def image(path: Path, alt: str) -> Block:
    return Block("image", alt, image=path)


def render_markdown(blocks: Sequence[Block], base: Path) -> str:
    parts = []
    for b in blocks:
        if b.kind == "heading":
            parts.append(f"{'#' * b.level} {b.text}\n")
        elif b.kind == "para":
            parts.append(b.text + "\n")
        elif b.kind == "bullets":
            parts.append("".join(f"- {item}\n" for item in b.items))
        elif b.kind == "table":
            parts.append(markdown_table(b.headers, b.rows))
        elif b.kind == "image" and b.image is not None:
            rel = Path(os.path.relpath(b.image, base)).as_posix()
            parts.append(f"![{b.text}]({rel})\n")
    return "\n".join(parts)


CSS = """
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem;
       color: #222; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1.2rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
th { background: #f2f2f2; }
tr:nth-child(even) td { background: #fafafa; }
img { max-width: 100%; margin: 0.3rem 0.3rem 0.3rem 0; vertical-align: top; }
figure { display: inline-block; margin: 0 0.6rem 0.6rem 0; }
figcaption { font-size: 0.85rem; color: #555; }
"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>",
    ]
    for b in blocks:
        if b.kind == "heading":
            parts.append(f"<h{b.level}>{esc(b.text)}</h{b.level}>")
        elif b.kind == "para":
            parts.append(f"<p>{esc(b.text)}</p>")
        elif b.kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
        elif b.kind == "table":
            head = "".join(f"<th>{esc(str(h))}</th>" for h in b.headers)
            body = "".join(
                "<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in row) + "</tr>" for row in b.rows
            )
            parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        elif b.kind == "image" and b.image is not None and b.image.is_file():
            parts.append(
                f'<figure><img src="{data_uri(b.image)}" alt="{esc(b.text)}">'
                f"<figcaption>{esc(b.text)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def data_uri(path: Path) -> str:
    kind = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}.get(
        path.suffix.lower(), "application/octet-stream"
    )
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


# --------------------------------------------------------------------------- the stage


@dataclass
class ReportResult:
    markdown: Path
    html: Path
    figure: Path | None
    runs: list[str]  # every backbone x set of the study
    present: list[str]  # those evaluated
    missing: dict[str, list[str]]  # run -> what it lacks

    def summary_line(self) -> str:
        missing = (
            " (missing: "
            + "; ".join(f"{name}: {', '.join(why)}" for name, why in self.missing.items())
            + ")"
            if self.missing
            else ""
        )
        return (
            f"report: {len(self.present)} of {len(self.runs)} runs evaluated{missing} "
            f"-> {self.markdown}, {self.html}"
        )


def report(
    out: Path,
    params: Params,
    *,
    models_dir: Path | None = None,
    eval_dir: Path = Path("reports/eval"),
    splits_summary: Path = Path("data/processed/splits/summary.json"),
    provenance: Path = Path("data/raw/provenance.csv"),
    check_mlflow: bool = True,
) -> ReportResult:
    """Write `out` (Markdown), `out` with .html, and the loss plot beside them."""
    out = Path(out)
    study = load_study()
    runs = collect_runs(
        models_dir or params.train.models_dir, eval_dir, params, check_mlflow=check_mlflow
    )
    figure = out.with_name(f"{out.stem}_losses.png")
    figure = figure if plot_losses(runs, figure) else None
    blocks = build(runs, study, params, figure, splits_summary, provenance)
    write_text(out, render_markdown(blocks, out.parent))
    html_path = out.with_suffix(".html")
    write_text(html_path, render_html(blocks, TITLE))
    return ReportResult(
        markdown=out,
        html=html_path,
        figure=figure,
        runs=[r.name for r in runs],
        present=[r.name for r in runs if r.evaluated],
        missing={r.name: r.missing() for r in runs if r.missing()},
    )


TITLE = "Landslide detection: this run beside Ullo et al. 2021"


def build(
    runs: Sequence[Run],
    study: Mapping[str, Any],
    params: Params,
    figure: Path | None,
    splits_summary: Path,
    provenance: Path,
) -> list[Block]:
    threshold = params.evaluate.threshold
    blocks = [
        heading(TITLE, 1),
        para(
            'The tables of Ullo et al. 2021 ("A New Mask R-CNN-Based Method for Improved '
            "Landslide Detection\", IEEE JSTARS 14) regenerated from this run's files, with "
            'the study\'s published figures beside them. "—" marks a run or epoch this run '
            f'does not have; "{UNDEFINED}" a metric that is undefined (a zero division, '
            "e.g. precision when no photo was predicted landslide)."
        ),
    ]
    blocks += runs_section(runs)
    blocks += differences_section(runs, study, params, splits_summary, provenance)
    blocks += table_1(runs, study)
    for set_name in SETS:
        blocks += prf_table(runs, study, set_name, threshold)
    for backbone in BACKBONES:
        blocks += frames_tables(runs, study, backbone, params.seed)
    blocks += beyond_section(runs)
    blocks.append(heading("Loss curves"))
    if figure is not None:
        blocks.append(image(figure, "training (solid) and validation (dashed) total loss"))
    else:
        blocks.append(para("No run has a losses.csv yet."))
    blocks += overlays_section(runs)
    return blocks


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


def plot_losses(runs: Sequence[Run], path: Path) -> bool:
    """Every run's train (solid) and val (dashed) total loss on one plot; False if none."""
    curves = [(r, r.losses) for r in runs if r.losses]
    if not curves:
        return False
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for i, (run, rows) in enumerate(curves):
        colour = f"C{i}"
        for column, style, suffix in (("train_total", "o-", "train"), ("val_total", "s--", "val")):
            points = [
                (float(row["epoch"]), float(row[column]))
                for row in rows
                if row.get(column) not in (None, "") and row.get("epoch") not in (None, "")
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, style, color=colour, ms=3, label=f"{run.name} {suffix}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("total loss")
    ax.set_title("Mask R-CNN training loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)
    return True


# --------------------------------------------------------------------------- formatting


def _fmt(value: Any, digits: int, empty: str) -> str:
    if value is None or value == "":
        return empty
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _percent(value: Any) -> str:
    if value in (None, ""):
        return MISSING
    return f"{100 * float(value):.0f}%"


def _or(value: Any) -> str:
    return MISSING if value is None else str(value)


def _distinct(values: Iterable[str]) -> str:
    seen = list(dict.fromkeys(v for v in values if v and v != "None"))
    return ", ".join(seen) if seen else MISSING
