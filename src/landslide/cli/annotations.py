"""`landslide annotations import | template | stats | prefill | diff`: VIA and COCO files
in and out, the model's pre-filled polygons, and how far a person moved them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from landslide.cli.root import (
    ParamsOption,
    PhotosOption,
    _Group,
    _print_plain_warnings,
    _print_warnings,
    app,
)
from landslide.console import console, out, track
from landslide.params import load_params

if TYPE_CHECKING:
    from rich.table import Table

    from landslide.annotations.diff import DiffReport

annotations_app = typer.Typer(
    cls=_Group,
    help="VIA annotations (1.x, 2.x, 3.x, CSV) in, COCO and VIA projects out.",
    no_args_is_help=True,
)


@annotations_app.command("import")
def annotations_import(
    file: Annotated[Path, typer.Argument(help="VIA file (any version, JSON or CSV) or COCO.")],
    images: PhotosOption,
    out_file: Annotated[Path, typer.Option("--out", help="COCO JSON to write.")],
    params_file: ParamsOption = None,
) -> None:
    """Read a VIA file with its photos and write COCO instances JSON."""
    from landslide.annotations import annotation_stats, import_annotations

    params = load_params(params_file)
    ann = import_annotations(file, images, out_file, params)
    _print_warnings(ann.warnings)
    stats = annotation_stats(ann, params.classes)
    warned = f", {stats.warnings} warnings" if stats.warnings else ""
    out.print(f"import: {stats.summary()}{warned} -> {out_file}", markup=False, soft_wrap=True)


@annotations_app.command("template")
def annotations_template(
    images: PhotosOption,
    out_file: Annotated[Path, typer.Option("--out", help="VIA 2 project to write.")],
    source: Annotated[
        Path | None,
        typer.Option("--from", help="Pre-fill regions from this VIA or COCO file."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Write a VIA 2.0.10 project listing the photos, with the class dropdown, to annotate."""
    from landslide.annotations import make_template

    params = load_params(params_file)
    ann = make_template(images, out_file, params, source)
    _print_warnings(ann.warnings)
    regions = sum(len(im.regions) for im in ann.images)
    out.print(
        f"template: {len(ann.images)} photos, {regions} regions, class attribute "
        f"'{params.annotations.class_attribute}' ({', '.join(params.classes)}) -> {out_file}",
        markup=False,
        soft_wrap=True,
    )


