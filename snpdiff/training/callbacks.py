"""The callbacks snpdiff provides: ``MetricsJson``, ``EpochSeed``, ``DivergenceGuard``, ``StopSignal`` and
``ShareCores`` (installed by the training itself), ``LearningRateLog``, ``ModelCheckpoint``, ``EMAWeightAveraging``
and ``ModelSummary`` (``conf/callbacks``); and ``AtomicCheckpointIO``, the Trainer plugin that writes every
checkpoint."""

from __future__ import annotations

import io
import logging
import math
import os
import random
import signal
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch import callbacks
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException
from lightning.pytorch.utilities.model_summary.model_summary import get_formatted_model_size, get_human_readable_count
from torch.optim.swa_utils import get_ema_multi_avg_fn

from snpdiff.cli.cores import CoreShare
from snpdiff.compat import use_multi_avg_fn
from snpdiff.data.datamodule import derived_seed
from snpdiff.errors import ConfigError, RunFolderError, TrainingDiverged
from snpdiff.files import atomic_write
from snpdiff.metrics.names import QUALITY_PREFIX
from snpdiff.run_folder import atomic_write_json, metrics_path


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
    history of the epochs its checkpoint covers. ``diverged`` is None, or ``TrainingDiverged.info`` once a
    non-finite training loss stopped the run (written then, at the exception).
    """

    def __init__(self, output_dir: str | os.PathLike):
        self.path = metrics_path(output_dir)
        self.history: list[dict[str, Any]] = []
        self.extra: dict[str, Any] = {}
        self.diverged: dict[str, Any] | None = None

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
        return {
            **latest,
            **self.extra,
            "epochs_completed": len(self.history),
            "history": self.history,
            "diverged": self.diverged,
        }

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

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, TrainingDiverged) and trainer.is_global_zero:
            self.diverged = exception.info
            self.write(trainer)


class DivergenceGuard(Callback):
    """Ends the run with ``TrainingDiverged`` at the first non-finite training loss, before any validation or
    checkpoint sees the weights it produced: no checkpoint with non-finite weights is written.

    The losses of the steps since the last check are checked together, every ``check_every_n_steps`` steps and
    always before a validation, a checkpoint and at the end of an epoch: one device sync per check, not per step, so
    a GPU keeps running ahead; the step reported is still the first non-finite one. Under DDP the losses are summed
    over the processes, so every process stops at the same check.

    Lightning's own guards do not do this: ``Trainer(detect_anomaly=True)`` runs autograd's anomaly mode (slow, and a
    RuntimeError with a traceback), ``EarlyStopping(check_finite=True)`` checks a validation metric only where early
    stopping is configured, and stops with exit status 0.
    """

    def __init__(self, check_every_n_steps: int = 16):
        self.check_every_n_steps = check_every_n_steps
        self.current: tuple[int, int, float] = (0, 0, math.nan)  # (step, epoch, lr) of the batch being trained
        self.pending: list[tuple[int, int, float, torch.Tensor]] = []  # (step, epoch, lr, loss) not checked yet

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx) -> None:
        lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else math.nan
        self.current = (trainer.global_step, trainer.current_epoch, float(lr))

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if isinstance(loss, torch.Tensor):
            self.pending.append((*self.current, loss.detach().float()))
        if len(self.pending) >= self.check_every_n_steps:
            self.check(trainer)

    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.check(trainer)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        self.check(trainer)  # raising here writes nothing: Lightning fills the checkpoint before it writes it

    def check(self, trainer: pl.Trainer) -> None:
        """Raise ``TrainingDiverged`` if a loss since the last check is not finite."""
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        losses = trainer.strategy.reduce(torch.stack([loss for *_, loss in pending]), reduce_op="sum")
        finite = torch.isfinite(losses)
        if bool(finite.all()):
            return
        first = int((~finite).nonzero()[0])
        step, epoch, lr, _ = pending[first]
        raise TrainingDiverged({"step": step, "epoch": epoch, "loss": str(float(losses[first])), "lr": lr})


class StopSignal(Callback):
    """Which signal stopped ``trainer.fit``, if one did (``signal``): Lightning ends fit on SIGTERM with its
    ``SIGTERMException`` and on Ctrl-C (SIGINT, ``KeyboardInterrupt``) with ``sys.exit(1)``, each a ``SystemExit``
    raised after ``on_exception`` saw the exception it caught; the exit status alone (0 and 1) does not tell."""

    def __init__(self) -> None:
        self.signal: signal.Signals | None = None

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if isinstance(exception, SIGTERMException):
            self.signal = signal.SIGTERM
        elif isinstance(exception, KeyboardInterrupt):
            self.signal = signal.SIGINT


class ShareCores(Callback):
    """Keeps the training's torch threads at its share of the cores while other trainings start and end on the same
    machine (``snpdiff.cli.cores.CoreShare.rebalance``, at most every few seconds)."""

    def __init__(self, share: CoreShare):
        self.share = share

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.share.rebalance()


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
        # a private hook of Lightning's (snpdiff.compat.TOPK_CHECKPOINT_HOOK, tested there)
        if self.monitor is not None and self.monitor not in monitor_candidates:
            return
        super()._save_topk_checkpoint(trainer, monitor_candidates)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's checkpoint writer, writing each checkpoint as ``snpdiff.files.atomic_write`` does.

    Lightning's own writes through fsspec's transaction: a temporary file in the system's temporary folder, then a
    move, which between two filesystems is a copy: a full disk left a truncated ``last.ckpt`` that no run could
    resume from. Here the temporary file is in the checkpoint's folder; a full disk ends the run with
    ``no space left on device writing <path>`` and the previous checkpoint whole.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint takes no storage_options")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        buffer = io.BytesIO()  # serialised first: a write error is then the file's OSError, not torch's own
        torch.save(checkpoint, buffer)
        atomic_write(path, buffer.getbuffer(), RunFolderError)


class EMAWeightAveraging(callbacks.EMAWeightAveraging):
    """Lightning's EMAWeightAveraging with the update as torch's foreach kernel (``get_ema_multi_avg_fn``).

    Lightning's class averages through ``avg_fn``, which torch's ``AveragedModel`` applies one parameter at a time in
    Python: a few small kernels per parameter after every optimizer step; ``multi_avg_fn`` does the same
    ``ema = decay * ema + (1 - decay) * weights`` as one ``torch._foreach_lerp_`` per device and dtype. The average
    is the same to float rounding; arguments, checkpoint state (same class name, so the same ``state_key``) and
    behaviour are Lightning's.
    """

    def __init__(self, decay: float = 0.999, **kwargs: Any):
        super().__init__(decay=decay, **kwargs)
        use_multi_avg_fn(self, get_ema_multi_avg_fn(decay))


def summary_text(
    summary_data: list[tuple[str, list[str]]],
    total_parameters: int,
    trainable_parameters: int,
    model_size: float,
    total_flops: int,
) -> str:
    """Lightning's layer table and totals, without a FLOPs column and total when none were measured (Lightning
    counts FLOPs only for a module with an ``example_input_array``)."""
    columns = [(name, values) for name, values in summary_data if name != "FLOPs" or total_flops]
    widths = [max(len(name), *(len(value) for value in values)) for name, values in columns]
    table = [[name for name, _ in columns], *zip(*(values for _, values in columns), strict=True)]
    rows = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    rows.insert(1, "-" * (sum(widths) + 3 * (len(widths) - 1)))
    totals = [
        (get_human_readable_count(trainable_parameters), "Trainable params"),
        (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
        (get_human_readable_count(total_parameters), "Total params"),
        (get_formatted_model_size(model_size), "Total estimated model params size (MB)"),
    ]
    if total_flops:
        totals.append((get_human_readable_count(total_flops), "Total FLOPs"))
    rows += [f"{value:<10} {label}" for value, label in totals]
    return "\n".join(rows)


class ModelSummary(callbacks.ModelSummary):
    """Lightning's ``ModelSummary`` callback, logged as one record, with FLOPs only when they were measured."""

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int,
        **summarize_kwargs: Any,
    ) -> None:
        text = summary_text(summary_data, total_parameters, trainable_parameters, model_size, total_flops)
        logging.getLogger(__name__).info("model summary:\n%s", text)
