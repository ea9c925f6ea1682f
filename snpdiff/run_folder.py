"""The run folder contract: what a training run leaves in its output folder, in one place.

Training writes it; sweeps, ``generate.py``, benchmarks and the docs read it through these names::

    <run>/config.yaml               the resolved config that ran (rewritten at the end with what actually ran)
    <run>/metrics.json              latest value of every logged scalar, extra facts, per-epoch ``history``
    <run>/checkpoints/last.ckpt     every epoch (resume with ``ckpt_path=last``)
    <run>/checkpoints/best.ckpt     best epoch on ``optimized_metric``

``metrics.json`` schema: a flat mapping of metric name -> number (``val_loss``, ``val/ld_corr``, ``final/val_loss``,
``model/total_params``, ...) plus ``history`` (a list of ``{"epoch", "step", <metric>: value, ...}``, one per
validation epoch), ``epochs_completed``, ``checkpoints`` (``{"last", "best"}`` paths), ``output_dir`` and a few
run facts, and ``diverged`` (``null``, or ``{"step", "epoch", "loss", "lr"}`` when a non-finite training loss
stopped the run). It is strict JSON (a non-finite number is written as ``null``) and rewritten atomically after every
validation epoch, so a killed job keeps what it had.

Every file of the run folder is written by ``snpdiff.files.atomic_write`` (a temporary file in its own folder, fsync,
``os.replace``): a kill or a full disk leaves the previous version whole and no temporary file behind; a full disk is
a ``RunFolderError`` naming the file. ``<run>/.snpdiff.lock`` (``RunLock``) keeps a second training run out of a
folder that one is training in.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snpdiff.errors import RunFolderError
from snpdiff.files import atomic_write

log = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.ckpt"
BEST_CHECKPOINT = "best.ckpt"


def checkpoint_dir(run_dir: str | os.PathLike) -> Path:
    """``<run>/checkpoints``."""
    return Path(run_dir) / CHECKPOINT_DIR


def last_checkpoint(run_dir: str | os.PathLike) -> Path:
    """``<run>/checkpoints/last.ckpt`` (may not exist yet)."""
    return checkpoint_dir(run_dir) / LAST_CHECKPOINT


def best_checkpoint(run_dir: str | os.PathLike) -> Path:
    """``<run>/checkpoints/best.ckpt`` (may not exist yet)."""
    return checkpoint_dir(run_dir) / BEST_CHECKPOINT


def metrics_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/metrics.json``."""
    return Path(run_dir) / METRICS_FILE


def config_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/config.yaml``."""
    return Path(run_dir) / CONFIG_FILE


def strict_json_value(value: Any) -> Any:
    """``value`` with every number a finite float, int or None (NaN and +-inf become None: strict JSON has no
    spelling for them); numpy and torch scalars become floats. Mappings and sequences are converted item by item."""
    if isinstance(value, Mapping):
        return {str(key): strict_json_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict_json_value(item) for item in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    number = float(value)  # a float, or a numpy/torch scalar; anything else is a TypeError, as json.dumps's own
    return number if math.isfinite(number) else None


def atomic_write_json(path: str | os.PathLike, payload: Mapping[str, Any]) -> None:
    """``payload`` as indented, strict JSON (``strict_json_value``), written atomically."""
    text = json.dumps(strict_json_value(payload), indent=2, sort_keys=True, allow_nan=False)
    atomic_write(path, text, RunFolderError)


LOCK_FILE = ".snpdiff.lock"


def lock_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/.snpdiff.lock``: present while a training run writes the folder."""
    return Path(run_dir) / LOCK_FILE


@dataclasses.dataclass(frozen=True)
class LockHolder:
    """Who holds a run folder: process id, host name, start time (ISO 8601) and SLURM job id (None outside SLURM)."""

    pid: int
    host: str
    started: str
    slurm_job_id: str | None = None

    @classmethod
    def this_process(cls) -> LockHolder:
        started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        return cls(os.getpid(), socket.gethostname(), started, os.environ.get("SLURM_JOB_ID") or None)

    def describe(self) -> str:
        """``pid 123 on host node7, started 2025-01-01T12:00:00+01:00`` (and ``, SLURM job 42``)."""
        text = f"pid {self.pid} on host {self.host}, started {self.started}"
        return f"{text}, SLURM job {self.slurm_job_id}" if self.slurm_job_id else text


def read_lock(path: Path) -> LockHolder | None:
    """The holder a lock file names; None when the file is gone. A file that does not name one is a holder that
    cannot be checked: ``pid -1 on host ?``, which is never taken over."""
    try:
        raw = json.loads(path.read_text())
        return LockHolder(int(raw["pid"]), str(raw["host"]), str(raw["started"]), raw.get("slurm_job_id"))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return LockHolder(-1, "?", "?")


def _process_running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def takeover_reason(holder: LockHolder, claimant: LockHolder) -> str | None:
    """Why ``claimant`` may take the lock ``holder`` left, or None when the holder must be trusted to be running.

    - the same SLURM job: SLURM requeued it (time limit, preemption, node failure) and it runs again, on this host or
      another, with the same ``SLURM_JOB_ID``;
    - a process of this host that no longer runs: it was killed (``kill -9``, out of memory) before it released the
      lock;
    - this process itself: an earlier run in it ended without releasing.

    A lock from another host (a shared filesystem) is trusted: its process cannot be checked from here. If that run
    died, delete the lock file (the refusal names it); a requeued SLURM job needs no help.
    """
    if holder.slurm_job_id and holder.slurm_job_id == claimant.slurm_job_id:
        return f"the same SLURM job {holder.slurm_job_id}, requeued"
    if holder.host == claimant.host and holder.pid == claimant.pid:
        return "this process"
    if holder.host == claimant.host and holder.pid > 0 and not _process_running(holder.pid):
        return f"process {holder.pid} no longer runs"
    return None


class RunLock:
    """``<run>/.snpdiff.lock``, held while one training run writes its run folder (a context manager).

    Acquiring creates the file in one step (a hard link of a complete temporary file, which fails when the lock
    exists: never a half-written lock) holding ``LockHolder`` as JSON. A lock already there refuses the run with a
    ``RunFolderError`` naming the folder, the holder and the lock file, unless ``takeover_reason`` allows taking it
    (logged as a warning naming the old holder). Released on leaving the block, also on an error or Ctrl-C; a
    process killed outside Python's control (``kill -9``) leaves it for the next run to take over.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = lock_path(run_dir)
        self.holder = LockHolder.this_process()

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{LOCK_FILE}.{os.getpid()}.tmp")
        atomic_write_json(tmp, dataclasses.asdict(self.holder))
        try:
            while True:
                try:
                    os.link(tmp, self.path)
                    return
                except FileExistsError:
                    holder = read_lock(self.path)
                if holder is None:  # released between the two calls: try again
                    continue
                reason = takeover_reason(holder, self.holder)
                if reason is None:
                    raise RunFolderError(
                        f"run folder {self.run_dir} is in use by another training run ({holder.describe()}); "
                        f"wait for it to end or choose another hydra.run.dir; if that run no longer runs, delete "
                        f"{self.path}"
                    )
                log.warning(
                    "taking over the lock of run folder %s from %s: %s", self.run_dir, holder.describe(), reason
                )
                os.replace(tmp, self.path)
                return
        finally:
            tmp.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock file if it still names this holder (a requeued job may have taken it over)."""
        if read_lock(self.path) == self.holder:
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run's ``metrics.json``; ``{}`` when the run has not written one yet."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())
