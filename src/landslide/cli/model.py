"""The model: `train` (with a bar per epoch), `evaluate`, `report`, the MLflow registry
(`model register | history`) and `export` to ONNX."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.root import (
    BackboneOption,
    DeviceOption,
    ModelsOption,
    ParamsOption,
    SetOption,
    _Group,
    _print_warnings,
    app,
)
from landslide.console import console, out, track
from landslide.params import load_params

# ---------------------------------------------------------------------------- train


@app.command("train")
def train_cmd(
    backbone: BackboneOption = "resnet101",
    set_name: SetOption = "A",
    epochs: Annotated[
        int | None, typer.Option("--epochs", min=1, help="Epochs (default train.epochs).")
    ] = None,
    weights: Annotated[
        str | None,
        typer.Option("--weights", help="coco, imagenet, none or a state-dict path."),
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue from the last checkpoint.")
    ] = False,
    device: DeviceOption = None,
    data_dir: Annotated[
        Path, typer.Option("--data", help="Processed data: splits/, augmented/, prepared/.")
    ] = Path("data/processed"),
    models_dir: Annotated[
        Path | None, typer.Option("--models", help="Output root (default train.models_dir).")
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Train Mask R-CNN on one set: checkpoints, model.pt, metrics, MLflow run."""
    import os

    from landslide.train import TrainPaths, train

    params = load_params(params_file).with_values("train", epochs=epochs, device=device)
    paths = TrainPaths.default(
        set_name, backbone, params, processed=data_dir, models_dir=models_dir
    )
    main = os.environ.get("RANK", "0") == "0"
    bars = _EpochBars()
    try:
        result = train(
            set_name,
            backbone,
            params,
            paths=paths,
            resume=resume,
            weights=weights,
            progress=bars,
        )
    finally:
        bars.bar.stop()
    if main:
        out.print(result.summary_line(), markup=False, soft_wrap=True)


