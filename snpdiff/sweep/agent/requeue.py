"""Signals and SLURM's requeue, as an agent sees them.

SIGINT/SIGTERM stop the running trial (SIGTERM, then SIGKILL after ``AgentOptions.stop_timeout_s``) and the agent.
In a SLURM job, SIGUSR2 (submitit's signal: the job is requeued next, after a time limit or a preemption) stops the
running trial too but leaves it running in the sweep, awaiting the requeue (``TrialQueue.await_requeue``); when the
job starts again (``SLURM_RESTART_COUNT`` > 0, the same ``SLURM_JOB_ID``) its agent first resumes that trial from
its ``last.ckpt`` (``RESUME_OVERRIDE``: same run folder, so the same trial number and W&B run).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from types import FrameType

from snpdiff.sweep.agent.trial import signal_process_group

# what a trial resumed after its job's requeue adds to its command line (not recorded: analyze rebuilds the config)
RESUME_OVERRIDE = "ckpt_path=last"
REQUEUED = "requeued"  # a trial stopped for its job's requeue: left running in the sweep, resumed by the next run


def slurm_job() -> tuple[str | None, int]:
    """This agent's SLURM job id (None: not in a job) and how many times SLURM has requeued it."""
    return os.environ.get("SLURM_JOB_ID") or None, int(os.environ.get("SLURM_RESTART_COUNT") or 0)


class StopOnSignal:
    """Turns SIGINT/SIGTERM/SIGUSR2 into a request to stop (the trial loop then sends the running trial SIGTERM); a
    second signal kills the running trial at once. SIGUSR2 also says the job is requeued next (``requeue``)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.requeue = False
        self.process: subprocess.Popen | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR2:
            if self.requeue:  # SLURM's and submitit's forwarded copy of the same request
                return
            self.requeue = True
        if self.signum is not None and self.process is not None:
            signal_process_group(self.process, signal.SIGKILL)
        self.signum = signum

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def stopped_by(self) -> str:
        """What the running trial is recorded as stopped by (``stopped by SIGTERM``)."""
        return f"stopped by {signal.Signals(self.signum).name}"
