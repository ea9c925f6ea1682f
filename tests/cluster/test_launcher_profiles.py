"""Launcher profiles compose with train.py's config, take overrides from the command line and a site file, and
become submitit executors (the local one runs real processes; SLURM runs are in test_launchers.py)."""

import sys

import pytest
from hydra import compose, initialize_config_dir

from snpdiff.cluster import LAUNCHERS_DIR, LAUNCHERS_ENV, expose_launchers
from snpdiff.cluster.submit import (
    load_launcher_profile,
    make_executor,
    profile_names,
    submit_agents,
)
from snpdiff.config import CONF_DIR
from snpdiff.config.schema import register_schemas
from snpdiff.errors import ConfigError

SLURM_TARGET = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
LOCAL_TARGET = "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher"


def launcher_of(overrides: list[str]) -> dict:
    """``hydra.launcher`` of train.py's config composed with `overrides`, resolved."""
    register_schemas()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name="train"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    return {key: cfg.hydra.launcher[key] for key in cfg.hydra.launcher}


@pytest.fixture
def launchers_env(monkeypatch):
    monkeypatch.delenv(LAUNCHERS_ENV, raising=False)
    assert expose_launchers() == str(LAUNCHERS_DIR)


def test_train_config_finds_the_launcher_profiles(launchers_env):
    """train.yaml puts ${oc.env:SNPDIFF_LAUNCHERS} on Hydra's search path; no override needed."""
    launcher = launcher_of(["hydra/launcher=slurm_cpu"])
    assert launcher["_target_"] == SLURM_TARGET
    assert launcher["cpus_per_task"] == 1


def test_profiles_set_their_resources():
    search = f"hydra.searchpath=[file://{LAUNCHERS_DIR}]"
    assert set(profile_names()) == {"local", "slurm", "slurm_cpu", "slurm_ddp"}

    slurm = launcher_of([search, "hydra/launcher=slurm"])
    assert (slurm["_target_"], slurm["gpus_per_node"], slurm["tasks_per_node"]) == (SLURM_TARGET, 1, 1)
    assert slurm["max_num_timeout"] > 0  # a timed-out job may requeue

    cpu = launcher_of([search, "hydra/launcher=slurm_cpu"])
    assert (cpu["gpus_per_node"], cpu["cpus_per_task"]) == (None, 1)

    ddp = launcher_of([search, "hydra/launcher=slurm_ddp", "trainer=ddp", "trainer.devices=4"])
    assert (ddp["tasks_per_node"], ddp["gpus_per_node"], ddp["nodes"]) == (4, 4, 1)

    local = launcher_of([search, "hydra/launcher=local"])
    assert local["_target_"] == LOCAL_TARGET


def test_site_file_overrides_profile_and_command_line_overrides_both(tmp_path):
    site = tmp_path / "hydra" / "launcher" / "site"
    site.mkdir(parents=True)
    (site / "default.yaml").write_text("partition: gpu_long\naccount: proj42\ncpus_per_task: 3\n")
    search = f"hydra.searchpath=[file://{LAUNCHERS_DIR},file://{tmp_path}]"

    for profile in ("slurm", "slurm_cpu"):
        launcher = launcher_of([search, f"hydra/launcher={profile}"])
        assert (launcher["partition"], launcher["account"], launcher["cpus_per_task"]) == ("gpu_long", "proj42", 3)
    launcher = launcher_of([search, "hydra/launcher=slurm_cpu", "hydra.launcher.partition=debug"])
    assert (launcher["partition"], launcher["account"]) == ("debug", "proj42")


def test_load_launcher_profile_applies_overrides_and_names_what_is_wrong():
    profile = load_launcher_profile("slurm_cpu", ["partition=short", "timeout_min=5"])
    assert (profile["partition"], profile["timeout_min"], profile["_target_"]) == ("short", 5, SLURM_TARGET)
    with pytest.raises(ConfigError, match=r"'gpu_cluster' does not exist; choose one of \['local', 'slurm'"):
        load_launcher_profile("gpu_cluster")
    with pytest.raises(ConfigError, match="hydra.launcher.partiton"):
        load_launcher_profile("slurm", ["partiton=gpu"])
    with pytest.raises(ConfigError, match="trainer.devices"):
        load_launcher_profile("slurm_ddp")


def test_make_executor_passes_the_profile_keys_to_submitit(tmp_path):
    executor = make_executor(load_launcher_profile("local", ["timeout_min=7", "cpus_per_task=2"]), tmp_path / "%j")
    assert executor.cluster == "local"
    assert executor._executor.parameters["timeout_min"] == 7
    assert executor._executor.parameters["cpus_per_task"] == 2
    with pytest.raises(ConfigError, match="submitit folder"):
        make_executor({"_target_": LOCAL_TARGET, "submitit_folder": "${hydra.sweep.dir}/.submitit/%j"})


def test_submit_agents_with_the_local_profile_runs_each_command(tmp_path):
    profile = load_launcher_profile("local", ["timeout_min=2"])
    marker_dir = tmp_path / "ran"
    marker_dir.mkdir()
    command = [sys.executable, "-c", f"import os, pathlib; pathlib.Path({str(marker_dir)!r}, str(os.getpid())).touch()"]
    jobs = submit_agents(command, 2, profile, folder=tmp_path / "submitit" / "%j")
    assert [job.result() for job in jobs] == [0, 0]
    assert len(list(marker_dir.iterdir())) == 2
    with pytest.raises(ConfigError, match="at least 1"):
        submit_agents(command, 0, profile, folder=tmp_path)
