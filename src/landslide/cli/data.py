"""The data stages and their inputs: `sample`, `prepare`, `validate`, `split`, `augment`,
`data track | push | pull` (DVC) and `params show | check`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from landslide.cli.root import ParamsOption, PhotosOption, _Group, _print_notes, app
from landslide.console import out, track
from landslide.errors import LandslideError
from landslide.params import Params, load_params

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

    params = load_params(params_file).with_values("sample", n=n, seed=seed)
    p = params.sample
    with track(p.n, "sample") as advance:
        s = generate_sample(
            out_dir, p, params.classes, force=force, decisions_file=decisions, progress=advance
        )
    regions = ", ".join(f"{k} {v}" for k, v in s.regions.items())
    out.print(
        f"sample: {s.images} photos ({s.landslide_images} landslide, {s.negative_images} "
        f"without; {s.exif_rotated} EXIF-rotated), regions: {regions} -> {s.out_dir}"
    )


# ---------------------------------------------------------------------------- prepare


@app.command("prepare")
def prepare_cmd(
    annotations: Annotated[
        Path, typer.Option("--annotations", "-a", help="Annotations: a VIA file or COCO JSON.")
    ] = Path("data/raw/via_project.json"),
    images: PhotosOption = Path("data/raw/images"),
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

    params = load_params(params_file).with_values("prepare", workers=workers)
    ann = load_annotations(annotations, images, params)
    with track(len(ann), "prepare") as advance:
        s = prepare_annotations(ann, images, out_dir, params, progress=advance)
    out.print(s.summary_line(), markup=False, soft_wrap=True)


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
    from landslide.validate import load_prepared
    from landslide.validate import validate as validate_annotations

    params = load_params(params_file)
    ann = load_prepared(annotations, images, params)
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
    _print_notes(s.notes)
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
    from landslide.augment import augment_set

    params = load_params(params_file)
    names = sets or params.train.sets
    # every set's train.json is read before any is augmented: a typo fails fast
    totals = {name: len(read_coco(splits_dir / name / "train.json").images) for name in names}
    for set_name, total in totals.items():
        with track(total, f"augment {set_name}") as advance:
            s = augment_set(
                set_name, params, splits=splits_dir, images=images, out=out_dir, progress=advance
            )
        out.print(f"{set_name}: {s.summary_line()}", markup=False, soft_wrap=True)


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


# ---------------------------------------------------------------------------- params

params_app = typer.Typer(cls=_Group, help="Show and check the pipeline's parameters.")


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
