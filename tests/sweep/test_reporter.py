"""Hyperband on the local backend: the trial's reporter reaches training through its command line only (a callback
override composed by the bridge) and sends the per-epoch metric over a real socket pair to its agent's end
(``ReportChannel``), which reports it to the Optuna trial and answers whether to stop (real Lightning training in
this process through run_training, the agent's end served from a thread; real SQLite storage). The agent's own loop
with a trial in its own process is in test_agent.py."""

import os
import socket
import threading

import pytest
from hydra.utils import instantiate

from snpdiff.cli import USER_ERROR_EXIT_CODE, user_errors
from snpdiff.config import compose_config
from snpdiff.errors import ConfigError
from snpdiff.sweep.agent.channel import CHANNEL_ENV, ReportChannel, report_line
from snpdiff.sweep.agent.loop import REPORTER_CALLBACK
from snpdiff.sweep.backends.local import PRUNED_ATTR, REPORTER_TARGET, LocalBackend
from snpdiff.sweep.bridge import callback_override
from snpdiff.sweep.reporter import SweepTrialReporter
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import sweeps_root

TINY = ["debug=fast", "logger=none", "callbacks.progress_bar=null", "model.channels=8", "model.dim_mults=[1,2]",
        "model.norm_groups=4", "model.embedding_dim=16"]
HYPERBAND = {"type": "hyperband", "min_iter": 1, "eta": 3, "s": 0}  # one bracket: every trial meets its rivals
# reports every epoch, never prunes a 2-epoch trial (first rung at epoch 3)
LATE_HYPERBAND = {"type": "hyperband", "min_iter": 3, "s": 1}


def local_sweep(**top) -> LocalBackend:
    spec = load_sweep({"method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
                       "parameters": {"seed": {"values": [1, 2]}}, **top})
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    return LocalBackend(info)


def trial_end(channel: ReportChannel) -> int:
    """A copy of the channel's trial end for a reporter in this process (the agent's copy closed, as after a start)."""
    fd = os.dup(channel.trial_fd)
    channel.started()
    return fd


def test_only_a_sweep_with_a_pruner_gives_its_trials_a_reporter_naming_only_the_metric():
    assert local_sweep().claim(heartbeat_interval_s=60).reporter is None
    claimed = local_sweep(early_terminate=HYPERBAND).claim(heartbeat_interval_s=60)
    assert claimed.reporter == {"_target_": REPORTER_TARGET, "metric": "val_loss"}  # no storage URL, no trial id


def test_the_reporter_override_composes_into_a_callback_node_that_builds_the_reporter(monkeypatch):
    node = {"_target_": REPORTER_TARGET, "metric": "val/ld_corr"}
    override = callback_override(REPORTER_CALLBACK, node)
    assert override == "+callbacks.sweep_reporter={_target_:'snpdiff.sweep.reporter.SweepTrialReporter'," \
                       "metric:'val/ld_corr'}"
    cfg = compose_config([*TINY, override])
    monkeypatch.setenv(CHANNEL_ENV, "7")
    reporter = instantiate(cfg.callbacks.sweep_reporter)
    assert isinstance(reporter, SweepTrialReporter) and reporter.metric == "val/ld_corr"


def test_outside_an_agents_trial_the_reporter_fails_at_once_naming_the_channel(monkeypatch):
    monkeypatch.delenv(CHANNEL_ENV, raising=False)
    with pytest.raises(ConfigError, match=rf"sweep.py agent .*\${CHANNEL_ENV} is .not set."):
        SweepTrialReporter("val_loss")
    monkeypatch.setenv(CHANNEL_ENV, "three")
    with pytest.raises(ConfigError, match=rf"\${CHANNEL_ENV} is 'three'"):
        SweepTrialReporter("val_loss")


def test_built_by_hydra_the_error_ends_as_a_user_error(monkeypatch, capsys):
    """As train.py builds it: Hydra wraps the constructor's ConfigError; the entry point's user_errors unwraps it."""
    monkeypatch.delenv(CHANNEL_ENV, raising=False)
    with pytest.raises(SystemExit) as ended, user_errors():
        instantiate({"_target_": REPORTER_TARGET, "metric": "val_loss"})
    assert ended.value.code == USER_ERROR_EXIT_CODE
    assert capsys.readouterr().err.startswith("error: callbacks.sweep_reporter (snpdiff.sweep.reporter."
                                              "SweepTrialReporter) runs only in a trial that a local sweep agent")


def test_the_agents_end_reports_answers_and_survives_bad_lines(capsys):
    backend = local_sweep(early_terminate=LATE_HYPERBAND)
    claimed = backend.claim(heartbeat_interval_s=60)
    channel = ReportChannel(backend, claimed)
    trial = socket.socket(fileno=trial_end(channel))
    answers = trial.makefile("rb")

    trial.sendall(b"not json\n")
    channel.serve(5)
    assert answers.readline() == b"go\n"
    assert "ignored a report: not a report line" in capsys.readouterr().out
    for epoch, value in ((1, 0.75), (2, 0.5)):
        trial.sendall(report_line(epoch, value))
        channel.serve(5)
        assert answers.readline() == b"go\n"
    assert backend.storage.get_trial(claimed.trial_id).intermediate_values == {1: 0.75, 2: 0.5}

    backend.finish(claimed, "failed", error="failed by another agent's stale check")  # no longer running
    trial.sendall(report_line(3, 0.25))
    channel.serve(5)
    assert answers.readline() == b"stop\n"
    assert f"trial {claimed.number} is no longer running" in capsys.readouterr().out

    answers.close()
    trial.close()  # the trial ended: end of file closes the agent's end
    channel.serve(5)
    assert channel.socket is None


