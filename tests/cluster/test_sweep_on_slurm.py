"""``sweep.py agent --launcher slurm_cpu``: sweep agents as jobs of the local SLURM cluster, on a local (SQLite) sweep.

Every trial is a real train.py run (debug=fast, a tiny UNet); the agents are real ``sweep.py agent`` processes inside
SLURM jobs, sharing the sweep's SQLite file with the submitting process.
"""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from optuna.trial import TrialState

from snpdiff.run_folder import read_metrics
from snpdiff.sweep.backends import open_backend
from snpdiff.sweep.backends.local import AGENT_ATTR, JOB_ATTR
from snpdiff.sweep.store import resolve_sweep
from tests.cluster.slurm_helpers import sacct_states, wait_until
from tests.helpers import REPO, TINY_TRIAL, write_sweep

pytestmark = pytest.mark.slurm

LEARNING_RATES = [1e-4, 3e-4, 1e-3, 3e-3]
# small jobs: the cluster has 2 cores; a stuck job ends at its time limit
JOB_KEYS = ["--launcher-override", "timeout_min=5", "--launcher-override", "mem_gb=1"]
WAIT_S = 150.0


@pytest.fixture
def sweeps_env(slurm_cluster, tmp_path, monkeypatch) -> Path:
    """A private sweeps folder; one torch thread per trial. The jobs inherit this environment."""
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("SNPDIFF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("COLUMNS", "200")  # job ids and states on one line of the progress display
    return tmp_path / "sweeps"


def sweep_py(*args: str) -> list[str]:
    return [sys.executable, str(REPO / "sweep.py"), *args]


def init_local_sweep(folder: Path, parameters: dict) -> str:
    sweep = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
             "parameters": {**TINY_TRIAL, **parameters}}
    done = subprocess.run(sweep_py("init", str(write_sweep(folder, sweep)), "--backend", "local"), cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.split("created local sweep ")[1].split()[0]


def submitted_job_ids(output: str) -> list[str]:
    match = re.search(r"submitted \d+ agent job\(s\) of sweep \S+: (.+)", output)
    assert match, output
    return match.group(1).split()


def start_agent_job(sweep_id: str, log_path: Path, heartbeat_s: float) -> subprocess.Popen:
    """``sweep.py agent --launcher slurm_cpu --count 1`` in the background, its output going to ``log_path``."""
    with open(log_path, "w") as log:
        return subprocess.Popen(
            sweep_py("agent", sweep_id, "--launcher", "slurm_cpu", "--count", "1", "--heartbeat-interval",
                     str(heartbeat_s), *JOB_KEYS),
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
        )


def submitted_job_id(submitter: subprocess.Popen, log_path: Path) -> str:
    """The SLURM job id the agent command submitted, once it says so."""
    wait_until(lambda: "submitted 1 agent job(s)" in log_path.read_text() or submitter.poll() is not None,
               "the job's submission", 60)
    (job_id,) = submitted_job_ids(log_path.read_text())
    return job_id


def test_two_agent_jobs_with_count_two_record_four_finished_trials(sweeps_env, tmp_path):
    sweep_id = init_local_sweep(tmp_path, {"optimizer.lr": {"values": LEARNING_RATES}})
    started = time.monotonic()
    done = subprocess.run(
        sweep_py("agent", sweep_id, "--launcher", "slurm_cpu", "--agents", "2", "--count", "2", *JOB_KEYS),
        cwd=REPO, capture_output=True, text=True, timeout=WAIT_S,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    print(f"2 agent jobs x 2 trials: {time.monotonic() - started:.1f} s")

    backend = open_backend(resolve_sweep(sweep_id))
    records = backend.trials()
    assert [(r.number, r.state) for r in records] == [(n, "finished") for n in range(4)]
    assert sorted(r.params["optimizer.lr"] for r in records) == LEARNING_RATES  # each grid point once
    assert all(r.value is not None and Path(r.run_dir, "metrics.json").is_file() for r in records)
    # two agents (one per job, each on its own process), two trials each
    agents = [trial.user_attrs[AGENT_ATTR] for trial in backend.study.get_trials()]
    assert sorted(agents.count(agent) for agent in set(agents)) == [2, 2]
    assert "2 of 2 agent job(s) succeeded" in output and "4/4" in output  # the progress display's last state

    job_ids = submitted_job_ids(output)
    assert len(job_ids) == 2
    for job_id in job_ids:
        wait_until(lambda job_id=job_id: sacct_states(job_id) == ["COMPLETED"], f"sacct COMPLETED for {job_id}", 30)
    # submitit's folders (logs, pickles) are in the sweep folder, one per job
    assert all(any((backend.info.directory / "jobs" / job_id).glob("*_log.out")) for job_id in job_ids)


def test_a_cancelled_job_ends_its_trial_and_the_agent_command_reports_the_failure(sweeps_env, tmp_path):
    sweep_id = init_local_sweep(tmp_path, {"trainer.max_epochs": {"value": 10_000}})  # runs until cancelled
    log_path = tmp_path / "agent.log"
    submitter = start_agent_job(sweep_id, log_path, heartbeat_s=0.5)
    try:
        job_id = submitted_job_id(submitter, log_path)
        backend = open_backend(resolve_sweep(sweep_id))
        # the trial is training (it has checkpointed an epoch) when the job is cancelled
        checkpoint = backend.info.trial_dir(0) / "checkpoints" / "last.ckpt"
        wait_until(checkpoint.exists, "the trial's first checkpoint", WAIT_S)
        assert [r.state for r in backend.trials()] == ["running"]
        subprocess.run(["scancel", job_id], check=True, timeout=30)
        return_code = submitter.wait(timeout=WAIT_S)
    finally:
        if submitter.poll() is None:
            submitter.kill()
    output = log_path.read_text()
    assert return_code == 1, output
    assert f"agent job {job_id} failed: ended CANCELLED" in output, output
    wait_until(lambda: sacct_states(job_id)[:1] == ["CANCELLED"], f"sacct CANCELLED for {job_id}", 30)

    # scancel sends SIGTERM first: the agent records its trial interrupted (failed to Optuna: no value, never resumed)
    # before SLURM's SIGKILL; an agent killed outright would leave it to the heartbeat check (tests/sweep)
    wait_until(lambda: backend.trials()[0].state != "running", "the trial to end", 30)
    (record,) = backend.trials()
    assert (record.state, record.value, record.error) == ("interrupted", None, "stopped by SIGTERM"), record
    assert backend.study.get_trials()[0].state == TrialState.FAIL


def test_a_requeued_agent_job_resumes_its_trial_which_completes_once_with_every_epoch_once(sweeps_env, tmp_path):
    epochs = 12
    sweep_id = init_local_sweep(tmp_path, {"trainer.max_epochs": {"value": epochs}})  # a grid of one trial
    log_path = tmp_path / "agent.log"
    started = time.monotonic()
    submitter = start_agent_job(sweep_id, log_path, heartbeat_s=30)
    try:
        job_id = submitted_job_id(submitter, log_path)
        backend = open_backend(resolve_sweep(sweep_id))
        trial_dir = backend.info.trial_dir(0)
        wait_until((trial_dir / "checkpoints" / "last.ckpt").exists, "the trial's first checkpoint", WAIT_S)
        # what SLURM sends before a time limit (submitit's own test hook, job._interrupt(timeout=True), does this)
        subprocess.run(["scancel", "--signal=USR2", job_id], check=True, timeout=30)
        return_code = submitter.wait(timeout=3 * WAIT_S)
    finally:
        if submitter.poll() is None:
            submitter.kill()
    output = log_path.read_text()
    assert return_code == 0, output
    print(f"an agent job requeued mid-trial: {time.monotonic() - started:.1f} s")
    wait_until(lambda: sacct_states(job_id)[-1:] == ["COMPLETED"], f"sacct COMPLETED for {job_id}", 30)
    assert "REQUEUED" in sacct_states(job_id) or len(sacct_states(job_id)) > 1, sacct_states(job_id)

    # the trial completes once, under its number, resumed from its last.ckpt in its own run folder
    (record,) = backend.trials()
    assert (record.number, record.state) == (0, "finished"), record
    (trial,) = backend.study.get_trials()
    assert trial.state == TrialState.COMPLETE and trial.user_attrs[JOB_ATTR]
    commands = [line for line in (trial_dir / "trial.log").read_text().splitlines() if line.startswith("$ ")]
    assert len(commands) == 2 and "ckpt_path=last" in commands[1], commands
    history = read_metrics(trial_dir)["history"]
    assert [row["epoch"] for row in history] == list(range(epochs))  # no epoch lost or repeated
    assert record.value == min(row["val_loss"] for row in history)
    job_log = "".join(path.read_text() for path in (backend.info.directory / "jobs").glob("*/*_log.*"))
    assert "stopped for the requeue of job" in job_log and "trial 0 resumes from its last checkpoint" in job_log
