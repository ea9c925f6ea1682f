"""The one narrow interface both sweep backends implement, so ``agent``, ``monitor`` and ``analyze`` do not care
which one runs a sweep."""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

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


@dataclass
class AgentOptions:
    """How an agent runs trials. ``count``: trials this agent runs at most (None: until the sweep is done)."""

    count: int | None = None
    max_consecutive_failures: int = 5
    heartbeat_interval_s: float = 10.0
    stop_timeout_s: float = 20.0  # after SIGTERM, a trial gets this long before SIGKILL
    python: str = sys.executable


@dataclass
class AgentReport:
    """What one agent did. ``stopped_by``: count | done | failures | signal | exhausted."""

    trials: list[int] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)
    stopped_by: str = "done"
    exit_code: int = 0


class SweepBackend(ABC):
    """A sweep engine: creates sweeps, runs agents, and lists trials."""

    name: ClassVar[str]

    def __init__(self, info: SweepInfo, spec: SweepSpec):
        self.info = info
        self.spec = spec

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
            size = len(self.spec.grid_points())
            return min(size, self.spec.run_cap) if self.spec.run_cap else size
        return self.spec.run_cap
