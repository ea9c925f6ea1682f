"""The training run: composition root that instantiates everything from the config and hands it to Lightning."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.callbacks import MetricsJson, build_callbacks
from snpdiff.config import fix_min_lr, to_plain, validate_config
from snpdiff.errors import ConfigError
from snpdiff.loggers import build_loggers
from snpdiff.module import SNPDiffusionModule
from snpdiff.sweep.pruning import make_sweep_callbacks
from snpdiff.training_metrics import metric_goal

log = logging.getLogger(__name__)
CHECKPOINT_DIR = "checkpoints"
RESOLVED_CONFIG = "config.yaml"


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
        last = output_dir / CHECKPOINT_DIR / "last.ckpt"
        if last.is_file():
            return str(last)
        log.info("ckpt_path=last: no %s yet, starting fresh", last)
        return None
    return str(ckpt_path)


def parameter_stats(model: torch.nn.Module) -> dict[str, float]:
    """``model/total_params``, ``model/trainable_params`` and ``model/size_mb`` (bytes of the parameters / 2**20)."""
    params = list(model.parameters())
    return {
        "model/total_params": float(sum(p.numel() for p in params)),
        "model/trainable_params": float(sum(p.numel() for p in params if p.requires_grad)),
        "model/size_mb": sum(p.numel() * p.element_size() for p in params) / 2**20,
    }


def build_module(cfg: DictConfig, datamodule: Any) -> SNPDiffusionModule:
    """The LightningModule for ``cfg``, sized by the data module's window (``seq_length`` SNPs)."""
    model = instantiate(cfg.model, seq_length=datamodule.seq_length, in_channels=1)
    encoding = datamodule.encoding
    diffusion = instantiate(cfg.diffusion)
    mode = "min" if metric_goal(cfg.optimized_metric) == "minimize" else "max"
    module = SNPDiffusionModule(
        model=model,
        diffusion=diffusion,
        loss=instantiate(cfg.loss),
        optimizer_factory=instantiate(cfg.optimizer),
        scheduler_cfg=OmegaConf.to_container(cfg.scheduler, resolve=True),
        valid_values=encoding.values_tensor(),
        monitor=cfg.optimized_metric,
        monitor_mode=mode,
    )
    module.run_info = {
        "config": to_plain(cfg),
        "encoding": encoding.to_dict(),
        "seq_length": int(datamodule.seq_length),
        "snps": datamodule.snps.to_dict() if hasattr(datamodule.snps, "to_dict") else None,
    }
    return module


def _trainer(cfg: DictConfig, loggers: list, callbacks: list[Callback], accumulate: int) -> pl.Trainer:
    trainer_cfg = OmegaConf.to_container(cfg.trainer, resolve=True)
    trainer_cfg["accumulate_grad_batches"] = accumulate
    trainer_cfg["enable_progress_bar"] = cfg.callbacks.progress_bar.kind != "none"
    return instantiate(trainer_cfg, logger=loggers or False, callbacks=callbacks)


def run_training(cfg: DictConfig, extra_callbacks: Sequence[Callback] = ()) -> dict[str, Any]:
    """Validate ``cfg``, train, write ``metrics.json`` and the resolved ``config.yaml`` into the output folder.

    Returns the run's metrics (latest value of each logged scalar, ``final/val_loss`` = the best ``val_loss``,
    model size, out-of-memory back-off facts, checkpoint paths).
    """
    validate_config(cfg)
    lr_fixes = fix_min_lr(cfg)
    for warning in lr_fixes:
        log.warning(warning)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(cfg.seed, workers=True, verbose=False)

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")  # every data error is raised here, before training
    requested = cfg.ckpt_path
    if requested is None and int(os.environ.get("SLURM_RESTART_COUNT") or 0) > 0:
        requested = "last"  # a requeued SLURM job (time limit, preemption) picks up where it stopped
        log.info(
            "requeued SLURM job (restart %s): resuming from the last checkpoint", os.environ["SLURM_RESTART_COUNT"]
        )
    ckpt_path = resolve_ckpt_path(requested, output_dir)
    (output_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))

    loggers = build_loggers(OmegaConf.to_container(cfg.logger, resolve=True) or {}, output_dir, ckpt_path is not None)
    for logger in loggers:
        logger.log_hyperparams(to_plain(cfg))
    monitor = cfg.optimized_metric
    mode = "min" if metric_goal(monitor) == "minimize" else "max"
    metrics_json = MetricsJson(output_dir)
    accumulate = int(cfg.trainer.get("accumulate_grad_batches", 1))
    retries = 0
    while True:
        pl.seed_everything(cfg.seed, workers=True, verbose=False)
        module = build_module(cfg, datamodule)
        callbacks = build_callbacks(OmegaConf.to_container(cfg.callbacks, resolve=True), output_dir, monitor, mode)
        # quality first, so metrics.json and the sweep reporter see its values of the same epoch
        callbacks += [*quality_callbacks(cfg), metrics_json, *make_sweep_callbacks(cfg), *extra_callbacks]
        trainer = _trainer(cfg, loggers, callbacks, accumulate)
        stats = parameter_stats(module.model)
        metrics_json.extra.update(stats, **{"oom/retries": retries, "oom/batch_size": datamodule.batch_size})
        for logger in loggers:
            logger.log_metrics({**stats, "oom/retries": retries, "oom/batch_size": datamodule.batch_size}, step=0)
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
            datamodule.batch_size = max(1, datamodule.batch_size // 2)
            accumulate *= 2
            ckpt_path = resolve_ckpt_path("last", output_dir)
            log.warning(
                "out of memory: retrying with data.batch_size=%d and accumulate_grad_batches=%d (effective batch "
                "unchanged), resuming from %s",
                datamodule.batch_size,
                accumulate,
                ckpt_path or "the start",
            )
    with open_dict(cfg):
        cfg.data.batch_size = datamodule.batch_size
        cfg.trainer.accumulate_grad_batches = accumulate
    (output_dir / RESOLVED_CONFIG).write_text(OmegaConf.to_yaml(cfg, resolve=True))

    final = {"final/val_loss": module.best_val_loss}
    for logger in loggers:
        logger.log_metrics(final, step=trainer.global_step)
    checkpoint_dir = output_dir / CHECKPOINT_DIR
    metrics_json.extra.update(
        final,
        **{
            "oom/retries": retries,
            "oom/batch_size": datamodule.batch_size,
            "lr_fixes": lr_fixes,
            "checkpoints": {
                "last": str(checkpoint_dir / "last.ckpt"),
                "best": str(checkpoint_dir / "best.ckpt"),
            },
            "output_dir": str(output_dir),
            "world_size": trainer.world_size,
        },
    )
    metrics = metrics_json.summary(trainer)
    if trainer.is_global_zero:
        metrics_json.write(trainer)
    for logger in loggers:
        logger.finalize("success")
    if any(type(lg).__name__ == "WandbLogger" for lg in loggers):
        import wandb

        wandb.finish()
    return metrics


def quality_callbacks(cfg: DictConfig) -> list[Callback]:
    """The in-training sample-quality callback when ``quality.enabled``."""
    if not cfg.quality.get("enabled"):
        return []
    from snpdiff.quality import SampleQualityCallback

    return [SampleQualityCallback(**OmegaConf.to_container(cfg.quality, resolve=True), seed=cfg.seed)]
