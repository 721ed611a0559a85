"""Atomic writes and the clean-up of what a killed writer leaves behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from landslide.io import atomic_open, remove_stale_temps, write_text


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    write_text(target, "old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


def test_remove_stale_temps_deletes_only_atomic_temporaries(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    keep = [tmp_path / "model.pt", tmp_path / "images" / "a.jpg", tmp_path / "notes.tmp"]
    stale = [tmp_path / ".model.pt.k3j2.tmp", tmp_path / "images" / ".a.jpg.x1.tmp"]
    for path in keep + stale:
        path.write_bytes(b"x")
    assert remove_stale_temps(tmp_path) == 2
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert remove_stale_temps(tmp_path / "missing") == 0
