"""Out-of-memory back-off: when a batch does not fit, retry with a smaller one and keep the effective batch.

Each retry halves (or divides) the batch, multiplies ``accumulate_grad_batches`` by the same factor, and resumes
from what the failed attempt saved; after ``oom_max_retries`` back-offs, or at batch size 1, it gives up with a
``ConfigError`` that says what to shrink.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from snpdiff.errors import ConfigError

log = logging.getLogger(__name__)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA/MPS out-of-memory errors and the CPU allocator's failure to allocate."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


def smaller_batch(batch_size: int) -> int:
    """The batch size after an out-of-memory error: the largest divisor below ``batch_size`` (16 -> 8, 6 -> 3,
    5 -> 1), so that ``batch_size // smaller`` accumulated batches keep the effective batch exactly."""
    return next(d for d in range(batch_size // 2, 0, -1) if batch_size % d == 0)


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next (inode, mtime in ns, size); None when it does not exist."""
    try:
        stat = os.stat(path)
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


@dataclass
class Backoff:
    """Where the back-off stands: the batch size, gradient accumulation and retries so far."""

    batch_size: int
    accumulate: int
    retries: int = 0


def fit_with_backoff(
    fit: Callable[[Backoff, str | None], Any],
    backoff: Backoff,
    max_retries: int,
    ckpt_path: str | None,
    last_checkpoint: Path,
) -> Any:
    """``fit(backoff, ckpt_path)`` until it returns; on an out-of-memory error, retry with a smaller batch.

    A retry resumes from what the failed attempt saved at ``last_checkpoint``; until it saved something, from where
    it started (an explicit ``ckpt_path``, or nothing), never from an older last.ckpt that happens to lie there.
    Any other error is re-raised as it is.
    """
    while True:
        last_before = file_stamp(last_checkpoint)
        try:
            return fit(backoff, ckpt_path)
        except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            if backoff.batch_size <= 1 or backoff.retries >= max_retries:
                raise ConfigError(
                    f"out of memory at data.batch_size={backoff.batch_size} after {backoff.retries} back-offs; "
                    "use a smaller model (model.channels, model.dim_mults) or data.seq_length"
                ) from exc
            smaller = smaller_batch(backoff.batch_size)
            backoff.accumulate *= backoff.batch_size // smaller
            backoff.batch_size = smaller
            backoff.retries += 1
            if file_stamp(last_checkpoint) not in (None, last_before):
                ckpt_path = str(last_checkpoint)
            log.warning(
                "out of memory: retrying with data.batch_size=%d and accumulate_grad_batches=%d (effective batch "
                "%d, unchanged), resuming from %s",
                backoff.batch_size,
                backoff.accumulate,
                backoff.batch_size * backoff.accumulate,
                ckpt_path or "the start",
            )
