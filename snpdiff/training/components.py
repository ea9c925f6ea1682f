"""The parts of one training run, built from its config: callbacks, loggers, data, the LightningModule and the
Trainer (``RunParts``), and what the run hands back at its end.

Callbacks and loggers are every ``_target_`` node under ``callbacks`` and ``logger`` (a sweep adds its reporter the
same way, ``+callbacks.sweep_reporter={_target_: ...}``); the scheduler is the ``scheduler`` node
(``snpdiff.training.lr_schedulers``). ``metrics.json`` is the run folder contract (``snpdiff.run_folder``), the
per-epoch reseeding makes resume exact, a diverged run must end as one and a run a signal stopped with its own exit
status (``TrainingStopped``), so those four callbacks are installed here, not by config nodes; so is the atomic
checkpoint writer.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.config import to_plain
from snpdiff.errors import ConfigError, RunFolderError, TrainingStopped
from snpdiff.files import atomic_write
from snpdiff.run_folder import best_checkpoint, config_path, earlier_run, last_checkpoint, metrics_path
from snpdiff.secrets import redact_secrets
from snpdiff.training.callbacks import AtomicCheckpointIO, DivergenceGuard, EpochSeed, MetricsJson, StopSignal
from snpdiff.training.loggers import finish_wandb_run
from snpdiff.training.lr_schedulers import LRSchedulerFactory
from snpdiff.training.module import SNPDiffusionModule
from snpdiff.training.oom import Backoff
from snpdiff.training.resume import ResumeFrom, resume_hint

log = logging.getLogger(__name__)


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
    """The LightningModule for ``cfg``, sized by what the data decide (``datamodule.model_inputs``: the window, the
    encoding's channels and, when the batches carry population labels, the labels the model is conditioned on)."""
    encoding, inputs = datamodule.encoding, datamodule.model_inputs
    module = SNPDiffusionModule(
        model=instantiate(cfg.model, **inputs.keywords()),
        diffusion=instantiate(cfg.diffusion),
        loss=instantiate(cfg.loss),
        optimizer_factory=instantiate(cfg.optimizer),
        lr_scheduler_factory=lr_scheduler,
        valid_values=encoding.values_tensor(),
    )
    module.run_info = {
        "config": to_plain(cfg),
        "encoding": encoding.to_dict(),
        "seq_length": inputs.seq_length,
        "snps": datamodule.snps.to_dict() if hasattr(datamodule.snps, "to_dict") else None,
    }
    if inputs.population_names:
        shares = list(datamodule.population_shares)
        module.run_info["populations"] = {"names": list(inputs.population_names), "shares": shares}
    return module


def quality_callbacks(cfg: DictConfig) -> list[Callback]:
    """The in-training sample-quality callback when ``quality.enabled``."""
    if not cfg.quality.get("enabled"):
        return []
    from snpdiff.training.quality import SampleQualityCallback

    return [SampleQualityCallback(**OmegaConf.to_container(cfg.quality, resolve=True), seed=cfg.seed)]


def batch_limits(cfg: DictConfig, split: int) -> dict[str, int]:
    """``trainer.limit_*_batches`` given as batch counts, times ``split`` (fractions need no change)."""
    counts = {key: cfg.trainer.get(key) for key in ("limit_train_batches", "limit_val_batches")}
    return {key: n * split for key, n in counts.items() if isinstance(n, int) and not isinstance(n, bool)}


def build_trainer(
    cfg: DictConfig, loggers: list, callbacks: list[Callback], accumulate: int, split: int = 1
) -> pl.Trainer:
    """The Trainer of ``cfg.trainer``; ``split``: how many smaller batches now make one configured batch (after
    out-of-memory back-offs): batch-count limits grow by it, so each epoch still covers the same rows."""
    # the progress bar is chosen by callbacks.progress_bar; without one Lightning must not add its own
    progress_bar = any(isinstance(callback, ProgressBar) for callback in callbacks)
    return instantiate(
        cfg.trainer,
        _convert_="all",
        **batch_limits(cfg, split),
        accumulate_grad_batches=accumulate,
        enable_progress_bar=progress_bar,
        logger=loggers or False,
        callbacks=callbacks,
        plugins=[AtomicCheckpointIO()],
    )


@dataclass
class RunParts:
    """What one run is made of once its config is read and its data checked; ``fit`` is one attempt of it (the
    out-of-memory back-off, ``snpdiff.training.oom``, may call it again with a smaller batch)."""

    cfg: DictConfig
    output_dir: Path
    lr_scheduler: LRSchedulerFactory | None
    configured: list[Callback]  # the first attempt's configured callbacks
    datamodule: Any
    loggers: list
    extra_callbacks: Sequence[Callback] = ()
    metrics_json: MetricsJson = field(init=False)

    def __post_init__(self) -> None:
        self.metrics_json = MetricsJson(self.output_dir)

    def fit(self, backoff: Backoff, ckpt_path: str | None) -> tuple[SNPDiffusionModule, pl.Trainer]:
        """One attempt at the current batch size, with fresh callbacks (the first attempt's were built before the
        data, so that a constructor's error comes first)."""
        cfg = self.cfg
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        self.datamodule.batch_size = backoff.batch_size
        module = build_module(cfg, self.datamodule, self.lr_scheduler)
        configured = self.configured if backoff.retries == 0 else instantiate_nodes(cfg, "callbacks")
        stop = StopSignal()
        callbacks = [
            EpochSeed(cfg.seed),
            DivergenceGuard(),
            *quality_callbacks(cfg),  # first, so metrics.json and any reporter see its values of the same epoch
            *configured,
            self.metrics_json,
            stop,
            *self.extra_callbacks,
        ]
        split = int(cfg.data.batch_size) // backoff.batch_size
        trainer = build_trainer(cfg, self.loggers, callbacks, backoff.accumulate, split)
        facts = {**parameter_stats(module.model), "oom/retries": backoff.retries, "oom/batch_size": backoff.batch_size}
        self.metrics_json.extra.update(facts)
        for logger in self.loggers:
            logger.log_metrics(facts, step=0)
        try:
            trainer.fit(module, datamodule=self.datamodule, ckpt_path=ckpt_path)
        except SystemExit:
            if stop.signal is None:
                raise
            done = f"at step {trainer.global_step} (epoch {trainer.current_epoch}, max_epochs={trainer.max_epochs})"
            raise TrainingStopped(stop.signal.name, stop.signal, done, resume_hint(self.output_dir)) from None
        return module, trainer

    def record_what_ran(self, backoff: Backoff) -> None:
        """Rewrite ``config.yaml`` with the batch size and accumulation that ran (after any back-off)."""
        cfg = self.cfg
        with open_dict(cfg):
            cfg.trainer.update(batch_limits(cfg, int(cfg.data.batch_size) // backoff.batch_size))
            cfg.data.batch_size = backoff.batch_size
            cfg.trainer.accumulate_grad_batches = backoff.accumulate
        atomic_write(config_path(self.output_dir), OmegaConf.to_yaml(cfg, resolve=True), RunFolderError)

    def finish(self, trainer: pl.Trainer, module: SNPDiffusionModule, backoff: Backoff) -> dict[str, Any]:
        """Log the final metrics, write ``metrics.json`` and close the loggers; returns the run's metrics."""
        final = {"final/val_loss": module.best_val_loss, **self.metrics_json.last_evaluation()}
        for logger in self.loggers:
            logger.log_metrics(final, step=trainer.global_step)
        self.metrics_json.extra.update(
            final,
            **{
                "oom/retries": backoff.retries,
                "oom/batch_size": backoff.batch_size,
                "lr_floor": self.lr_scheduler.floor if self.lr_scheduler else None,
                "checkpoints": {"last": str(last_checkpoint(self.output_dir)),
                                "best": str(best_checkpoint(self.output_dir))},
                "output_dir": str(self.output_dir),
                "world_size": trainer.world_size,
            },
        )  # fmt: skip
        metrics = self.metrics_json.summary(trainer)
        if trainer.is_global_zero:
            self.metrics_json.write(trainer)
        for logger in self.loggers:
            logger.finalize("success")
        finish_wandb_run()
        return metrics


def prepare_run(
    cfg: DictConfig,
    output_dir: Path,
    lr_scheduler: LRSchedulerFactory | None,
    extra_callbacks: Sequence[Callback],
    resume_from: ResumeFrom | None = None,
) -> RunParts:
    """Build the run's parts in the order that makes errors cheap (configured callbacks, then the data, whose every
    error is raised here, and whether they fit the checkpoint to resume from), clear an earlier run's files on
    ``overwrite=true``, write ``config.yaml`` and start the loggers."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    configured = instantiate_nodes(cfg, "callbacks")
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    if resume_from is not None:
        resume_from.check_inputs(datamodule.model_inputs)
    if cfg.get("overwrite") and cfg.ckpt_path is None:
        clear_earlier_run(output_dir)
    atomic_write(config_path(output_dir), OmegaConf.to_yaml(cfg, resolve=True), RunFolderError)
    loggers = instantiate_nodes(cfg, "logger")  # started only once the data is known to be good
    for logger in loggers:
        logger.log_hyperparams(redact_secrets(to_plain(cfg)))  # trackers show them to all who see the run
    return RunParts(cfg, output_dir, lr_scheduler, configured, datamodule, loggers, extra_callbacks)


@rank_zero_only  # the other processes of a DDP run start once rank 0 is training
def clear_earlier_run(output_dir: Path) -> None:
    """Remove an earlier run's checkpoints and ``metrics.json`` from ``output_dir`` (``overwrite=true``), so that
    nothing of it mixes with the new run's files; a warning names what went."""
    found = earlier_run(output_dir)
    if not found:
        return
    log.warning("overwrite=true: removing the earlier run's %s from %s", ", ".join(found), output_dir)
    for path in (last_checkpoint(output_dir), best_checkpoint(output_dir), metrics_path(output_dir)):
        path.unlink(missing_ok=True)
