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
folder that one is training in; a folder that holds an earlier run (``earlier_run``) is written only by a run that
continues or replaces it (``refuse_earlier_run``).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import math
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import filelock

from snpdiff.errors import ConfigError, RunFolderError
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
HOLDER_FILE = ".snpdiff.lock.json"


def lock_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/.snpdiff.lock``: the file a training run holds an OS lock on while it writes the folder (the file
    itself stays, empty, after the run)."""
    return Path(run_dir) / LOCK_FILE


def holder_path(run_dir: str | os.PathLike) -> Path:
    """``<run>/.snpdiff.lock.json``: who holds the lock (``LockHolder``), for messages; present while a run holds it
    and left behind by a run that was killed."""
    return Path(run_dir) / HOLDER_FILE


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


def read_holder(path: Path) -> LockHolder | None:
    """The holder a holder file names; None when the file is gone or does not name one (a holder that has not
    written it yet, or a file someone else wrote)."""
    try:
        raw = json.loads(path.read_text())
        return LockHolder(int(raw["pid"]), str(raw["host"]), str(raw["started"]), raw.get("slurm_job_id"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


class RunLock:
    """The lock of one run folder, held while one training run writes it (a context manager).

    The lock is an OS file lock on ``<run>/.snpdiff.lock`` taken through ``filelock`` (``flock``): the kernel gives
    it up when its process ends, however it ends (``kill -9``, out of memory, a SLURM requeue), so a dead run's lock
    is never in the way and of two processes that want the same folder exactly one holds it. On a shared filesystem
    it holds across hosts where the filesystem supports file locks (NFSv4, Lustre and GPFS with locking on). Who holds
    it is written to ``<run>/.snpdiff.lock.json`` after taking it, so a refused run names the holder (``RunFolderError``
    naming the folder and the holder); a holder file left by a killed run is replaced, with a warning naming the old
    holder. Released on leaving the block, also on an error or Ctrl-C.
    """

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.holder = LockHolder.this_process()
        self._lock = filelock.UnixFileLock(lock_path(run_dir), timeout=0)

    def acquire(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            holder = self._current_holder()
            described = holder.describe() if holder else "a process that has not written its details yet"
            raise RunFolderError(
                f"run folder {self.run_dir} is in use by another training run ({described}); wait for it to end or "
                "choose another hydra.run.dir"
            ) from None
        left = read_holder(holder_path(self.run_dir))
        if left is not None and left != self.holder:
            log.warning("taking over the lock of run folder %s from %s: that run no longer holds it (it was killed "
                        "or its job requeued)", self.run_dir, left.describe())
        atomic_write_json(holder_path(self.run_dir), dataclasses.asdict(self.holder))

    def _current_holder(self, wait_s: float = 1.0) -> LockHolder | None:
        """The holder file of the process holding the lock; it writes it right after taking the lock, so a holder
        file that is missing or still names the run before is read again for up to ``wait_s`` seconds."""
        deadline = time.monotonic() + wait_s
        while True:
            holder = read_holder(holder_path(self.run_dir))
            if (holder is not None and (holder.host != self.holder.host or _process_running(holder.pid))) or (
                time.monotonic() > deadline
            ):
                return holder
            time.sleep(0.05)

    def release(self) -> None:
        """Remove the holder file, then let the lock go."""
        if read_holder(holder_path(self.run_dir)) == self.holder:
            holder_path(self.run_dir).unlink(missing_ok=True)
        self._lock.release()

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _process_running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this host (one of another user's counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def earlier_run(run_dir: str | os.PathLike) -> list[str]:
    """What of an earlier training run ``run_dir`` holds: its checkpoints and a ``metrics.json`` with epochs, as
    paths inside the folder (``["checkpoints/last.ckpt", "metrics.json (2 epochs)"]``); empty when it holds none."""
    run_dir = Path(run_dir)
    found = [
        path.relative_to(run_dir).as_posix() for path in (last_checkpoint(run_dir), best_checkpoint(run_dir))
        if path.exists()
    ]  # fmt: skip
    try:
        metrics = read_metrics(run_dir)
        epochs = int(metrics.get("epochs_completed") or len(metrics.get("history") or []))
    except (OSError, ValueError, TypeError, AttributeError):  # a metrics.json someone else wrote: no epochs in it
        epochs = 0
    if epochs > 0:
        found.append(f"{METRICS_FILE} ({epochs} epoch{'s' if epochs > 1 else ''})")
    return found


def slurm_restarts() -> int:
    """How often SLURM has requeued this job (``SLURM_RESTART_COUNT``; 0 outside SLURM and on its first start)."""
    return int(os.environ.get("SLURM_RESTART_COUNT") or 0)


def continues_folder(run_dir: str | os.PathLike, ckpt_path: str | None) -> bool:
    """Whether a run with ``ckpt_path`` continues what ``run_dir`` holds: ``last``, a checkpoint of that folder, or
    none in a requeued SLURM job (which resumes from its ``last.ckpt``)."""
    if ckpt_path is None:
        return slurm_restarts() > 0
    return ckpt_path == "last" or Path(ckpt_path).resolve().parent == checkpoint_dir(run_dir).resolve()


def refuse_earlier_run(run_dir: str | os.PathLike, ckpt_path: str | None, overwrite: bool) -> None:
    """ConfigError when ``run_dir`` holds an earlier run (``earlier_run``) that a run with ``ckpt_path`` would
    overwrite, unless ``overwrite``: naming what it holds and the three ways on. Reads the folder, writes nothing."""
    found = earlier_run(run_dir)
    if not found or overwrite or continues_folder(run_dir, ckpt_path):
        return
    raise ConfigError(
        f"run folder {run_dir} holds an earlier run ({', '.join(found)}), which this run would overwrite; "
        "nothing was changed. To continue that run add ckpt_path=last; to start a new one choose another "
        "hydra.run.dir (or leave it out for a new folder); to replace it add overwrite=true"
    )


def lock_is_held(run_dir: str | os.PathLike) -> bool:
    """Whether a live training run holds ``run_dir``'s lock now (tried and let go at once, holder file untouched)."""
    lock = filelock.UnixFileLock(lock_path(run_dir), timeout=0)
    try:
        lock.acquire()
    except filelock.Timeout:
        return True
    lock.release()
    return False


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run's ``metrics.json``; ``{}`` when the run has not written one yet."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())
