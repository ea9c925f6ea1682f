"""Agents on the local backend with real `train.py` trials (debug=fast, a tiny UNet), as a user runs them:
`sweep.py init`, several `sweep.py agent` processes on one SQLite study, `monitor`, `analyze`."""

from __future__ import annotations

import pickle
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from snpdiff.cli import USER_ERROR_EXIT_CODE
from snpdiff.config import compose_config
from snpdiff.run_folder import read_metrics
from snpdiff.sweep.agent.trial import metric_values
from snpdiff.sweep.analysis import comparable, trial_overrides
from snpdiff.sweep.backends import AgentOptions, local, open_backend, run_agent
from snpdiff.sweep.store import resolve_sweep, sweeps_root
from tests.helpers import REPO, TINY_TRIAL, start_agent, sweep_cli, write_sweep

pytestmark = pytest.mark.slow
AGENT_TIMEOUT_S = 600


def tiny_sweep(parameters: dict, method: str = "random", **top) -> dict:
    return {"method": method, "metric": {"name": "val_loss", "goal": "minimize"},
            "parameters": {**TINY_TRIAL, **parameters}, **top}


def init_cli(root: Path, sweep_file: Path) -> str:
    out = sweep_cli("--sweeps-dir", str(root), "init", str(sweep_file), "--backend", "local").stdout
    return out.split("created local sweep ")[1].split()[0]


def wait_all(processes: list[subprocess.Popen], timeout: float = AGENT_TIMEOUT_S) -> list[int]:
    deadline = time.monotonic() + timeout
    return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in processes]


