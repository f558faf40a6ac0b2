"""The PEP 3333 probe's own housekeeping (its experiments are judged through the wsgi suite)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.apps import wsgi_probe


def test_markers_older_than_any_running_experiment_are_swept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgi_probe, "MARKER_FOLDER", tmp_path)
    now = 1_000_000.0
    stale = tmp_path / "abcdef12.release"  # a release that came as its hold timed out
    fresh = tmp_path / "abcdef34.closed"  # a close() the suite is about to ask for
    for marker, age in ((stale, wsgi_probe.STALE_MARKER_S + 1), (fresh, 1.0)):
        marker.touch()
        os.utime(marker, (now - age, now - age))
    assert wsgi_probe.sweep_stale_markers(now) == 1
    assert not stale.exists() and fresh.exists()


def test_sweeping_a_folder_not_made_yet_is_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wsgi_probe, "MARKER_FOLDER", tmp_path / "absent")
    assert wsgi_probe.sweep_stale_markers() == 0
