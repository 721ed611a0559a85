"""Prepare stage: every photo and its polygons resized to `prepare.size`, one COCO file.

    summary = prepare(Path("data/raw/via_project.json"), Path("data/raw/images"),
                      Path("data/processed/prepared"), params)

* `stage`: `prepare` / `prepare_annotations` (what is written, incremental runs, bad photos);
* `outputs`: file names, each photo's output name, the manifest, `PrepareSummary`;
* `geometry`: `Layout` / `layout`, where a photo and its polygons land in the output;
* `pixels`: `render` (decode upright, `to_rgb`, resize, JPEG) and the worker pool.
"""

from landslide.annotations.images import BadImage
from landslide.prepare.geometry import Layout, layout
from landslide.prepare.outputs import (
    COCO_NAME,
    DEFAULT_OUT,
    IMAGES_DIR,
    METRICS_NAME,
    RUN_PREPARE,
    STATE_NAME,
    PrepareSummary,
)
from landslide.prepare.pixels import REDUCING_GAP, render, to_rgb
from landslide.prepare.stage import prepare, prepare_annotations

__all__ = [
    "COCO_NAME",
    "DEFAULT_OUT",
    "IMAGES_DIR",
    "METRICS_NAME",
    "REDUCING_GAP",
    "RUN_PREPARE",
    "STATE_NAME",
    "BadImage",
    "Layout",
    "PrepareSummary",
    "layout",
    "prepare",
    "prepare_annotations",
    "render",
    "to_rgb",
]
