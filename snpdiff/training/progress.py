"""Progress lines for log files: what ``python train.py > run.log 2>&1`` shows between the model summary and the end.

``ProgressLog`` (``conf/callbacks/default.yaml``, node ``progress_log``) writes through the logger
``snpdiff.training.progress``, which Hydra routes to the console and to the run folder's ``<task_name>.log``:

- after an epoch: ``epoch 3/49  step 240  00:01:12  train_loss 0.3412  val_loss 0.339  lr 2.80e-03``, for the first
  epoch, then at most one per ``every_s`` seconds, and always for the last one;
- after each in-training quality evaluation (``snpdiff.training.quality``): ``quality epoch 3: af_r2 0.9812 ...``;
- when fit ends, a summary: why it stopped, epochs and steps done, the best checkpoint and the final metrics; after
  SIGTERM or Ctrl-C, how to resume.

The epoch lines repeat what a progress bar shows, so they are marked ``SHOWN_BY_PROGRESS_BAR`` while one is on:
``snpdiff.cli.console`` keeps marked lines off a terminal (they would garble the bar) and in the log file.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from pathlib import Path
from time import monotonic
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback, EarlyStopping, Timer
from lightning.pytorch.callbacks.early_stopping import EarlyStoppingReason
from lightning.pytorch.utilities.exceptions import SIGTERMException

from snpdiff.cli.console import SHOWN_BY_PROGRESS_BAR
from snpdiff.errors import ConfigError, TrainingDiverged
from snpdiff.metrics.names import QUALITY_PREFIX, headline
from snpdiff.training.resume import resume_hint

log = logging.getLogger(__name__)
LR_PREFIX = "lr-"  # snpdiff.training.callbacks.LearningRateLog logs lr-<Optimizer>
LOSSES = {"train_loss": "train_loss_epoch", "val_loss": "val_loss"}  # name in a line: the logged metric it shows


def clock(seconds: float) -> str:
    """``HH:MM:SS`` of a duration in seconds (hours past 24 keep counting)."""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}"


def scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The metrics that are numbers (tensors of one element included) as floats; NaN and inf are kept."""
    values = {}
    for name, value in metrics.items():
        try:
            values[name] = float(value)
        except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of several elements
            continue
    return values


def losses(metrics: Mapping[str, float]) -> dict[str, float]:
    """The ``LOSSES`` present in ``metrics``, by their names in a line."""
    return {shown: metrics[logged] for shown, logged in LOSSES.items() if logged in metrics}


def loss_text(values: Mapping[str, float]) -> str:
    """``train_loss 0.3412  val_loss 0.339``: ``losses``' values, four significant digits."""
    return "  ".join(f"{name} {value:.4g}" for name, value in values.items())


def stop_reason(trainer: pl.Trainer) -> str:
    """Why ``trainer.fit`` returned: the callback that set ``trainer.should_stop`` where it is one of Lightning's
    (early stopping, ``trainer.max_time``'s Timer), else the limit reached, checked in ``FitLoop.done``'s order."""
    if trainer.should_stop:
        for callback in trainer.callbacks:
            if isinstance(callback, EarlyStopping) and callback.stopping_reason != EarlyStoppingReason.NOT_STOPPED:
                why = callback.stopping_reason.name.lower().replace("_", " ")
                return f"early stopping on {callback.monitor} at epoch {callback.stopped_epoch} ({why})"
            remaining = callback.time_remaining() if isinstance(callback, Timer) else None
            if remaining is not None and remaining <= 0:
                return f"trainer.max_time reached after {clock(callback.time_elapsed())}"
    if trainer.max_steps > 0 and trainer.global_step >= trainer.max_steps:
        return f"max_steps={trainer.max_steps} reached"
    if trainer.max_epochs is not None and 0 < trainer.max_epochs <= trainer.current_epoch:
        return f"max_epochs={trainer.max_epochs} reached"
    if trainer.should_stop:
        return "a callback set trainer.should_stop"
    return "no training batches left"


def error_reason(exception: BaseException) -> str:
    """What an exception that ended ``trainer.fit`` means for the user."""
    if isinstance(exception, TrainingDiverged):
        info = exception.info
        return f"non-finite loss at step {info['step']} (epoch {info['epoch']}): loss={info['loss']}, lr={info['lr']:g}"
    if isinstance(exception, KeyboardInterrupt):
        return "interrupted (Ctrl-C)"
    if isinstance(exception, SIGTERMException):
        return "SIGTERM received (the job was cancelled or reached its time limit)"
    message = str(exception).strip().splitlines()
    return f"error {type(exception).__name__}: {message[0]}" if message else f"error {type(exception).__name__}"


