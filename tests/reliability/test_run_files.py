"""What a training run does to its run folder when things go wrong: a full disk (atomic checkpoints and files), a
second run into the same folder (the lock), a diverging loss (exit status 3, strict metrics.json), and a constructor
argument the config does not list (settable without ``+``).

Real ``train.py`` processes on real files. The full disk is a real tmpfs of a few MB, which the test mounts (root
only: skipped where mounting is not allowed); the run lock is a real OS lock held by real processes, a killed run's
holder file is written as such a run leaves it, and the SLURM job id this process sees is its environment variable.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from snpdiff.cli.exit import DIVERGED_EXIT_CODE, USER_ERROR_EXIT_CODE, unknown_override_message
from snpdiff.config import compose_config
from snpdiff.errors import RunFolderError
from snpdiff.files import atomic_write
from snpdiff.run_folder import (
    LockHolder,
    RunLock,
    atomic_write_json,
    checkpoint_dir,
    holder_path,
    last_checkpoint,
    metrics_path,
)
from tests.helpers import REPO, run_train, small_tmpfs
from tests.reliability.campaign import check_row

# debug=fast with a small UNet: a checkpoint of about 0.84 MB, two epochs of three batches
TINY = [
    "debug=fast",
    "logger=none",
    "callbacks.progress_bar=null",
    "model=unet",  # the disk is sized for this model's checkpoints
    "model.channels=8",
    "model.dim_mults=[1,2]",
    "model.norm_groups=4",
    "model.embedding_dim=16",
]
# holds config.yaml, metrics.json, the log and two checkpoints (epoch 0's best.ckpt and last.ckpt), not a third
DISK_SIZE = "2100k"


def strict_json(path: Path) -> dict:
    """``path`` read as strict JSON: NaN, Infinity and -Infinity are errors."""

    def refuse(constant: str) -> None:
        raise ValueError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def temporary_files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.name.endswith(".tmp"))


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of ``DISK_SIZE`` mounted at ``tmp_path / "disk"`` (unmounted afterwards)."""
    yield from small_tmpfs(tmp_path / "disk", DISK_SIZE)


