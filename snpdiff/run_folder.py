"""The run folder contract: what a training run leaves in its output folder, in one place.

Training writes it; sweeps, ``generate.py``, benchmarks and the docs read it through these names::

    <run>/config.yaml               the resolved config that ran (rewritten at the end with what actually ran)
    <run>/metrics.json              latest value of every logged scalar, extra facts, per-epoch ``history``
    <run>/checkpoints/last.ckpt     every epoch (resume with ``ckpt_path=last``)
    <run>/checkpoints/best.ckpt     best epoch on ``optimized_metric``

``metrics.json`` schema: a flat mapping of metric name -> number (``val_loss``, ``val/ld_corr``, ``final/val_loss``,
``model/total_params``, ...) plus ``history`` (a list of ``{"epoch", "step", <metric>: value, ...}``, one per
validation epoch), ``epochs_completed``, ``checkpoints`` (``{"last", "best"}`` paths), ``output_dir`` and a few
run facts. It is rewritten atomically after every validation epoch, so a killed job keeps what it had.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

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


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write through a temporary file in the same folder and a rename, so a kill never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def atomic_write_json(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """``payload`` as indented JSON (numpy/torch scalars as floats), written atomically."""
    atomic_write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=float))


def read_metrics(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run's ``metrics.json``; ``{}`` when the run has not written one yet."""
    path = metrics_path(run_dir)
    if not path.is_file():
        return {}
    return json.loads(path.read_text())
