"""Sample-quality metrics during training: logged as val/<metric>, usable as optimized_metric, plots on disk."""

import json
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from snpdiff.metrics import METRICS
from snpdiff.training.run import run_training


def test_quality_metrics_are_logged_and_can_drive_checkpointing(fast_cfg):
    cfg = fast_cfg(
        "quality.enabled=true",
        "quality.eval_every_n_epochs=3",
        "quality.eval_samples=24",
        "quality.sampling_steps=3",
        "quality.ld_window=10",
        "trainer.max_epochs=4",
        "optimized_metric=val/af_r2",
    )
    metrics = run_training(cfg)
    history = metrics["history"]
    # evaluated after the first epoch, every 3rd and the last (epochs 0, 2, 3); epoch 1 has no val/ metric
    assert {"val/af_r2", "val/ld_corr", "val/pca_w1", "val/aats", "val/aa_t", "val/aa_s", "val/exact_copy_rate"} <= (
        history[0].keys()
    )
    assert not any(name.startswith("val/") for name in history[1])
    assert history[2]["val/af_r2"] != history[0]["val/af_r2"]
    for name, value in history[3].items():
        if name.startswith("val/"):
            assert name[4:] in METRICS
            assert value == value  # finite numbers only
    assert 0.0 <= history[2]["val/aa_t"] <= 1.0 and 0.0 <= history[2]["val/exact_copy_rate"] <= 1.0
    plots = sorted(p.name for p in (Path(cfg.paths.output_dir) / "quality" / "epoch_2").glob("*.png"))
    assert plots and all((Path(cfg.paths.output_dir) / "quality" / "epoch_2" / p).stat().st_size > 1000 for p in plots)
    checkpoint_best = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["checkpoints"]["best"]
    assert Path(checkpoint_best).is_file()


def test_quality_target_metric_is_refused_with_its_optimisable_form(fast_cfg):
    from snpdiff.config import validate_config
    from snpdiff.errors import ConfigError

    with pytest.raises(ConfigError, match="optimized_metric='val/aats'"):
        validate_config(fast_cfg("quality.enabled=true", "optimized_metric=val/aats"))


QUICK_QUALITY = ("quality.enabled=true", "quality.log_plots=false", "optimized_metric=val/af_r2")


@pytest.fixture
def scripted_scores(monkeypatch):
    """The quality callback with its sampling and scoring replaced by a script: evaluation i scores ``scores[i]``
    as ``af_r2``; returns the list of epochs at which it evaluated."""
    from snpdiff.training.quality import SampleQualityCallback

    evaluated_epochs: list[int] = []

    def install(scores: list[float]) -> list[int]:
        def evaluate(self, pl_module, datamodule):
            evaluated_epochs.append(pl_module.current_epoch)
            return {"af_r2": scores[len(evaluated_epochs) - 1]}, None

        monkeypatch.setattr(SampleQualityCallback, "evaluate", evaluate)
        return evaluated_epochs

    return install


def test_quality_metrics_are_logged_only_on_evaluated_epochs(fast_cfg, scripted_scores):
    evaluated = scripted_scores([0.5, 0.75, 0.625])  # exact in float32, as logged
    cfg = fast_cfg(*QUICK_QUALITY, "quality.eval_every_n_epochs=2", "trainer.max_epochs=4")
    history = run_training(cfg)["history"]
    # after the first epoch, every 2nd (epoch index 1, 3) and the last: epoch 2 is not evaluated
    assert evaluated == [0, 1, 3]
    assert [row.get("val/af_r2") for row in history] == [0.5, 0.75, None, 0.625]
    best = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())["checkpoints"]["best"]
    assert torch.load(best, weights_only=True)["epoch"] == 1  # the best evaluation, not a stale copy of it


def test_early_stopping_on_a_quality_metric_counts_evaluations_not_epochs(fast_cfg, scripted_scores):
    evaluated = scripted_scores([0.9, 0.5, 0.5, 0.5, 0.5])
    cfg = fast_cfg(
        *QUICK_QUALITY,
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=2",
        "quality.eval_every_n_epochs=2",
        "trainer.max_epochs=8",
    )
    history = run_training(cfg)["history"]
    # evaluations at epochs 0 (best), 1 and 3 (no better): the 2nd non-improving evaluation stops the run after
    # epoch 3; counting the unevaluated epoch 2 as a repeat of epoch 1 would stop after epoch 2
    assert evaluated == [0, 1, 3]
    assert [row["epoch"] for row in history] == [0, 1, 2, 3]