def processes_running_in(folder: Path) -> list[int]:
    """PIDs whose command line mentions ``folder`` (a trial's train.py names its run dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in cmdline:
                pids.append(int(entry.name))
    return pids


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def three_agent_sweep(tmp_path_factory):
    """A random sweep run by 3 agent processes with --count 2 each, started at the same time."""
    folder = tmp_path_factory.mktemp("three_agents")
    root = folder / "sweeps"
    sweep_file = write_sweep(folder, tiny_sweep({
        "optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
        "model.channels": {"values": [8, 16]},
        "scheduler": {"values": ["cosine", "none"]},
    }, early_terminate={"type": "hyperband", "min_iter": 3, "s": 1}))  # fed every epoch; first rung after the end
    with pytest.MonkeyPatch.context() as patch:  # the function-scoped environment fixtures do not reach here
        patch.setenv("OMP_NUM_THREADS", "1")
        patch.setenv("SNPDIFF_SWEEPS_DIR", str(root))
        patch.setenv("SNPDIFF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        patch.chdir(REPO)
        sweep_id = init_cli(root, sweep_file)
        agents = [start_agent(sweep_id, "--count", "2", log=folder / f"agent{i}.log") for i in range(3)]
        codes = wait_all(agents)
    logs = "\n".join((folder / f"agent{i}.log").read_text() for i in range(3))
    assert codes == [0, 0, 0], logs
    return root, sweep_id, logs


def test_three_agents_with_count_two_record_six_distinct_trials(three_agent_sweep):
    root, sweep_id, _ = three_agent_sweep
    backend = open_backend(resolve_sweep(sweep_id, root))
    records = backend.trials()
    assert [r.number for r in records] == list(range(6))
    assert [r.state for r in records] == ["finished"] * 6
    assert len({r.params["optimizer.lr"] for r in records}) == 6
    assert len({r.run_dir for r in records}) == 6
    for record in records:  # each trial's value is its best val_loss over epochs, from its own metrics.json
        history = metric_values(Path(record.run_dir), "val_loss")
        assert len(history) >= 2 and record.value == min(history)


def test_each_trial_trained_with_its_own_parameters(three_agent_sweep):
    root, sweep_id, _ = three_agent_sweep
    for record in open_backend(resolve_sweep(sweep_id, root)).trials():
        ran = yaml.safe_load((Path(record.run_dir) / "config.yaml").read_text())  # written by train.py
        assert ran["optimizer"]["lr"] == record.params["optimizer.lr"]
        assert ran["model"]["channels"] == record.params["model.channels"]
        hydra = yaml.safe_load((Path(record.run_dir) / ".hydra" / "hydra.yaml").read_text())["hydra"]
        assert hydra["runtime"]["choices"]["scheduler"] == record.params["scheduler"]
        assert ran["model"]["norm_groups"] == 4 and ran["task_name"] == "debug"


def test_trials_of_a_hyperband_sweep_report_every_epoch_to_their_optuna_trial(three_agent_sweep):
    """The reporter reaches each trial through its command line only (+callbacks.sweep_reporter=...) and its values
    the study through the agent (the trial's socket channel)."""
    root, sweep_id, _ = three_agent_sweep
    backend = open_backend(resolve_sweep(sweep_id, root))
    for trial in backend.study.get_trials():
        ran = yaml.safe_load((Path(trial.user_attrs["snpdiff_run_dir"]) / ".hydra" / "overrides.yaml").read_text())
        assert [o for o in ran if o.startswith("+callbacks.sweep_reporter=")] == [
            "+callbacks.sweep_reporter={_target_:'snpdiff.sweep.reporter.SweepTrialReporter',metric:'val_loss'}"]
        history = metric_values(Path(trial.user_attrs["snpdiff_run_dir"]), "val_loss")
        assert sorted(trial.intermediate_values) == [1, 2]
        assert trial.intermediate_values[2] == pytest.approx(history[-1])


def test_monitor_shows_progress_recent_trials_and_the_best(three_agent_sweep):
    root, sweep_id, _ = three_agent_sweep
    records = open_backend(resolve_sweep(sweep_id, root)).trials()
    best = min(records, key=lambda r: r.value)
    out = sweep_cli("--sweeps-dir", str(root), "monitor", sweep_id, columns=200).stdout
    assert "6 (no run cap): 6 finished" in out
    assert f"best so far: trial {best.number}, val_loss={best.value:.6g}" in out
    assert "optimizer.lr" in out and "scheduler" in out


def test_analyze_ranks_plots_and_writes_an_experiment_that_reproduces_the_best_trial(three_agent_sweep):
    root, sweep_id, _ = three_agent_sweep
    name = f"test_sweep_{sweep_id}"
    experiment = REPO / "conf" / "experiment" / f"{name}.yaml"
    try:
        out = sweep_cli("--sweeps-dir", str(root), "analyze", sweep_id, "--experiment-name", name,
                        "--top-k", "3", columns=200).stdout
        backend = open_backend(resolve_sweep(sweep_id, root))
        records = sorted(backend.trials(), key=lambda r: r.value)
        assert "top 3 trials by val_loss (minimize" in out
        ranks = [out.index(f"│ {r.number} │") for r in records[:3]]
        assert ranks == sorted(ranks) and f"│ {records[3].number} │" not in out
        plots = root / sweep_id / "analysis"
        for png in ("history.png", "importances.png", "param_optimizer.lr.png", "param_model.channels.png",
                    "param_scheduler.png"):
            assert (plots / png).read_bytes()[:4] == b"\x89PNG"
        assert "parameter importances (fANOVA): " in out
        text = experiment.read_text()
        assert text.startswith("# @package _global_") and f"Best trial {records[0].number}" in text
        best = records[0]
        assert comparable(compose_config([f"experiment={name}"])) == comparable(
            compose_config(trial_overrides(best, backend.spec)))
        ran = yaml.safe_load((Path(best.run_dir) / ".hydra" / "overrides.yaml").read_text())
        config_overrides = [o for o in ran if not o.startswith(("hydra.", "+callbacks.sweep_reporter="))]
        assert trial_overrides(best, backend.spec) == config_overrides
        assert "sweep_reporter" not in text  # the experiment reproduces the config, not the sweep's plumbing
    finally:
        experiment.unlink(missing_ok=True)


def test_a_grid_of_four_with_three_agents_runs_each_point_once(tmp_path):
    root = sweeps_root()
    sweep_id = init_cli(root, write_sweep(tmp_path, tiny_sweep(
        {"model.channels": {"values": [8, 16]}, "scheduler": {"values": ["cosine", "none"]}}, method="grid")))
    agents = [start_agent(sweep_id, log=tmp_path / f"agent{i}.log") for i in range(3)]
    assert wait_all(agents) == [0, 0, 0]
    records = open_backend(resolve_sweep(sweep_id)).trials()
    points = sorted((r.params["model.channels"], r.params["scheduler"]) for r in records)
    assert points == [(8, "cosine"), (8, "none"), (16, "cosine"), (16, "none")]
    assert all(r.state == "finished" for r in records)
    logs = "".join((tmp_path / f"agent{i}.log").read_text() for i in range(3))
    assert logs.count("no trials left") == 3


# the rival trials below are asked for by hand, without an agent to beat for them (Optuna warns about that)
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_a_trial_worse_than_its_bracket_is_pruned_by_its_agent_after_its_first_epoch(tmp_path):
    """Through the real agent process: the trial's reporter sends its first epoch over the socket channel, the agent
    asks the pruner and answers stop; the trial ends cleanly and is recorded pruned."""
    root = sweeps_root()
    sweep_id = init_cli(root, write_sweep(tmp_path, tiny_sweep(
        {"trainer.max_epochs": {"value": 3}}, early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3, "s": 0})))
    study = open_backend(resolve_sweep(sweep_id)).study
    for _ in range(3):  # three earlier trials that reached an impossible val_loss of -1 after one epoch
        rival = study.ask()
        rival.report(-1.0, 1)
        rival.should_prune()
        study.tell(rival, -1.0)
    out = sweep_cli("agent", sweep_id, "--count", "1").stdout
    assert "trial 3 pruned after epoch 1 (val_loss=" in out  # the agent's answer to the report
    assert "trial 3 pruned after " in out.split("pruned after epoch 1")[1]  # and its end line
    record = open_backend(resolve_sweep(sweep_id)).trials()[-1]
    assert (record.number, record.state) == (3, "pruned")
    metrics = read_metrics(Path(record.run_dir))
    assert metrics["epochs_completed"] == 1  # stopped by the pruner, not by max_epochs=3
    assert study.trials[3].intermediate_values == {1: pytest.approx(metrics["history"][0]["val_loss"])}


