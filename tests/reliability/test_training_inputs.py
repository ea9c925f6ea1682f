"""What ``train.py`` does with a run folder, a checkpoint or a Trainer key a user got wrong, and how it ends when a
signal stops it: an earlier run's folder is refused and left byte for byte as it was, Trainer values and checkpoints
to resume from are checked before the data loads, and SIGTERM / Ctrl-C exit 143 / 130 with how to resume.

Real ``train.py`` processes (``tests.helpers.run_train``) on real files; each case asserts the exit status, the one
``error:`` line and what is (not) left on disk.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snpdiff.cli.exit import USER_ERROR_EXIT_CODE
from snpdiff.run_folder import best_checkpoint, config_path, holder_path, last_checkpoint, metrics_path
from tests.helpers import REPO, one_error_line, run_train
from tests.reliability.campaign import check_row

# debug=fast's slice, two epochs of three batches, with a small MLP: seconds
BASE = ["debug=fast", "logger=none", "callbacks.progress_bar=null"]
FAST = [*BASE, "model=mlp", "model.hidden_dim=32"]


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def run_files(run: Path) -> dict[str, bytes]:
    """The bytes of the run folder's checkpoints, ``metrics.json`` and ``config.yaml``."""
    paths = (last_checkpoint(run), best_checkpoint(run), metrics_path(run), config_path(run))
    return {path.name: path.read_bytes() for path in paths}


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """A finished run's folder (two epochs); tests that change it work on a copy."""
    root = tmp_path_factory.mktemp("finished")
    run = root / "run"
    result = run_train(*FAST, f"hydra.run.dir={run}", root=root)
    assert result.returncode == 0, result.stderr[-3000:]
    return run


def copy_of(run: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    return copy


@pytest.mark.slow
def test_a_finished_run_is_refused_and_left_exactly_as_it_was(finished, tmp_path):
    # before: exit 0, its last.ckpt, best.ckpt and metrics.json overwritten by the new run
    before = run_files(finished)
    record = [*sorted((finished / ".hydra").iterdir()), finished / "debug.log"]  # Hydra's, and the log file
    record_before = [path.read_bytes() for path in record]
    result = run_train(*FAST, f"hydra.run.dir={finished}", root=tmp_path)
    assert check_row(result, "Training inputs", "`train.py` again into a finished") == one_error_line(result) == (
        f"error: run folder {finished} holds an earlier run (checkpoints/last.ckpt, checkpoints/best.ckpt, "
        "metrics.json (2 epochs)), which this run would overwrite; nothing was changed. To continue that run add "
        "ckpt_path=last; to start a new one choose another hydra.run.dir (or leave it out for a new folder); to "
        "replace it add overwrite=true"
    )
    assert run_files(finished) == before
    assert [path.read_bytes() for path in record] == record_before  # refused before Hydra wrote into the folder
    assert not holder_path(finished).exists()


@pytest.mark.reliability_row("Training inputs", "the same with `ckpt_path=last`")
@pytest.mark.slow
def test_the_ways_on_continue_replace_and_requeue_still_work(finished, tmp_path):
    run = copy_of(finished, tmp_path)
    resumed = run_train(*FAST, "trainer.max_epochs=3", "ckpt_path=last", f"hydra.run.dir={run}", root=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [row["epoch"] for row in json.loads(metrics_path(run).read_text())["history"]] == [0, 1, 2]

    requeued = run_train(*FAST, "trainer.max_epochs=4", f"hydra.run.dir={run}", root=tmp_path,
                         env={"SLURM_RESTART_COUNT": "1"})  # fmt: skip
    assert requeued.returncode == 0, requeued.stderr[-3000:]  # a requeued job resumes without ckpt_path=last
    assert json.loads(metrics_path(run).read_text())["epochs_completed"] == 4

    replaced = run_train(*FAST, "overwrite=true", f"hydra.run.dir={run}", root=tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    assert "overwrite=true: removing the earlier run's checkpoints/last.ckpt" in replaced.stdout + replaced.stderr
    assert [row["epoch"] for row in json.loads(metrics_path(run).read_text())["history"]] == [0, 1]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("trainer.max_time=garbage", "trainer.max_time='garbage' must be a duration \"DD:HH:MM:SS\""),
        ("trainer.max_epochs=-5", "trainer.max_epochs=-5 must be an integer >= 0, or -1 for no limit (or null)"),
        ("trainer.accumulate_grad_batches=0", "trainer.accumulate_grad_batches=0 must be an integer >= 1 (or null)"),
    ],
)
def test_a_trainer_value_lightning_refuses_is_a_config_error_before_the_data_loads(override, message, tmp_path):
    # before: Hydra's "Error in call to target 'lightning.pytorch.Trainer'" after the data had loaded (exit 1)
    run = tmp_path / "run"
    result = run_train(*FAST, override, f"hydra.run.dir={run}", root=tmp_path, timeout=120)
    assert result.returncode == USER_ERROR_EXIT_CODE, result.stderr[-3000:]
    (line,) = error_lines(result)
    assert line.startswith(f"error: {message}"), line
    assert "Traceback" not in result.stderr
    check_row(result, "Training inputs", "`trainer.max_time=garbage`")
    assert not metrics_path(run).exists() and not last_checkpoint(run).exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("overrides", "difference"),
    [
        ([*FAST, "model.hidden_dim=64"], "by a run with another model config: model.hidden_dim=32 in the "
                                          "checkpoint, 64 here; resume with the checkpoint's model settings"),
        ([*BASE, "model=unet", "model.channels=8", "model.dim_mults=[1,2]", "model.norm_groups=4"],
         "by a run with another model config: model._target_='snpdiff.models.MLPDenoiser' in the checkpoint, "
         "'snpdiff.models.UNet1D' here; "),
        ([*FAST, "data.seq_length=32"], "for other data: seq_length=64 in the checkpoint, 32 from this run's data; "
                                        "resume with the checkpoint's data settings"),
    ],
)  # fmt: skip
def test_resuming_with_another_model_config_names_the_keys_that_differ(finished, overrides, difference, tmp_path):
    # before: a traceback of load_state_dict's size mismatches (exit 1)
    before = run_files(finished)
    result = run_train(*overrides, "ckpt_path=last", f"hydra.run.dir={finished}", root=tmp_path)
    line = one_error_line(result)
    assert line.startswith(f"error: ckpt_path=last ({last_checkpoint(finished)}) was saved {difference}"), line
    assert line.endswith("or start a new run in another hydra.run.dir without ckpt_path"), line
    if "data.seq_length=32" in overrides:
        check_row(result, "Training inputs", "`ckpt_path=last` after changing `data.seq_length`")
    else:
        check_row(result, "Training inputs", "`ckpt_path=last` after changing `model.hidden_dim`")
    assert run_files(finished) == before  # config.yaml too: the data are checked before it is written


