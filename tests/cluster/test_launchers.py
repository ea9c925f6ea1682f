"""Launcher profiles on the local SLURM cluster: a multirun of train.py, requeue-and-resume, secrets, DDP, agents.

Every job here is a real train.py on a tiny MLP; most of each job's time is Python start-up.
"""

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import submitit
import torch
import yaml

from snpdiff.cluster import LAUNCHERS_DIR, LAUNCHERS_ENV
from snpdiff.cluster.submit import load_launcher_profile, submit_agents
from snpdiff.config import PROJECT_ROOT
from tests.cluster.slurm_helpers import JOB_TIMEOUT_MIN, sacct_states, wait_until

pytestmark = pytest.mark.slurm

TRAIN_PY = PROJECT_ROOT / "train.py"
# a tiny model on the debug data: seconds of training per job. The search path is given explicitly so these tests
# do not hinge on train.yaml's own entry (test_launcher_profiles checks that one).
FAST = [
    "debug=fast", "logger=none", "callbacks.progress_bar=null", "model=mlp", "model.hidden_dim=32",
    "model.num_layers=1", f"hydra.searchpath=[file://{LAUNCHERS_DIR}]",
]
MAX_EPOCHS = 40
JOB_WAIT_S = 300.0


def train_env(root: Path, **extra: str) -> dict[str, str]:
    """Environment of a train.py submitter, inherited by its jobs (one torch thread each: 2 cores, many jobs)."""
    return {
        **os.environ, "SNPDIFF_ROOT": str(root), LAUNCHERS_ENV: str(LAUNCHERS_DIR), "OMP_NUM_THREADS": "1", **extra
    }


def hydra_job_id(job_dir: Path) -> str:
    """The SLURM job id Hydra recorded for a job folder (``<array id>_<index>`` for arrays)."""
    return str(yaml.safe_load((job_dir / ".hydra" / "hydra.yaml").read_text())["hydra"]["job"]["id"])


def checkpoint_epoch(path: Path) -> int:
    """Epoch stored in a Lightning checkpoint the job may be rewriting right now (retried until readable)."""
    for _ in range(50):
        try:
            return int(torch.load(path, map_location="cpu", weights_only=False)["epoch"])
        except (RuntimeError, EOFError, OSError):
            time.sleep(0.1)
    raise AssertionError(f"{path} stayed unreadable for 5 s")


@dataclass
class Multirun:
    sweep_dir: Path
    interrupted_job_id: str
    epoch_at_signal: int
    marker: str
    output: str


@pytest.fixture(scope="module")
def multirun(slurm_cluster, tmp_path_factory) -> Multirun:
    """``train.py -m hydra/launcher=slurm_cpu optimizer.lr=1e-4,3e-4`` with a marker in
    WANDB_API_KEY. Once job 0 has its first checkpoint it gets the signal SLURM sends at a time limit
    (``scancel --signal USR2``, as submitit's own tests do: a real limit is at least one minute plus SLURM's 30 s
    check period), so it must requeue and resume."""
    root = tmp_path_factory.mktemp("multirun")
    sweep_dir = root / "multirun"
    marker = f"marker-{secrets.token_hex(12)}"
    command = [
        sys.executable, str(TRAIN_PY), "-m", "hydra/launcher=slurm_cpu", "optimizer.lr=1e-4,3e-4", *FAST,
        f"trainer.max_epochs={MAX_EPOCHS}", f"hydra.sweep.dir={sweep_dir}",
    ]
    submitter_log = root / "submitter.log"
    with open(submitter_log, "w") as log:
        process = subprocess.Popen(
            command, cwd=root, env=train_env(root, WANDB_API_KEY=marker), stdout=log, stderr=subprocess.STDOUT
        )
    try:
        last_ckpt = sweep_dir / "0" / "checkpoints" / "last.ckpt"
        wait_until(lambda: last_ckpt.exists() or process.poll() is not None, "job 0's checkpoint", JOB_WAIT_S)
        assert process.poll() is None, f"multirun ended before job 0 checkpointed:\n{submitter_log.read_text()}"
        job_id = hydra_job_id(sweep_dir / "0")
        epoch_at_signal = checkpoint_epoch(last_ckpt)
        subprocess.run(["scancel", "--signal", "USR2", job_id], check=True, timeout=30)
        process.wait(timeout=JOB_WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
    output = submitter_log.read_text()
    assert process.returncode == 0, output
    return Multirun(sweep_dir, job_id, epoch_at_signal, marker, output)


def test_multirun_jobs_write_separate_folders_with_metrics(multirun):
    job_dirs = sorted(path for path in multirun.sweep_dir.iterdir() if path.name.isdigit())
    assert [path.name for path in job_dirs] == ["0", "1"]
    learning_rates = []
    for job_dir in job_dirs:
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert metrics["output_dir"] == str(job_dir)
        assert metrics["epochs_completed"] == MAX_EPOCHS
        assert (job_dir / "checkpoints" / "last.ckpt").is_file()
        learning_rates.append(yaml.safe_load((job_dir / "config.yaml").read_text())["optimizer"]["lr"])
    assert learning_rates == [1e-4, 3e-4]
    # both jobs ran as tasks of one SLURM array
    assert hydra_job_id(job_dirs[0]).split("_")[0] == hydra_job_id(job_dirs[1]).split("_")[0]


def test_interrupted_job_requeues_and_resumes_from_its_checkpoint(multirun):
    job_dir = multirun.sweep_dir / "0"
    # accounting hears of the job's end a moment after its result file appears
    wait_until(lambda: sacct_states(multirun.interrupted_job_id)[-1:] == ["COMPLETED"], "sacct COMPLETED", 30)
    assert "REQUEUED" in sacct_states(multirun.interrupted_job_id)
    # the signal came mid-training (at or after this epoch), and the second run restored the checkpoint
    assert multirun.epoch_at_signal < MAX_EPOCHS - 1
    log = (job_dir / "debug.log").read_text()
    assert f"Restored all states from the checkpoint at {job_dir / 'checkpoints' / 'last.ckpt'}" in log
    epochs = [row["epoch"] for row in json.loads((job_dir / "metrics.json").read_text())["history"]]
    assert epochs == list(range(MAX_EPOCHS))
    assert checkpoint_epoch(job_dir / "checkpoints" / "last.ckpt") == MAX_EPOCHS - 1
    # the job that was left alone ran once
    other_job_id = hydra_job_id(multirun.sweep_dir / "1")
    wait_until(lambda: sacct_states(other_job_id) == ["COMPLETED"], f"sacct to report job {other_job_id} COMPLETED", 30)


def test_secret_reaches_jobs_only_through_the_environment(multirun, tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", multirun.marker)
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=JOB_TIMEOUT_MIN)
    job = executor.submit(lambda: hashlib.sha256(os.environ["WANDB_API_KEY"].encode()).hexdigest())
    assert job.result() == hashlib.sha256(multirun.marker.encode()).hexdigest()

    # the multirun's whole folder: submitter log, submitit folder, job output folders
    files = [path for folder in (multirun.sweep_dir.parent, tmp_path) for path in folder.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    # what submitit writes is among the files searched: sbatch scripts, pickles, logs
    assert any(name.endswith(".sh") for name in names) and any(name.endswith("_submitted.pkl") for name in names)
    assert any(name.endswith("_log.out") for name in names) and "metrics.json" in names
    leaks = [str(path) for path in files if multirun.marker.encode() in path.read_bytes()]
    assert leaks == []


def test_ddp_profile_runs_two_gloo_ranks_as_slurm_tasks(slurm_cluster, tmp_path):
    sweep_dir = tmp_path / "multirun"
    command = [
        sys.executable, str(TRAIN_PY), "-m", "hydra/launcher=slurm_ddp", "trainer=ddp", "trainer.devices=2",
        "trainer.accelerator=cpu", "hydra.launcher.gpus_per_node=null", "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1", *FAST, f"hydra.sweep.dir={sweep_dir}",
    ]
    done = subprocess.run(
        command, cwd=tmp_path, env=train_env(tmp_path), capture_output=True, text=True, timeout=JOB_WAIT_S
    )
    assert done.returncode == 0, done.stdout + done.stderr
    metrics = json.loads((sweep_dir / "0" / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    job_id = hydra_job_id(sweep_dir / "0")
    job_dir = sweep_dir / ".submitit" / job_id
    rank_logs = sorted(job_dir.glob("*_log.err"))
    assert len(rank_logs) == 2
    # Lightning's messages go through the run's logging handlers (stdout), one line per event
    rank0 = (job_dir / rank_logs[0].name.replace("_log.err", "_log.out")).read_text() + rank_logs[0].read_text()
    assert "distributed_backend=gloo" in rank0


def test_submit_agents_runs_the_command_once_per_job(slurm_cluster, tmp_path):
    profile = load_launcher_profile("slurm_cpu", [f"timeout_min={JOB_TIMEOUT_MIN}", "mem_gb=1"])
    command = [
        sys.executable, "-c",
        f"import os, pathlib; pathlib.Path({str(tmp_path)!r}, os.environ['SLURM_ARRAY_TASK_ID']).write_text('ran')",
    ]
    jobs = submit_agents(command, 2, profile, folder=tmp_path / "submitit" / "%j")
    assert [job.result() for job in jobs] == [0, 0]
    assert sorted(path.name for path in tmp_path.iterdir() if path.name.isdigit()) == ["0", "1"]
    assert len({job.job_id.split("_")[0] for job in jobs}) == 1  # one array