def test_a_crashing_trial_is_recorded_failed_and_the_agent_goes_on(local_sweep):
    """norm_groups=7 divides no level width: train.py ends on its ConfigError with the user-error status (2).

    The agent runs through ``run_agent`` after a pickle round trip: the call a SLURM job makes (submitit pickles it).
    """
    sweep_id = local_sweep(tiny_sweep({"model.norm_groups": {"values": [7, 4]}}, method="grid"))
    function, args = pickle.loads(pickle.dumps((run_agent, (sweep_id, AgentOptions(), str(sweeps_root())))))
    report = function(*args)
    assert report.states == {0: "failed", 1: "finished"} and report.exit_code == 0
    failed, finished = open_backend(resolve_sweep(sweep_id)).trials()
    assert f"exit code {USER_ERROR_EXIT_CODE}" in failed.error and "norm_groups" in failed.error
    assert finished.value == min(metric_values(Path(finished.run_dir), "val_loss"))


def test_max_consecutive_failures_stops_the_agent(tmp_path, local_sweep):
    """The trial program is a script that exits with status 4: what is tested is the agent's stop rule."""
    program = tmp_path / "fails.py"
    program.write_text("import sys\nprint('trial failing on purpose', sys.argv[1:])\nsys.exit(4)\n")
    sweep_id = local_sweep({"method": "grid", "program": str(program),
                            "parameters": {"seed": {"values": [1, 2, 3, 4]}}})
    report = run_agent(sweep_id, AgentOptions(max_consecutive_failures=2))
    assert report.trials == [0, 1] and report.stopped_by == "failures" and report.exit_code == 4
    records = open_backend(resolve_sweep(sweep_id)).trials()
    assert len(records) == 2
    assert "exit code 4" in records[0].error and "trial failing on purpose" in records[0].error


def test_an_agent_killed_with_sigkill_leaves_its_trial_failed_and_the_sweep_continues(tmp_path):
    root = sweeps_root()
    sweep_id = init_cli(root, write_sweep(tmp_path, tiny_sweep({"model.channels": {"values": [8, 16]}})))
    victim = start_agent(sweep_id, "--heartbeat-interval", "0.5", log=tmp_path / "victim.log")
    trial_dir = root / sweep_id / "trials" / "0"
    wait_for(lambda: (trial_dir / "trial.log").is_file() and processes_running_in(trial_dir), 120,
             "trial 0 to start")
    time.sleep(2.0)  # train.py is importing / training now
    victim.kill()
    victim.wait(timeout=30)
    wait_for(lambda: not processes_running_in(trial_dir), 30, "the orphaned trial to die with its agent")
    survivor = start_agent(sweep_id, "--count", "1", "--heartbeat-interval", "0.5", log=tmp_path / "survivor.log")
    assert wait_all([survivor]) == [0]
    records = open_backend(resolve_sweep(sweep_id)).trials()
    assert [(r.number, r.state) for r in records] == [(0, "failed"), (1, "finished")]
    assert "stopped sending heartbeats" in records[0].error


def test_sigterm_marks_the_running_trial_interrupted_and_exits_cleanly(tmp_path):
    root = sweeps_root()
    sweep_id = init_cli(root, write_sweep(tmp_path, tiny_sweep({"model.channels": {"values": [8, 16]}})))
    log = tmp_path / "agent.log"
    agent = start_agent(sweep_id, log=log)
    trial_dir = root / sweep_id / "trials" / "0"
    wait_for(lambda: (trial_dir / "trial.log").is_file() and processes_running_in(trial_dir), 120,
             "trial 0 to start")
    agent.send_signal(signal.SIGTERM)
    assert agent.wait(timeout=60) == 128 + signal.SIGTERM
    assert not processes_running_in(trial_dir)
    records = open_backend(resolve_sweep(sweep_id)).trials()
    assert [(r.number, r.state) for r in records] == [(0, "interrupted")]
    output = log.read_text()
    assert "stopped by SIGTERM" in output and "Traceback" not in output


