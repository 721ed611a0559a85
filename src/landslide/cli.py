"""`landslide` command line: one sub-command per stage, in pipeline order.

Each command reads Params, calls its stage function in one line and prints a
one-line summary. Bad input raises a `LandslideError`; it is printed as
`error: …` in one or two lines and the command exits with status 2
(`landslide --debug …` shows the traceback instead).
"""

from __future__ import annotations

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


class _Group(TyperGroup):
    """Turns LandslideError into a short message and exit status 2."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # pipeline order, not alphabetical

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
    params_file: ParamsOption = None,
) -> None:
    """Write the embedded synthetic sample: photos, a VIA project, provenance, decisions."""
    from landslide.sample import generate_sample

    params = load_params(params_file)
    p = params.sample.model_copy(
        update={k: v for k, v in {"n": n, "seed": seed}.items() if v is not None}
    )
    with track(p.n, "sample") as advance:
        s = generate_sample(out_dir, p, params.classes, force=force, progress=advance)
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
    out.print(table)
    if stats.warnings:
        console.print(f"{stats.warnings} warnings (see `landslide annotations import`)")


app.add_typer(annotations_app, name="annotations")


# ---------------------------------------------------------------------------- validate


@app.command()
def validate(
    annotations: Annotated[
        Path, typer.Option("--annotations", "-a", help="Annotations: COCO JSON or a VIA project.")
    ],
    images: Annotated[Path, typer.Option("--images", help="Directory holding the images.")],
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Report directory (default: validation.out_dir in params)."),
    ] = None,
    params_file: ParamsOption = None,
) -> None:
    """Check annotations and images (great-expectations); exit 2 naming each failure."""
    from landslide.annotations import load_annotations
    from landslide.validate import validate as validate_annotations

    params = load_params(params_file)
    ann = load_annotations(annotations, images, params)
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
    from landslide.annotations import read_coco
    from landslide.split import split

    params = load_params(params_file)
    total = len(read_coco(annotations).images)
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
    sizes = "; ".join(
        f"{name} " + "/".join(str(c["images"]) for c in splits.values())
        for name, splits in s.counts.items()
    )
    out.print(
        f"split: {sizes} (train/val/test), {s.groups} groups, {s.kept} kept -> {out_dir}",
        markup=False,
    )


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
