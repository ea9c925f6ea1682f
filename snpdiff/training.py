"""The training run, the composition root: instantiate everything from the config and hand it to Lightning.

Callbacks and loggers are every ``_target_`` node under ``callbacks`` and ``logger`` (a sweep adds its reporter the
same way, ``+callbacks.sweep_reporter={_target_: ...}``); the scheduler is the ``scheduler`` node
(``snpdiff.schedulers``). ``metrics.json`` is the run folder contract (``snpdiff.run_folder``), so its callback is
installed here, not by a config node.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ProgressBar
from omegaconf import DictConfig, OmegaConf, open_dict

import snpdiff.training_metrics  # noqa: F401 - registers the metric_mode resolver the configs use
from snpdiff.callbacks import MetricsJson
from snpdiff.config import to_plain, validate_config
from snpdiff.data.datamodule import derived_seed
from snpdiff.errors import ConfigError
from snpdiff.module import SNPDiffusionModule
from snpdiff.run_folder import atomic_write_text, best_checkpoint, config_path, last_checkpoint
from snpdiff.schedulers import LRSchedulerFactory, lr_scheduler_factory

log = logging.getLogger(__name__)


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA/MPS out-of-memory errors and the CPU allocator's failure to allocate."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    message = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in message or "can't allocate memory" in message)


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


class EpochSeed(Callback):
    """Reseeds the global RNGs (torch, numpy, random) at the start of every training epoch from ``(seed, epoch,
    rank)``: the diffusion timesteps, noise and dropout of epoch k depend on nothing that ran before it, so a run
    resumed from a checkpoint trains epoch k exactly as the uninterrupted run did (the shuffle is seeded the same way,
    ``snpdiff.data.datamodule.EpochShuffle``). The rank keeps DDP processes from drawing the same noise."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        seed = derived_seed(self.seed, trainer.current_epoch, trainer.global_rank)
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)


