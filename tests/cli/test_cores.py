"""Trainings on one machine share its cores (``snpdiff.cli.cores``): the count follows real processes holding real
OS locks, a dead one's share comes back, the ``threads`` key and ``OMP_NUM_THREADS`` fix it, SLURM jobs count their
allocation, and train.py logs its choice at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snpdiff.cli import cores
from snpdiff.cli.cores import CoreShare, cores_dir, live_holders, usable_cores
from tests.helpers import one_error_line, run_train

HOLD = """
import sys, time
from filelock import FileLock
lock = FileLock(sys.argv[1]); lock.acquire(); print("held", flush=True); time.sleep(600)
"""


@pytest.fixture(autouse=True)
def keep_torch_threads():
    """CoreShare sets this process's torch threads; the test worker's own count comes back afterwards."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def hold(folder: Path, name: str) -> subprocess.Popen:
    """Another training's share: a process holding an OS lock on a file in ``folder`` until it is killed."""
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(folder / name)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_share_follows_trainings_as_they_start_and_die(tmp_path, monkeypatch):
    monkeypatch.setattr(cores, "LOOK_EVERY_S", 0.0)
    environ = {"SNPDIFF_CORES_DIR": str(tmp_path), "SLURM_CPUS_PER_TASK": "4", "SLURM_JOB_ID": "7"}
    with CoreShare(None, environ) as share:
        assert (share.threads, torch.get_num_threads()) == (4, 4)
        assert share.reason == "4 cores of its SLURM allocation shared by 1 training"
        others = [hold(tmp_path, "a.lock"), hold(tmp_path, "b.lock"), hold(tmp_path, "c.lock")]
        share.rebalance()
        assert (share.threads, torch.get_num_threads()) == (1, 1)  # 4 cores, 4 trainings
        for process in others[:2]:
            process.send_signal(signal.SIGKILL)
            process.wait()
        share.rebalance()
        assert share.threads == 2 and share.reason.endswith("shared by 2 trainings")
        assert not (tmp_path / "a.lock").exists() and not (tmp_path / "b.lock").exists()  # the dead ones' files go
        others[2].kill()
        others[2].wait()
    assert [path.name for path in tmp_path.iterdir()] == ["c.lock"]  # its own file goes at the end
    assert live_holders(tmp_path) == 0 and list(tmp_path.iterdir()) == []  # a dead holder's goes at the next count


def test_more_trainings_than_cores_each_keep_one_thread(tmp_path):
    environ = {"SNPDIFF_CORES_DIR": str(tmp_path), "SLURM_CPUS_PER_TASK": "2"}
    others = [hold(tmp_path, f"{i}.lock") for i in range(3)]
    try:
        with CoreShare(None, environ) as share:
            assert share.threads == 1 and share.reason.endswith("shared by 4 trainings")
    finally:
        for process in others:
            process.kill()
            process.wait()


def test_the_key_and_the_environment_fix_the_count_and_take_no_share(tmp_path):
    environ = {"SNPDIFF_CORES_DIR": str(tmp_path / "shares")}
    with CoreShare(3, environ) as share:
        assert (share.threads, share.reason, torch.get_num_threads()) == (3, "threads=3", 3)
    with CoreShare(None, {**environ, "OMP_NUM_THREADS": "2"}) as share:
        assert (share.threads, share.reason) == (2, "OMP_NUM_THREADS=2")
    assert not (tmp_path / "shares").exists()  # neither counted itself among the sharers
    with CoreShare(None, {**environ, "OMP_NUM_THREADS": "lots"}) as share:  # not a number: torch ignores it too
        assert share.shared and share.reason.endswith("shared by 1 training")


def test_slurm_allocations_and_folders():
    assert usable_cores({"SLURM_JOB_CPUS_PER_NODE": "4(x2),2"}) == 4
    assert usable_cores({"SLURM_CPUS_PER_TASK": "3", "SLURM_JOB_CPUS_PER_NODE": "8"}) == 3
    assert usable_cores({}) == len(os.sched_getaffinity(0))
    assert cores_dir({"SLURM_JOB_ID": "12"}).name == f"snpdiff-cores-{os.getuid()}-job12"
    assert cores_dir({"SNPDIFF_CORES_DIR": "/x/y"}) == Path("/x/y")


@pytest.mark.slow
def test_train_py_logs_its_share_and_a_bad_key_is_refused(tmp_path):
    """train.py beside another training (a process holding a share) takes half the cores and says so."""
    folder = tmp_path / "shares"
    folder.mkdir()
    other = hold(folder, "other.lock")
    try:
        env = {"OMP_NUM_THREADS": None, "SNPDIFF_CORES_DIR": str(folder)}
        result = run_train("debug=fast", "logger=none", root=tmp_path / "run", env=env)
    finally:
        other.kill()
        other.wait()
    assert result.returncode == 0, result.stderr[-3000:]
    expected = max(1, len(os.sched_getaffinity(0)) // 2)
    assert f"torch threads: {expected} ({len(os.sched_getaffinity(0))} cores of this machine shared by 2 trainings" in (
        result.stdout + result.stderr
    )
    assert [path.name for path in folder.iterdir()] == ["other.lock"]  # train.py removed its own file at the end
    line = one_error_line(run_train("threads=0", root=tmp_path / "bad", env=env))
    assert "threads=0 must be an integer >= 1, or null to share the cores among trainings" in line
