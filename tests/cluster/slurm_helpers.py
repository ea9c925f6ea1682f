"""Waiting on jobs of the local test cluster, with the queue in the message when a wait times out."""

import subprocess
import time
from collections.abc import Callable

WAIT_S = 60.0


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
