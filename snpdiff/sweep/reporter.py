"""Inside a local-sweep trial: report the sweep's metric to its Optuna trial every epoch, and stop when pruned.

For a sweep with ``early_terminate`` the agent adds this callback to the trial's command line, as any user could::

    python train.py ... +callbacks.sweep_reporter={_target_:'snpdiff.sweep.reporter.SweepTrialReporter',
        storage:'sqlite:////.../optuna.db',study:'<sweep id>',trial_number:3,metric:'val_loss'}

and the training instantiates it like every other callback node; the training itself knows nothing of sweeps.
Sweeps without a pruner and W&B sweeps need no reporter (the agent reads ``metrics.json``; W&B's server reads the
run's history). A pruned trial stops training cleanly (``trainer.should_stop``) and the agent records it as pruned.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.callbacks import Callback

log = logging.getLogger(__name__)


class SweepTrialReporter(Callback):
    """Reports ``metric`` after every validation epoch as the trial's intermediate value at step ``epoch + 1``
    (epochs completed: Hyperband's resource) and stops training when the sweep's pruner says so.

    ``storage``: the sweep's Optuna storage URL, its password redacted (the full URL is read from
    ``$SNPDIFF_OPTUNA_STORAGE``, see ``snpdiff.sweep.store.storage_url``); ``study``: the sweep id;
    ``trial_number``: the trial this run is.
    Optuna is imported on first report, so building the callback costs nothing.
    """

    def __init__(self, storage: str, study: str, trial_number: int, metric: str):
        self.storage_url = storage
        self.study_name = study
        self.trial_number = trial_number
        self.metric = metric
        self._trial: Any = None

    def _open(self) -> Any:
        if self._trial is None:
            import optuna

            from snpdiff.sweep.backends.local import load_study, open_storage
            from snpdiff.sweep.store import storage_url

            storage = open_storage(storage_url(self.storage_url))
            study, _ = load_study(storage, self.study_name)
            study_id = storage.get_study_id_from_name(self.study_name)
            self._trial = optuna.Trial(study, storage.get_trial_id_from_study_id_trial_number(study_id,
                                                                                             self.trial_number))
        return self._trial

    def _report(self, trainer: pl.Trainer) -> bool:
        """Report this epoch's value; True when the trial should stop (pruned, or no longer running)."""
        import optuna

        from snpdiff.sweep.backends.local import PRUNED_ATTR

        value = trainer.callback_metrics.get(self.metric)
        if value is None:
            return False  # not logged this epoch (e.g. a quality metric between evaluations)
        trial = self._open()
        epoch = trainer.current_epoch + 1
        try:
            trial.report(float(value), epoch)
            if trial.should_prune():
                trial.set_user_attr(PRUNED_ATTR, epoch)
                log.info("sweep trial %d pruned after epoch %d (%s=%.6g)", self.trial_number, epoch, self.metric,
                         float(value))
                return True
        except (RuntimeError, optuna.exceptions.UpdateFinishedTrialError) as exc:
            log.warning("sweep trial %d is no longer running (%s); stopping", self.trial_number, exc)
            return True
        return False

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        stop = self._report(trainer) if trainer.is_global_zero else False
        if trainer.world_size > 1:
            stop = trainer.strategy.broadcast(stop, src=0)
        if stop:
            trainer.should_stop = True

