"""Prediction on photos: files, folders and globs to overlays, one JSON and a CSV summary.

    detector = inference.load_detector("models/resnet101-setA", params)  # runs:/, models:/, .onnx
    summary = predict([Path("photos/")], detector, Path("predictions"), params.predict)
    summary.summary_line()

The stage `predict` reads photos upright (EXIF orientation applied), any mode (16-bit,
palette, transparency: as `prepare` converts them), a batch at a time, so memory follows
`predict.batch_size`, not the number of photos, and runs them through
`landslide.inference` (the detectors, `detect`, the one decision rule train and evaluate
use). Files that are not images or cannot be decoded are listed in the summary and
skipped. Outputs in `out_dir`:

    predictions.json   {model, threshold, categories, images (id, file, size, decision,
                       max_score, overlay), results (COCO results: image_id, category_id,
                       bbox, score, segmentation as RLE; plus category and polygon),
                       skipped (file, reason)}
    summary.csv        one row per photo: decision, best landslide score, instance counts
    overlays/*.jpg     each photo with what predictions.json lists (masks, boxes, labels and
                       scores of the instances at or above `min_score`; those below the
                       threshold faint), framed green when a landslide is detected, grey
                       when not (evaluate's `OverlayWriter`)

Modules: `inputs` (`collect_inputs`, reading a batch), `run` (`predict`, the stage) and
`outputs` (the JSON, CSV and overlays). Loading a detector and running it are
`landslide.inference` (`load_detector`, `default_model`, `detect`, ...).
"""

from landslide.predict.inputs import collect_inputs
from landslide.predict.outputs import SUMMARY_COLUMNS, PredictSummary, draw_overlay
from landslide.predict.run import predict

__all__ = ["SUMMARY_COLUMNS", "PredictSummary", "collect_inputs", "draw_overlay", "predict"]
