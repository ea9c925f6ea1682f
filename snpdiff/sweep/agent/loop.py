"""The agent loop of a backend that hands out trials itself (a ``TrialQueue``: the local backend).

``run_trial_loop``: claim a trial, run it as ``train.py`` in its own process, record the outcome, repeat; a crashed
trial is recorded failed with the tail of its log (a diverged one with where it diverged) and the loop goes on;
``max_consecutive_failures`` failures in a row stop it; a storage that refuses a write (``StorageFault``: a full disk)
stops the trial and the loop, with one line, and so does a trial that failed for want of disk space (its log says
``no space left on device``: the next would fail the same way); SIGINT/SIGTERM stop the running trial (SIGTERM, then
SIGKILL after ``stop_timeout_s``), record it interrupted and return. The trial reaches its reporter only through its
command line (``+callbacks.sweep_reporter={...}``); the reporter sends the metric every epoch over a socket pair
(``snpdiff.sweep.agent.channel``) that the loop serves while it waits for the trial, reporting each value to the
backend (the pruner) and answering whether to stop.

In a SLURM job a requeue (``snpdiff.sweep.agent.requeue``) stops the running trial but leaves it running in the
sweep; the job's next start resumes it first. ``--count`` counts the job's trials over all its runs.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import time

from snpdiff.cli.exit import TRIALS_FAILING_EXIT_CODE
from snpdiff.errors import StorageFault
from snpdiff.run_folder import metrics_path
from snpdiff.sweep.agent.channel import CHANNEL_ENV, ReportChannel
from snpdiff.sweep.agent.heartbeat import beating
from snpdiff.sweep.agent.interface import AgentOptions, AgentReport, ClaimedTrial, TrialQueue
from snpdiff.sweep.agent.requeue import REQUEUED, RESUME_OVERRIDE, StopOnSignal, slurm_job
from snpdiff.sweep.agent.trial import (
    TRIAL_LOG,
    agent_say,
    best_value,
    diverged_reason,
    error_tail,
    metric_values,
    run_dir_override,
    signal_process_group,
    start_trial_process,
    trial_argv,
    trial_end_line,
    trial_env,
)
from snpdiff.sweep.bridge import callback_override, params_to_overrides

# the key under ``callbacks`` that a trial's reporter is added as
REPORTER_CALLBACK = "sweep_reporter"
# a write the disk refused (full, over quota, read-only, failing): the sweep folder cannot hold trials
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
# what a trial's log says when a write found its disk full (train.py's error line, Python's OSError)
NO_SPACE_TEXT = "no space left on device"


class _NotStarted(Exception):
    """The trial's process could not be started (the reason is the message); the agent goes on."""


def _next_trial(backend: TrialQueue, options: AgentOptions,
                resumed: ClaimedTrial | None) -> tuple[ClaimedTrial | None, bool]:
    """``(trial, resume)``: the trial a requeued job resumes, else a newly claimed one (None: the sweep has none)."""
    if resumed is not None:
        job_id, restarts = slurm_job()
        agent_say(f"job {job_id} requeued (restart {restarts}): trial {resumed.number} resumes from its last "
                  "checkpoint")
        return resumed, True
    return backend.claim(options.heartbeat_interval_s), False


def _end_of_loop(report: AgentReport, stop: StopOnSignal, job_id: str | None) -> None:
    """Record in ``report`` a stop by a signal or for the job's requeue."""
    if stop.requeue and job_id:
        report.stopped_by, report.exit_code = "requeue", 128 + signal.SIGUSR2
        agent_say(f"stopped for the requeue of job {job_id}")
    elif stop.signum is not None:
        report.stopped_by, report.exit_code = "signal", 128 + stop.signum
        agent_say(stop.stopped_by())


def run_trial_loop(backend: TrialQueue, options: AgentOptions) -> AgentReport:
    """Run trials of ``backend``'s sweep in this process until ``options.count``, the sweep's end, a signal or too
    many failures in a row (see the module docstring)."""
    report = AgentReport()
    failures_in_row = 0
    job_id, restarts = slurm_job()
    with StopOnSignal() as stop:
        resumed = backend.reattach(job_id, options.heartbeat_interval_s) if job_id and restarts else None
        # a requeued job's earlier runs count towards --count
        earlier = len(backend.trials_of_job(job_id)) - (resumed is not None) if job_id and restarts else 0
        while stop.signum is None:
            if options.count is not None and len(report.trials) + earlier >= options.count:
                report.stopped_by = "count"
                break
            claimed, resume = _next_trial(backend, options, resumed)
            resumed = None
            if claimed is None:
                report.stopped_by = "exhausted"
                agent_say(f"sweep {backend.info.sweep_id}: no trials left (run cap or grid reached)")
                break
            state = _run_trial(backend, claimed, options, stop, resume=resume)
            report.trials.append(claimed.number)
            report.states[claimed.number] = state
            failures_in_row = failures_in_row + 1 if state == "failed" else 0
            if state in ("interrupted", REQUEUED):
                break
            if failures_in_row >= options.max_consecutive_failures:
                report.stopped_by, report.exit_code = "failures", TRIALS_FAILING_EXIT_CODE
                agent_say(f"stopping: {failures_in_row} trials failed in a row (--max-consecutive-failures)")
                break
        _end_of_loop(report, stop, job_id)
    return report


