"""Sweep agents as cluster jobs: ``python sweep.py agent <id> --launcher slurm --agents K --count N``.

Each job runs the ordinary agent command line (``python sweep.py agent <sweep> --count N``) through
:func:`snpdiff.cluster.submit.submit_agents`, so a job is exactly an agent started by hand on a node: it finds the sweep
by its folder (local backend: the folder holds ``sweep_info.yaml`` with the storage URL, so folder and storage must be
on the filesystem the nodes share, or the storage a database server) or by ``entity/project/id`` (W&B). Secrets such
as ``WANDB_API_KEY`` reach the jobs only through the environment they inherit, never through the command line, which
submitit pickles to disk. submitit's logs, sbatch scripts and pickles go to ``<sweep folder>/jobs/<job id>/``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import submitit
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from snpdiff.cluster.submit import load_launcher_profile, submit_agents
from snpdiff.sweep.backends import open_backend
from snpdiff.sweep.store import INFO_FILE, SweepInfo

JOBS_DIR = "jobs"
# states in which a job has ended well: SLURM's, and submitit's local executor's
KILLED_STATES = ("CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "DEADLINE", "BOOT_FAIL")
SUCCESS_STATES = ("COMPLETED", "FINISHED")


def job_sweep_ref(info: SweepInfo) -> str:
    """How a job names the sweep: its folder (absolute; no dependence on the job's cwd or sweeps folder) when it has
    one, else ``entity/project/id`` (a W&B sweep created elsewhere)."""
    return info.sweep_dir if (info.directory / INFO_FILE).is_file() else info.path


def submit_sweep_agents(info: SweepInfo, agent_argv: Sequence[str], n_agents: int, launcher: str,
                        launcher_overrides: Sequence[str] = ()) -> list[submitit.Job]:
    """Submit `n_agents` jobs of launcher profile `launcher` (e.g. ``slurm_cpu``; `launcher_overrides` such as
    ``"partition=gpu"``), each running `agent_argv`, one agent of sweep `info`. Raises ConfigError for an unknown
    profile or key, before anything is submitted."""
    profile = load_launcher_profile(launcher, launcher_overrides)
    folder = info.directory / JOBS_DIR / "%j"
    return submit_agents(agent_argv, n_agents, profile, folder=folder, job_name=f"sweep-{info.sweep_id}")


def final_state(job: submitit.Job, timeout_s: float = 15.0) -> str:
    """The job's state from a fresh ``sacct`` read, waiting up to ``timeout_s`` for SLURM to record its end.

    ``job.done()`` turns true as soon as the result file exists, while submitit's cached state can still say RUNNING.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            state = str(job.get_info(mode="force").get("State") or job.state)
        except Exception:  # noqa: BLE001 - local jobs and sacct hiccups: fall back to submitit's view
            return job.state
        if state.split(" ")[0] not in ("RUNNING", "PENDING", "COMPLETING", "UNKNOWN") or time.monotonic() > deadline:
            return state
        time.sleep(1.0)


def job_failure(job: submitit.Job) -> str | None:
    """Why a job that has ended failed (its state or the last line of its error), or None when it succeeded."""
    state = final_state(job).upper()
    # a cancelled agent may still write a result (its exit on SIGTERM): SLURM's verdict comes first
    if state.split(" ")[0] in KILLED_STATES or (not job.paths.result_pickle.exists() and state not in SUCCESS_STATES):
        return f"ended {state} without a result (cancelled, killed or out of time); log {job.paths.stdout}"
    error = job.exception()  # waits for the result file a filesystem may show late
    if error is None:
        return None
    lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("-")]
    return f"{lines[-1] if lines else type(error).__name__}; log {job.paths.stdout}"


def watch_agent_jobs(info: SweepInfo, jobs: Sequence[submitit.Job], trials_expected: int | None,
                     poll_s: float = 2.0, console: Console | None = None) -> dict[str, str]:
    """Show the sweep's trials ended since now against `trials_expected` (None: open-ended) and each job's state
    until every job has ended; returns ``{job id: why it failed}`` for the jobs that failed."""
    backend = open_backend(info)
    records = backend.trials()
    ended_before = {r.number for r in records if r.state != "running"}
    capacity = backend.capacity()
    if capacity is not None and trials_expected is not None:  # a grid or run_cap may leave fewer to run
        trials_expected = min(trials_expected, max(0, capacity - len(ended_before)))
    columns = (TextColumn("sweep {task.fields[sweep]}: trials"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("{task.fields[jobs]}"))
    with Progress(*columns, console=console or Console()) as progress:
        task = progress.add_task("trials", total=trials_expected, sweep=info.sweep_id, jobs="")
        while True:
            done = all(job.done() for job in jobs)
            ended = [r for r in backend.trials() if r.state != "running" and r.number not in ended_before]
            states = " ".join(f"{job.job_id}:{job.state}" for job in jobs)
            progress.update(task, completed=len(ended), jobs=states)
            if done:
                break
            time.sleep(poll_s)
    failures = {job.job_id: job_failure(job) for job in jobs}
    return {job_id: why for job_id, why in failures.items() if why is not None}
