"""Fixtures of the sweep tests: a private sweeps folder, one thread per trial, and local sweeps created without
``init`` (helpers: ``tests.helpers``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from snpdiff.sweep.backends.local import LocalBackend
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import sweeps_root
from tests.helpers import REPO


@pytest.fixture(autouse=True)
def _sweep_env(monkeypatch, tmp_path):
    """Each test gets its own sweeps folder; trial processes use one thread each (2-core machines)."""
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(REPO)  # train.py and conf/ are found from the repository root, as a user runs it


@pytest.fixture
def local_sweep() -> Callable[..., str]:
    """``create(sweep, storage=None)``: a local sweep created directly, without ``init``'s checks against the config
    (a sweep that must fail when run, or whose trials are stand-in programs); returns its id."""

    def create(sweep: dict, storage: str | None = None) -> str:
        spec = load_sweep(sweep)
        info = LocalBackend.create(spec, sweeps_root(), storage=storage)
        info.save(spec, sweeps_root())
        return info.sweep_id

    return create
