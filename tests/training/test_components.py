"""Every option of the callbacks, logger, scheduler and trainer groups composes, validates and builds."""

import math
import signal
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import EarlyStopping, RichProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, MLFlowLogger, TensorBoardLogger, WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from snpdiff.config import CONF_DIR, compose_config, validate_config
from snpdiff.errors import ConfigError
from snpdiff.run_folder import checkpoint_dir
from snpdiff.training.callbacks import LearningRateLog, ModelCheckpoint, StopSignal
from snpdiff.training.components import instantiate_nodes
from snpdiff.training.lr_schedulers import lr_scheduler_factory

LR = 0.01
TOTAL_STEPS = 40


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml") if not p.stem.startswith("_"))


def compose(tmp_path, *overrides: str):
    cfg = compose_config([f"paths.output_dir={tmp_path}", *overrides])
    validate_config(cfg)
    return cfg


@pytest.mark.parametrize("option", options("callbacks"))
def test_every_callbacks_option_builds_its_callbacks(option, tmp_path):
    cfg = compose(tmp_path, f"callbacks={option}")
    built = instantiate_nodes(cfg, "callbacks")
    callbacks = {type(c): c for c in built}
    assert {ModelCheckpoint, LearningRateLog, RichProgressBar} <= callbacks.keys()
    checkpoint = callbacks[ModelCheckpoint]
    assert checkpoint.dirpath == str(checkpoint_dir(tmp_path)) and checkpoint.monitor == "val_loss"
    assert checkpoint.mode == "min" and checkpoint.filename == "best"
    last = [c for c in built if getattr(c, "filename", None) == "last"]
    assert len(last) == 1 and last[0].monitor is None and last[0].dirpath == str(checkpoint_dir(tmp_path))
    if option == "early_stopping":
        assert callbacks[EarlyStopping].monitor == "val_loss" and callbacks[EarlyStopping].patience == 10


def test_monitor_mode_follows_the_goal_of_optimized_metric(tmp_path):
    cfg = compose(tmp_path, "callbacks=early_stopping", "quality.enabled=true", "optimized_metric=val/af_r2")
    callbacks = {type(c): c for c in instantiate_nodes(cfg, "callbacks")}
    assert callbacks[ModelCheckpoint].mode == "max" and callbacks[ModelCheckpoint].monitor == "val/af_r2"
    assert callbacks[EarlyStopping].mode == "max"


def test_progress_bar_is_swapped_or_removed_by_its_node(tmp_path):
    tqdm = compose(tmp_path, "callbacks.progress_bar._target_=lightning.pytorch.callbacks.TQDMProgressBar")
    assert any(isinstance(c, TQDMProgressBar) for c in instantiate_nodes(tqdm, "callbacks"))
    none = compose(tmp_path, "callbacks.progress_bar=null")
    built = [type(c) for c in instantiate_nodes(none, "callbacks")]
    assert ModelCheckpoint in built and LearningRateLog in built
    assert not any(issubclass(kind, (RichProgressBar, TQDMProgressBar)) for kind in built)


def test_a_node_without_target_is_refused_naming_it(tmp_path):
    cfg = compose_config([f"paths.output_dir={tmp_path}", "+callbacks.stopper={patience: 3}"])
    with pytest.raises(ConfigError, match=r"callbacks.stopper has no _target_.*callbacks.stopper=null"):
        instantiate_nodes(cfg, "callbacks")


@pytest.mark.parametrize("option", options("logger"))
def test_every_logger_option_builds_its_loggers(option, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_RUN_ID", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    loggers = instantiate_nodes(compose(tmp_path, f"logger={option}"), "logger")
    expected = {"none": [], "csv": [CSVLogger], "wandb": [WandbLogger], "tensorboard": [TensorBoardLogger],
                "mlflow": [MLFlowLogger]}[option]  # fmt: skip
    assert [type(logger) for logger in loggers] == expected
    if option in ("csv", "tensorboard"):
        assert Path(loggers[0].log_dir) == tmp_path / option
    if option == "mlflow":  # no tracking URI anywhere: a SQLite store in the run folder, its artifacts beside it
        assert (tmp_path / "mlruns" / "mlflow.db").is_file() and loggers[0].run_id
    if option == "wandb":
        assert loggers[0].save_dir == str(tmp_path) and (tmp_path / "wandb_run_id.txt").is_file()


@pytest.mark.parametrize("option", options("trainer"))
def test_every_trainer_option_builds_a_trainer(option, tmp_path):
    cfg = compose(tmp_path, f"trainer={option}")
    # this machine may have no GPU: the option's own keys are kept, the accelerator is the CPU
    trainer = instantiate(cfg.trainer, accelerator="cpu", logger=False)
    assert isinstance(trainer, pl.Trainer)
    assert trainer.max_epochs == cfg.trainer.max_epochs
    assert trainer.default_root_dir == str(tmp_path)


def lr_curve(option: str, tmp_path, *overrides: str) -> tuple[list[float], float | None]:
    """The learning rates of ``TOTAL_STEPS`` optimizer steps under scheduler ``option`` and its floor."""
    cfg = compose(tmp_path, f"scheduler={option}", f"optimizer.lr={LR}", "trainer.max_epochs=10", *overrides)
    factory = lr_scheduler_factory(cfg.scheduler, LR)
    if factory is None:
        return [LR] * TOTAL_STEPS, None
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=LR)
    config = factory(optimizer, TOTAL_STEPS)
    assert set(config) <= {"scheduler", "interval", "frequency", "monitor", "strict"}
    per_epoch = TOTAL_STEPS // 10 if config["interval"] == "epoch" else 1
    lrs = []
    for step in range(TOTAL_STEPS):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if (step + 1) % per_epoch == 0:
            args = (1.0,) if "monitor" in config else ()  # a metric that never improves
            config["scheduler"].step(*args)
    return lrs, factory.floor


@pytest.mark.parametrize("option", options("scheduler"))
def test_every_scheduler_option_builds_and_schedules_a_real_optimizer(option, tmp_path):
    lrs, floor = lr_curve(option, tmp_path)
    assert all(0 < lr <= LR * (1 + 1e-9) for lr in lrs)
    if option == "none":
        assert set(lrs) == {LR}
    elif option == "cosine":  # per epoch, from lr towards 1% of lr
        assert floor == pytest.approx(LR * 0.01)
        assert lrs[0] == LR and lrs[-1] == pytest.approx(floor + (LR - floor) * (1 + math.cos(math.pi * 9 / 10)) / 2)
    elif option == "warmup_cosine":  # 5% of 40 steps = 2 warm-up steps, then cosine to the floor
        assert floor == pytest.approx(LR * 0.01)
        assert lrs[:3] == pytest.approx([LR / 2, LR, LR]) and lrs[-1] < 0.01 * LR + 1e-4
    elif option == "onecycle":  # from lr / div_factor up to lr at 30% of the steps and far below at the end
        assert lrs[0] == pytest.approx(LR / 25) and max(lrs) == pytest.approx(LR, rel=0.01)
        assert lrs.index(max(lrs)) == 11 and lrs[-1] < LR / 1000
    elif option == "reduce":  # halved after every 5 epochs without improvement, never below the floor
        assert floor == pytest.approx(LR * 0.001)
        assert lrs[0] == LR and lrs[-1] == pytest.approx(LR / 2)


@pytest.mark.parametrize(("option", "key"), [("cosine", "eta_min"), ("warmup_cosine", "eta_min"), ("reduce", "min_lr")])
def test_absolute_floor_not_below_lr_is_a_config_error(option, key, tmp_path):
    """Refused by config validation (before torch loads: a sweep trial sampling such a pair fails in about a
    second) and by the scheduler's build alike."""
    cfg = compose_config(
        [f"paths.output_dir={tmp_path}", f"scheduler={option}", "optimizer.lr=0.001", f"scheduler.{key}=0.01"]
    )
    message = rf"scheduler.{key}=0.01 is not below optimizer.lr=0.001.*{key}_ratio"
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg)
    with pytest.raises(ConfigError, match=message):
        lr_scheduler_factory(cfg.scheduler, 0.001)
    validate_config(compose(tmp_path, f"scheduler={option}", "optimizer.lr=0.001", f"scheduler.{key}=0.0009"))


def test_absolute_floor_wins_over_the_ratio(tmp_path):
    _, floor = lr_curve("cosine", tmp_path, "scheduler.eta_min=0.0005")
    assert floor == 0.0005


def test_floor_ratio_outside_zero_one_is_refused(tmp_path):
    cfg = compose_config([f"paths.output_dir={tmp_path}", "scheduler.eta_min_ratio=1.5"])
    with pytest.raises(ConfigError, match=r"scheduler.eta_min_ratio=1.5 must be in \[0, 1\)"):
        validate_config(cfg)
    with pytest.raises(ConfigError, match=r"scheduler.eta_min_ratio=1.5 must be in \[0, 1\)"):
        lr_scheduler_factory(cfg.scheduler, 0.001)


@pytest.mark.parametrize(
    ("exception", "stopped_by"),
    [(SIGTERMException(), signal.SIGTERM), (KeyboardInterrupt(), signal.SIGINT),
     (SystemExit(-1), None),  # submitit's exit after it requeued the job (SIGUSR2): left as it is
     (RuntimeError("a bug"), None)],
)  # fmt: skip
def test_stop_signal_names_only_sigterm_and_ctrl_c(exception, stopped_by):
    stop = StopSignal()
    stop.on_exception(None, None, exception)
    assert stop.signal == stopped_by