class ProgressLog(Callback):
    """Logs a line per epoch (the first, then at most one per ``every_s`` seconds, always the last), a line per
    quality evaluation, and a summary when fit ends (module docstring). Rank zero only.

    ``every_s``: least time between two epoch lines, in seconds; 0 logs every epoch.
    """

    def __init__(self, every_s: float = 30.0):
        if not every_s >= 0:
            raise ConfigError(f"callbacks.progress_log.every_s={every_s!r} must be a number of seconds >= 0")
        self.every_s = every_s
        self.started = 0.0
        self.last_line: float | None = None  # monotonic() of the last epoch line logged
        self.pending: str | None = None  # the line of an epoch not logged yet (the rate held it back)
        self.quality: tuple[int, dict[str, float]] | None = None  # (epoch, metrics) of the last evaluation

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = monotonic()
        self.last_line, self.pending, self.quality = None, None, None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        now = monotonic()
        self.pending = self.epoch_line(trainer, now)
        if self.last_line is None or now - self.last_line >= self.every_s:
            self._log_epoch_line(trainer, now)

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        # SampleQualityCallback takes earlier values out of callback_metrics before each validation: any left were
        # computed in this one
        quality = {
            name.removeprefix(QUALITY_PREFIX): value
            for name, value in scalars(trainer.callback_metrics).items()
            if name.startswith(QUALITY_PREFIX)
        }
        if quality:
            self.quality = (trainer.current_epoch, quality)
            log.info("quality epoch %d: %s", trainer.current_epoch, headline(quality))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            self._log_pending_line(trainer)

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.is_global_zero:
            log.info("%s", self.summary(trainer, stop_reason(trainer)))

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        if trainer.is_global_zero:
            self._log_pending_line(trainer)
            summary = self.summary(trainer, error_reason(exception))
            if isinstance(exception, (KeyboardInterrupt, SIGTERMException)):  # exit status 130 or 143, resumable
                summary += f"\n  to resume: {resume_hint(Path(trainer.default_root_dir))}"
            log.info("%s", summary)

    def _log_pending_line(self, trainer: pl.Trainer) -> None:
        """The line of the last epoch, if the rate held it back: the last epoch always gets its line."""
        if self.pending is not None:
            self._log_epoch_line(trainer, monotonic())

    def _log_epoch_line(self, trainer: pl.Trainer, now: float) -> None:
        bar = trainer.progress_bar_callback is not None
        log.info("%s", self.pending, extra={SHOWN_BY_PROGRESS_BAR: bar})
        self.last_line, self.pending = now, None

    def epoch_line(self, trainer: pl.Trainer, now: float) -> str:
        """``epoch <n>/<last>  step <global_step>  <elapsed>  train_loss ...  val_loss ...  lr ...``, numbered as
        Lightning numbers epochs (from 0, as its progress bar, checkpoints, ``metrics.json`` and
        ``quality/epoch_<n>/`` do: ``<last>`` is ``max_epochs - 1``)."""
        metrics = scalars(trainer.callback_metrics)
        epoch = f"{trainer.current_epoch}"
        if trainer.max_epochs is not None and trainer.max_epochs > 0:
            epoch += f"/{trainer.max_epochs - 1}"
        parts = [f"epoch {epoch}", f"step {trainer.global_step}", clock(now - self.started)]
        parts.append(loss_text(losses(metrics)))
        lr = next((value for name, value in metrics.items() if name.startswith(LR_PREFIX)), None)
        if lr is None and trainer.optimizers:
            lr = trainer.optimizers[0].param_groups[0]["lr"]
        if lr is not None:
            parts.append(f"lr {lr:.2e}")
        return "  ".join(part for part in parts if part)

    def summary(self, trainer: pl.Trainer, reason: str) -> str:
        """The closing summary: the reason on the first line, then epochs and steps, the best checkpoint and the
        final metrics (the last ``val_loss`` and ``train_loss``, and the last quality evaluation)."""
        final = losses(scalars(trainer.callback_metrics))
        not_finite = [name for name, value in final.items() if not math.isfinite(value)]
        if not_finite:
            reason += f"; {' and '.join(not_finite)} not finite"
        elapsed = clock(monotonic() - self.started)
        done = f"  epochs {trainer.current_epoch}, steps {trainer.global_step}, time {elapsed}"
        lines = [f"training stopped: {reason}", done]
        checkpoint = trainer.checkpoint_callback
        if checkpoint is not None and checkpoint.best_model_path:
            score = checkpoint.best_model_score
            scored = f" ({checkpoint.monitor} {float(score):.4g})" if checkpoint.monitor and score is not None else ""
            lines.append(f"  best checkpoint: {checkpoint.best_model_path}{scored}")
        if final:
            lines.append(f"  final: {loss_text(final)}")
        if self.quality is not None:
            epoch, quality = self.quality
            lines.append(f"  last quality evaluation (epoch {epoch}): {headline(quality)}")
        return "\n".join(lines)
