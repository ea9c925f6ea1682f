"""A trial's heartbeats while its agent does something else: a thread that beats every interval.

The agent beats from its own loop while it watches a trial (``snpdiff.sweep.agent.loop``); this thread covers the
moments it cannot, such as composing the trial's config, which can take longer than an interval on a loaded node:
so no other agent's stale check fails a live trial.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from snpdiff.errors import StorageFault
from snpdiff.sweep.agent.interface import ClaimedTrial, TrialQueue


@contextmanager
def beating(backend: TrialQueue, claimed: ClaimedTrial, interval_s: float) -> Iterator[None]:
    """Send ``claimed``'s heartbeat every ``interval_s`` from a thread while the block runs; a ``StorageFault`` of a
    heartbeat ends the beating and is raised here when the block ends."""
    done = threading.Event()
    faults: list[StorageFault] = []

    def beat() -> None:
        while not done.wait(interval_s):
            try:
                backend.heartbeat(claimed)
            except StorageFault as fault:
                faults.append(fault)
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{claimed.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if faults:
        raise faults[0]
