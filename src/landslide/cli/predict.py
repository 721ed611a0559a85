"""`landslide predict` (photos to overlays, JSON and CSV) and `landslide predict-raster`
(a georeferenced raster by tiles to polygons), with their shared options."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from landslide.cli.root import DeviceOption, ParamsOption, _print_plain_warnings, app
from landslide.console import out, track
from landslide.params import Params, load_params

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


def _predict_params(params_file: Path | None, **updates: Any) -> Params:
    """Params with the command line's predict.* overrides, validated like params.yaml."""
    return load_params(params_file).with_values("predict", validated_as="command line", **updates)


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
    from landslide.inference import default_model, load_detector
    from landslide.predict import collect_inputs, predict

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
    from landslide.inference import default_model, load_detector
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
