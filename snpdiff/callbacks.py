"""The callbacks snpdiff provides: ``MetricsJson`` (installed by the training itself), ``LearningRateLog``,
``ModelCheckpoint`` and ``EMAWeightAveraging``."""

from __future__ import annotations

import math
import os
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch import callbacks
from lightning.pytorch.callbacks import Callback
from torch.optim.swa_utils import get_ema_multi_avg_fn

from snpdiff.errors import ConfigError
from snpdiff.run_folder import atomic_write_json, metrics_path
from snpdiff.training_metrics import QUALITY_PREFIX


def _scalar(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


class MetricsJson(Callback):
    """Keeps ``<output_dir>/metrics.json`` current: the latest value of every logged scalar plus a per-epoch history
    (schema: ``snpdiff.run_folder``).

    Rewritten atomically after every validation epoch, so a killed job keeps what it had; a resumed run keeps the
    history of the epochs its checkpoint covers.
    """

    def __init__(self, output_dir: str | os.PathLike):
        self.path = metrics_path(output_dir)
        self.history: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}

    def state_dict(self) -> dict[str, Any]:
        """The history travels in checkpoints, so a resumed run keeps exactly the epochs its checkpoint covers."""
        return {"history": self.history}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.history = list(state_dict.get("history", []))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        row = {"epoch": trainer.current_epoch, "step": trainer.global_step}
        row.update({k: v for k, v in ((k, _scalar(v)) for k, v in trainer.callback_metrics.items()) if v is not None})
        self.history = [r for r in self.history if r["epoch"] != row["epoch"]] + [row]
        self.write(trainer)

    def summary(self, trainer: pl.Trainer) -> dict[str, Any]:
        current = {k: v for k, v in ((k, _scalar(v)) for k, v in trainer.callback_metrics.items()) if v is not None}
        # a metric logged only on some epochs (val/<metric>) keeps its latest value through the epochs without it
        earlier = {k: v for row in self.history for k, v in row.items() if k not in ("epoch", "step")}
        latest = {**earlier, **current}
        return {**latest, **self.extra, "epochs_completed": len(self.history), "history": self.history}

    def last_evaluation(self) -> dict[str, float]:
        """``final/val/<metric>`` for the sample-quality metrics of the last epoch that computed them, and
        ``final/quality_epoch`` (that epoch); empty when quality was never evaluated."""
        for row in reversed(self.history):
            quality = {k: v for k, v in row.items() if k.startswith(QUALITY_PREFIX)}
            if quality:
                return {"final/quality_epoch": row["epoch"], **{f"final/{k}": v for k, v in quality.items()}}
        return {}

    def write(self, trainer: pl.Trainer) -> dict[str, Any]:
        payload = self.summary(trainer)
        atomic_write_json(self.path, payload)
        return payload


class LearningRateLog(Callback):
    """Logs ``lr-<Optimizer>`` (the first parameter group's learning rate) through ``self.log``.

    Unlike Lightning's LearningRateMonitor it works without a logger, so metrics.json always has the rate used.
    """

    def __init__(self, logging_interval: str = "step"):
        if logging_interval not in ("step", "epoch"):
            raise ConfigError(f"callbacks.lr_monitor.logging_interval={logging_interval!r}; allowed: step, epoch")
        self.logging_interval = logging_interval

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        for optimizer in trainer.optimizers:
            on_step = self.logging_interval == "step"
            name = f"lr-{type(optimizer).__name__}"
            pl_module.log(name, optimizer.param_groups[0]["lr"], on_step=on_step, on_epoch=not on_step, batch_size=1)


class ModelCheckpoint(callbacks.ModelCheckpoint):
    """Lightning's ModelCheckpoint that passes over validations where its monitored metric was not computed.

    Quality metrics (``val/<metric>``) are computed every ``quality.eval_every_n_epochs`` epochs and logged only
    then; Lightning's class raises when the monitored key is missing after a validation, this one keeps the best
    checkpoint as it is until the next evaluation.
    """

    def _save_topk_checkpoint(self, trainer: pl.Trainer, monitor_candidates: dict[str, Any]) -> None:
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)


class EMAWeightAveraging(callbacks.EMAWeightAveraging):
    """Lightning's EMAWeightAveraging with the update as torch's foreach kernel (``get_ema_multi_avg_fn``).

    Lightning's class averages through ``avg_fn``, which torch's ``AveragedModel`` applies one parameter at a time in
    Python (181 parameters for the default UNet: 9.0 ms per optimizer step on 2 cores, about 3% of a batch-32 step);
    ``multi_avg_fn`` does the same ``ema = decay * ema + (1 - decay) * weights`` as one ``torch._foreach_lerp_`` per
    device and dtype (3.2 ms). The average is the same to float rounding; arguments, checkpoint state (same class
    name, so the same ``state_key``) and behaviour are Lightning's.
    """

    def __init__(self, decay: float = 0.999, **kwargs: Any):
        super().__init__(decay=decay, **kwargs)
        # WeightAveraging hands these kwargs to AveragedModel, which takes avg_fn or multi_avg_fn, not both
        self._kwargs.pop("avg_fn")
        self._kwargs["multi_avg_fn"] = get_ema_multi_avg_fn(decay)
