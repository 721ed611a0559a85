"""Retraining as photos arrive: a challenger against the champion, on a fixed test set.

The Prefect flow `flows/retrain.py` runs one cycle's steps as tasks; `cycle` describes a
cycle step by step. The submodules, in the order a cycle uses them:

- `lock`: one cycle at a time (`CycleLock`, `hold_lock`);
- `arrivals`: the ready photos and the new ones (`find_arrivals`, `state.json`);
- `prefill`: photos waiting for a polygon, pre-outlined with the champion;
- `cycle`: the cycle's record (`Cycle`, `Candidate`, `TestSets`, `DataVersion`),
  `open_cycle`, and the files it writes (`comparison.json`/`.md`, `state.json`);
- `data_steps`: prepare, validate, split, version, augment;
- `model_steps`: train, find the champion, evaluate, record the decision;
- `rule`: the promotion rule (`decide`);
- `mlflow_log`: the tracking check, the cycle's MLflow run and what it logs;
- `reports`: the comparison as Markdown, the champion timeline (`model_history`);
- `demo`: sample photos as new arrivals (`add_sample_photos`);
- `common`: the file names, decisions and tag prefixes they share.
"""

from landslide.errors import RetrainError  # `R.RetrainError` (tests)
from landslide.retrain.arrivals import Arrivals, find_arrivals, read_state
from landslide.retrain.common import (
    CYCLES_DIR,
    FAILED,
    KIND_TAG,
    NOTHING,
    PROMOTED,
    REJECTED,
    STATE_NAME,
    SUMMARY_JSON,
    SUMMARY_MD,
    TAG,
    cycle_dir,
)
from landslide.retrain.cycle import (
    Candidate,
    Cycle,
    DataVersion,
    TestSets,
    fail,
    nothing_to_do,
    open_cycle,
    write_state,
)
from landslide.retrain.data_steps import (
    augment_photos,
    content_hash,
    prepare_photos,
    split_photos,
    validate_photos,
    version_data,
)
from landslide.retrain.demo import add_sample_photos
from landslide.retrain.lock import CycleLock, LockInfo, hold_lock
from landslide.retrain.mlflow_log import check_tracking, cycle_run
from landslide.retrain.model_steps import (
    clear_challengers,
    evaluate_candidate,
    find_champion,
    record_decision,
    train_challenger,
)
from landslide.retrain.prefill import find_champion_version, prefill_waiting
from landslide.retrain.reports import (
    HISTORY_COLUMNS,
    HistoryRow,
    history_table,
    history_text,
    model_history,
    summary_markdown,
)
from landslide.retrain.rule import EPS, Verdict, decide, metric_value

__all__ = [
    "CYCLES_DIR",
    "EPS",
    "FAILED",
    "HISTORY_COLUMNS",
    "KIND_TAG",
    "NOTHING",
    "PROMOTED",
    "REJECTED",
    "STATE_NAME",
    "SUMMARY_JSON",
    "SUMMARY_MD",
    "TAG",
    "Arrivals",
    "Candidate",
    "Cycle",
    "CycleLock",
    "DataVersion",
    "HistoryRow",
    "LockInfo",
    "RetrainError",
    "TestSets",
    "Verdict",
    "add_sample_photos",
    "augment_photos",
    "check_tracking",
    "clear_challengers",
    "content_hash",
    "cycle_dir",
    "cycle_run",
    "decide",
    "evaluate_candidate",
    "fail",
    "find_arrivals",
    "find_champion",
    "find_champion_version",
    "history_table",
    "history_text",
    "hold_lock",
    "metric_value",
    "model_history",
    "nothing_to_do",
    "open_cycle",
    "prefill_waiting",
    "prepare_photos",
    "read_state",
    "record_decision",
    "split_photos",
    "summary_markdown",
    "train_challenger",
    "validate_photos",
    "version_data",
    "write_state",
]