def _wait(process: subprocess.Popen, reports: ReportChannel | None, timeout: float) -> int | None:
    """Wait up to ``timeout`` seconds for the trial, answering its reports meanwhile; its exit code (None: running)."""
    if reports is None or reports.socket is None:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    reports.serve(timeout)
    return process.poll()


def _watch(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: StopOnSignal,
           process: subprocess.Popen, reports: ReportChannel | None) -> int:
    """Wait for the trial's process to end, answering its reports, beating its heartbeat and passing on a stop
    request (SIGTERM, then SIGKILL after ``options.stop_timeout_s``); returns its exit code."""
    job_id = slurm_job()[0]
    stop.process = process
    last_beat = time.monotonic()
    term_at: float | None = None
    try:
        while (return_code := _wait(process, reports, min(0.5, options.heartbeat_interval_s))) is None:
            now = time.monotonic()
            if now - last_beat >= options.heartbeat_interval_s:
                backend.heartbeat(claimed)
                last_beat = now
            if stop.requeue and job_id and term_at is None:
                backend.await_requeue(claimed, job_id)  # first: SLURM may end this job at any moment now
            if stop.signum is not None and term_at is None:
                term_at = now
                signal_process_group(process, signal.SIGTERM)
            elif term_at is not None and now - term_at > options.stop_timeout_s:
                signal_process_group(process, signal.SIGKILL)
    except StorageFault:  # the sweep can no longer record this trial: it ends with its agent
        signal_process_group(process, signal.SIGKILL)
        process.wait()
        raise
    finally:
        stop.process = None
    return return_code


def _run_trial(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: StopOnSignal,
               resume: bool = False) -> str:
    """Run one claimed trial to its end and record it; returns the state recorded (``requeued``: left running for
    the job's next start). ``resume``: the trial continues from its ``last.ckpt`` (after its job's requeue).

    A ``StorageFault`` (the storage refused a heartbeat or a record, e.g. on a full disk) stops the trial and is
    raised on, after recording the trial failed where the storage still takes that; where it does not, the trial's
    heartbeats have stopped, so the next stale check (another agent's claim, ``monitor``) fails it."""
    try:
        return _run_claimed(backend, claimed, options, stop, resume)
    except StorageFault as fault:
        try:
            backend.finish(claimed, "failed", error=str(fault))
            agent_say(f"trial {claimed.number} failed: {fault}")
        except StorageFault:
            agent_say(f"trial {claimed.number} stopped; the storage cannot record it, so the next stale check fails "
                      "it")
        raise


def _run_claimed(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: StopOnSignal,
                 resume: bool) -> str:
    """``_run_trial``'s work, storage faults aside."""
    spec = backend.spec
    started = time.monotonic()
    try:
        # composing can take longer than a heartbeat interval on a loaded node: keep beating meanwhile, so no other
        # agent's stale check fails this live trial
        with beating(backend, claimed, options.heartbeat_interval_s):
            overrides = params_to_overrides(claimed.params, base_overrides=spec.command_overrides())
    except StorageFault:
        raise
    except Exception as exc:  # noqa: BLE001 - SweepError and Hydra's errors: the trial fails, the agent goes on
        return backend.finish(claimed, "failed", error=f"the parameters do not compose into a config: {exc}")
    overrides.append(run_dir_override(claimed.run_dir))
    backend.record_overrides(claimed, overrides)
    # the reporter is this run's plumbing, not its config: left out of the recorded overrides that `analyze` rebuilds
    plumbing = [] if claimed.reporter is None else [callback_override(REPORTER_CALLBACK, claimed.reporter)]
    if resume:
        plumbing.append(RESUME_OVERRIDE)
    shown = ", ".join(f"{k}={v}" for k, v in claimed.params.items() if not spec.parameters[k].is_fixed)
    agent_say(f"trial {claimed.number} starts: {shown or '(fixed parameters only)'}")
    job_id = slurm_job()[0]
    if stop.requeue and job_id:
        backend.await_requeue(claimed, job_id)
        return REQUEUED
    if stop.signum is not None:
        return backend.finish(claimed, "interrupted", error=stop.stopped_by())
    argv = trial_argv(spec, [*overrides, *plumbing], options.python)
    try:
        return_code = _start_and_watch(backend, claimed, options, stop, argv, resume)
    except _NotStarted as exc:
        agent_say(f"trial {claimed.number} failed: {exc}")
        return backend.finish(claimed, "failed", error=str(exc))
    return _record_end(backend, claimed, stop, return_code, time.monotonic() - started)


