"""How many CPU threads a training's torch uses: the machine's cores shared among the trainings running on it.

Every torch process starts as many intra-op threads as the machine has cores. Two trainings on a 2-core machine
then run four threads that spin against each other, and together make a third of the steps one training alone
makes (``benchmarks/threads.py``). So a training takes its share instead: the cores it may use (its SLURM
allocation, else the CPUs this process may run on) divided by the trainings holding a share on this machine, at
least one. The count
is kept in a folder of lock files (``SNPDIFF_CORES_DIR``, default ``<tmp>/snpdiff-cores-<uid>``): each training holds
an OS lock on its own file for as long as it runs, so a killed training's share is freed by the kernel, and the
others take it back at their next look (``CoreShare.rebalance``).

The choice, in order: the ``threads`` key when it is a number; ``OMP_NUM_THREADS`` when the environment sets it
(torch reads it at start; a user or a scheduler chose); the share. A SLURM job counts only its allocation
(``SLURM_CPUS_PER_TASK``, else ``SLURM_JOB_CPUS_PER_NODE``) and the trainings sharing it.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

log = logging.getLogger("snpdiff")

LOOK_EVERY_S = 2.0  # how often a running training recounts the trainings it shares the cores with


def usable_cores(environ: os._Environ | dict[str, str] = os.environ) -> int:
    """The cores this process may use: its SLURM job's allocation on this node, else the CPUs it may run on."""
    for key in ("SLURM_CPUS_PER_TASK", "SLURM_JOB_CPUS_PER_NODE"):
        text = environ.get(key, "").split("(")[0].split(",")[0]  # "4(x2),2" -> 4: this node's count comes first
        if text.isdigit() and int(text) > 0:
            return int(text)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cores_dir(environ: os._Environ | dict[str, str] = os.environ) -> Path:
    """The folder of lock files the trainings of this user on this machine (or in this SLURM job) count."""
    if environ.get("SNPDIFF_CORES_DIR"):
        return Path(environ["SNPDIFF_CORES_DIR"])
    job = environ.get("SLURM_JOB_ID")
    name = f"snpdiff-cores-{os.getuid()}" + (f"-job{job}" if job else "")
    return Path(tempfile.gettempdir()) / name


def live_holders(folder: Path) -> int:
    """How many processes hold a lock file in ``folder``; files whose process is gone are removed."""
    count = 0
    for path in folder.glob("*.lock"):
        probe = FileLock(path, timeout=0)
        try:
            probe.acquire()
        except Timeout:
            count += 1  # its holder is alive
            continue
        except OSError:
            continue  # removed by another training between the listing and the look
        probe.release()
        path.unlink(missing_ok=True)
    return count


@dataclass
class CoreShare:
    """This process's share of the cores, held from ``__enter__`` to ``__exit__``; ``threads`` is the current
    choice and ``reason`` says where it came from (logged at start)."""

    setting: int | None = None  # the ``threads`` key: a number fixes it, None shares
    environ: os._Environ | dict[str, str] = field(default_factory=lambda: os.environ)
    threads: int = 1
    reason: str = ""
    _lock: FileLock | None = None
    _looked: float = 0.0

    @property
    def from_environment(self) -> int | None:
        """``OMP_NUM_THREADS`` when it is a positive integer (torch reads the same variable at start)."""
        text = self.environ.get("OMP_NUM_THREADS", "").strip()
        return int(text) if text.isdigit() and int(text) > 0 else None

    @property
    def shared(self) -> bool:
        """Whether the thread count follows the trainings on this machine (neither the key nor the environment
        fixed it)."""
        return self.setting is None and self.from_environment is None

    def __enter__(self) -> CoreShare:
        if self.shared:
            folder = cores_dir(self.environ)
            folder.mkdir(parents=True, exist_ok=True)
            self._lock = FileLock(folder / f"{os.uname().nodename}-{os.getpid()}.lock")
            self._lock.acquire()
        self._choose()
        log.info("torch threads: %d (%s; the threads key sets it)", self.threads, self.reason)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lock is not None:
            self._lock.release()
            Path(self._lock.lock_file).unlink(missing_ok=True)
            self._lock = None

    def _choose(self) -> None:
        """Decide ``threads`` and ``reason`` now, and set torch's intra-op thread count."""
        import torch

        if self.setting is not None:
            self.threads, self.reason = int(self.setting), f"threads={self.setting}"
        elif self.from_environment is not None:
            self.threads, self.reason = self.from_environment, f"OMP_NUM_THREADS={self.from_environment}"
        else:
            cores, trainings = usable_cores(self.environ), max(1, live_holders(cores_dir(self.environ)))
            self.threads = max(1, cores // trainings)
            where = "its SLURM allocation" if self.environ.get("SLURM_JOB_ID") else "this machine"
            self.reason = f"{cores} cores of {where} shared by {trainings} training{'s' * (trainings > 1)}"
        self._looked = time.monotonic()
        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)

    def rebalance(self) -> None:
        """Recount the trainings sharing the cores (at most every LOOK_EVERY_S) and take the new share: a training
        that started alone gives cores up when a second starts, and takes them back when it ends."""
        if not self.shared or time.monotonic() - self._looked < LOOK_EVERY_S:
            return
        before = self.threads
        self._choose()
        if self.threads != before:
            log.info("torch threads: %d (%s)", self.threads, self.reason)
