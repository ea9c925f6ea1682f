"""Hyperband on the local backend: the trial's reporter reaches training through its command line only (a callback
override composed by the bridge), reports the per-epoch metric to the Optuna trial and stops training when the
pruner says so (real Lightning training in this process through run_training; real SQLite storage)."""

import pytest
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.sweep.backends.local import PRUNED_ATTR, REPORTER_TARGET, LocalBackend
from snpdiff.sweep.backends.trial_loop import REPORTER_CALLBACK
from snpdiff.sweep.bridge import callback_override
from snpdiff.sweep.reporter import SweepTrialReporter
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import sweeps_root

TINY = ["debug=fast", "logger=none", "callbacks.progress_bar=null", "model.channels=8", "model.dim_mults=[1,2]",
        "model.norm_groups=4", "model.embedding_dim=16"]
HYPERBAND = {"type": "hyperband", "min_iter": 1, "eta": 3, "s": 0}  # one bracket: every trial meets its rivals


def local_sweep(**top) -> LocalBackend:
    spec = load_sweep({"method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
                       "parameters": {"seed": {"values": [1, 2]}}, **top})
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    return LocalBackend(info)


def test_only_a_sweep_with_a_pruner_gives_its_trials_a_reporter():
    assert local_sweep().claim(heartbeat_interval_s=60).reporter is None
    backend = local_sweep(early_terminate=HYPERBAND)
    claimed = backend.claim(heartbeat_interval_s=60)
    assert claimed.reporter == {"_target_": REPORTER_TARGET, "storage": backend.info.storage,
                                "study": backend.info.sweep_id, "trial_number": claimed.number, "metric": "val_loss"}


def test_the_reporter_override_composes_into_a_callback_node_that_builds_the_reporter():
    """Storage URLs hold ':', '/', '@' and quotes; sweep ids may be all digits: all survive Hydra's parser."""
    node = {"_target_": REPORTER_TARGET, "storage": "postgresql://me:p@ss'w@db:5432/sweeps", "study": "12345678",
            "trial_number": 3, "metric": "val/ld_corr"}
    override = callback_override(REPORTER_CALLBACK, node)
    assert override.startswith("+callbacks.sweep_reporter={_target_:'snpdiff.sweep.reporter.SweepTrialReporter',")
    cfg = compose_config([*TINY, override])
    reporter = instantiate(cfg.callbacks.sweep_reporter)
    assert isinstance(reporter, SweepTrialReporter)
    assert (reporter.storage_url, reporter.study_name, reporter.trial_number, reporter.metric) == (
        "postgresql://me:p@ss'w@db:5432/sweeps", "12345678", 3, "val/ld_corr")


@pytest.mark.slow
def test_a_trial_worse_than_its_bracket_is_pruned_after_its_first_epoch(tmp_path):
    from snpdiff.training import run_training

    backend = local_sweep(early_terminate=HYPERBAND)
    for _ in range(3):  # three earlier trials that reached an impossible val_loss of -1 after one epoch
        rival = backend.study.ask()
        rival.report(-1.0, 1)
        rival.should_prune()
        backend.study.tell(rival, -1.0)
    claimed = backend.claim(heartbeat_interval_s=60)

    cfg = compose_config([*TINY, "trainer.max_epochs=3", f"paths.output_dir={tmp_path / 'run'}",
                          callback_override(REPORTER_CALLBACK, claimed.reporter)])
    metrics = run_training(cfg)

    assert metrics["epochs_completed"] == 1  # stopped by the pruner, not by max_epochs=3
    frozen = backend.storage.get_trial(claimed.trial_id)
    assert frozen.intermediate_values == {1: pytest.approx(metrics["history"][0]["val_loss"])}
    assert frozen.user_attrs[PRUNED_ATTR] == 1
    assert backend.finish(claimed, "finished", value=metrics["val_loss"]) == "pruned"
    assert [r.state for r in backend.trials()][-1] == "pruned"


@pytest.mark.slow
def test_an_unpruned_trial_reports_every_epoch(tmp_path):
    """A reporter written by hand on the command line, as a user could: no pruner, so nothing stops the run."""
    from snpdiff.training import run_training

    backend = local_sweep()
    claimed = backend.claim(heartbeat_interval_s=60)
    node = {"_target_": REPORTER_TARGET, "storage": backend.info.storage, "study": backend.info.sweep_id,
            "trial_number": claimed.number, "metric": "val_loss"}
    cfg = compose_config([*TINY, f"paths.output_dir={tmp_path / 'run'}", callback_override(REPORTER_CALLBACK, node)])
    metrics = run_training(cfg)
    reported = backend.storage.get_trial(claimed.trial_id).intermediate_values
    assert reported == {e + 1: pytest.approx(row["val_loss"]) for e, row in enumerate(metrics["history"])}
    assert len(reported) == 2
