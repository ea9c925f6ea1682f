"""train.py run as a user would type it (subprocesses)."""

import csv
import json

import pytest

from snpdiff.cli import USER_ERROR_EXIT_CODE
from tests.helpers import run_dirs, run_train


@pytest.mark.slow
def test_debug_fast_with_csv_logger_end_to_end(tmp_path):
    result = run_train("debug=fast", "logger=csv", root=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    assert f"metrics: {run_dir}/metrics.json" in result.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert {"train_loss", "train_loss_epoch", "val_loss", "val_loss_epoch", "final/val_loss"} <= metrics.keys()
    assert (run_dir / "checkpoints" / "last.ckpt").is_file() and (run_dir / "checkpoints" / "best.ckpt").is_file()
    with open(run_dir / "csv" / "metrics.csv") as handle:
        columns = set(next(csv.reader(handle)))
    assert {"train_loss", "val_loss", "final/val_loss", "model/total_params"} <= columns
    assert (run_dir / ".hydra" / "config.yaml").is_file() and (run_dir / "config.yaml").is_file()


@pytest.mark.slow
def test_multirun_gives_each_job_its_own_folder(tmp_path):
    result = run_train("-m", "optimizer.lr=1e-4,3e-4", "debug=fast", "logger=none", root=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    folders = run_dirs(tmp_path, "multiruns")
    assert len(folders) == 2
    lrs = sorted(json.loads((f / "metrics.json").read_text())["lr-AdamW"] for f in folders)
    assert lrs[0] < lrs[1]


def test_bad_config_fails_before_training_with_one_message(tmp_path):
    result = run_train("debug=fast", "logger=none", "model.norm_groups=5", "optimizer.lr=-1", root=tmp_path)
    assert result.returncode == USER_ERROR_EXIT_CODE == 2
    assert "error: invalid config" in result.stderr
    assert "model.norm_groups" in result.stderr and "optimizer.lr=-1" in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("outputs/**/checkpoints"))


def test_learning_rate_floor_not_below_lr_fails_before_training(tmp_path):
    result = run_train("debug=fast", "logger=none", "optimizer.lr=0.001", "scheduler.eta_min=0.5", root=tmp_path)
    assert result.returncode == 2
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]  # one problem, one line
    assert line.startswith("error: scheduler.eta_min=0.5 is not below optimizer.lr=0.001; lower it"), line
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.glob("outputs/**/checkpoints"))


@pytest.mark.slow
def test_wandb_offline_without_credentials_and_no_key_on_disk(tmp_path):
    """No W&B server can run here: the run is a real wandb offline run (what users get without an account)."""
    env = {"WANDB_MODE": None, "HOME": str(tmp_path)}
    result = run_train("debug=fast", "logger=wandb", root=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "logging offline" in result.stdout + result.stderr
    (run_dir,) = run_dirs(tmp_path)
    run_id = (run_dir / "wandb_run_id.txt").read_text().strip()
    (offline,) = list((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))
    assert list(offline.glob("*.wandb"))

    secret = "snpdiff-secret-0123456789abcdef0123456789abcdef"
    result = run_train(
        "debug=fast",
        "logger=wandb",
        "logger.wandb.mode=offline",
        root=tmp_path / "keyed",
        env={**env, "WANDB_API_KEY": secret},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for path in (tmp_path / "keyed").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_resumed_run_continues_its_wandb_run(tmp_path):
    env = {"WANDB_MODE": "offline"}
    first = run_train("debug=fast", "logger=wandb", "trainer.max_epochs=1", root=tmp_path, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    run_id = (run_dir / "wandb_run_id.txt").read_text().strip()
    second = run_train(
        "debug=fast",
        "logger=wandb",
        "trainer.max_epochs=2",
        "ckpt_path=last",
        f"hydra.run.dir={run_dir}",
        root=tmp_path,
        env=env,
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert (run_dir / "wandb_run_id.txt").read_text().strip() == run_id
    assert len(list((run_dir / "wandb").glob(f"offline-run-*-{run_id}"))) == 2  # both sessions log to the one id
    history = json.loads((run_dir / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [0, 1]


@pytest.mark.slow
def test_cpu_ddp_with_two_gloo_processes(tmp_path):
    result = run_train(
        "debug=fast", "logger=none", "trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2", root=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(tmp_path)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["world_size"] == 2
    assert "Initializing distributed: GLOBAL_RANK: 1, MEMBER: 2/2" in result.stdout + result.stderr
