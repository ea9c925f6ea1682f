"""Where a run starts from: nothing, its own ``last.ckpt``, or an explicit checkpoint.

A requeued SLURM job (time limit, preemption: ``SLURM_RESTART_COUNT`` > 0) with no ``ckpt_path`` resumes from its
run folder's ``last.ckpt``, so a job that SLURM restarts picks up where it stopped.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from omegaconf import DictConfig, open_dict

from snpdiff.run_folder import last_checkpoint

log = logging.getLogger(__name__)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``None``, ``"last"`` (this output folder's last.ckpt, when it exists) or an explicit checkpoint path."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = last_checkpoint(output_dir)
        if last.is_file():
            return str(last)
        log.info("ckpt_path=last: no %s yet, starting fresh", last)
        return None
    return str(ckpt_path)


def resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from; a requeued SLURM job sets ``cfg.ckpt_path="last"`` (recorded in config.yaml,
    and the W&B logger continues its run from it)."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    if cfg.ckpt_path is None and restarts > 0:
        log.info("requeued SLURM job (restart %d): resuming from the last checkpoint", restarts)
        with open_dict(cfg):
            cfg.ckpt_path = "last"
    return resolve_ckpt_path(cfg.ckpt_path, output_dir)
