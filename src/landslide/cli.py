"""`landslide` command line: one sub-command per stage, in pipeline order.

Each command reads Params, calls its stage function in one line and prints a
one-line summary. Bad input raises a `LandslideError`; it is printed as
`error: …` in one or two lines and the command exits with status 2
(`landslide --debug …` shows the traceback instead).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import click
import typer
from typer.core import TyperGroup

from landslide import __version__
from landslide.console import console, out, track
from landslide.errors import LandslideError
from landslide.params import Params, load_params

EXIT_USER_ERROR = 2
PIPELINE_ORDER = (
    "sample",
    "scrape",
    "curate",
    "data",
    "annotations",
    "prepare",
    "validate",
    "split",
    "augment",
    "train",
    "evaluate",
    "report",
    "predict",
    "predict-raster",
    "model",
    "export",
    "flow",
    "retrain",
    "schedule",
    "params",
)


class _Group(TyperGroup):
    """Turns LandslideError into a short message and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Pipeline order, not alphabetical."""
        known = {name: i for i, name in enumerate(PIPELINE_ORDER)}
        return sorted(self.commands, key=lambda name: known.get(name, len(known)))

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LandslideError as exc:
            if (ctx.obj or {}).get("debug"):
                raise
            first, *rest = exc.render().splitlines()
            console.print(f"[bold red]error:[/] {first}", markup=True, soft_wrap=True)
            for line in rest:
                console.print(line, markup=False, soft_wrap=True)
            raise typer.Exit(EXIT_USER_ERROR) from None


app = typer.Typer(
    cls=_Group,
    help="Landslide detection with Mask R-CNN: sample, prepare, train, evaluate, predict.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
params_app = typer.Typer(cls=_Group, help="Show and check the pipeline's parameters.")

ParamsOption = Annotated[
    Path | None,
    typer.Option(
        "--params",
        "-p",
        envvar="LANDSLIDE_PARAMS",
        help="Params file (default params.yaml; params.demo.yaml for the demo profile).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"landslide {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    debug: Annotated[
        bool, typer.Option("--debug", envvar="LANDSLIDE_DEBUG", help="Show tracebacks.")
    ] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    ctx.obj = {"debug": debug}


# ---------------------------------------------------------------------------- sample


@app.command()
def sample(
    out_dir: Annotated[Path, typer.Option("--out", help="Directory to write the sample into.")],
    n: Annotated[int | None, typer.Option("--n", min=1, help="Number of photos.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Random seed.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite a non-empty --out.")] = False,
    decisions: Annotated[
        Path | None,
        typer.Option(
            "--decisions", help="Where to write the curation decisions [OUT/decisions.csv]."
        ),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Write the embedded synthetic sample: photos, a VIA project, provenance, decisions."""
    from landslide.sample import generate_sample

    params = load_params(params_file)
    p = params.sample.model_copy(
        update={k: v for k, v in {"n": n, "seed": seed}.items() if v is not None}
    )
    with track(p.n, "sample") as advance:
        s = generate_sample(
            out_dir, p, params.classes, force=force, decisions_file=decisions, progress=advance
        )
    regions = ", ".join(f"{k} {v}" for k, v in s.regions.items())
    out.print(
        f"sample: {s.images} photos ({s.landslide_images} landslide, {s.negative_images} "
        f"without; {s.exif_rotated} EXIF-rotated), regions: {regions} -> {s.out_dir}"
    )


# ---------------------------------------------------------------------------- annotations

annotations_app = typer.Typer(
    cls=_Group,
    help="VIA annotations (1.x, 2.x, 3.x, CSV) in, COCO and VIA projects out.",
    no_args_is_help=True,
)
MAX_WARNINGS = 20


def _print_warnings(warnings: list[str]) -> None:
    for line in warnings[:MAX_WARNINGS]:
        console.print(f"[yellow]warning:[/] {line}", markup=True, soft_wrap=True, highlight=False)
    if len(warnings) > MAX_WARNINGS:
        console.print(f"... and {len(warnings) - MAX_WARNINGS} more warnings", soft_wrap=True)


