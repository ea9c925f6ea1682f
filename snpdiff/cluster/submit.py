"""Launcher profiles (``launchers/hydra/launcher/*.yaml``) as submitit executors, and sweep agents as SLURM jobs.

``train.py -m hydra/launcher=<profile>`` uses the profiles through hydra-submitit-launcher. Code that submits
jobs itself (``sweep.py agent --launcher slurm``) loads the same profile with :func:`load_launcher_profile` and
submits with :func:`submit_agents`, so both paths read one set of keys.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import submitit
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from snpdiff.cluster import LAUNCHERS_DIR
from snpdiff.errors import ClusterError, ConfigError

PROFILE_DIR = LAUNCHERS_DIR / "hydra" / "launcher"
# ${hydra.job.name} of a profile loaded outside train.py
DEFAULT_JOB_NAME = "snpdiff"
# how long submitit's requeue waits for the command to put its work aside (well within signal_delay_s)
REQUEUE_WAIT_S = 60.0
# a command that stopped for the requeue exits 128 + SIGUSR2 (or dies of it)
REQUEUE_EXIT_CODES = (128 + signal.SIGUSR2, -signal.SIGUSR2)


def profile_names() -> list[str]:
    """Launcher profiles one can pick with ``hydra/launcher=<name>`` or ``--launcher <name>``."""
    return sorted(path.stem for path in PROFILE_DIR.glob("*.yaml") if path.stem != "slurm_common")


def load_launcher_profile(name: str, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Keys of launcher profile `name` (after the user's ``site/default.yaml`` and `overrides` such as
    ``"partition=gpu"``), resolved to plain values; ``_target_`` names the hydra-submitit launcher class.

    Raises ConfigError for an unknown profile or key, or a profile that needs train.py's config (``slurm_ddp``).
    """
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    if name not in profile_names():
        raise ConfigError(f"launcher profile {name!r} does not exist; choose one of {profile_names()}")
    hydra_overrides = [f"hydra/launcher={name}", *(f"hydra.launcher.{override}" for override in overrides)]
    try:
        with initialize_config_dir(config_dir=str(LAUNCHERS_DIR), version_base="1.3", job_name=DEFAULT_JOB_NAME):
            cfg = compose(overrides=hydra_overrides, return_hydra_config=True)
        return OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    except (HydraException, OmegaConfBaseException) as error:
        raise ConfigError(f"launcher profile {name!r} with overrides {list(overrides)}: {error}") from error


def make_executor(launcher_cfg: Mapping[str, Any], folder: str | Path | None = None) -> submitit.AutoExecutor:
    """A submitit executor configured like hydra-submitit-launcher would from the same profile keys.

    `folder` (submitit's logs and pickles, ``%j`` = job id) replaces the profile's ``submitit_folder``.
    """
    from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

    params = dict(launcher_cfg)
    target = str(params.pop("_target_", ""))
    cluster = "local" if target.endswith("LocalLauncher") else "slurm"
    folder = folder or params.pop("submitit_folder", None)
    params.pop("submitit_folder", None)
    if folder is None or "${" in str(folder):
        raise ConfigError(f"submitit folder {folder!r} is not a path; pass folder= to make_executor")
    init = {}
    if "max_num_timeout" in params:
        init[f"{cluster}_max_num_timeout"] = params.pop("max_num_timeout")
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, **init)
    # the launcher's own convention: shared keys plain, the rest prefixed with the executor's name
    shared = set(OmegaConf.structured(BaseQueueConf).keys())
    executor.update_parameters(**{key if key in shared else f"{cluster}_{key}": v for key, v in params.items()})
    return executor


class AgentCommand(submitit.helpers.Checkpointable):
    """Runs `command_args` as a child process of the job, its output going to the job's log.

    Checkpointable: on a time limit or preemption SLURM sends SIGUSR2 and submitit requeues the job, and the same
    command starts again (``SLURM_RESTART_COUNT`` > 0), so the command itself must resume (a sweep agent resumes the
    trial it was running). ``checkpoint`` (submitit's SIGUSR2 handler calls it before requeueing) passes the signal
    on and waits up to ``REQUEUE_WAIT_S`` for the command to exit, so the requeue does not kill it half-way.
    """

    def __init__(self, command_args: Sequence[str], cwd: str | Path | None = None) -> None:
        self.command_args = [str(arg) for arg in command_args]
        self.cwd = None if cwd is None else str(cwd)
        self._process: subprocess.Popen | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_process": None}  # the running child is this job's, not the requeued one's

    def __call__(self) -> int:
        self._process = subprocess.Popen(self.command_args, cwd=self.cwd)
        return_code = self._process.wait()
        if return_code in REQUEUE_EXIT_CODES:
            # the command stopped for a requeue before submitit's own handler ran: give it the time to requeue
            time.sleep(REQUEUE_WAIT_S)
            raise ClusterError(f"`{shlex.join(self.command_args)}` stopped for a requeue (SIGUSR2) that did not come")
        if return_code != 0:
            raise ClusterError(f"`{shlex.join(self.command_args)}` exited with status {return_code}")
        return return_code

    def checkpoint(self, *args: Any, **kwargs: Any) -> submitit.helpers.DelayedSubmission:
        process = self._process
        if process is not None and process.returncode is None:
            try:
                process.send_signal(signal.SIGUSR2)  # SLURM signals the whole step, but a cluster may not
                deadline = time.monotonic() + REQUEUE_WAIT_S
                # waitid(WNOWAIT): exited, without reaping it under the Popen.wait this handler interrupted
                while time.monotonic() < deadline and os.waitid(
                    os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT
                ) is None:
                    time.sleep(0.2)
            except ChildProcessError:
                pass  # already reaped
        return submitit.helpers.DelayedSubmission(AgentCommand(self.command_args, self.cwd), *args, **kwargs)


def submit_agents(
    command_args: Sequence[str],
    n_jobs: int,
    launcher_cfg: Mapping[str, Any],
    folder: str | Path | None = None,
    job_name: str = "snpdiff-agent",
) -> list[submitit.Job]:
    """Submit `n_jobs` jobs (one SLURM array) that each run `command_args`, e.g. ``[sys.executable, "sweep.py",
    "agent", sweep_id, "--count", "5"]``; returns the submitit jobs (``job.job_id``, ``job.state``, ``job.result()``).

    `launcher_cfg` is a profile from :func:`load_launcher_profile`. Secrets reach the jobs only through the
    environment, which jobs inherit from this process: never put them in `command_args` (they are pickled to disk).
    """
    if n_jobs < 1:
        raise ConfigError(f"number of agent jobs must be at least 1, got {n_jobs}")
    executor = make_executor(launcher_cfg, folder)
    executor.update_parameters(name=job_name)
    command = AgentCommand(command_args)
    with executor.batch():
        jobs = [executor.submit(command) for _ in range(n_jobs)]
    return jobs