@annotations_app.command("stats")
def annotations_stats(
    file: Annotated[Path, typer.Argument(help="VIA file (any version) or COCO JSON.")],
    images: Annotated[
        Path | None,
        typer.Option("--images", help="Directory holding the photos (default: not read)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Count images, regions per class and negatives."""
    from rich.table import Table

    from landslide.annotations import annotation_stats, load_annotations

    params = load_params(params_file)
    stats = annotation_stats(load_annotations(file, images, params), params.classes)
    table = Table(title=str(file))
    table.add_column("class")
    table.add_column("regions", justify="right")
    table.add_column("images", justify="right")
    for name, count in stats.regions.items():
        table.add_row(name, str(count), str(stats.images_with[name]))
    table.add_section()
    table.add_row("images", "", str(stats.images))
    table.add_row("negatives (no landslide)", "", str(stats.negatives))
    table.add_row("without regions", "", str(stats.unannotated))
    if stats.unlisted:  # annotations.unlisted: skip (the default)
        table.add_row("in the folder, not in the file (left out)", "", str(stats.unlisted))
    out.print(table)
    if stats.warnings:
        console.print(f"{stats.warnings} warnings (see `landslide annotations import`)")


@annotations_app.command("prefill")
def annotations_prefill(
    images: PhotosOption,
    model: Annotated[
        str | None,
        typer.Option(
            "--model",
            "-m",
            help="model.pt, a model directory, an .onnx file, runs:/<run_id>/<path> or "
            "models:/<name>@<alias> (default annotate.prefill_model, else the registry champion).",
            show_default=False,
        ),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="VIA 2 project to write (never --project).")
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", help="Existing VIA project to merge into: its regions stay."),
    ] = None,
    in_place: Annotated[
        bool, typer.Option("--in-place", help="Write the result over --project.")
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", min=0.0, max=1.0, help="Lowest score (annotate.prefill_threshold)."
        ),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Pre-fill a VIA project with the model's polygons (source: model) to correct, not draw."""
    from landslide.annotations.images import ImageDir
    from landslide.errors import AnnotationError
    from landslide.inference import default_model, load_detector
    from landslide.prefill import output_path, prefill_project, read_project, write_project

    params = load_params(params_file)
    target = output_path(out_file, project, in_place)
    if not images.is_dir():
        raise AnnotationError(f"images directory {str(images)!r} not found")
    existing = read_project(project, params) if project is not None else None  # before the model
    detector = load_detector(
        model or params.annotate.prefill_model or default_model(params.predict), params
    )
    total = len(ImageDir(images).images())
    with track(total, "prefill") as advance:
        ann, summary = prefill_project(
            images, detector, params, existing, threshold=threshold, progress=advance
        )
    write_project(ann, target, params, images)
    summary.out = target
    _print_plain_warnings(summary.warnings)
    out.print(summary.summary_line(), markup=False, soft_wrap=True)


@annotations_app.command("diff")
def annotations_diff(
    human: Annotated[
        Path, typer.Argument(help="What the annotator saved, or ground truth (VIA or COCO).")
    ],
    prefill: Annotated[
        Path, typer.Argument(help="The pre-filled project (`landslide annotations prefill`).")
    ],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="CSV to write, one row per photo.")
    ] = None,
    only: Annotated[
        Path | None,
        typer.Option("--only", help="Compare only the photos of this file (e.g. a test split)."),
    ] = None,
    classes: Annotated[
        list[str] | None,
        typer.Option("--class", help="Compare only regions of this class (repeatable)."),
    ] = None,
    match_iou: Annotated[
        float, typer.Option("--match-iou", min=0.0, max=1.0, help="Least IoU of a region pair.")
    ] = 0.1,
    tolerance: Annotated[
        float, typer.Option("--tolerance", min=0.0, help="Pixels a vertex may move and be kept.")
    ] = 1.0,
    params_file: ParamsOption = None,
) -> None:
    """Per photo: IoU of model and human polygons, vertices moved/added/removed (effort).

    IoU: of the model's and the human's polygons (all classes, or --class); pair IoU: of
    the regions paired; scratch: the vertices of the human polygons (drawing them all).
    """
    from landslide.annotations.diff import diff_files

    params = load_params(params_file)
    report = diff_files(
        human,
        prefill,
        params,
        only=only,
        classes=classes or None,
        match_iou=match_iou,
        tolerance=tolerance,
    )
    out.print(_diff_table(report, f"{human} vs {prefill}"))
    if out_file is not None:
        report.write_csv(out_file)
    if report.missing:
        shown = ", ".join(report.missing[:5]) + (" ..." if len(report.missing) > 5 else "")
        _print_plain_warnings([f"{len(report.missing)} photos not in {prefill}: {shown}"])
    out.print(report.summary_line(), markup=False, soft_wrap=True)


def _diff_table(report: DiffReport, title: str) -> Table:
    """One row per photo, then the totals (mean IoUs) of all of them."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    table.add_column("photo", overflow="fold")
    heads = ("model", "human", "IoU", "pair IoU", "moved", "added", "removed", "edits")
    for name in (*heads, "scratch"):
        table.add_column(name, justify="right", no_wrap=True)

    def iou_text(value: float | None) -> str:
        return "" if value is None else f"{value:.3f}"

    for d in report.images:
        table.add_row(
            d.image,
            *(str(v) for v in (d.model_regions, d.human_regions)),
            iou_text(d.iou),
            iou_text(d.matched_iou),
            *(str(v) for v in (d.moved, d.added, d.removed, d.edits, d.human_vertices)),
        )
    table.add_section()
    table.add_row(
        f"all ({len(report.images)})",
        *(str(report.total(k)) for k in ("model_regions", "human_regions")),
        iou_text(report.mean_iou),
        iou_text(report.matched_iou),
        *(str(report.total(k)) for k in ("moved", "added", "removed", "edits", "human_vertices")),
    )
    return table


app.add_typer(annotations_app, name="annotations")
