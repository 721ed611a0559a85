"""Training stage: Mask R-CNN for one backbone x set, with checkpoints, resume and MLflow.

    result = train("A", "resnet101", params)                 # landslide train --set A ...
    result = train("A", "resnet101", params, resume=True)    # continue after a stop

* `loop`: `train()` in named steps (set-up, model fresh or resumed, epoch, checkpoint, finish);
* `pieces`: datasets and loaders, per-epoch validation, optimizer, the process group;
* `checkpoint`: checkpoint files (save, list, read, prune) and the model rebuilt from one;
* `rng`: seeding and the RNG states that make a resumed run end as an uninterrupted one;
* `outputs`: `model.pt` + `model.json`, `metrics.json`, `losses.csv` and `losses.png`;
* `tracker`: the MLflow run (params, per-epoch metrics, artifacts, the pyfunc model);
* `progress`: `TrainPaths`, `run_name`, `TrainProgress`, `LogProgress`, `TrainResult`;
* `__main__`: `python -m landslide.train` / `torchrun -m landslide.train`, the CLI's train.
"""

from landslide.inference import resolve_device
from landslide.train.checkpoint import (
    checkpoints,
    last_checkpoint,
    prune_checkpoints,
    read_checkpoint,
    save_checkpoint,
)
from landslide.train.loop import train
from landslide.train.outputs import plot_losses, write_history, write_model
from landslide.train.pieces import _validate, make_optimizer
from landslide.train.progress import (
    LogProgress,
    TrainPaths,
    TrainProgress,
    TrainResult,
    epoch_line,
    run_name,
)
from landslide.train.rng import restore_rng, rng_state, seed_everything

__all__ = [
    "LogProgress",
    "TrainPaths",
    "TrainProgress",
    "TrainResult",
    "_validate",
    "checkpoints",
    "epoch_line",
    "last_checkpoint",
    "make_optimizer",
    "plot_losses",
    "prune_checkpoints",
    "read_checkpoint",
    "resolve_device",
    "restore_rng",
    "rng_state",
    "run_name",
    "save_checkpoint",
    "seed_everything",
    "train",
    "write_history",
    "write_model",
]
