"""Sweep backends behind one interface (``SweepBackend``): ``local`` (Optuna) and ``wandb``."""

from __future__ import annotations

from snpdiff.errors import SweepError
from snpdiff.sweep.backends.base import AgentOptions, AgentReport, SweepBackend, TrialRecord
from snpdiff.sweep.store import SweepInfo

BACKEND_NAMES = ("local", "wandb")


def backend_class(name: str) -> type[SweepBackend]:
    """The backend class for ``name`` (imported lazily: the W&B one needs wandb, the local one optuna)."""
    if name == "local":
        from snpdiff.sweep.backends.optuna_backend import LocalBackend

        return LocalBackend
    if name == "wandb":
        from snpdiff.sweep.backends.wandb_backend import WandbBackend

        return WandbBackend
    raise SweepError(f"unknown sweep backend {name!r}; allowed: {', '.join(BACKEND_NAMES)}")


def open_backend(info: SweepInfo) -> SweepBackend:
    """The backend that runs the sweep ``info`` describes."""
    cls = backend_class(info.backend)
    return cls(info)


__all__ = ["AgentOptions", "AgentReport", "BACKEND_NAMES", "SweepBackend", "TrialRecord", "backend_class",
           "open_backend"]