def smaller_batch(batch_size: int) -> int:
    """The batch size after an out-of-memory error: the largest divisor below ``batch_size`` (16 -> 8, 6 -> 3,
    5 -> 1), so that ``batch_size // smaller`` accumulated batches keep the effective batch exactly."""
    return next(d for d in range(batch_size // 2, 0, -1) if batch_size % d == 0)


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one version of a file from the next (inode, mtime in ns, size); None when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


def parameter_stats(model: torch.nn.Module) -> dict[str, float]:
    """``model/total_params``, ``model/trainable_params`` and ``model/size_mb`` (bytes of the parameters / 2**20)."""
    params = list(model.parameters())
    return {
        "model/total_params": float(sum(p.numel() for p in params)),
        "model/trainable_params": float(sum(p.numel() for p in params if p.requires_grad)),
        "model/size_mb": sum(p.numel() * p.element_size() for p in params) / 2**20,
    }


def instantiate_nodes(cfg: DictConfig, group: str) -> list[Any]:
    """Every node under ``cfg.<group>`` instantiated, in config order; null nodes are skipped."""
    objects = []
    for name, node in (cfg.get(group) or {}).items():
        if node is None:
            continue
        if not isinstance(node, DictConfig) or "_target_" not in node:
            raise ConfigError(
                f"{group}.{name} has no _target_; give it one (the class to build) or set {group}.{name}=null"
            )
        objects.append(instantiate(node, _convert_="all"))
    return objects


def build_module(
    cfg: DictConfig, datamodule: Any, lr_scheduler: LRSchedulerFactory | None = None
) -> SNPDiffusionModule:
    """The LightningModule for ``cfg``, sized by the data module's window (``seq_length`` SNPs)."""
    encoding = datamodule.encoding
    module = SNPDiffusionModule(
        model=instantiate(cfg.model, seq_length=datamodule.seq_length, in_channels=1),
        diffusion=instantiate(cfg.diffusion),
        loss=instantiate(cfg.loss),
        optimizer_factory=instantiate(cfg.optimizer),
        lr_scheduler_factory=lr_scheduler,
        valid_values=encoding.values_tensor(),
    )
    module.run_info = {
        "config": to_plain(cfg),
        "encoding": encoding.to_dict(),
        "seq_length": int(datamodule.seq_length),
        "snps": datamodule.snps.to_dict() if hasattr(datamodule.snps, "to_dict") else None,
    }
    return module


def quality_callbacks(cfg: DictConfig) -> list[Callback]:
    """The in-training sample-quality callback when ``quality.enabled``."""
    if not cfg.quality.get("enabled"):
        return []
    from snpdiff.quality import SampleQualityCallback

    return [SampleQualityCallback(**OmegaConf.to_container(cfg.quality, resolve=True), seed=cfg.seed)]


def _batch_limits(cfg: DictConfig, split: int) -> dict[str, int]:
    """``trainer.limit_*_batches`` given as batch counts, times ``split`` (fractions need no change)."""
    counts = {key: cfg.trainer.get(key) for key in ("limit_train_batches", "limit_val_batches")}
    return {key: n * split for key, n in counts.items() if isinstance(n, int) and not isinstance(n, bool)}


def _trainer(
    cfg: DictConfig, loggers: list, callbacks: list[Callback], accumulate: int, split: int = 1
) -> pl.Trainer:
    """The Trainer of ``cfg.trainer``; ``split``: how many smaller batches now make one configured batch (after
    out-of-memory back-offs): batch-count limits grow by it, so each epoch still covers the same rows."""
    # the progress bar is chosen by callbacks.progress_bar; without one Lightning must not add its own
    progress_bar = any(isinstance(callback, ProgressBar) for callback in callbacks)
    return instantiate(
        cfg.trainer,
        _convert_="all",
        **_batch_limits(cfg, split),
        accumulate_grad_batches=accumulate,
        enable_progress_bar=progress_bar,
        logger=loggers or False,
        callbacks=callbacks,
    )


def _resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from; a requeued SLURM job (time limit, preemption) picks up where it stopped."""
    restarts = int(os.environ.get("SLURM_RESTART_COUNT") or 0)
    if cfg.ckpt_path is None and restarts > 0:
        log.info("requeued SLURM job (restart %d): resuming from the last checkpoint", restarts)
        with open_dict(cfg):
            cfg.ckpt_path = "last"  # what ran, in config.yaml; the W&B logger continues its run from it
    return resolve_ckpt_path(cfg.ckpt_path, output_dir)


def run_training(cfg: DictConfig, extra_callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Validate ``cfg``, train, write ``metrics.json`` and the resolved ``config.yaml`` into the output folder.

    Returns the run's metrics (latest value of each logged scalar, ``final/val_loss`` = the best ``val_loss``,
    model size, out-of-memory back-off facts, the learning-rate floor, checkpoint paths). ``extra_callbacks`` are
    added after the configured ones (for in-process callers such as tests).
    """
    validate_config(cfg)
    lr_scheduler = lr_scheduler_factory(cfg.scheduler, lr=float(cfg.optimizer.lr))  # floors checked before any work
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    # the configured callbacks of the first attempt, built before the data so that a constructor's error comes first
    configured = instantiate_nodes(cfg, "callbacks")

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")  # every data error is raised here, before training
    ckpt_path = _resume_path(cfg, output_dir)
    atomic_write_text(config_path(output_dir), OmegaConf.to_yaml(cfg, resolve=True))

    loggers = instantiate_nodes(cfg, "logger")
    for logger in loggers:
        logger.log_hyperparams(to_plain(cfg))
    metrics_json = MetricsJson(output_dir)
    accumulate = int(cfg.trainer.get("accumulate_grad_batches", 1))
    retries = 0
    while True:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        module = build_module(cfg, datamodule, lr_scheduler)
        # quality first, so metrics.json and any reporter callback see its values of the same epoch
        callbacks = [
            EpochSeed(cfg.seed),
            *quality_callbacks(cfg),
            *(configured if retries == 0 else instantiate_nodes(cfg, "callbacks")),  # fresh for each attempt
            metrics_json,
            *extra_callbacks,
        ]
        trainer = _trainer(cfg, loggers, callbacks, accumulate, split=int(cfg.data.batch_size) // datamodule.batch_size)
        facts = {**parameter_stats(module.model), "oom/retries": retries, "oom/batch_size": datamodule.batch_size}
        metrics_json.extra.update(facts)
        for logger in loggers:
            logger.log_metrics(facts, step=0)
        last_before = _file_stamp(last_checkpoint(output_dir))
        try:
            trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
            break
        except Exception as exc:  # noqa: BLE001 - only out-of-memory errors are handled, the rest re-raised
            if not is_out_of_memory(exc):
                raise
            if datamodule.batch_size <= 1 or retries >= cfg.oom_max_retries:
                raise ConfigError(
                    f"out of memory at data.batch_size={datamodule.batch_size} after {retries} back-offs; "
                    "use a smaller model (model.channels, model.dim_mults) or data.seq_length"
                ) from exc
            retries += 1
            smaller = smaller_batch(datamodule.batch_size)
            accumulate *= datamodule.batch_size // smaller
            datamodule.batch_size = smaller
            # resume from what this attempt saved; until it saved something, from where it started (an explicit
            # ckpt_path, or nothing), never from an older last.ckpt that happens to lie in the folder
            if _file_stamp(last_checkpoint(output_dir)) not in (None, last_before):
                ckpt_path = str(last_checkpoint(output_dir))
            log.warning(
                "out of memory: retrying with data.batch_size=%d and accumulate_grad_batches=%d (effective batch "
                "%d, unchanged), resuming from %s",
                datamodule.batch_size,
                accumulate,
                datamodule.batch_size * accumulate,
                ckpt_path or "the start",
            )
    split = int(cfg.data.batch_size) // datamodule.batch_size
    with open_dict(cfg):  # config.yaml says what ran
        cfg.trainer.update(_batch_limits(cfg, split))
        cfg.data.batch_size = datamodule.batch_size
        cfg.trainer.accumulate_grad_batches = accumulate
    atomic_write_text(config_path(output_dir), OmegaConf.to_yaml(cfg, resolve=True))

    final = {"final/val_loss": module.best_val_loss, **metrics_json.last_evaluation()}
    for logger in loggers:
        logger.log_metrics(final, step=trainer.global_step)
    metrics_json.extra.update(
        final,
        **{
            "oom/retries": retries,
            "oom/batch_size": datamodule.batch_size,
            "lr_floor": lr_scheduler.floor if lr_scheduler else None,
            "checkpoints": {"last": str(last_checkpoint(output_dir)), "best": str(best_checkpoint(output_dir))},
            "output_dir": str(output_dir),
            "world_size": trainer.world_size,
        },
    )
    metrics = metrics_json.summary(trainer)
    if trainer.is_global_zero:
        metrics_json.write(trainer)
    for logger in loggers:
        logger.finalize("success")
    if any(type(logger).__name__ == "WandbLogger" for logger in loggers):
        import wandb  # the run must end before the process does, or wandb waits on exit

        wandb.finish()
    return metrics
