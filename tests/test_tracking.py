"""MLflow helpers: several trainings may open the same fresh local store at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from landslide.tracking import store_lock

STARTER = """
import sys
from landslide.params import MlflowParams
from landslide.tracking import start_run
with start_run(sys.argv[1], MlflowParams(tracking_uri=sys.argv[2])) as run:
    print(run.info.run_id)
"""


@pytest.mark.slow
def test_concurrent_first_runs_on_a_fresh_sqlite_store(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", STARTER, f"run-{i}", uri],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-800:] for _, err in results]
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("landslide").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["run-0", "run-1", "run-2"]


def test_store_lock_only_for_local_sqlite(tmp_path: Path) -> None:
    with store_lock(f"sqlite:///{tmp_path}/x/mlflow.db"):
        assert (tmp_path / "x" / "mlflow.db.lock").exists()
    with store_lock("http://127.0.0.1:5000"):
        pass
    assert not list(tmp_path.glob("*.lock"))
