"""Hyperband on the local backend: the training reports its per-epoch metric to the Optuna trial and stops when the
pruner says so (real Lightning training in this process through run_training, which installs
make_sweep_callbacks(cfg) itself; real SQLite storage)."""

import pytest

from snpdiff.config import compose_config
from snpdiff.sweep.backends.optuna_backend import PRUNED_ATTR, LocalBackend
from snpdiff.sweep.pruning import SweepTrialReporter, make_sweep_callbacks
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import sweeps_root
from snpdiff.sweep.trial import ENV_METRIC, ENV_STORAGE, ENV_STUDY, ENV_TRIAL

pytestmark = pytest.mark.slow
TINY = ["debug=fast", "logger=none", "callbacks.progress_bar.kind=none", "model.channels=8", "model.dim_mults=[1,2]",
        "model.norm_groups=4", "model.embedding_dim=16"]


def test_no_callbacks_outside_a_sweep(monkeypatch):
    monkeypatch.delenv(ENV_STORAGE, raising=False)
    assert make_sweep_callbacks(compose_config(TINY)) == []


def test_a_trial_worse_than_its_bracket_is_pruned_after_its_first_epoch(tmp_path, monkeypatch):
    from snpdiff.training import run_training

    spec = load_sweep({"method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
                       # one bracket (s=0), so the trial meets its rivals whatever its bracket hash is
                       "early_terminate": {"type": "hyperband", "min_iter": 1, "eta": 3, "s": 0},
                       "parameters": {"seed": {"values": [1, 2]}}})
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    backend = LocalBackend(info)
    for _ in range(3):  # three earlier trials that reached an impossible val_loss of -1 after one epoch
        rival = backend.study.ask()
        rival.report(-1.0, 1)
        rival.should_prune()
        backend.study.tell(rival, -1.0)
    claimed = backend.claim(heartbeat_interval_s=60)
    monkeypatch.setenv(ENV_STORAGE, info.storage)
    monkeypatch.setenv(ENV_STUDY, info.sweep_id)
    monkeypatch.setenv(ENV_TRIAL, str(claimed.number))
    monkeypatch.setenv(ENV_METRIC, "val_loss")

    cfg = compose_config([*TINY, "trainer.max_epochs=3", f"paths.output_dir={tmp_path / 'run'}"])
    assert [type(c) for c in make_sweep_callbacks(cfg)] == [SweepTrialReporter]
    metrics = run_training(cfg)

    assert metrics["epochs_completed"] == 1  # stopped by the pruner, not by max_epochs=3
    frozen = backend.storage.get_trial(claimed.trial_id)
    assert frozen.intermediate_values == {1: pytest.approx(metrics["history"][0]["val_loss"])}
    assert frozen.user_attrs[PRUNED_ATTR] == 1
    assert backend.finish(claimed, "finished", value=metrics["val_loss"]) == "pruned"
    assert [r.state for r in backend.trials()][-1] == "pruned"


def test_an_unpruned_trial_reports_every_epoch(tmp_path, monkeypatch):
    from snpdiff.training import run_training

    spec = load_sweep({"method": "random", "parameters": {"seed": {"values": [1, 2]}}})
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    backend = LocalBackend(info)
    claimed = backend.claim(heartbeat_interval_s=60)
    for key, value in ((ENV_STORAGE, info.storage), (ENV_STUDY, info.sweep_id), (ENV_TRIAL, str(claimed.number))):
        monkeypatch.setenv(key, value)
    monkeypatch.delenv(ENV_METRIC, raising=False)  # falls back to cfg.optimized_metric
    cfg = compose_config([*TINY, f"paths.output_dir={tmp_path / 'run'}"])
    metrics = run_training(cfg)
    reported = backend.storage.get_trial(claimed.trial_id).intermediate_values
    assert reported == {e + 1: pytest.approx(row["val_loss"]) for e, row in enumerate(metrics["history"])}
    assert len(reported) == 2
