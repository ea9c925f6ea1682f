"""Helpers shared by test modules (test modules import from here, never from each other or from a conftest).

Sweeps: ``TINY_TRIAL`` (fixed parameters of a seconds-long real trial), ``write_sweep``, ``sweep_cli`` and
``start_agent`` (``sweep.py`` as a user runs it), ``checked`` (what ``init`` finds in a sweep, in this process).
Training: ``run_train`` and ``run_dirs`` (``train.py`` as a user runs it), ``StopAfterEpoch`` (ends a run as a
killed job would).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import lightning.pytorch as pl
import pytest
import yaml

from snpdiff.sweep.legacy.aliases import parse_with_old_names
from snpdiff.sweep.rules import check_sweep
from snpdiff.sweep.spec import SweepSpec

REPO = Path(__file__).resolve().parents[1]
# Fixed parameters that make a real train.py trial take seconds: debug=fast (tiny data slice, 2 epochs of 3
# batches), no logger, no progress bar, and a small UNet.
TINY_TRIAL = {
    "debug": {"value": "fast"},
    "logger": {"value": "none"},
    "callbacks.progress_bar": {"value": None},
    "model.channels": {"value": 8},
    "model.dim_mults": {"value": [1, 2]},
    "model.norm_groups": {"value": 4},
    "model.embedding_dim": {"value": 16},
}


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


def run_train(*args: str, root: Path, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python train.py ARGS`` as a user runs it, with outputs under ``root`` (``env`` values of None: unset)."""
    return run_entry("train.py", *args, root=root, env=env, timeout=timeout)


def run_generate(*args: str, root: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python generate.py ARGS`` as a user runs it, from ``root`` (``SNPDIFF_ROOT``)."""
    return run_entry("generate.py", *args, root=root, timeout=timeout)


def run_entry(
    script: str, *args: str, root: Path, env: dict | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    """``python SCRIPT ARGS`` (an entry point at the repository root) with outputs under ``root``."""
    environment = {**os.environ, "SNPDIFF_ROOT": str(root), **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    root.mkdir(parents=True, exist_ok=True)
    return subprocess.run([sys.executable, str(REPO / script), *args], cwd=root, env=environment,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(result: subprocess.CompletedProcess, exit_code: int = 2) -> str:
    """The run ended with ``exit_code`` (2: a user error), no traceback and exactly one ``error:`` line; that line."""
    assert result.returncode == exit_code, result.stdout[-2000:] + result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def run_dirs(root: Path, kind: str = "runs") -> list[Path]:
    """The run folders (those with a metrics.json) that ``run_train`` left under ``root``."""
    return sorted(p.parent for p in (root / "outputs").glob(f"*/{kind}/**/metrics.json"))


class StopAfterEpoch(pl.Callback):
    """Ends training after epoch index ``epoch`` as a killed job would have: its last.ckpt is the latest state."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


def checked(raw: dict, backend: str = "local") -> tuple[SweepSpec, list[str], list[str]]:
    """What `init` finds in the sweep ``raw``: ``(the checked spec, every problem, the lines it prints)``."""
    spec, problems = parse_with_old_names(raw)
    check = check_sweep(spec, backend)
    return check.spec, problems + check.problems, check.messages


def small_tmpfs(mount: Path, size: str) -> Iterator[Path]:
    """A real tmpfs of ``size`` (``4m``, ``2100k``) mounted at ``mount`` for a full-disk test, unmounted afterwards
    (a fixture body: ``yield from small_tmpfs(...)``). Skips where mounting is not allowed (not root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)
