"""The training run, the composition root: check the scheduler, hold the run folder, check where the run starts from
(``snpdiff.training.resume``), build the run's parts from the config (``snpdiff.training.components``), fit with
out-of-memory back-off, record what ran."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from snpdiff.cli.cores import CoreShare
from snpdiff.run_folder import RunLock, last_checkpoint, refuse_earlier_run
from snpdiff.training.callbacks import ShareCores
from snpdiff.training.components import prepare_run
from snpdiff.training.lr_schedulers import lr_scheduler_factory
from snpdiff.training.oom import Backoff, fit_with_backoff
from snpdiff.training.resume import check_resume_checkpoint, resume_path


def run_folder_lock(output_dir: Path) -> AbstractContextManager:
    """The run folder's ``RunLock``, taken by the process of global rank 0 only: the other processes of a DDP run
    (Lightning's workers, SLURM's tasks) write into the folder their rank 0 holds."""
    return RunLock(output_dir) if rank_zero_only.rank == 0 else nullcontext()


def run_training(cfg: DictConfig, extra_callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Train on a validated ``cfg`` (``snpdiff.config.validate_config``; ``train.py`` validates before torch loads),
    write ``metrics.json`` and the resolved ``config.yaml`` into ``cfg.paths.output_dir``.

    Returns the run's metrics (latest value of each logged scalar, ``final/val_loss`` = the best ``val_loss``,
    model size, out-of-memory back-off facts, the learning-rate floor, checkpoint paths). ``extra_callbacks`` are
    added after the configured ones (for in-process callers such as tests).

    Runs torch on the run's share of the machine's cores (``threads``; ``snpdiff.cli.cores``). Holds the run folder's
    lock throughout (``snpdiff.run_folder.RunLock``): a folder another run is training in
    is a ``RunFolderError`` before any work; so is, as a ``ConfigError``, a folder holding an earlier run that this
    one neither continues (``ckpt_path``) nor replaces (``overwrite=true``), and a checkpoint to continue from that is
    unreadable or was saved for another model config. A non-finite training loss ends the run with
    ``TrainingDiverged`` (``metrics.json`` records it under ``diverged``); SIGTERM or SIGINT with
    ``TrainingStopped``; a full disk with a ``RunFolderError``.
    """
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    lock = run_folder_lock(output_dir)
    lr_scheduler = lr_scheduler_factory(cfg.scheduler, lr=float(cfg.optimizer.lr))  # floors checked before any work
    with lock, CoreShare(cfg.get("threads")) as share:
        ckpt_path = resume_path(cfg, output_dir)
        if rank_zero_only.rank == 0:  # the other processes of a DDP run start once rank 0 is training here
            refuse_earlier_run(output_dir, cfg.ckpt_path, bool(cfg.overwrite))
        resume_from = None if ckpt_path is None else check_resume_checkpoint(cfg, ckpt_path)
        parts = prepare_run(cfg, output_dir, lr_scheduler, [*extra_callbacks, ShareCores(share)], resume_from)
        backoff = Backoff(parts.datamodule.batch_size, int(cfg.trainer.get("accumulate_grad_batches", 1)))
        module, trainer = fit_with_backoff(
            parts.fit, backoff, cfg.oom_max_retries, ckpt_path, last_checkpoint(output_dir)
        )
        parts.record_what_ran(backoff)
        return parts.finish(trainer, module, backoff)