def test_a_requeued_slurm_job_resumes_its_trial_from_last_ckpt_with_every_epoch_once(tmp_path, monkeypatch):
    """SIGUSR2 in a SLURM job (submitit's signal: the job is requeued next) leaves the running trial to the job's next
    start (same SLURM_JOB_ID, SLURM_RESTART_COUNT=1), which resumes it: same trial number, run folder and W&B run."""
    epochs = 12
    root = sweeps_root()
    sweep = tiny_sweep({"trainer.max_epochs": {"value": epochs}, "logger": {"value": "wandb"}}, method="grid")
    sweep_id = init_cli(root, write_sweep(tmp_path, sweep))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SLURM_RESTART_COUNT", raising=False)
    first = start_agent(sweep_id, "--count", "1", "--heartbeat-interval", "0.5", log=tmp_path / "first.log")
    trial_dir = root / sweep_id / "trials" / "0"
    wait_for((trial_dir / "checkpoints" / "last.ckpt").is_file, 300, "trial 0's first checkpoint")
    first.send_signal(signal.SIGUSR2)
    assert first.wait(timeout=60) == 128 + signal.SIGUSR2, (tmp_path / "first.log").read_text()
    assert not processes_running_in(trial_dir)
    done_before = len(read_metrics(trial_dir)["history"])
    assert 1 <= done_before < epochs  # stopped mid-trial
    run_id = (trial_dir / "wandb_run_id.txt").read_text()

    # the job waits in SLURM's queue: its silent trial is not failed as stale
    time.sleep(3.0)  # > 3 heartbeat intervals, rounded up to whole seconds (SQLite's clock counts whole seconds)
    monkeypatch.setattr(local, "_job_queued", lambda job_id: True)
    backend = open_backend(resolve_sweep(sweep_id))
    assert [(r.number, r.state) for r in backend.trials()] == [(0, "running")]
    assert backend.study.get_trials()[0].user_attrs[local.AWAITING_REQUEUE_ATTR] == "awaiting requeue of job 4242"

    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    second = start_agent(sweep_id, "--count", "1", "--heartbeat-interval", "0.5", log=tmp_path / "second.log")
    assert wait_all([second]) == [0], (tmp_path / "second.log").read_text()
    (record,) = backend.trials()
    assert (record.number, record.state) == (0, "finished")
    assert "trial 0 resumes from its last checkpoint" in (tmp_path / "second.log").read_text()
    commands = [line for line in (trial_dir / "trial.log").read_text().splitlines() if line.startswith("$ ")]
    assert len(commands) == 2 and "ckpt_path=last" in commands[1] and "ckpt_path" not in commands[0]
    history = read_metrics(trial_dir)["history"]
    assert [row["epoch"] for row in history] == list(range(epochs))  # no epoch lost or repeated
    steps = [row["step"] for row in history]
    assert steps == sorted(set(steps))
    assert record.value == min(row["val_loss"] for row in history)
    assert (trial_dir / "wandb_run_id.txt").read_text() == run_id  # the same W&B run continues


def test_a_trial_awaiting_a_requeue_that_never_comes_is_failed_once_its_job_is_gone(tmp_path, monkeypatch):
    root = sweeps_root()
    sweep_id = init_cli(root, write_sweep(tmp_path, tiny_sweep({}, method="grid")))
    monkeypatch.setenv("SLURM_JOB_ID", "4243")
    backend = open_backend(resolve_sweep(sweep_id))
    claimed = backend.claim(heartbeat_interval_s=0.1)
    backend.await_requeue(claimed, "4243")
    stale_s = 2.0  # > 3 heartbeat intervals, rounded up to whole seconds (SQLite's clock counts whole seconds)
    time.sleep(stale_s)
    monkeypatch.setattr(local, "_job_queued", lambda job_id: job_id == "4243")
    backend.fail_stale_trials()
    assert [r.state for r in backend.trials()] == ["running"]
    assert backend.reattach("4242", 0.1) is None  # another job's agent does not take it
    monkeypatch.setattr(local, "_job_queued", lambda job_id: False)  # cancelled while pending, or out of requeues
    time.sleep(stale_s)
    backend.fail_stale_trials()
    (record,) = backend.trials()
    assert record.state == "failed"
    assert "stopped sending heartbeats" in record.error and "awaiting requeue of job 4243" in record.error
    assert backend.reattach("4243", 0.1) is None