@annotations_app.command("import")
def annotations_import(
    file: Annotated[Path, typer.Argument(help="VIA file (any version, JSON or CSV) or COCO.")],
    images: Annotated[Path, typer.Option("--images", help="Directory holding the photos.")],
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
    images: Annotated[Path, typer.Option("--images", help="Directory holding the photos.")],
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
    images: Annotated[Path, typer.Option("--images", help="Directory holding the photos.")],
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
    from landslide.annotations.prefill import (
        output_path,
        prefill_project,
        read_project,
        write_project,
    )
    from landslide.errors import AnnotationError
    from landslide.predict import default_model, load_detector

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
    from rich import box
    from rich.table import Table

    from landslide.annotations.diff import DIFF_COLUMNS, diff_files
    from landslide.io import write_csv

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
    table = Table(
        title=f"{human} vs {prefill}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
    )
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
    out.print(table)
    if out_file is not None:
        write_csv(out_file, report.rows(), DIFF_COLUMNS)
        report.out = out_file
    if report.missing:
        shown = ", ".join(report.missing[:5]) + (" ..." if len(report.missing) > 5 else "")
        _print_plain_warnings([f"{len(report.missing)} photos not in {prefill}: {shown}"])
    out.print(report.summary_line(), markup=False, soft_wrap=True)


app.add_typer(annotations_app, name="annotations")


# ---------------------------------------------------------------------------- scrape

scrape_app = typer.Typer(
    cls=_Group,
    help="Collect photos from Wikimedia Commons, Openverse and Bing (default command), "
    "with provenance and licences; `report` counts what was collected.",
)


@scrape_app.callback(invoke_without_command=True)
def scrape_cmd(
    ctx: typer.Context,
    queries: Annotated[
        list[str] | None,
        typer.Option(
            "--query",
            "-q",
            help="Search text (repeatable; default scrape.queries). "
            "'Category:Landslides' lists a Commons category.",
        ),
    ] = None,
    sources: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            help="commons, openverse, bing: comma-separated or repeated (default scrape.sources).",
        ),
    ] = None,
    max_results: Annotated[
        int | None,
        typer.Option(
            "--max", min=1, help="Search results per query from each source (scrape.max_per_query)."
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the photos and manifest.csv (scrape.out_dir)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Search, download, check and de-duplicate photos into data/raw/incoming/."""
    if ctx.invoked_subcommand is not None:
        return
    from landslide.scrape import scrape

    p = load_params(params_file).scrape
    names = [n.strip() for s in sources or [] for n in s.split(",") if n.strip()]
    with _scrape_bar() as progress:
        s = scrape(
            out_dir or p.out_dir,
            p,
            queries=queries,
            sources=names or None,
            max_per_query=max_results,
            progress=progress,
        )
    for note in s.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    for error in s.errors:
        console.print(f"[yellow]warning:[/] {error}", markup=True, soft_wrap=True, highlight=False)
    out.print(s.summary_line(), markup=False, soft_wrap=True)


@contextmanager
def _scrape_bar() -> Iterator[Callable[[Any], None]]:
    """Candidates handled of candidates found, with downloaded / duplicates / rejected."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    bar = Progress(
        TextColumn("[bold]scrape"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[counts]}"),
        TimeElapsedColumn(),
        console=console,
    )
    with bar:
        task = bar.add_task("scrape", total=None, counts="searching")

        def update(c: Any) -> None:
            bar.update(
                task,
                total=c.candidates,
                completed=c.done,
                counts=f"downloaded {c.downloaded}, duplicates {c.duplicates}, "
                f"rejected {c.rejected}, known {c.known}",
            )

        yield update


@scrape_app.command("report")
def scrape_report(
    out_dir: Annotated[
        Path | None, typer.Option("--out", help="Folder holding manifest.csv (scrape.out_dir).")
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Photos collected so far per source, licence and query (from manifest.csv)."""
    from rich.table import Table

    from landslide.scrape import manifest_report

    r = manifest_report(out_dir or load_params(params_file).scrape.out_dir)
    for key, counts in r.counts.items():
        table = Table(title=f"photos per {key}")
        table.add_column(key)
        table.add_column("photos", justify="right")
        for name, n in counts.most_common():
            table.add_row(name, str(n))
        out.print(table)
    out.print(r.summary_line(), markup=False, soft_wrap=True)


app.add_typer(scrape_app, name="scrape")


# ---------------------------------------------------------------------------- curate

curate_app = typer.Typer(
    cls=_Group,
    help="The curation checkpoint: a gallery to accept, reject and label photos; apply.",
    no_args_is_help=True,
)


@curate_app.command("serve")
def curate_serve(
    host: Annotated[
        str | None,
        typer.Option("--host", help="Address to bind [curate.host, 127.0.0.1]; others warn."),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option("--port", min=0, max=65535, help="Port [curate.port]; 0 = any free port."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Serve the gallery page on 127.0.0.1 and print its URL (Ctrl+C to stop)."""
    from landslide.curate_app import is_loopback, serve

    params = load_params(params_file)
    host = host or params.curate.host
    if not is_loopback(host):
        console.print(
            f"[yellow]warning:[/] binding {host}: anyone who can reach this address can "
            "change the decisions (the page has no login)",
            markup=True,
            soft_wrap=True,
        )

    def ready(url: str, catalogue: Any) -> None:
        _print_warnings(catalogue.warnings)
        out.print(
            f"curate: {len(catalogue.photos)} photos at {url} (Ctrl+C to stop)",
            markup=False,
            soft_wrap=True,
        )

    serve(
        params,
        Path("."),
        host=host,
        port=params.curate.port if port is None else port,
        on_ready=ready,
    )


@curate_app.command("status")
def curate_status(params_file: ParamsOption = None) -> None:
    """Count decided, undecided and unannotated photos (curated set and scrape manifest)."""
    from landslide.curate import checkpoint

    params = load_params(params_file)
    s = checkpoint(params, Path("."))
    labels = ", ".join(f"{k} {v}" for k, v in sorted(s.labels.items())) or "none"
    out.print(
        f"photos: {s.photos} ({s.incoming} scraped, not in the curated set)\n"
        f"accepted: {s.accepted}\nrejected: {s.rejected}\nundecided: {len(s.undecided)}\n"
        f"labels: {labels}\n"
        f"accepted, not applied: {len(s.unapplied)}\n"
        f"accepted landslide photos without a polygon: {len(s.unannotated)}\n"
        f"waiting for a person: {s.waiting}",
        markup=False,
        soft_wrap=True,
    )


@curate_app.command("apply")
def curate_apply(
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Move rejected photos out of the curated set (rejected/)."),
    ] = False,
    prefill: Annotated[
        str | None,
        typer.Option(
            "--prefill",
            help="Model that outlines the new photos (model.pt, runs:/…, models:/name@alias) "
            "(default annotate.prefill_model; '' = off).",
            show_default=False,
        ),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Copy accepted photos into data/raw/images, extend provenance.csv and the VIA project."""
    from landslide.curate import CurationPaths, apply_decisions

    params = load_params(params_file)
    paths = CurationPaths.from_params(params, Path("."))
    s = apply_decisions(paths, params, prune=prune, prefill=prefill)
    for note in s.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    if s.rejected_in_set:
        names = ", ".join(s.rejected_in_set[:5]) + (" ..." if len(s.rejected_in_set) > 5 else "")
        console.print(
            f"[yellow]warning:[/] {len(s.rejected_in_set)} rejected photos are still in "
            f"{paths.images_dir} ({names}); --prune moves them out",
            markup=True,
            soft_wrap=True,
        )
    out.print(s.summary_line(), markup=False, soft_wrap=True)


app.add_typer(curate_app, name="curate")


# ---------------------------------------------------------------------------- validate


@app.command()
def validate(
    annotations: Annotated[
        Path,
        typer.Option(
            "--annotations", "-a", help="COCO JSON or VIA project (default: the prepared one)."
        ),
    ] = Path("data/processed/prepared/annotations.json"),
    images: Annotated[
        Path, typer.Option("--images", help="Directory holding the images (default: prepared).")
    ] = Path("data/processed/prepared/images"),
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (default: validation.out_dir in params)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Check annotations and images (great-expectations); exit 2 naming each failure."""
    from landslide.annotations import load_annotations
    from landslide.validate import require_inputs
    from landslide.validate import validate as validate_annotations

    params = load_params(params_file)
    try:
        ann = load_annotations(annotations, images, params)
    except LandslideError:
        require_inputs(annotations, images)  # not there: run prepare first
        raise
    with track(len(ann), "validate") as advance:
        report = validate_annotations(
            ann,
            images,
            out_dir or params.validation.out_dir,
            params.validation,
            params.classes,
            progress=advance,
        )
    out.print(report.summary_line(), markup=False, soft_wrap=True)
    report.raise_if_failed()


# ---------------------------------------------------------------------------- prepare


@app.command("prepare")
def prepare_cmd(
    annotations: Annotated[
        Path, typer.Option("--annotations", "-a", help="Annotations: a VIA file or COCO JSON.")
    ] = Path("data/raw/via_project.json"),
    images: Annotated[Path, typer.Option("--images", help="Directory holding the photos.")] = Path(
        "data/raw/images"
    ),
    out_dir: Annotated[
        Path, typer.Option("--out", help="Prepared set: images/, annotations.json, prepare.json.")
    ] = Path("data/processed/prepared"),
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=0, help="Processes (default prepare.workers; 0 = CPUs)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Resize photos and their polygons to prepare.size; write COCO JSON (incremental)."""
    from landslide.annotations import load_annotations
    from landslide.prepare import prepare_annotations

    params = load_params(params_file)
    if workers is not None:
        params.prepare.workers = workers
    ann = load_annotations(annotations, images, params)
    with track(len(ann), "prepare") as advance:
        s = prepare_annotations(ann, images, out_dir, params, progress=advance)
    out.print(s.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- split


@app.command("split")
def split_cmd(
    annotations: Annotated[
        Path, typer.Option("--annotations", "-a", help="COCO JSON of the prepared photos.")
    ] = Path("data/processed/prepared/annotations.json"),
    images: Annotated[Path, typer.Option("--images", help="The prepared photos.")] = Path(
        "data/processed/prepared/images"
    ),
    out_dir: Annotated[Path, typer.Option("--out", help="Manifests directory.")] = Path(
        "data/processed/splits"
    ),
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Ignore the previous assignment.csv.")
    ] = False,
    params_file: ParamsOption = None,
) -> None:
    """Set A and Set B: stratified, near-duplicates together, stable as photos are added."""
    from landslide.split import read_prepared, split

    params = load_params(params_file)
    total = len(read_prepared(annotations).images)
    with track(total, "split") as advance:
        s = split(
            annotations,
            images,
            out_dir,
            params.split,
            params.classes,
            fresh=fresh,
            progress=advance,
        )
    for note in s.notes:
        console.print(f"note: {note}", markup=False, soft_wrap=True)
    out.print(s.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- augment


@app.command("augment")
def augment_cmd(
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="Set to augment (repeatable; default: train.sets)."),
    ] = None,
    splits_dir: Annotated[
        Path, typer.Option("--splits", help="Split manifests: <SET>/train.json.")
    ] = Path("data/processed/splits"),
    images: Annotated[Path, typer.Option("--images", help="The prepared photos.")] = Path(
        "data/processed/prepared/images"
    ),
    out_dir: Annotated[
        Path, typer.Option("--out", help="Output: <SET>/images, train.json, augment.json.")
    ] = Path("data/processed/augmented"),
    params_file: ParamsOption = None,
) -> None:
    """Augmented copies of each set's training photos (val and test are never augmented)."""
    from landslide.annotations.coco import read_coco
    from landslide.augment import augment

    params = load_params(params_file)
    p = params.augment
    names = sets or params.train.sets
    # every set's train.json is read before any is augmented: a typo fails fast
    totals = {name: len(read_coco(splits_dir / name / "train.json").images) for name in names}
    for set_name, total in totals.items():
        train_json = splits_dir / set_name / "train.json"
        with track(total, f"augment {set_name}") as advance:
            s = augment(
                train_json,
                images,
                out_dir / set_name,
                p,
                params.classes,
                min_area=params.annotations.min_region_area,
                jpeg_quality=params.prepare.jpeg_quality,
                progress=advance,
            )
        out.print(f"{set_name}: {s.summary_line()}", markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- train


@app.command("train")
def train_cmd(
    backbone: Annotated[
        str, typer.Option("--backbone", "-b", help="resnet50 or resnet101.")
    ] = "resnet101",
    set_name: Annotated[str, typer.Option("--set", help="Set A or B.")] = "A",
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
    device: Annotated[
        str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")
    ] = None,
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

    from landslide.errors import TrainError
    from landslide.train import TrainPaths, train

    params = load_params(params_file)
    if set_name not in ("A", "B"):
        raise TrainError(f"unknown set {set_name!r} (known: A, B)", hint="pass --set A or --set B")
    updates = {k: v for k, v in {"epochs": epochs, "device": device}.items() if v is not None}
    params.train = params.train.model_copy(update=updates)
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
    backbone: Annotated[
        str, typer.Option("--backbone", "-b", help="resnet50 or resnet101.")
    ] = "resnet101",
    set_name: Annotated[str, typer.Option("--set", help="Set A or B.")] = "A",
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
    models_dir: Annotated[
        Path | None, typer.Option("--models", help="Models root (default train.models_dir).")
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Output (default reports/eval/<backbone>-set<SET>)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Image-level P/R/F1 (the study's), per-frame table, COCO AP, pixel IoU; plots; MLflow."""
    from landslide.errors import EvaluateError
    from landslide.evaluate import check_inputs, default_out_dir, evaluate
    from landslide.params import BACKBONES

    params = load_params(params_file)
    if backbone not in BACKBONES:
        raise EvaluateError(
            f"unknown backbone {backbone!r} (known: {', '.join(BACKBONES)})",
            hint="pass --backbone resnet50 or --backbone resnet101",
        )
    if set_name not in ("A", "B"):
        raise EvaluateError(f"unknown set {set_name!r} (known: A, B)", hint="pass --set A or B")
    if split not in (None, "test", "val"):
        raise EvaluateError(f"unknown split {split!r} (known: test, val)")
    updates = {k: v for k, v in {"split": split, "threshold": threshold}.items() if v is not None}
    params.evaluate = params.evaluate.model_copy(update=updates)
    name = f"{backbone}-set{set_name}"
    split = params.evaluate.split
    model_dir = (models_dir or params.train.models_dir) / name
    test_json = data_dir / "splits" / set_name / f"{split}.json"
    images = data_dir / "prepared" / "images"
    # `--split val` on the command line is a side look: it never overwrites the test results
    # that dvc.yaml declares; evaluate.split in params changes the stage itself.
    side_look = updates.get("split", "test") != "test"
    out_dir = out_dir or default_out_dir(f"{name}-{split}" if side_look else name)
    total = check_inputs(model_dir, test_json, images)
    with track(total, f"evaluate {name}") as advance:
        result = evaluate(
            model_dir,
            test_json,
            images,
            out_dir,
            params,
            progress=advance,
            val_json=data_dir / "splits" / set_name / "val.json",
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
    models_dir: Annotated[
        Path | None, typer.Option("--models", help="Models root (default train.models_dir).")
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """The study's tables regenerated from this run, the study's figures beside (MD + HTML)."""
    from landslide.report import report

    params = load_params(params_file)
    result = report(out_file, params, models_dir=models_dir, eval_dir=eval_dir)
    out.print(result.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- predict

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="model.pt, a model directory, an .onnx file, runs:/<run_id>/<path> or "
        "models:/<name>@<alias> (default: models:/<predict.model_name>@<predict.alias>).",
        show_default=False,
    ),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option("--threshold", min=0.0, max=1.0, help="Score threshold (predict.threshold)."),
]
BatchOption = Annotated[
    int | None, typer.Option("--batch-size", min=1, help="Photos or tiles per forward pass.")
]
DeviceOption = Annotated[str | None, typer.Option("--device", help="auto, cpu, cuda or cuda:N.")]


def _predict_params(params_file: Path | None, **updates: Any) -> Params:
    """Params with the command line's predict.* overrides, validated like params.yaml."""
    from landslide.params import parse_params

    params = load_params(params_file)
    changed = {k: v for k, v in updates.items() if v is not None}
    if not changed:
        return params
    data = params.model_dump(mode="json")
    data["predict"].update(changed)
    return parse_params(data, source="command line")


def _print_plain_warnings(warnings: list[str]) -> None:
    from rich.markup import escape

    _print_warnings([escape(w) for w in warnings])


@app.command("predict")
def predict_cmd(
    inputs: Annotated[
        list[str], typer.Argument(help="Photos, folders or glob patterns.", show_default=False)
    ],
    model: ModelOption = None,
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Output: predictions.json, summary.csv, overlays/.")
    ] = Path("predictions"),
    threshold: ThresholdOption = None,
    batch_size: BatchOption = None,
    device: DeviceOption = None,
    params_file: ParamsOption = None,
) -> None:
    """Photos to overlays, one JSON (COCO results + the image-level decision) and a CSV."""
    from landslide.predict import collect_inputs, default_model, load_detector, predict

    params = _predict_params(params_file, threshold=threshold, batch_size=batch_size, device=device)
    paths = collect_inputs(inputs, exclude=out_dir)
    detector = load_detector(model or default_model(params.predict), params)
    with track(len(paths), "predict") as advance:
        summary = predict(paths, detector, out_dir, params.predict, progress=advance)
    _print_plain_warnings(summary.warnings)
    out.print(summary.summary_line(), markup=False, soft_wrap=True)


@app.command("predict-raster")
def predict_raster_cmd(
    raster: Annotated[
        Path, typer.Argument(help="Orthomosaic: GeoTIFF, COG or any raster GDAL reads.")
    ],
    model: ModelOption = None,
    out_file: Annotated[
        Path, typer.Option("--out", "-o", help="Polygons: .gpkg (GeoPackage) or .geojson.")
    ] = Path("landslides.gpkg"),
    threshold: ThresholdOption = None,
    tile_size: Annotated[
        int | None, typer.Option("--tile-size", help="Tile side in pixels (predict.tile_size).")
    ] = None,
    tile_overlap: Annotated[
        int | None,
        typer.Option("--tile-overlap", help="Pixels shared by neighbouring tiles."),
    ] = None,
    batch_size: BatchOption = None,
    device: DeviceOption = None,
    params_file: ParamsOption = None,
) -> None:
    """A large georeferenced raster by overlapping tiles to polygons in its CRS."""
    from landslide.predict import default_model, load_detector
    from landslide.raster import output_driver, plan_tiles, predict_raster

    params = _predict_params(
        params_file,
        threshold=threshold,
        tile_size=tile_size,
        tile_overlap=tile_overlap,
        batch_size=batch_size,
        device=device,
    )
    output_driver(out_file)
    tiles = plan_tiles(raster, params.predict)
    detector = load_detector(model or default_model(params.predict), params)
    with track(len(tiles), f"predict-raster {raster.name}") as advance:
        summary = predict_raster(raster, detector, out_file, params.predict, progress=advance)
    _print_plain_warnings(summary.warnings)
    out.print(summary.summary_line(), markup=False, soft_wrap=True)


# ---------------------------------------------------------------------------- model, export

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
    from landslide.serving import register
    from landslide.tracking import tracking_uri

    params = load_params(params_file)
    result = register(
        run, params.predict, tracking_uri(params.mlflow), alias, classes=params.classes
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


# ---------------------------------------------------------------------------- data

data_app = typer.Typer(
    cls=_Group, help="Version the inputs with DVC: track the curated photos, push, pull."
)
RemoteOption = Annotated[
    str | None, typer.Option("--remote", "-r", help="DVC remote (default: the default remote).")
]


@data_app.command("track")
def data_track() -> None:
    """`dvc add` data/raw/images and data/raw/via_project.json (commit the .dvc files)."""
    from landslide.versioning import track_inputs

    out.print(track_inputs(Path(".")).summary_line(), markup=False, soft_wrap=True)


@data_app.command("push")
def data_push(remote: RemoteOption = None) -> None:
    """Send tracked data and models to the DVC remote."""
    from landslide.versioning import push

    out.print(f"data: pushed {push(Path('.'), remote)} files", markup=False)


@data_app.command("pull")
def data_pull(remote: RemoteOption = None) -> None:
    """Fetch tracked data and models from the DVC remote into the workspace."""
    from landslide.versioning import pull

    out.print(f"data: fetched {pull(Path('.'), remote)} files", markup=False)


app.add_typer(data_app, name="data")


# ---------------------------------------------------------------------------- flow


flow_app = typer.Typer(cls=_Group, help="Run the whole pipeline as a Prefect flow.")


def _load_flow(name: str) -> Any:
    """A flow object from `flows/<name>.py` of the project in the current directory."""
    import importlib.util

    path = Path("flows") / f"{name}.py"
    if not path.exists():
        raise LandslideError(
            "flow file not found", file=path, hint="run from the project root (where dvc.yaml is)"
        )
    spec = importlib.util.spec_from_file_location(f"landslide_flows_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a failed task with its traceback, and the error's repr (`\\n` and all)
    in "Encountered exception" and "Finished in state Failed(...)" lines. A LandslideError
    (bad input, a failed validation) is the user's to fix and the CLI prints it in one or
    two lines itself: Prefect's lines about it lose the traceback and become one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], LandslideError):
            record.exc_info, record.exc_text = None, None
        if record.name.startswith("prefect"):
            message = record.getMessage()
            if "\\n" in message or "\n" in message:  # a repr's escapes, or a real newline
                record.msg, record.args = " ".join(message.replace("\\n", " ").split()), ()
        return True


def _quiet_expected_errors() -> None:
    for name in ("", "prefect"):  # Prefect's console handler sits on the root logger
        for handler in logging.getLogger(name).handlers:
            handler.addFilter(_NoTracebackForUserErrors())


FLOW_STAGES = ("prepare", "validate", "split", "augment", "train", "evaluate", "report")


@flow_app.command("run")
def flow_run(
    params_file: ParamsOption = None,
    until: Annotated[
        str, typer.Option("--until", help=f"Stop after this stage ({', '.join(FLOW_STAGES)}).")
    ] = "report",
) -> None:
    """Checkpoint, prepare, validate, split, augment, train, evaluate, report.

    Finished stages are skipped (same fingerprints as `dvc repro`). Runs against a
    temporary local Prefect API, or against a Prefect server when PREFECT_API_URL is set.
    A stage's LandslideError (e.g. a failed validation) stops the flow and prints here.
    """
    load_params(params_file)  # bad params fail here, in one line, before Prefect starts
    # Prefect's temporary API gives up after 20 s; a busy 2-core machine needs longer
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    if until not in FLOW_STAGES:
        raise LandslideError(f"--until: unknown stage {until!r} (known: {', '.join(FLOW_STAGES)})")
    module = _load_flow("pipeline")
    _quiet_expected_errors()
    results = module.pipeline(params_file=str(params_file) if params_file else None, until=until)
    for stage, result in results.items():
        out.print(f"{stage}: {result}", markup=False, soft_wrap=True)


@flow_app.command("resume")
def flow_resume(
    note: Annotated[str, typer.Option("--note", help="A note stored with the input.")] = "",
) -> None:
    """Resume the paused pipeline runs (needs a Prefect server: PREFECT_API_URL)."""
    import asyncio

    resumed = asyncio.run(_resume_paused(note))
    if not resumed:
        raise LandslideError(
            "no paused pipeline run found",
            hint="pause/resume across processes needs `prefect server start` and PREFECT_API_URL",
        )
    out.print(f"flow: resumed {', '.join(resumed)}", markup=False)


async def _resume_paused(note: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowFilter,
        FlowFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateName,
    )
    from prefect.flow_runs import aresume_flow_run

    async with get_client() as client:
        runs = await client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["landslide-pipeline"])),
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(name=FlowRunFilterStateName(any_=["Paused"]))
            ),
        )
    for run in runs:
        await aresume_flow_run(run.id, run_input={"done": True, "note": note})
    return [run.name for run in runs]


app.add_typer(flow_app, name="flow")


# ---------------------------------------------------------------------------- retrain


@app.command("retrain")
def retrain_cmd(
    now: Annotated[bool, typer.Option("--now", help="Run one retraining cycle now.")] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Train even with fewer new photos than min_new_images."),
    ] = False,
    params_file: ParamsOption = None,
) -> None:
    """One retraining cycle: new photos -> challenger vs champion -> promote or reject.

    Runs the Prefect flow flows/retrain.py (a temporary local API, or the Prefect server
    of PREFECT_API_URL). Exit 2 when the cycle cannot go on (another cycle runs, new
    photos fail validation, MLflow unreachable); the champion is then unchanged.
    """
    if not now:
        raise LandslideError(
            "say when: --now runs one cycle",
            hint="`landslide retrain --now`, or `landslide schedule` to run cycles on "
            "schedule.cron",
        )
    from landslide.retrain import hold_lock

    params = load_params(params_file)  # bad params fail here, in one line, before Prefect
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    module = _load_flow("retrain")
    # the lock first: a cycle already running is refused here, in one line, before Prefect
    # starts (inside the flow the refusal would be a failed flow run, logged by Prefect)
    with hold_lock(params, Path(".")):
        _quiet_expected_errors()
        summary = module.retrain(params_file=str(params_file) if params_file else None, force=force)
    decision = summary.get("decision", "")
    out.print(
        f"retrain {summary.get('cycle')}: {decision}: {summary.get('reason')}",
        markup=False,
        soft_wrap=True,
    )
    version = summary.get("data_version")
    if version:
        out.print(
            f"data version {version['id']} ({version['method']}; {version['note']})",
            markup=False,
            soft_wrap=True,
        )
    metric = summary["rule"]["metric"]
    for model in [summary.get("champion"), *summary.get("challengers", [])]:
        scores = [
            f"{which} test ({m['images']} photos) {metric} {_score(m, metric)}, "
            f"recall {_score(m, 'recall')}"
            for which in ("fixed", "new")
            if (m := (model or {}).get(which))
        ]
        if scores:
            out.print(f"  {model['label']}: {'; '.join(scores)}", markup=False, soft_wrap=True)
    if summary.get("decision") not in (None, "nothing to do"):
        where = params.schedule.out_dir / "cycles" / str(summary["cycle"]) / "comparison.md"
        out.print(f"comparison: {where}", markup=False, soft_wrap=True)


def _score(metrics: dict[str, Any], name: str) -> str:
    value = metrics.get(name)
    return "n/a" if value is None else f"{value:.3f}"


@app.command("schedule")
def schedule_cmd(
    cron: Annotated[
        str | None, typer.Option("--cron", help="When to run, a cron line [schedule.cron].")
    ] = None,
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "landslide-retrain",
    params_file: ParamsOption = None,
) -> None:
    """Serve the retraining flow on a cron schedule from this process (Ctrl+C stops it)."""
    params = load_params(params_file)
    if cron is not None:
        from landslide.params import parse_params

        data = params.model_dump(mode="json")
        data["schedule"]["cron"] = cron
        params = parse_params(data, source="--cron")
    module = _load_flow("retrain")
    module.serve(params.schedule.cron, str(params_file) if params_file else None, name)


# ---------------------------------------------------------------------------- params


@params_app.command("show")
def params_show(
    params_file: ParamsOption = None,
    section: Annotated[
        str | None, typer.Option("--section", "-s", help="Show one section only.")
    ] = None,
) -> None:
    """Print the resolved parameters (after `extends:` and validation) as YAML."""
    params = load_params(params_file)
    if section is None:
        out.print(params.to_yaml(), end="", markup=False)
        return
    if section not in Params.model_fields:
        raise LandslideError(
            f"unknown section '{section}' (known: {', '.join(Params.model_fields)})"
        )
    import yaml

    value = getattr(params, section)
    dumped = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    out.print(yaml.safe_dump({section: dumped}, sort_keys=False), end="", markup=False)


@params_app.command("check")
def params_check(params_file: ParamsOption = None) -> None:
    """Validate a params file; exit 2 naming the first bad key."""
    load_params(params_file)
    out.print(f"params: ok ({params_file or 'params.yaml'})")


app.add_typer(params_app, name="params")


def main() -> None:  # pragma: no cover - console entry point
    app()
