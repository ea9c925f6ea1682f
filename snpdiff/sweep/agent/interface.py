"""What an agent needs from a backend, and what it is told and tells.

``AgentOptions`` (how an agent runs trials) and ``AgentReport`` (what it did) serve every backend's agent.
``TrialQueue``: the narrow protocol the agent loop (``snpdiff.sweep.agent.loop``) needs from a backend that hands out
trials itself (the local backend): claim a trial, send heartbeats, record its overrides, finish it. W&B's agent runs
its own loop and needs no queue.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from snpdiff.sweep.spec import SweepSpec
from snpdiff.sweep.store import SweepInfo

# seconds between an agent's heartbeats unless ``--heartbeat-interval`` says otherwise
DEFAULT_HEARTBEAT_INTERVAL_S = 10.0


@dataclass
class AgentOptions:
    """How an agent runs trials. ``count``: trials this agent runs at most (None: until the sweep is done)."""

    count: int | None = None
    max_consecutive_failures: int = 5
    heartbeat_interval_s: float = DEFAULT_HEARTBEAT_INTERVAL_S
    stop_timeout_s: float = 20.0  # after SIGTERM, a trial gets this long before SIGKILL
    python: str = sys.executable


@dataclass
class AgentReport:
    """What one agent did. ``stopped_by``: count | done | failures | signal | exhausted | requeue."""

    trials: list[int] = field(default_factory=list)
    states: dict[int, str] = field(default_factory=dict)
    stopped_by: str = "done"
    exit_code: int = 0


@dataclass
class ClaimedTrial:
    """A trial an agent runs: its number, the engine's id for it, every parameter value (canonical names), its
    output folder, and the callback node (a ``_target_`` mapping) the training must install to send its agent the
    metric every epoch, which the agent reports to the engine (None: the engine reads the trial's result from its run
    folder after the end)."""

    number: int
    trial_id: int
    params: dict[str, Any]
    run_dir: Path
    reporter: dict[str, Any] | None = None


class TrialQueue(Protocol):
    """A backend that hands out trials one at a time to agents that run them (the local backend). Each method raises
    ``StorageFault`` when the storage refuses it."""

    info: SweepInfo
    spec: SweepSpec

    def claim(self, heartbeat_interval_s: float) -> ClaimedTrial | None:
        """Start the next trial (None: the sweep has none left); its agent beats every ``heartbeat_interval_s``."""

    def heartbeat(self, trial: ClaimedTrial) -> None:
        """Say that ``trial``'s agent is alive (a trial silent for long is failed by the next agent that looks)."""

    def report(self, trial: ClaimedTrial, epoch: int, value: float) -> bool:
        """Give the engine ``trial``'s value after ``epoch`` epochs (sent by its reporter); True: stop the trial."""

    def record_overrides(self, trial: ClaimedTrial, overrides: list[str]) -> None:
        """Keep the Hydra overrides ``trial`` runs with (``analyze`` rebuilds its config from them)."""

    def finish(self, trial: ClaimedTrial, state: str, value: float | None = None, error: str | None = None) -> str:
        """Record the outcome (``finished``/``failed``/``interrupted``); returns the state recorded (``pruned`` when
        the trial's reporter was told to stop, ``failed`` when another agent failed it meanwhile)."""

    def await_requeue(self, trial: ClaimedTrial, job_id: str) -> None:
        """Leave ``trial`` running while SLURM requeues job ``job_id`` (its agent's job): not failed as stale while
        the job is queued, resumed by the job's next start."""

    def reattach(self, job_id: str, heartbeat_interval_s: float) -> ClaimedTrial | None:
        """The trial job ``job_id`` was running when it was requeued, claimed again (None: there is none)."""

    def trials_of_job(self, job_id: str) -> list[int]:
        """Numbers of the trials job ``job_id``'s agent claimed, over all its runs."""
