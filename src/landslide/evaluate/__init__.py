"""Evaluation: a trained model's image-level metrics, COCO AP and pixel IoU on a split.

`evaluate()` runs the model once over the split and writes `reports/eval/<run>/`; the
image-level metrics themselves (the study's decision, sweep, PR points) live in
`landslide.metrics`. Submodules:

- `stage`: `evaluate()`, `EvalResult`, `check_inputs` (the stage's steps);
- `paths`: `EvalPaths` (dvc.yaml's paths for a backbone and set), `default_out_dir`;
- `evaluators`: `CocoEvaluator` (box and mask AP) and `PixelEvaluator` (pixel IoU);
- `calibration`: the threshold chosen on the validation split, applied to the test split;
- `overlays`: `OverlayWriter`, photos drawn with their detections, framed by outcome;
- `outputs`: metrics.json, eval.json, the frames / sweep / PR tables, `markdown_table`;
- `plots`: the confusion matrix and PR figures, `save_figure`;
- `mlflow_runs`: logging to the model's MLflow run, `find_run`, `read_metrics`.
"""

from landslide.evaluate.evaluators import AP_KEYS, CocoEvaluator, PixelEvaluator
from landslide.evaluate.mlflow_runs import (
    find_run,
    flat_metrics,
    log_to_mlflow,
    mlflow_client,
    read_metrics,
)
from landslide.evaluate.outputs import FRAME_COLUMNS, frames_markdown, markdown_table, write_outputs
from landslide.evaluate.overlays import (
    CLASS_COLOURS,
    FAINT_LABEL,
    OUTCOME_COLOURS,
    OUTCOMES,
    OverlayWriter,
)
from landslide.evaluate.paths import EvalPaths, default_out_dir
from landslide.evaluate.plots import plot_confusion, plot_pr, save_figure
from landslide.evaluate.stage import EvalResult, check_inputs, evaluate
from landslide.inference import Evaluator, inference_on_dataset
from landslide.metrics import (
    PR_COLUMNS,
    SWEEP_COLUMNS,
    ImageLevelEvaluator,
    best_threshold,
    outcome,
    pr_points,
    sweep_rows,
    sweep_thresholds,
)

__all__ = [
    "AP_KEYS",
    "CLASS_COLOURS",
    "FAINT_LABEL",
    "FRAME_COLUMNS",
    "OUTCOMES",
    "OUTCOME_COLOURS",
    "PR_COLUMNS",
    "SWEEP_COLUMNS",
    "CocoEvaluator",
    "EvalPaths",
    "EvalResult",
    "Evaluator",
    "ImageLevelEvaluator",
    "OverlayWriter",
    "PixelEvaluator",
    "best_threshold",
    "check_inputs",
    "default_out_dir",
    "evaluate",
    "find_run",
    "flat_metrics",
    "frames_markdown",
    "inference_on_dataset",
    "log_to_mlflow",
    "markdown_table",
    "mlflow_client",
    "outcome",
    "plot_confusion",
    "plot_pr",
    "pr_points",
    "read_metrics",
    "save_figure",
    "sweep_rows",
    "sweep_thresholds",
    "write_outputs",
]