@pytest.mark.slow
def test_a_full_disk_ends_the_run_with_a_user_error_and_keeps_last_ckpt_whole_for_resume(small_disk, tmp_path):
    # before: exit 0 with a truncated last.ckpt (Lightning writes a temporary file in /tmp and copies it over)
    run = small_disk / "run"
    full = run_train(*TINY, "trainer.max_epochs=3", f"hydra.run.dir={run}", root=tmp_path)
    assert full.returncode == USER_ERROR_EXIT_CODE, full.stderr
    last_line = full.stderr.strip().splitlines()[-1]
    assert re.fullmatch(rf"error: no space left on device writing {run}/checkpoints/(best|last)\.ckpt", last_line)
    check_row(full, "Training runs", "full disk or quota")
    assert "Traceback" not in full.stderr
    assert temporary_files(run) == []
    assert not holder_path(run).exists()
    checkpoint = torch.load(last_checkpoint(run), weights_only=False)  # whole: it loads
    assert checkpoint["epoch"] == 0  # the last epoch whose checkpoint fitted
    assert strict_json(metrics_path(run))["diverged"] is None

    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    resumed = run_train(*TINY, "trainer.max_epochs=3", "ckpt_path=last", f"hydra.run.dir={run}", root=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    metrics = strict_json(metrics_path(run))
    assert [row["epoch"] for row in metrics["history"]] == [0, 1, 2]
    assert torch.load(last_checkpoint(run), weights_only=False)["epoch"] == 2


def test_a_full_disk_leaves_the_previous_file_and_no_temporary_file(small_disk):
    path = small_disk / "metrics.json"
    atomic_write_json(path, {"val_loss": 0.5})
    filler = small_disk / "filler"
    with open(filler, "wb") as file, pytest.raises(OSError):  # fill the disk to the last block
        while True:
            file.write(b"\0" * 65536)
            file.flush()
    free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
    with pytest.raises(RunFolderError, match=f"^no space left on device writing {path}$"):
        atomic_write(path, "x" * (free + 2**20), RunFolderError)
    assert strict_json(path) == {"val_loss": 0.5}
    assert temporary_files(small_disk) == []


@pytest.mark.reliability_row("Training runs", "`metrics.json`")
def test_metrics_json_is_strict_json_with_non_finite_numbers_as_null(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_json(
        path,
        {
            "train_loss": float("nan"),
            "best": float("inf"),
            "step": torch.tensor(3.0),
            "history": [{"val_loss": float("-inf"), "epoch": 0}],
        },
    )
    assert strict_json(path) == {
        "train_loss": None,
        "best": None,
        "step": 3.0,
        "history": [{"val_loss": None, "epoch": 0}],
    }


def start_train(*args: str, root: Path) -> subprocess.Popen:
    """``python train.py ARGS`` in the background, as ``run_train`` runs it."""
    env = {**os.environ, "SNPDIFF_ROOT": str(root)}
    return subprocess.Popen(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"train.py ended ({process.returncode}) before writing {path}"
        assert time.monotonic() < deadline, f"no {path} after {timeout} s"
        time.sleep(0.2)


@pytest.mark.reliability_row("Training runs", "a run folder whose run was killed")
@pytest.mark.slow
def test_a_second_run_into_a_busy_run_folder_is_refused_and_a_dead_runs_lock_is_taken_over(tmp_path):
    # before: both runs exited 0, writing over each other's checkpoints and metrics.json
    run = tmp_path / "run"
    first = start_train(*TINY, "trainer.max_epochs=100000", f"hydra.run.dir={run}", root=tmp_path)
    try:
        wait_for(holder_path(run), first)
        second = run_train(*TINY, f"hydra.run.dir={run}", root=tmp_path)
        assert first.poll() is None  # the first run was running all along
    finally:
        first.send_signal(signal.SIGKILL)  # as the out-of-memory killer would: no chance to release the lock
        first.wait()
    assert second.returncode == USER_ERROR_EXIT_CODE, second.stderr
    holder = f"pid {first.pid} on host {socket.gethostname()}, started "
    assert (
        second.stderr.strip()
        .splitlines()[-1]
        .startswith(f"error: run folder {run} is in use by another training run ({holder}")
    )
    check_row(second, "Training runs", "a second `train.py` into a folder a live run holds")

    assert holder_path(run).exists()  # left by the killed run
    # the killed run may have left checkpoints: replacing them is asked for (test_training_inputs.py)
    third = run_train(*TINY, "overwrite=true", f"hydra.run.dir={run}", root=tmp_path)
    assert third.returncode == 0, third.stderr
    output = third.stdout + third.stderr
    assert f"taking over the lock of run folder {run} from {holder}" in output
    assert "that run no longer holds it" in output
    assert not holder_path(run).exists()  # released at the end
    assert strict_json(metrics_path(run))["epochs_completed"] == 2


def write_holder(run: Path, holder: LockHolder) -> None:
    """The holder file a killed run leaves (its OS lock went with it)."""
    run.mkdir(parents=True, exist_ok=True)
    atomic_write_json(holder_path(run), dataclasses.asdict(holder))


@pytest.mark.reliability_row("Training runs", "a run folder whose run was killed")
def test_a_requeued_slurm_jobs_holder_file_is_taken_over(tmp_path, monkeypatch, caplog):
    run = tmp_path / "run"
    # the job before the requeue, on another node, same job id: SLURM ended it, so its lock went with it
    before = LockHolder(os.getppid(), "node-before-requeue", "2025-01-01T00:00:00+00:00", "4242")
    write_holder(run, before)
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    with caplog.at_level(logging.WARNING), RunLock(run) as lock:
        assert json.loads(holder_path(run).read_text())["pid"] == os.getpid()
        assert lock.holder.slurm_job_id == "4242"
    assert f"from {before.describe()}: that run no longer holds it" in caplog.text
    assert not holder_path(run).exists()


HOLD_LOCK = """
import sys, time
from snpdiff.errors import RunFolderError
from snpdiff.run_folder import RunLock
lock = RunLock(sys.argv[1])
time.sleep(max(0.0, float(sys.argv[2]) - time.time()))  # every contender starts at the same moment
try:
    lock.acquire()
except RunFolderError as error:
    print("refused:", error, flush=True)
else:
    print("won", flush=True)
    time.sleep(float(sys.argv[3]))
    lock.release()
"""


def contend(run: Path, count: int, hold_s: float) -> list[subprocess.Popen]:
    """``count`` processes that each try to take ``run``'s lock at the same moment; the one that gets it holds it
    for ``hold_s`` seconds."""
    start = time.time() + 3  # after every interpreter has started
    return [
        subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(run), str(start), str(hold_s)], cwd=REPO,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(count)
    ]  # fmt: skip


@pytest.mark.reliability_row("Training runs", "several runs starting into one folder")
def test_processes_racing_to_take_over_a_stale_lock_exactly_one_wins(tmp_path):
    """Before: each contender read the stale holder, judged it dead, and replaced the lock file: both won."""
    run = tmp_path / "run"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = LockHolder(int(dead.stdout), socket.gethostname(), "2025-01-01T00:00:00+00:00")
    for _ in range(3):  # a race is won by timing: several rounds
        write_holder(run, stale)
        outputs = [process.communicate(timeout=60)[0] for process in contend(run, 4, 3)]
        winners = [output for output in outputs if output.startswith("won")]
        assert len(winners) == 1, outputs
        refused = [output for output in outputs if output.startswith("refused:")]
        assert len(refused) == 3, outputs
        assert all(f"run folder {run} is in use by another training run (pid " in output for output in refused)
        assert not holder_path(run).exists()  # the winner released it


def test_a_live_holder_is_trusted_and_its_holder_file_left_as_it_was(tmp_path):
    run = tmp_path / "run"
    holder = contend(run, 1, 30)[0]
    try:
        wait_for(holder_path(run), holder)
        recorded = holder_path(run).read_text()
        with pytest.raises(RunFolderError, match=re.escape(f"(pid {holder.pid} on host {socket.gethostname()}, ")):
            RunLock(run).acquire()
        assert holder_path(run).read_text() == recorded
        assert not [path for path in run.iterdir() if path.name.endswith(".tmp")]
    finally:
        holder.kill()
        holder.wait()
    with RunLock(run):  # the kernel let the killed holder's lock go
        assert json.loads(holder_path(run).read_text())["pid"] == os.getpid()


@pytest.mark.slow
def test_a_diverging_run_exits_3_naming_step_loss_and_lr_and_writes_no_checkpoint(tmp_path):
    # before: exit 0, metrics.json with Infinity (not JSON) and no val_loss
    run = tmp_path / "run"
    result = run_train(*TINY, "optimizer.lr=1e4", f"hydra.run.dir={run}", root=tmp_path)
    assert result.returncode == DIVERGED_EXIT_CODE == 3, result.stderr
    last_line = result.stderr.strip().splitlines()[-1]
    found = re.fullmatch(
        r"error: training diverged at step (\d+) \(epoch 0\): loss=(nan|inf|-inf), lr=10000; "
        r"lower optimizer\.lr.*",
        last_line,
    )
    assert found, last_line
    check_row(result, "Training runs", "the loss becomes NaN or inf")
    metrics = strict_json(metrics_path(run))
    assert metrics["diverged"] == {"step": int(found[1]), "epoch": 0, "loss": found[2], "lr": 10000.0}
    assert not any(checkpoint_dir(run).glob("*.ckpt"))  # none with non-finite weights
    assert not holder_path(run).exists()
    assert f"training stopped: non-finite loss at step {found[1]} (epoch 0)" in result.stdout + result.stderr


@pytest.mark.reliability_row("Training runs", "`trainer.limit_train_batches=3`")
@pytest.mark.slow
def test_a_constructor_argument_the_config_does_not_list_is_set_without_plus(tmp_path):
    # before: "unknown key 'trainer.max_steps' ...; did you mean 'trainer.max_steps'?"
    run = tmp_path / "run"
    result = run_train(
        *TINY,
        "trainer.max_steps=2",
        "callbacks.last_checkpoint.save_weights_only=true",
        f"hydra.run.dir={run}",
        root=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    # stopped by max_steps, not by debug=fast's 2 epochs of 3 steps
    assert "training stopped: max_steps=2 reached" in result.stdout + result.stderr
    ran = yaml.safe_load((run / "config.yaml").read_text())
    assert ran["trainer"]["max_steps"] == 2 and ran["callbacks"]["last_checkpoint"]["save_weights_only"] is True
    overrides = (run / ".hydra" / "overrides.yaml").read_text()
    # recorded as given: replaying .hydra/overrides.yaml needs no "+" either
    assert "trainer.max_steps=2" in overrides and "callbacks.last_checkpoint.save_weights_only=true" in overrides


def test_compose_config_sets_a_constructor_argument_without_plus_as_train_py_does():
    """Benchmarks and sweep validation compose through ``compose_config``: the same keys as the command line."""
    cfg = compose_config(["trainer.max_steps=7", "callbacks.last_checkpoint.save_weights_only=true", "++seed=3"])
    assert cfg.trainer.max_steps == 7 and cfg.callbacks.last_checkpoint.save_weights_only is True and cfg.seed == 3
    with pytest.raises(Exception, match=r"Could not override 'trainer.max_stepz'"):
        compose_config(["trainer.max_stepz=7"])


def test_a_key_no_constructor_takes_still_gets_its_did_you_mean(tmp_path):
    result = run_train("trainer.limit_train_batchs=3", root=tmp_path, timeout=120)
    assert result.returncode == USER_ERROR_EXIT_CODE, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: unknown key 'trainer.limit_train_batchs' for lightning")
    assert lines[0].endswith("did you mean 'trainer.limit_train_batches'?")
    check_row(result, "Training runs", "`trainer.limit_train_batchs=3`")


def test_hydras_own_compose_api_sets_a_constructor_argument_without_plus():
    """Hydra apps and Hydra's compose API see every constructor argument in ``conf/`` itself (``schema/<target>``),
    so none needs the ``+``; a key no constructor takes is still named with what is allowed."""
    from hydra import compose, initialize_config_dir

    from snpdiff.config import CONF_DIR
    from snpdiff.config.resolvers import register_resolvers
    from snpdiff.config.schema import register_schemas

    register_schemas()
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="train"):
        assert compose(config_name="train", overrides=["trainer.max_steps=2"]).trainer.max_steps == 2
        with pytest.raises(Exception) as missing:  # noqa: PT011 - Hydra's ConfigCompositionException
            compose(config_name="train", overrides=["trainer.max_stepz=2"])
    message = unknown_override_message(missing.value, "train")
    assert message.startswith("unknown key 'trainer.max_stepz' for lightning.pytorch.Trainer; allowed: ")
