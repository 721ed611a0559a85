"""Shared fixtures. Tests run offline and quietly: no telemetry, Prefect home in a temp dir."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from fixtures.scrape.fake_services import FakeServices

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


@pytest.fixture
def fake() -> Iterator[FakeServices]:
    """The loopback server playing Commons, Openverse, Bing and hostile image hosts."""
    from fixtures.scrape.fake_services import FakeServices

    with FakeServices() as server:
        yield server


@pytest.fixture(scope="module")
def prefect_server() -> Iterator[None]:
    """Prefect's temporary local server, once per test module."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield
