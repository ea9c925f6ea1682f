"""The interface of the sweep backends.

``SweepBackend``: what ``sweep.py`` uses (create, run an agent, list trials), so ``init``, ``agent``, ``monitor`` and
``analyze`` do not care which backend runs a sweep; ``TrialRecord``: one trial as they see it. What an agent needs
from a backend that hands out trials (``TrialQueue``) is the agent's: ``snpdiff.sweep.agent.interface``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from snpdiff.sweep.agent.interface import AgentOptions, AgentReport
from snpdiff.sweep.spec import SweepSpec
from snpdiff.sweep.store import SweepInfo

# Trial states shared by both backends (W&B's crashed/failed -> failed, killed -> interrupted).
TRIAL_STATES = ("running", "finished", "pruned", "failed", "interrupted")


@dataclass
class TrialRecord:
    """One trial (a W&B run or an Optuna trial) as monitor and analyze see it.

    ``value`` is the best value of the sweep's metric over the trial's epochs (not the last one); ``params`` holds
    every swept and fixed parameter under its canonical name; durations are in seconds.
    """

    number: int
    state: str
    value: float | None
    params: dict[str, Any]
    started: datetime | None = None
    finished: datetime | None = None
    error: str | None = None
    run_dir: str | None = None
    run_id: str | None = None
    overrides: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float | None:
        if self.started is None:
            return None
        end = self.finished or datetime.now(self.started.tzinfo)
        return (end - self.started).total_seconds()


class SweepBackend(ABC):
    """A sweep engine: creates sweeps, runs agents, and lists trials."""

    name: ClassVar[str]

    def __init__(self, info: SweepInfo, spec: SweepSpec):
        self.info = info
        self.spec = spec

    @classmethod  # noqa: B027 - an optional hook, empty by default: the local backend needs nothing
    def check_available(cls) -> None:
        """Raise a SweepError when this backend cannot run here (e.g. no credentials); checked before validation."""

    @classmethod
    @abstractmethod
    def create(cls, spec: SweepSpec, root: Path, **options: Any) -> SweepInfo:
        """Create the sweep on the engine and return its record, with its folder under ``root`` (not yet saved)."""

    @abstractmethod
    def run_agent(self, options: AgentOptions) -> AgentReport:
        """Run trials of this sweep in this process until ``options.count``, the sweep's end, or a signal."""

    @abstractmethod
    def trials(self) -> list[TrialRecord]:
        """Every trial of the sweep, ordered by number."""

    @abstractmethod
    def state(self) -> str:
        """``running``, ``finished`` (run cap reached or grid exhausted) or the engine's own word."""

    def capacity(self) -> int | None:
        """How many trials the sweep runs in all: ``run_cap``, the grid's size, or None (unbounded)."""
        if self.spec.method == "grid":
            size = self.spec.grid_size()
            return min(size, self.spec.run_cap) if self.spec.run_cap else size
        return self.spec.run_cap
