"""Fixtures of the sweep tests: a private sweeps folder and one thread per trial (helpers: ``tests.helpers``)."""

from __future__ import annotations

import pytest

from tests.helpers import REPO


@pytest.fixture(autouse=True)
def _sweep_env(monkeypatch, tmp_path):
    """Each test gets its own sweeps folder; trial processes use one thread each (2-core machines)."""
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(REPO)  # train.py and conf/ are found from the repository root, as a user runs it