def _start_and_watch(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: StopOnSignal,
                     argv: list[str], resume: bool) -> int:
    """Start the trial's process (with its report channel when it has a reporter) and watch it to its end; its exit
    code. ``_NotStarted`` when it cannot start; ``StorageFault`` when the sweep folder's disk refuses its log."""
    env = trial_env(backend.info.sweep_id, claimed.number, resume, os.environ)
    reports = None if claimed.reporter is None else ReportChannel(backend, claimed)
    try:
        if reports is not None:
            env[CHANNEL_ENV] = str(reports.trial_fd)
        try:
            process = start_trial_process(argv, claimed.run_dir / TRIAL_LOG, env,
                                          pass_fds=() if reports is None else (reports.trial_fd,))
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:  # the sweep folder's disk: no later trial can run either
                raise StorageFault(f"sweep folder {claimed.run_dir}: cannot write {TRIAL_LOG}: {exc.strerror}"
                                   ) from None
            raise _NotStarted(f"cannot start {' '.join(argv[:2])}: {exc}") from None
        if reports is not None:
            reports.started()
        return _watch(backend, claimed, options, stop, process, reports)
    finally:
        if reports is not None:
            reports.close()


def _record_end(backend: TrialQueue, claimed: ClaimedTrial, stop: StopOnSignal, return_code: int,
                seconds: float) -> str:
    """Record how the trial's process ended (``return_code`` after ``seconds``) and say it; the state recorded."""
    spec, job_id, log_path = backend.spec, slurm_job()[0], claimed.run_dir / TRIAL_LOG
    if job_id and (stop.requeue or return_code == -signal.SIGUSR2):  # the trial may see SLURM's signal first
        stop.requeue, stop.signum = True, stop.signum or signal.SIGUSR2
        backend.await_requeue(claimed, job_id)
        agent_say(f"trial {claimed.number} stopped after {seconds:.1f} s for the requeue of job {job_id}; it resumes "
                  "from its last checkpoint when the job starts again")
        return REQUEUED
    if stop.signum is not None:
        state = backend.finish(claimed, "interrupted", error=stop.stopped_by())
        agent_say(trial_end_line(claimed.number, state, seconds, spec.metric))
        return state
    cause = f"exit code {return_code}"
    if (diverged := diverged_reason(claimed.run_dir, return_code)) is not None:
        state = backend.finish(claimed, "failed", error=f"{diverged}; log {log_path}")  # one line: monitor shows it
        agent_say(trial_end_line(claimed.number, state, seconds, spec.metric, cause=cause, detail=diverged))
        return state
    if return_code != 0:
        tail = error_tail(log_path)
        if (fault := _out_of_space(claimed, tail)) is not None:
            raise fault  # recorded by ``_run_trial``; the agent stops
        state = backend.finish(claimed, "failed", error=f"{cause}; log {log_path}:\n{tail}")
        last_line = tail.splitlines()[-1] if tail else ""
        agent_say(trial_end_line(claimed.number, state, seconds, spec.metric, cause=cause, detail=last_line))
        return state
    value = best_value(metric_values(claimed.run_dir, spec.metric), spec.goal)
    if value is None:
        error = f"{spec.metric} is not in {metrics_path(claimed.run_dir)}"
        state = backend.finish(claimed, "failed", error=error)
        agent_say(trial_end_line(claimed.number, state, seconds, spec.metric, detail=error))
        return state
    state = backend.finish(claimed, "finished", value=value)
    agent_say(trial_end_line(claimed.number, state, seconds, spec.metric, value=value))
    return state


def _out_of_space(claimed: ClaimedTrial, tail: str) -> StorageFault | None:
    """The fault that stops the agent when ``claimed`` failed for want of disk space (``tail``, the end of its log,
    says so): the trials after it would fail the same way, each after its start-up, so the agent starts none."""
    lines = [line.strip() for line in tail.splitlines() if NO_SPACE_TEXT in line.lower()]
    if not lines:
        return None
    return StorageFault(f"sweep folder {claimed.run_dir}: trial {claimed.number} ran out of disk space "
                        f"({lines[-1].removeprefix('error: ')}); no trial can run until there is space: free some, "
                        "then start the agent again")
