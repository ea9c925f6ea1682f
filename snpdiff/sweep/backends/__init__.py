"""Sweep backends behind one interface (``SweepBackend``): ``local`` (Optuna, ``local.py``) and ``wandb``.

``sweep.py`` reaches every backend through here: ``backend_class`` for ``init``, ``open_sweep`` for ``agent``,
``monitor`` and ``analyze``. The backends themselves are imported on first use (one needs optuna, the other wandb).
"""

from __future__ import annotations

from pathlib import Path

from snpdiff.errors import SweepError
from snpdiff.sweep.agent.interface import AgentOptions, AgentReport
from snpdiff.sweep.backends.base import SweepBackend, TrialRecord
from snpdiff.sweep.store import SweepInfo, resolve_sweep

BACKEND_NAMES = ("local", "wandb")


def backend_class(name: str) -> type[SweepBackend]:
    """The backend class for ``name`` (one of ``BACKEND_NAMES``)."""
    if name == "local":
        from snpdiff.sweep.backends.local import LocalBackend

        return LocalBackend
    if name == "wandb":
        from snpdiff.sweep.backends.wandb import WandbBackend

        return WandbBackend
    raise SweepError(f"unknown sweep backend {name!r}; allowed: {', '.join(BACKEND_NAMES)}")


def open_backend(info: SweepInfo) -> SweepBackend:
    """The backend that runs the sweep ``info`` describes."""
    return backend_class(info.backend)(info)


def open_sweep(ref: str | None = None, sweeps_dir: str | Path | None = None) -> SweepBackend:
    """The backend of sweep ``ref`` (``entity/project/id``, short id, sweep folder, or None for the current sweep)."""
    return open_backend(resolve_sweep(ref, sweeps_dir))


def run_agent(sweep: str | None = None, options: AgentOptions | None = None,
              sweeps_dir: str | Path | None = None) -> AgentReport:
    """Run one agent of ``sweep`` in this process: the call every launcher makes, by hand or in a cluster job."""
    return open_sweep(sweep, sweeps_dir).run_agent(options or AgentOptions())


__all__ = ["AgentOptions", "AgentReport", "BACKEND_NAMES", "SweepBackend", "TrialRecord", "backend_class",
           "open_backend", "open_sweep", "run_agent"]
