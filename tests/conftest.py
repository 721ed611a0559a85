"""Shared fixtures. Tests run offline and quietly: no telemetry, Prefect home in a temp dir."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Set before any test imports prefect/mlflow/dvc (they read these at import time).
_QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "true",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1",
    "PREFECT_HOME": os.environ.get("PREFECT_HOME") or tempfile.mkdtemp(prefix="prefect-home-"),
}
for _key, _value in _QUIET.items():
    os.environ.setdefault(_key, _value)
os.environ.pop("LANDSLIDE_PARAMS", None)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def repo_root() -> Path:
    return REPO