class _EpochBars:
    """A rich bar per epoch (step, running losses, images/s) and a line when it ends."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[losses]}"),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task: Any = None
        self.epochs = 0

    def start(self, lines: list[str]) -> None:
        for line in lines:
            console.print(line, markup=False, soft_wrap=True)

    def epoch_start(self, epoch: int, epochs: int, steps: int) -> None:
        self.epochs = epochs
        self.bar.start()
        self.task = self.bar.add_task(
            f"epoch {epoch}/{epochs}", total=steps or None, losses="", speed=""
        )

    def step(self, step: int, steps: int, losses: dict[str, float], images_per_s: float) -> None:
        shown = " ".join(f"{k} {v:.3f}" for k, v in losses.items())
        self.bar.update(self.task, completed=step, losses=shown, speed=f"{images_per_s:.1f} img/s")

    def epoch_end(self, row: dict[str, float]) -> None:
        self.bar.stop()
        if self.task is not None:
            self.bar.remove_task(self.task)
        from landslide.train import epoch_line

        console.print(epoch_line(row, self.epochs), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- evaluate


@app.command("evaluate")
def evaluate_cmd(
    backbone: BackboneOption = "resnet101",
    set_name: SetOption = "A",
    split: Annotated[
        str | None, typer.Option("--split", help="test or val (default evaluate.split).")
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", min=0.0, max=1.0, help="Score threshold (evaluate.threshold)."),
    ] = None,
    data_dir: Annotated[
        Path, typer.Option("--data", help="Processed data: splits/, prepared/images.")
    ] = Path("data/processed"),
    models_dir: ModelsOption = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output (default reports/eval/<backbone>-set<SET>)."),
    ] = None,
    coco: Annotated[
        Path | None,
        typer.Option(
            "--coco",
            help="Score this annotated set (COCO JSON) instead of the split; with --images. "
            "Written to reports/eval/<backbone>-set<SET>-<file stem>.",
        ),
    ] = None,
    images: Annotated[
        Path | None,
        typer.Option("--images", help="The photos --coco refers to (default prepared/images)."),
    ] = None,
    model_dir: Annotated[
        Path | None,
        typer.Option("--model", help="Model directory (default models/<backbone>-set<SET>)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Image-level P/R/F1 (the study's), per-frame table, COCO AP, pixel IoU; plots; MLflow."""
    from landslide.evaluate import EvalPaths, check_inputs, evaluate

    params = load_params(params_file).with_values("evaluate", split=split, threshold=threshold)
    # `--split val` on the command line is a side look: it never overwrites the test results
    # that dvc.yaml declares; evaluate.split in params changes the stage itself.
    paths = EvalPaths.default(
        backbone,
        set_name,
        params,
        processed=data_dir,
        models_dir=models_dir,
        out_dir=out_dir,
        side_look=split not in (None, "test"),
        coco=coco,
        images=images,
        model_dir=model_dir,
    )
    total = check_inputs(paths.model_dir, paths.test_json, paths.images)
    with track(total, f"evaluate {paths.name}") as advance:
        result = evaluate(
            paths.model_dir,
            paths.test_json,
            paths.images,
            paths.out_dir,
            params,
            progress=advance,
            val_json=paths.val_json,
        )
    _print_warnings(result.warnings)
    out.print(result.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- report


@app.command("report")
def report_cmd(
    out_file: Annotated[
        Path, typer.Option("--out", help="Markdown page; the HTML page is written beside it.")
    ] = Path("reports/report.md"),
    eval_dir: Annotated[
        Path, typer.Option("--eval", help="Evaluations: <backbone>-set<SET>/metrics.json, ...")
    ] = Path("reports/eval"),
    models_dir: ModelsOption = None,
    params_file: ParamsOption = None,
) -> None:
    """The study's tables regenerated from this run, the study's figures beside (MD + HTML)."""
    from landslide.report import report

    params = load_params(params_file)
    result = report(out_file, params, models_dir=models_dir, eval_dir=eval_dir)
    out.print(result.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- model

model_app = typer.Typer(
    cls=_Group,
    help="The MLflow model registry: register a training run's model, the champion history.",
    no_args_is_help=True,
)


@model_app.command("register")
def model_register(
    run: Annotated[str, typer.Option("--run", help="MLflow run id of a training run.")],
    alias: Annotated[
        str | None, typer.Option("--alias", help="Alias to point at it [predict.alias: champion].")
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Register the run's MLflow model as predict.model_name and set the alias on it."""
    from landslide.registry import register
    from landslide.tracking import tracking_uri

    params = load_params(params_file)
    result = register(
        run, params.predict, tracking_uri(params.mlflow), alias, classes=params.model_classes
    )
    out.print(result.summary_line(), markup=False, soft_wrap=True)


@model_app.command("history")
def model_history(
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the versions as a JSON list (stable keys).")
    ] = False,
    params_file: ParamsOption = None,
) -> None:
    """The champion timeline: every registered version, its data version, metric, decision.

    On a terminal a table; piped or redirected, plain text with one line per version (no
    width limit); `--json` a list of objects with the keys version, when, data_version,
    backbone, metric, value, champion_value, decision, reason, current.
    """
    import json
    import sys

    from landslide.retrain import history_table, history_text, model_history

    params = load_params(params_file)
    rows = model_history(params)
    if as_json:
        sys.stdout.write(json.dumps([row.to_json() for row in rows], indent=2) + "\n")
        return
    if not rows:
        out.print(
            f"model history: no version of {params.predict.model_name} registered yet "
            "(`landslide retrain --now` or `landslide model register --run RUN`)",
            markup=False,
        )
        return
    if _is_terminal(out):
        out.print(history_table(rows, params))
    else:  # rich would fold the columns to 80 characters: a pipe has no width to fill
        sys.stdout.write(history_text(rows, params))


def _is_terminal(console: Any) -> bool:
    """Whether the console writes to a terminal (not rich's guess: FORCE_COLOR says yes)."""
    isatty = getattr(console.file, "isatty", None)
    return bool(isatty and isatty())


app.add_typer(model_app, name="model")


# ---------------------------------------------------------------------------- export


@app.command("export")
def export_cmd(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            "-m",
            help="model.pt, a model directory, runs:/<run_id>/model or models:/<name>@<alias>.",
        ),
    ],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="File to write.")] = Path(
        "model.onnx"
    ),
    fmt: Annotated[str, typer.Option("--format", "-f", help="Export format: onnx.")] = "onnx",
    check: Annotated[
        bool, typer.Option("--check/--no-check", help="Compare with PyTorch on sample images.")
    ] = True,
    check_images: Annotated[
        Path | None,
        typer.Option("--check-images", help="Photos to compare on [synthetic images]."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Export a trained model to ONNX, checked against PyTorch with ONNX Runtime."""
    from landslide.export import export, model_file

    params = load_params(params_file)
    model_pt = model_file(model, params)
    summary = export(model_pt, out_file, fmt, params, check=check, check_images=check_images)
    out.print(summary.summary_line(), markup=False, soft_wrap=True)