@pytest.mark.slow
def test_a_truncated_checkpoint_to_resume_from_gets_generate_pys_message(finished, tmp_path):
    half = tmp_path / "half.ckpt"
    whole = last_checkpoint(finished).read_bytes()
    half.write_bytes(whole[: len(whole) // 2])
    run = tmp_path / "run"
    result = run_train(*FAST, f"ckpt_path={half}", f"hydra.run.dir={run}", root=tmp_path)
    line = one_error_line(result)
    assert re.fullmatch(
        rf"error: ckpt_path='{re.escape(str(half))}' is truncated or corrupt \(.+\); copy it again, or give a "
        r"checkpoint that snpdiff's train.py wrote, such as <run>/checkpoints/last.ckpt",
        line,
    ), line
    check_row(result, "Training inputs", "`ckpt_path=<truncated file>`")
    assert not metrics_path(run).exists() and not last_checkpoint(run).exists()


def test_an_unset_environment_variable_is_named(tmp_path):
    # before: OmegaConf's InterpolationResolutionError traceback
    result = run_train(*FAST, "optimizer.lr=${oc.env:UNSET}", root=tmp_path, timeout=120,
                       env={"UNSET": None})  # fmt: skip
    assert result.returncode == USER_ERROR_EXIT_CODE, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert "environment variable UNSET is not set" in error_lines(result)[0] + result.stderr
    check_row(result, "Training inputs", "`optimizer.lr=${oc.env:UNSET}`")


def test_a_run_folder_name_longer_than_the_file_system_allows_is_a_user_error(tmp_path):
    # before: OSError [Errno 36] File name too long, with a traceback (exit 1)
    run = tmp_path / ("r" * 300)
    result = run_train(*FAST, f"hydra.run.dir={run}", root=tmp_path, timeout=120)
    assert check_row(result, "Training inputs", "a 300-character run folder name") == one_error_line(result) == (
        f"error: {run}: a file or folder name in this path is longer than the file system allows (File name too "
        "long; at most 255 bytes a name); choose a shorter hydra.run.dir or path"
    )


def test_a_target_hydra_refuses_exits_2_with_one_line(tmp_path):
    # before: Hydra's text and exit 1 (nothing ran)
    victim = tmp_path / "keep.txt"
    victim.write_text("kept")
    result = run_train(*FAST, f"+callbacks.x={{_target_: os.remove, path: {victim}}}", root=tmp_path, timeout=120)
    line = one_error_line(result)
    check_row(result, "Training inputs", "a `_target_` Hydra refuses")
    refused = "error: cannot build callbacks.x from the config: Target 'os.remove' is blocklisted"
    assert line.startswith(refused), line
    assert victim.read_text() == "kept"


def start_train(*args: str, root: Path) -> subprocess.Popen:
    """``python train.py ARGS`` in the background, as ``run_train`` runs it."""
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), *args], cwd=root,
                            env={**os.environ, "SNPDIFF_ROOT": str(root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_training_with_its_own_exit_status_and_how_to_resume(signum, exit_code, tmp_path):
    # before: SIGTERM exited 0 ("finished") after 1 of 200 epochs; Ctrl-C exited 1 (a bug's status)
    run = tmp_path / "run"
    process = start_train(*FAST, "trainer.max_epochs=100000", f"hydra.run.dir={run}", root=tmp_path)
    try:
        deadline = time.monotonic() + 180
        while not last_checkpoint(run).exists():
            assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()[-3000:]
            time.sleep(0.2)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    resume = f"run the same command with ckpt_path=last hydra.run.dir={run}"
    assert re.fullmatch(
        rf"error: training stopped by {signum.name} at step \d+ \(epoch \d+, max_epochs=100000\); it can be "
        rf"resumed: {re.escape(resume)}",
        one_error_line(result, exit_code),
    )
    check_row(result, "Training inputs", "SIGTERM / Ctrl-C")
    assert f"to resume: {resume}" in stdout + stderr  # the closing summary of the log
    assert not holder_path(run).exists()
    epochs = json.loads(metrics_path(run).read_text())["epochs_completed"]
    resumed = run_train(*FAST, f"trainer.max_epochs={epochs + 1}", "ckpt_path=last", f"hydra.run.dir={run}",
                        root=tmp_path)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(metrics_path(run).read_text())["epochs_completed"] == epochs + 1
