"""Exact resume: a run interrupted after epoch k and resumed (``ckpt_path=last``, a SLURM requeue, an out-of-memory
back-off) trains the remaining epochs exactly as the uninterrupted run does. All on CPU, compared bitwise."""

import logging
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch
import yaml

from snpdiff.training.oom import smaller_batch
from snpdiff.training.resume import model_differences
from snpdiff.training.run import run_training
from tests.helpers import StopAfterEpoch

EPOCHS = 4


class OutOfMemoryOnce(pl.Callback):
    """Raises a GPU's out-of-memory error once at batch ``batch_idx`` of each epoch in ``epochs`` (so the batches
    before it were trained and must be thrown away); records every epoch a training attempt starts."""

    def __init__(self, epochs: tuple[int, ...], batch_idx: int = 0):
        self.pending = set(epochs)
        self.batch_idx = batch_idx
        self.started_epochs: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module):
        self.started_epochs.append(trainer.current_epoch)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch in self.pending and batch_idx == self.batch_idx:
            self.pending.discard(trainer.current_epoch)
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (injected)")


def val_losses(metrics: dict) -> list[float]:
    return [row["val_loss"] for row in metrics["history"]]


def weights(run_dir) -> dict[str, torch.Tensor]:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    differing = [name for name in a if not torch.equal(a[name], b[name])]
    assert not differing, f"{len(differing)} tensors differ, e.g. {differing[0]}: max |diff| " \
                          f"{(a[differing[0]] - b[differing[0]]).abs().max().item():.3g}"


@pytest.fixture
def fast_cfg(fast_cfg):
    """The bitwise comparisons run without the EMA callback (``ema=True`` keeps it): with it, Lightning's
    EMAWeightAveraging resume differs in the last bits (``test_resume_with_ema_matches_to_float_rounding``)."""

    def make(*overrides: str, ema: bool = False, **kwargs):
        return fast_cfg(*([] if ema else ["callbacks.ema=null"]), *overrides, **kwargs)

    return make


@pytest.fixture
def straight(tmp_path, fast_cfg):
    """The uninterrupted run: its metrics and the folder of its last.ckpt."""
    run_dir = tmp_path / "straight"
    return run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", output_dir=run_dir)), run_dir


@pytest.mark.reliability_row("Training runs", "kill -9 during training")
@pytest.mark.parametrize("completed", [1, 2])
def test_resume_after_epoch_k_equals_the_uninterrupted_run_bitwise(completed, straight, tmp_path, fast_cfg):
    # before the fix: [.7159, .5735, .5264, .5106] straight vs [.7159, .5735, .5200, .5085] resumed after 1 epoch
    straight_metrics, straight_dir = straight
    run_dir = tmp_path / "resumed"
    cfg = fast_cfg(f"trainer.max_epochs={EPOCHS}", output_dir=run_dir)
    run_training(cfg, extra_callbacks=[StopAfterEpoch(completed - 1)])
    resumed = run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", "ckpt_path=last", output_dir=run_dir))
    assert [row["epoch"] for row in resumed["history"]] == list(range(EPOCHS))
    assert val_losses(resumed) == val_losses(straight_metrics)  # exact float equality
    assert_same_weights(weights(run_dir), weights(straight_dir))



def test_resume_with_ema_matches_to_float_rounding(tmp_path, fast_cfg):
    """With EMA (the default callbacks) a resumed run matches the uninterrupted one to float rounding, not bitwise:
    measured 2026-11-30, one val_loss of four differed by 6e-8 relative (1 torch thread). Both the averaged and the
    raw weights, the averaging count and the optimizer state travel in last.ckpt."""
    straight_dir, run_dir = tmp_path / "straight_ema", tmp_path / "resumed_ema"
    straight_metrics = run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", ema=True, output_dir=straight_dir))
    run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", ema=True, output_dir=run_dir), [StopAfterEpoch(0)])
    resumed = run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", "ckpt_path=last", ema=True, output_dir=run_dir))
    assert [row["epoch"] for row in resumed["history"]] == list(range(EPOCHS))
    assert val_losses(resumed) == pytest.approx(val_losses(straight_metrics), rel=1e-6)
    checkpoints = [torch.load(d / "checkpoints" / "last.ckpt", weights_only=True) for d in (run_dir, straight_dir)]
    for key in ("state_dict", "current_model_state"):  # EMA weights, raw weights
        for name, tensor in checkpoints[0][key].items():
            assert torch.allclose(tensor, checkpoints[1][key][name], rtol=1e-5, atol=1e-7), (key, name)


def test_last_ckpt_holds_the_latest_epoch_even_when_the_metric_stops_improving(tmp_path, fast_cfg):
    """With a learning rate too small to move the weights, val_loss (deterministic) never improves after epoch 0, so
    no best checkpoint is saved after it; last.ckpt must still be rewritten every epoch (Lightning's save_last lags
    behind in that case, which would make a resume replay epochs)."""
    run_dir = tmp_path / "flat"
    run_training(fast_cfg("trainer.max_epochs=3", "optimizer.lr=1e-30", "scheduler=none", output_dir=run_dir))
    last = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=False)
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    assert (best["epoch"], last["epoch"]) == (0, 2)

