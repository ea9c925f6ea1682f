"""Fixtures of the sweep tests: a private sweeps folder, sweep files written by the tests, tiny real trials."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
# Fixed parameters that make a real train.py trial take seconds: debug=fast (tiny data slice, 2 epochs of 3
# batches), no logger, no progress bar, and a small UNet.
TINY_TRIAL = {
    "debug": {"value": "fast"},
    "logger": {"value": "none"},
    "callbacks.progress_bar.kind": {"value": "none"},
    "model.channels": {"value": 8},
    "model.dim_mults": {"value": [1, 2]},
    "model.norm_groups": {"value": 4},
    "model.embedding_dim": {"value": 16},
}


@pytest.fixture(autouse=True)
def _sweep_env(monkeypatch, tmp_path):
    """Each test gets its own sweeps folder; trial processes use one thread each (2-core machines)."""
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(REPO)  # train.py and conf/ are found from the repository root, as a user runs it


def write_sweep(folder: Path, sweep: dict, name: str = "sweep.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def sweep_cli(*args: str, check: bool = True, timeout: float = 300, columns: int = 120) -> subprocess.CompletedProcess:
    """``python sweep.py ARGS`` as a user runs it (environment inherited; tables ``columns`` wide)."""
    result = subprocess.run([sys.executable, str(REPO / "sweep.py"), *args], capture_output=True, text=True,
                            timeout=timeout, cwd=REPO, env={**os.environ, "COLUMNS": str(columns)})
    if check and result.returncode != 0:
        raise AssertionError(f"sweep.py {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def start_agent(sweep_id: str, *args: str, log: Path | None = None) -> subprocess.Popen:
    """``python sweep.py agent SWEEP_ID ARGS`` in the background."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the process's end
    return subprocess.Popen([sys.executable, str(REPO / "sweep.py"), "agent", sweep_id, *args], stdout=out,
                            stderr=subprocess.STDOUT, cwd=REPO, env=dict(os.environ))
