"""Sample-quality metrics during training: logged as val/<metric>, usable as optimized_metric, plots on disk."""

import json
from pathlib import Path

import pytest

from snpdiff.metrics import METRICS
from snpdiff.training import run_training


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
    # evaluated after the first epoch, every 3rd and the last (epochs 0, 2, 3); epoch 1 repeats epoch 0's values
    assert {"val/af_r2", "val/ld_corr", "val/pca_w1", "val/aats", "val/aa_t", "val/aa_s", "val/exact_copy_rate"} <= (
        history[0].keys()
    )
    assert history[1]["val/af_r2"] == history[0]["val/af_r2"]
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
