"""One test per entry of ``snpdiff.compat``: each fails on a release of Hydra, OmegaConf, Lightning or W&B that
removes or changes the private part the entry relies on. The Lightning entries run a real (tiny) ``Trainer.fit``."""

from __future__ import annotations

import inspect

import lightning.pytorch as pl
import pytest
import torch
from hydra.core.override_parser.overrides_parser import OverridesParser
from lightning.pytorch import callbacks
from omegaconf import OmegaConf
from torch.utils.data import DataLoader, TensorDataset

from snpdiff import compat


class TinyModule(pl.LightningModule):
    """One linear layer on 8 rows; logs ``val_loss`` every validation."""

    def __init__(self):
        super().__init__()
        self.layer = torch.nn.Linear(2, 1)

    def training_step(self, batch, batch_idx):
        x, y = batch
        return torch.nn.functional.mse_loss(self.layer(x), y)

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(8, 2, generator=generator), torch.randn(8, 1, generator=generator)),
                      batch_size=4)


def fit(callback_list: list[pl.Callback], tmp_path, max_epochs: int = 2) -> pl.Trainer:
    trainer = pl.Trainer(max_epochs=max_epochs, accelerator="cpu", logger=False, enable_progress_bar=False,
                         enable_model_summary=False, enable_checkpointing=any(
                             isinstance(c, callbacks.ModelCheckpoint) for c in callback_list),
                         num_sanity_val_steps=0, callbacks=callback_list, default_root_dir=tmp_path)
    trainer.fit(TinyModule(), train_dataloaders=loader(), val_dataloaders=loader())
    return trainer


@pytest.mark.parametrize("text", ["plain", "it's", 'say "hi"', "back\\slash\\", "a=b, [c]"])
def test_quote_override_reads_back_as_the_same_text(text):
    override = OverridesParser.create().parse_override("key=" + compat.quote_override(text))
    assert override.value() == text


def test_raw_value_leaves_an_interpolation_unresolved():
    config = OmegaConf.create({"lr": 0.1, "floor": "${lr}", "name": "run-${lr}"})
    assert compat.raw_value(config, "floor") == "${lr}" and config.floor == 0.1
    assert compat.raw_value(config, "name") == "run-${lr}" and compat.raw_value(config, "lr") == 0.1


@pytest.mark.parametrize(("text", "keys"), [
    ("${optimizer.lr}", {"optimizer.lr"}),
    ("${metric_mode:${optimized_metric}}", {"optimized_metric"}),
    ("lr=${optimizer.lr}, floor=${scheduler.eta_min}", {"optimizer.lr", "scheduler.eta_min"}),
    ("${oc.env:HOME}", set()),
    ("${data.widths[0]}", {"data.widths[0]"}),
    ("plain text", set()),
    ("${unclosed", set()),
])
def test_interpolation_references_reads_what_omegaconf_would_resolve(text, keys):
    assert compat.interpolation_references(text) == keys


def test_the_overridden_topk_checkpoint_hook_is_called_after_each_validation(tmp_path):
    hook = getattr(callbacks.ModelCheckpoint, compat.TOPK_CHECKPOINT_HOOK)
    assert list(inspect.signature(hook).parameters) == ["self", "trainer", "monitor_candidates"]
    calls: list[dict] = []

    class Recording(callbacks.ModelCheckpoint):
        pass

    def record(self, trainer, monitor_candidates):
        calls.append(dict(monitor_candidates))
        hook(self, trainer, monitor_candidates)

    setattr(Recording, compat.TOPK_CHECKPOINT_HOOK, record)
    fit([Recording(dirpath=tmp_path / "ckpt", monitor="val_loss")], tmp_path)
    assert len(calls) == 2 and all("val_loss" in candidates for candidates in calls)


def test_use_multi_avg_fn_reaches_the_averaged_model(tmp_path):
    calls = []

    def multi_avg_fn(averaged, current, num_averaged):
        calls.append(len(averaged))
        for a, c in zip(averaged, current, strict=True):
            a.copy_(c)

    callback = callbacks.EMAWeightAveraging(decay=0.9)
    compat.use_multi_avg_fn(callback, multi_avg_fn)
    fit([callback], tmp_path)
    assert calls and calls[0] == 2  # the linear layer's weight and bias, as one foreach call


def test_forget_logged_metrics_removes_an_earlier_epochs_value(tmp_path):
    """Lightning keeps a metric logged once in ``callback_metrics`` for ever; forgetting removes it."""

    class LogOnce(pl.Callback):
        def __init__(self, forget: bool):
            self.forget, self.seen = forget, []

        def on_validation_epoch_start(self, trainer, pl_module):
            if self.forget:
                compat.forget_logged_metrics(trainer, "val/")

        def on_validation_epoch_end(self, trainer, pl_module):
            if trainer.current_epoch == 0:
                pl_module.log("val/once", 1.0)

        def on_validation_end(self, trainer, pl_module):
            self.seen.append("val/once" in trainer.callback_metrics)

    kept, forgotten = LogOnce(forget=False), LogOnce(forget=True)
    fit([kept], tmp_path / "kept")
    fit([forgotten], tmp_path / "forgotten")
    assert kept.seen == [True, True] and forgotten.seen == [True, False]


def test_drop_wandb_init_key_removes_an_argument_lightning_passes_to_wandb_init(tmp_path):
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="compat")
    assert "anonymous" in logger._wandb_init and logger._wandb_init["project"] == "compat"
    compat.drop_wandb_init_key(logger, "anonymous")
    assert "anonymous" not in logger._wandb_init and logger._wandb_init["project"] == "compat"


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_optuna_heartbeat_base_is_what_fail_stale_trials_accepts(tmp_path):
    """Optuna's stale check takes any storage that implements the heartbeat interface: a journal that does has its
    silent running trial failed (the local sweep backend's JournalHeartbeatStorage relies on this)."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    base = compat.optuna_heartbeat_base()
    assert isinstance(optuna.storages.RDBStorage("sqlite://", heartbeat_interval=1), base)

    class Beating(optuna.storages.JournalStorage, base):
        def record_heartbeat(self, trial_id):
            pass

        def _get_stale_trial_ids(self, study_id):
            running = self.get_all_trials(study_id, states=(optuna.trial.TrialState.RUNNING,))
            return [self.get_trial_id_from_study_id_trial_number(study_id, t.number) for t in running]

        def get_heartbeat_interval(self):
            return 1

        def get_heartbeat_stale_trial_callback(self):
            return None

        def get_failed_trial_callback(self):
            return None

    study = optuna.create_study(storage=Beating(JournalFileBackend(str(tmp_path / "journal.log"))))
    trial = study.ask()
    optuna.storages.fail_stale_trials(study)
    assert study.trials[trial.number].state == optuna.trial.TrialState.FAIL