def test_plateau_scheduler_on_a_quality_metric_counts_evaluations_not_epochs(fast_cfg, scripted_scores):
    scripted_scores([0.9, 0.5, 0.5, 0.5])
    cfg = fast_cfg(
        *QUICK_QUALITY,
        "scheduler=reduce",
        "scheduler.patience=1",
        "scheduler.factor=0.5",
        "quality.eval_every_n_epochs=2",
        "trainer.max_epochs=6",
    )
    history = run_training(cfg)["history"]
    lr = float(cfg.optimizer.lr)
    # evaluations at epochs 0, 1, 3, 5; the 2nd non-improving one (epoch 3) exceeds patience 1: halved from epoch 4
    assert [row["lr-AdamW"] for row in history] == pytest.approx([lr] * 4 + [lr / 2] * 2)


def test_the_summary_keeps_a_quality_metric_from_its_last_evaluation(tmp_path):
    """A run stopped on an epoch without an evaluation (trainer.max_time) still returns its latest val/ value."""
    from types import SimpleNamespace

    from snpdiff.training.callbacks import MetricsJson

    metrics_json = MetricsJson(tmp_path)
    metrics_json.history = [{"epoch": 0, "step": 3, "val_loss": 0.5, "val/af_r2": 0.75}, {"epoch": 1, "step": 6}]
    summary = metrics_json.summary(SimpleNamespace(callback_metrics={"val_loss": torch.tensor(0.25)}))
    assert summary["val/af_r2"] == 0.75 and summary["val_loss"] == 0.25


class StopMidEpoch(pl.Callback):
    """Requests a stop after the first training batch of epoch ``epoch``, as trainer.max_time's Timer does."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_batch_end(self, trainer, *args) -> None:
        if trainer.current_epoch == self.epoch:
            trainer.should_stop = True


@pytest.mark.parametrize("stop", ["time", "steps"])
def test_a_run_stopped_by_its_budget_is_evaluated_at_its_last_validation(fast_cfg, scripted_scores, stop):
    """A time or step budget ends the run on an epoch that eval_every_n_epochs would skip: the quality metrics are
    computed there too, and final/ in metrics.json carries that last evaluation (not an earlier one)."""
    evaluated = scripted_scores([0.5, 0.75])
    budget = ["++trainer.max_steps=6"] if stop == "steps" else []  # debug=fast: 3 batches per epoch, epochs 0-1
    cfg = fast_cfg(*QUICK_QUALITY, "quality.eval_every_n_epochs=10", "trainer.max_epochs=8", *budget)
    metrics = run_training(cfg, extra_callbacks=[] if budget else [StopMidEpoch(2)])
    last_epoch = metrics["history"][-1]["epoch"]
    assert last_epoch < 7 and evaluated == [0, last_epoch]
    saved = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert saved["final/val/af_r2"] == 0.75 and saved["final/quality_epoch"] == last_epoch


def test_quality_is_computed_on_the_ema_weights_when_ema_is_on(fast_cfg, monkeypatch):
    """With callbacks=ema the evaluation samples from the averaged weights: at each evaluation the model holds the
    EMA callback's averaged parameters, not the raw ones it trains (which differ after a few steps)."""
    from snpdiff.training.quality import SampleQualityCallback

    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    ema_callback = []

    def evaluate(self, pl_module, datamodule):
        average = ema_callback[0]._average_model.module  # swapped for validation: it holds the raw weights now
        seen.append(
            (
                torch.cat([p.detach().flatten() for p in pl_module.parameters()]),
                torch.cat([p.detach().flatten() for p in average.parameters()]),
            )
        )
        return {"af_r2": 0.5}, None

    class FindEma(pl.Callback):
        def on_fit_start(self, trainer, pl_module):
            ema_callback[:] = [c for c in trainer.callbacks if type(c).__name__ == "EMAWeightAveraging"]

    monkeypatch.setattr(SampleQualityCallback, "evaluate", evaluate)
    cfg = fast_cfg(*QUICK_QUALITY, "callbacks=ema", "callbacks.ema.decay=0.5", "trainer.max_epochs=2")
    trained = run_training(cfg, extra_callbacks=[FindEma()])
    assert ema_callback and len(seen) == 2
    # the last evaluation (no step after it) saw the weights last.ckpt saves as the EMA state_dict, not the raw ones
    final_ema = torch.load(trained["checkpoints"]["last"], weights_only=True)["state_dict"]
    evaluated = seen[-1][0]
    names = [name for name, _ in ema_callback[0]._average_model.module.named_parameters()]
    saved = torch.cat([final_ema[name].flatten() for name in names])
    assert torch.equal(evaluated, saved)
    assert not torch.equal(evaluated, seen[-1][1])
