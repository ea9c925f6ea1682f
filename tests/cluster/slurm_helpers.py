"""The cluster tests' helpers: the local test cluster script (`launchers/local_slurm.py`, outside the package) as a
module, and waiting on its jobs with the queue in the message when a wait times out."""

import importlib.util
import subprocess
import sys
import time
from collections.abc import Callable
from types import ModuleType

from snpdiff.cluster import LAUNCHERS_DIR

WAIT_S = 60.0
# Test jobs ask for 5 minutes, not less: submitit has SLURM send SIGUSR2 90 s before the limit (its requeue signal),
# which a job with a 2-minute limit gets after 30 s, within reach of a slow start on a loaded machine.
JOB_TIMEOUT_MIN = 5


def _load_local_slurm() -> ModuleType:
    """Import `launchers/local_slurm.py` by path: a standalone script, deliberately not in the `snpdiff` package."""
    path = LAUNCHERS_DIR / "local_slurm.py"
    spec = importlib.util.spec_from_file_location("local_slurm", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # before executing: its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


local_slurm = _load_local_slurm()


def queue_report() -> str:
    """`squeue` and `sinfo` as they stand, for timeout messages."""
    commands = (["squeue", "-o", "%i %T %r %M %j"], ["sinfo", "-N", "-o", "%N %T %C"])
    outputs = (subprocess.run(command, capture_output=True, text=True, timeout=30) for command in commands)
    return "\n".join(done.stdout + done.stderr for done in outputs)


def wait_until(condition: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    """Poll `condition` every 0.1 s; fail with the queue's state after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}\n{queue_report()}")
        time.sleep(0.1)


def sacct_states(job_id: str) -> list[str]:
    """Every state accounting recorded for the job's allocation, requeued runs included (``--duplicates``)."""
    done = subprocess.run(
        ["sacct", "-n", "-X", "-P", "--duplicates", "-j", job_id, "-o", "State"],
        capture_output=True, text=True, timeout=30, check=True,
    )
    return done.stdout.split()