def test_a_report_the_storage_fails_to_take_is_answered_go_and_said(capsys):
    """The storage's failure is simulated (a real SQLite lock would take the backend's 60 s timeout to fail): the
    backend's ``report`` raises as SQLAlchemy does on a locked database."""

    class LockedStorage(LocalBackend):
        def report(self, trial, epoch, value):
            raise RuntimeError("(sqlite3.OperationalError) database is locked")

    backend = LockedStorage(local_sweep(early_terminate=LATE_HYPERBAND).info)
    claimed = backend.claim(heartbeat_interval_s=60)
    channel = ReportChannel(backend, claimed)
    trial = socket.socket(fileno=trial_end(channel))
    answers = trial.makefile("rb")
    trial.sendall(report_line(1, 0.5))
    channel.serve(5)
    assert answers.readline() == b"go\n" and channel.socket is not None
    assert f"trial {claimed.number}: could not report epoch 1 to the sweep ((sqlite3.OperationalError) database is " \
           "locked); it goes on" in capsys.readouterr().out
    answers.close()
    trial.close()
    channel.close()


def run_with_agent(backend: LocalBackend, claimed, overrides: list[str], monkeypatch) -> dict:
    """``run_training`` in this process with the reporter of ``claimed``, its agent's end served from a thread."""
    from snpdiff.training.run import run_training

    channel = ReportChannel(backend, claimed)
    monkeypatch.setenv(CHANNEL_ENV, str(trial_end(channel)))
    done = threading.Event()

    def agent() -> None:
        while not done.is_set():
            channel.serve(0.1)

    thread = threading.Thread(target=agent, daemon=True)
    thread.start()
    try:
        return run_training(compose_config([*TINY, *overrides, callback_override(REPORTER_CALLBACK,
                                                                                   claimed.reporter)]))
    finally:
        done.set()
        thread.join()
        channel.close()


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_worse_than_its_bracket_is_pruned_after_its_first_epoch(tmp_path, monkeypatch, capsys):
    backend = local_sweep(early_terminate=HYPERBAND)
    for _ in range(3):  # three earlier trials that reached an impossible val_loss of -1 after one epoch
        rival = backend.study.ask()
        rival.report(-1.0, 1)
        rival.should_prune()
        backend.study.tell(rival, -1.0)
    claimed = backend.claim(heartbeat_interval_s=60)

    metrics = run_with_agent(backend, claimed, ["trainer.max_epochs=3", f"paths.output_dir={tmp_path / 'run'}"],
                             monkeypatch)

    assert metrics["epochs_completed"] == 1  # stopped by the pruner, not by max_epochs=3
    frozen = backend.storage.get_trial(claimed.trial_id)
    assert frozen.intermediate_values == {1: pytest.approx(metrics["history"][0]["val_loss"])}
    assert frozen.user_attrs[PRUNED_ATTR] == 1
    assert f"trial {claimed.number} pruned after epoch 1 (val_loss=" in capsys.readouterr().out
    assert backend.finish(claimed, "finished", value=metrics["val_loss"]) == "pruned"
    assert [r.state for r in backend.trials()][-1] == "pruned"


def test_an_unpruned_trial_reports_every_epoch(tmp_path, monkeypatch):
    backend = local_sweep(early_terminate=LATE_HYPERBAND)
    claimed = backend.claim(heartbeat_interval_s=60)
    metrics = run_with_agent(backend, claimed, [f"paths.output_dir={tmp_path / 'run'}"], monkeypatch)
    reported = backend.storage.get_trial(claimed.trial_id).intermediate_values
    assert reported == {e + 1: pytest.approx(row["val_loss"]) for e, row in enumerate(metrics["history"])}
    assert len(reported) == 2 and metrics["epochs_completed"] == 2


def test_a_trial_whose_agent_is_gone_stops_after_its_next_report(tmp_path, monkeypatch):
    backend = local_sweep(early_terminate=LATE_HYPERBAND)
    channel = ReportChannel(backend, backend.claim(heartbeat_interval_s=60))
    monkeypatch.setenv(CHANNEL_ENV, str(trial_end(channel)))
    channel.close()  # the agent's end closed: no answer will come
    from snpdiff.training.run import run_training

    metrics = run_training(compose_config([*TINY, "trainer.max_epochs=3", f"paths.output_dir={tmp_path / 'run'}",
                                           callback_override(REPORTER_CALLBACK,
                                                             {"_target_": REPORTER_TARGET, "metric": "val_loss"})]))
    assert metrics["epochs_completed"] == 1