def test_a_requeued_slurm_job_resumes_exactly(straight, tmp_path, fast_cfg, monkeypatch):
    """SLURM_RESTART_COUNT > 0 (set in this process as SLURM sets it in a requeued job) resumes from last.ckpt."""
    straight_metrics, straight_dir = straight
    run_dir = tmp_path / "requeued"
    run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", output_dir=run_dir), extra_callbacks=[StopAfterEpoch(0)])
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    requeued = run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", output_dir=run_dir))
    assert val_losses(requeued) == val_losses(straight_metrics)
    assert_same_weights(weights(run_dir), weights(straight_dir))
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["ckpt_path"] == "last"


@pytest.mark.slow
def test_an_out_of_memory_restart_equals_a_resume_at_the_smaller_batch(tmp_path, fast_cfg):
    """What is comparable: OOM in epoch 1 (after one batch of it was trained) makes the run go on from epoch 0's
    checkpoint at batch 8 x 2 accumulated. The uninterrupted batch-16 run is not bitwise comparable (two half batches
    draw their noise differently and sum in another order), so the reference is a run stopped after epoch 0 and
    resumed by hand with data.batch_size=8 trainer.accumulate_grad_batches=2 trainer.limit_train_batches=6, which the
    tests above show equals an uninterrupted run."""
    common = [f"trainer.max_epochs={EPOCHS}", "data.batch_size=16", "trainer.limit_train_batches=3"]
    reference_dir = tmp_path / "reference"
    run_training(fast_cfg(*common, output_dir=reference_dir), extra_callbacks=[StopAfterEpoch(0)])
    reference = run_training(fast_cfg(
        *common, "ckpt_path=last", "data.batch_size=8", "trainer.accumulate_grad_batches=2",
        "trainer.limit_train_batches=6", "trainer.limit_val_batches=4", output_dir=reference_dir,
    ))
    oom_dir = tmp_path / "oom"
    injector = OutOfMemoryOnce(epochs=(1,), batch_idx=1)
    metrics = run_training(fast_cfg(*common, output_dir=oom_dir), extra_callbacks=[injector])
    assert metrics["oom/retries"] == 1 and metrics["oom/batch_size"] == 8
    assert injector.started_epochs == [0, 1, 1, 2, 3]  # epoch 1 again from its start, nothing else repeated
    assert val_losses(metrics) == val_losses(reference)
    assert_same_weights(weights(oom_dir), weights(reference_dir))
    saved = yaml.safe_load((oom_dir / "config.yaml").read_text())
    assert (saved["data"]["batch_size"], saved["trainer"]["accumulate_grad_batches"]) == (8, 2)
    assert (saved["trainer"]["limit_train_batches"], saved["trainer"]["limit_val_batches"]) == (6, 4)


def test_an_explicit_ckpt_path_survives_oom_until_this_run_saves_a_newer_last(tmp_path, fast_cfg):
    source_dir = tmp_path / "source"
    run_training(fast_cfg(f"trainer.max_epochs={EPOCHS}", output_dir=source_dir), extra_callbacks=[StopAfterEpoch(1)])
    checkpoint = source_dir / "checkpoints" / "last.ckpt"
    # OOM in epoch 2 (no last.ckpt of this run yet: back to the given checkpoint), then in epoch 3 (back to the
    # last.ckpt this run wrote after epoch 2); before the fix the first restart began again at epoch 0
    injector = OutOfMemoryOnce(epochs=(2, 3))
    metrics = run_training(
        fast_cfg(f"trainer.max_epochs={EPOCHS}", f"ckpt_path={checkpoint}", output_dir=tmp_path / "run"),
        extra_callbacks=[injector],
    )
    assert injector.started_epochs == [2, 2, 3, 3]
    assert metrics["oom/retries"] == 2
    assert [row["epoch"] for row in metrics["history"]] == list(range(EPOCHS))


@pytest.mark.parametrize(("batch", "smaller"), [(16, 8), (6, 3), (9, 3), (5, 1), (2, 1)])
def test_the_smaller_batch_divides_the_batch(batch, smaller):
    assert smaller_batch(batch) == smaller


def test_an_odd_batch_keeps_its_effective_batch_and_says_so(fast_cfg, caplog):
    """Batch 5 cannot be halved: 1 x 5 accumulated keeps the effective batch 5 (before the fix: 2 x 2 = 4)."""
    cfg = fast_cfg("data.batch_size=5", "trainer.max_epochs=1", "trainer.limit_train_batches=2")
    with caplog.at_level(logging.WARNING, logger="snpdiff.training.run"):
        metrics = run_training(cfg, extra_callbacks=[OutOfMemoryOnce(epochs=(0,))])
    assert metrics["oom/batch_size"] == 1
    saved = yaml.safe_load((Path(cfg.paths.output_dir) / "config.yaml").read_text())
    assert (saved["data"]["batch_size"], saved["trainer"]["accumulate_grad_batches"]) == (1, 5)
    assert saved["trainer"]["limit_train_batches"] == 10
    assert "data.batch_size=1 and accumulate_grad_batches=5 (effective batch 5, unchanged)" in caplog.text


def test_model_differences_name_each_key_or_only_the_class():
    stored = {"_target_": "snpdiff.models.UNet1D", "channels": 8, "dim_mults": [1, 2]}
    assert model_differences(stored, {**stored, "channels": 16, "dropout": 0.1}) == [
        "model.channels=8 in the checkpoint, 16 here",
        "model.dropout=not set in the checkpoint, 0.1 here",
    ]
    assert model_differences(stored, {"_target_": "snpdiff.models.MLPDenoiser", "hidden_dim": 32}) == [
        "model._target_='snpdiff.models.UNet1D' in the checkpoint, 'snpdiff.models.MLPDenoiser' here"
    ]
    assert model_differences(stored, dict(stored)) == []
