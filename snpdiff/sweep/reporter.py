"""Inside a local-sweep trial: report the sweep's metric to the trial's agent every epoch, and stop when pruned.

For a sweep with ``early_terminate`` the agent adds this callback to the trial's command line::

    python train.py ... '+callbacks.sweep_reporter={_target_:snpdiff.sweep.reporter.SweepTrialReporter,metric:val_loss}'

and hands the trial one end of a socket pair (``snpdiff.sweep.agent.channel``); the training instantiates the callback
like every other callback node and knows nothing of sweeps. After each validation epoch the callback sends the epoch and
the value and waits for the agent's one-word answer (``go`` or ``stop``). The agent, which has the sweep's Optuna
study open already, reports the value to the pruner (``snpdiff.sweep.backends.local.LocalBackend.report``): the trial
imports neither Optuna nor a database driver and never sees the storage's URL. A pruned trial stops training cleanly
(``trainer.should_stop``) and the agent records it as pruned. Sweeps without a pruner and W&B sweeps need no reporter
(the agent reads ``metrics.json``; W&B's server reads the run's history).
"""

from __future__ import annotations

import logging
import os
import socket

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

from snpdiff.errors import ConfigError
from snpdiff.sweep.agent.channel import CHANNEL_ENV, GO, STOP, report_line

log = logging.getLogger(__name__)


class SweepTrialReporter(Callback):
    """Sends ``metric`` after every validation epoch to the trial's agent as the value at step ``epoch + 1`` (epochs
    completed: Hyperband's resource) and stops training when the agent answers ``stop`` (pruned, or the trial is no
    longer running in the sweep) or is gone. Only an agent's trial has the channel: built anywhere else, the callback
    fails at once, naming the variable."""

    def __init__(self, metric: str):
        channel = os.environ.get(CHANNEL_ENV, "")
        if not channel.isdigit():
            raise ConfigError(f"callbacks.sweep_reporter ({__name__}.SweepTrialReporter) runs only in a trial that "
                              f"a local sweep agent started (`python sweep.py agent ...`): ${CHANNEL_ENV} is "
                              f"{channel or 'not set'!r}, not the file descriptor of the agent's channel")
        self.metric = metric
        self._fd = int(channel)
        self._channel: socket.socket | None = None
        self._answers = None

    def _ask(self, epoch: int, value: float) -> bool:
        """Send one report; True when the trial should stop."""
        if self._channel is None:
            self._channel = socket.socket(fileno=self._fd)
            self._answers = self._channel.makefile("rb")
        try:
            self._channel.sendall(report_line(epoch, value))
            answer = self._answers.readline().strip()
        except OSError as exc:
            answer = f"({exc})".encode()
        if answer not in (GO, STOP):
            log.warning("sweep agent gave no answer to the report of epoch %d (%r): stopping", epoch, answer)
            return True
        return answer == STOP

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        stop = False
        if trainer.is_global_zero:
            value = trainer.callback_metrics.get(self.metric)
            # not logged this epoch (e.g. a quality metric between evaluations): nothing to report
            stop = value is not None and self._ask(trainer.current_epoch + 1, float(value))
        if trainer.world_size > 1:
            stop = trainer.strategy.broadcast(stop, src=0)
        if stop:
            trainer.should_stop = True
