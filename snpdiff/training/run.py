"""The training run, the composition root: instantiate everything from the config and hand it to Lightning.

Callbacks and loggers are every ``_target_`` node under ``callbacks`` and ``logger`` (a sweep adds its reporter the
same way, ``+callbacks.sweep_reporter={_target_: ...}``); the scheduler is the ``scheduler`` node
(``snpdiff.training.lr_schedulers``). ``metrics.json`` is the run folder contract (``snpdiff.run_folder``), the
per-epoch reseeding makes resume exact and a diverged run must end as one, so those three callbacks are installed
here, not by config nodes; so are the run folder's lock and the atomic checkpoint writer.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback, ProgressBar
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.config import to_plain
from snpdiff.errors import ConfigError, RunFolderError
from snpdiff.files import atomic_write
from snpdiff.run_folder import RunLock, best_checkpoint, config_path, last_checkpoint
from snpdiff.training.callbacks import AtomicCheckpointIO, DivergenceGuard, EpochSeed, MetricsJson
from snpdiff.training.loggers import finish_wandb_run
from snpdiff.training.lr_schedulers import LRSchedulerFactory, lr_scheduler_factory
from snpdiff.training.module import SNPDiffusionModule
from snpdiff.training.oom import Backoff, fit_with_backoff
from snpdiff.training.resume import resume_path


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
    if inputs.label_names:
        shares = list(datamodule.population_shares)
        module.run_info["populations"] = {"names": list(inputs.label_names), "shares": shares}
    return module


def quality_callbacks(cfg: DictConfig) -> list[Callback]:
    """The in-training sample-quality callback when ``quality.enabled``."""
    if not cfg.quality.get("enabled"):
        return []
    from snpdiff.training.quality import SampleQualityCallback

    return [SampleQualityCallback(**OmegaConf.to_container(cfg.quality, resolve=True), seed=cfg.seed)]


def _batch_limits(cfg: DictConfig, split: int) -> dict[str, int]:
    """``trainer.limit_*_batches`` given as batch counts, times ``split`` (fractions need no change)."""
    counts = {key: cfg.trainer.get(key) for key in ("limit_train_batches", "limit_val_batches")}
    return {key: n * split for key, n in counts.items() if isinstance(n, int) and not isinstance(n, bool)}


def _trainer(cfg: DictConfig, loggers: list, callbacks: list[Callback], accumulate: int, split: int = 1) -> pl.Trainer:
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
        plugins=[AtomicCheckpointIO()],
    )


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

    Holds the run folder's lock throughout (``snpdiff.run_folder.RunLock``): a folder another run is training in
    is a ``RunFolderError`` before any work. A non-finite training loss ends the run with ``TrainingDiverged``
    (``metrics.json`` records it under ``diverged``); a full disk with a ``RunFolderError``.
    """
    lr_scheduler = lr_scheduler_factory(cfg.scheduler, lr=float(cfg.optimizer.lr))  # floors checked before any work
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    with run_folder_lock(output_dir):
        return _train(cfg, lr_scheduler, output_dir, extra_callbacks)


def _train(
    cfg: DictConfig, lr_scheduler: LRSchedulerFactory | None, output_dir: Path, extra_callbacks: Sequence[Callback]
) -> dict[str, Any]:
    """``run_training``'s work, in a run folder this process holds."""
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    # the configured callbacks of the first attempt, built before the data so that a constructor's error comes first
    configured = instantiate_nodes(cfg, "callbacks")
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")  # every data error is raised here, before training
    ckpt_path = resume_path(cfg, output_dir)
    atomic_write(config_path(output_dir), OmegaConf.to_yaml(cfg, resolve=True), RunFolderError)
    loggers = instantiate_nodes(cfg, "logger")
    for logger in loggers:
        logger.log_hyperparams(to_plain(cfg))
    metrics_json = MetricsJson(output_dir)

    def fit(backoff: Backoff, ckpt_path: str | None) -> tuple[SNPDiffusionModule, pl.Trainer]:
        """One attempt at the current batch size, with fresh callbacks (the first attempt's were built above)."""
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        datamodule.batch_size = backoff.batch_size
        module = build_module(cfg, datamodule, lr_scheduler)
        callbacks = [
            EpochSeed(cfg.seed),
            DivergenceGuard(),
            *quality_callbacks(cfg),  # first, so metrics.json and any reporter see its values of the same epoch
            *(configured if backoff.retries == 0 else instantiate_nodes(cfg, "callbacks")),
            metrics_json,
            *extra_callbacks,
        ]
        split = int(cfg.data.batch_size) // backoff.batch_size
        trainer = _trainer(cfg, loggers, callbacks, backoff.accumulate, split)
        facts = {**parameter_stats(module.model), "oom/retries": backoff.retries, "oom/batch_size": backoff.batch_size}
        metrics_json.extra.update(facts)
        for logger in loggers:
            logger.log_metrics(facts, step=0)
        trainer.fit(module, datamodule=datamodule, ckpt_path=ckpt_path)
        return module, trainer

    backoff = Backoff(datamodule.batch_size, int(cfg.trainer.get("accumulate_grad_batches", 1)))
    module, trainer = fit_with_backoff(fit, backoff, cfg.oom_max_retries, ckpt_path, last_checkpoint(output_dir))
    with open_dict(cfg):  # config.yaml says what ran
        cfg.trainer.update(_batch_limits(cfg, int(cfg.data.batch_size) // backoff.batch_size))
        cfg.data.batch_size = backoff.batch_size
        cfg.trainer.accumulate_grad_batches = backoff.accumulate
    atomic_write(config_path(output_dir), OmegaConf.to_yaml(cfg, resolve=True), RunFolderError)
    return _finish(trainer, module, loggers, metrics_json, backoff, lr_scheduler, output_dir)


def _finish(
    trainer: pl.Trainer,
    module: SNPDiffusionModule,
    loggers: list,
    metrics_json: MetricsJson,
    backoff: Backoff,
    lr_scheduler: LRSchedulerFactory | None,
    output_dir: Path,
) -> dict[str, Any]:
    """Log the final metrics, write ``metrics.json`` and close the loggers; returns the run's metrics."""
    final = {"final/val_loss": module.best_val_loss, **metrics_json.last_evaluation()}
    for logger in loggers:
        logger.log_metrics(final, step=trainer.global_step)
    metrics_json.extra.update(
        final,
        **{
            "oom/retries": backoff.retries,
            "oom/batch_size": backoff.batch_size,
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
    finish_wandb_run()
    return metrics
