"""The agent loop of a backend that hands out trials itself (a ``TrialQueue``: the local backend).

``run_trial_loop``: claim a trial, run it as ``train.py`` in its own process, record the outcome, repeat; a crashed
trial is recorded failed with the tail of its log (a diverged one with where it diverged) and the loop goes on;
``max_consecutive_failures`` failures in a row stop it; a storage that refuses a write (``StorageFault``: a full disk)
stops the trial and the loop, with one line; SIGINT/SIGTERM stop the running trial (SIGTERM, then SIGKILL after
``stop_timeout_s``), record it interrupted and return. The trial reaches its reporter only through its command line
(``+callbacks.sweep_reporter={...}``); the reporter sends the metric every epoch over a socket pair
(``snpdiff.sweep.channel``) that the loop serves while it waits for the trial, reporting each value to the backend
(the pruner) and answering whether to stop.

In a SLURM job, SIGUSR2 (submitit's signal: the job is requeued next, after a time limit or a preemption) stops the
running trial too but leaves it running in the sweep, awaiting the requeue; when the job starts again
(``SLURM_RESTART_COUNT`` > 0, the same ``SLURM_JOB_ID``) its agent first resumes that trial from its ``last.ckpt``
(``ckpt_path=last``, same run folder, so the same trial number and W&B run). ``--count`` counts the job's trials
over all its runs.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import FrameType

from snpdiff.run_folder import metrics_path
from snpdiff.sweep.backends.base import AgentOptions, AgentReport, ClaimedTrial, StorageFault, TrialQueue
from snpdiff.sweep.bridge import callback_override, params_to_overrides
from snpdiff.sweep.channel import CHANNEL_ENV, GO, STOP, read_report
from snpdiff.sweep.store import STORAGE_ENV
from snpdiff.sweep.trial import (
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
)

# the key under ``callbacks`` that a trial's reporter is added as
REPORTER_CALLBACK = "sweep_reporter"
# what a trial resumed after its job's requeue adds to its command line (not recorded: analyze rebuilds the config)
RESUME_OVERRIDE = "ckpt_path=last"
REQUEUED = "requeued"  # a trial stopped for its job's requeue: left running in the sweep, resumed by the next run
# a write the disk refused (full, over quota, read-only, failing): the sweep folder cannot hold trials
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
# how long the agent waits for the rest of a report line the trial has begun to send
REPORT_READ_TIMEOUT_S = 10.0


def _slurm_job() -> tuple[str | None, int]:
    """This agent's SLURM job id (None: not in a job) and how many times SLURM has requeued it."""
    return os.environ.get("SLURM_JOB_ID") or None, int(os.environ.get("SLURM_RESTART_COUNT") or 0)


class _StopOnSignal:
    """Turns SIGINT/SIGTERM/SIGUSR2 into a request to stop (the trial loop then sends the running trial SIGTERM); a
    second signal kills the running trial at once. SIGUSR2 also says the job is requeued next (``requeue``)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.requeue = False
        self.process: subprocess.Popen | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGUSR2:
            if self.requeue:  # SLURM's and submitit's forwarded copy of the same request
                return
            self.requeue = True
        if self.signum is not None and self.process is not None:
            signal_process_group(self.process, signal.SIGKILL)
        self.signum = signum

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


_say = agent_say


def run_trial_loop(backend: TrialQueue, options: AgentOptions) -> AgentReport:
    """Run trials of ``backend``'s sweep in this process until ``options.count``, the sweep's end, a signal or too
    many failures in a row (see the module docstring)."""
    report = AgentReport()
    failures_in_row = 0
    job_id, restarts = _slurm_job()
    with _StopOnSignal() as stop:
        resumed = backend.reattach(job_id, options.heartbeat_interval_s) if job_id and restarts else None
        # a requeued job's earlier runs count towards --count
        earlier = len(backend.trials_of_job(job_id)) - (resumed is not None) if job_id and restarts else 0
        while stop.signum is None:
            if options.count is not None and len(report.trials) + earlier >= options.count:
                report.stopped_by = "count"
                break
            if resumed is not None:
                claimed, resume, resumed = resumed, True, None
                _say(f"job {job_id} requeued (restart {restarts}): trial {claimed.number} resumes from its last "
                     "checkpoint")
            else:
                claimed, resume = backend.claim(options.heartbeat_interval_s), False
            if claimed is None:
                report.stopped_by = "exhausted"
                _say(f"sweep {backend.info.sweep_id}: no trials left (run cap or grid reached)")
                break
            state = _run_trial(backend, claimed, options, stop, resume=resume)
            report.trials.append(claimed.number)
            report.states[claimed.number] = state
            failures_in_row = failures_in_row + 1 if state == "failed" else 0
            if state in ("interrupted", REQUEUED):
                break
            if failures_in_row >= options.max_consecutive_failures:
                report.stopped_by, report.exit_code = "failures", 1
                _say(f"stopping: {failures_in_row} trials failed in a row (--max-consecutive-failures)")
                break
        if stop.requeue and job_id:
            report.stopped_by, report.exit_code = "requeue", 128 + signal.SIGUSR2
            _say(f"stopped for the requeue of job {job_id}")
        elif stop.signum is not None:
            report.stopped_by, report.exit_code = "signal", 128 + stop.signum
            _say(f"stopped by {signal.Signals(stop.signum).name}")
    return report


class ReportChannel:
    """The agent's end of a trial's report channel (a socket pair; the trial inherits ``trial_fd``): each report the
    trial's reporter sends goes to ``backend.report`` and is answered ``go`` or ``stop``. A malformed line, or a report
    the storage fails to take, is answered ``go`` (and said): a storage hiccup neither stops the trial nor the agent.
    A trial that closes its end (it ended) or stalls mid-line closes the channel."""

    def __init__(self, backend: TrialQueue, claimed: ClaimedTrial) -> None:
        self.backend, self.claimed = backend, claimed
        self.socket: socket.socket | None
        self.socket, self._trial_end = socket.socketpair()
        self.socket.settimeout(REPORT_READ_TIMEOUT_S)
        self._lines = self.socket.makefile("rb")
        self.trial_fd = self._trial_end.fileno()

    def started(self) -> None:
        """The trial holds its copy of its end now: close the agent's (so the trial's exit reads as end of file)."""
        self._trial_end.close()

    def serve(self, timeout: float) -> None:
        """Answer the report that arrives within ``timeout`` seconds, if one does."""
        if self.socket is not None and select.select([self.socket], [], [], timeout)[0]:
            self.answer()

    def answer(self) -> None:
        """Read one report (the socket is readable) and answer it."""
        try:
            line = self._lines.readline()
        except OSError:
            line = b""
        if not line:
            self.close()
            return
        try:
            epoch, value = read_report(line)
        except ValueError as exc:
            _say(f"trial {self.claimed.number}: ignored a report: {exc}")
            reply = GO
        else:
            try:
                reply = STOP if self.backend.report(self.claimed, epoch, value) else GO
            except Exception as exc:  # noqa: BLE001 - the storage's errors (e.g. a lock timeout): the trial goes on
                _say(f"trial {self.claimed.number}: could not report epoch {epoch} to the sweep ({exc}); it goes on")
                reply = GO
        try:
            self.socket.sendall(reply + b"\n")
        except OSError:  # the trial ended meanwhile
            self.close()

    def close(self) -> None:
        if self.socket is not None:
            self._lines.close()
            self.socket.close()
            self.socket = None
        self._trial_end.close()


def trial_env(sweep_id: str, number: int, resume: bool, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment trial ``number`` of local sweep ``sweep_id`` runs in: the agent's ``environ`` without what
    would mislead or expose it (W&B sweep-run variables, the storage URL, a requeue count it has nothing to resume
    from unless ``resume``), with its W&B group and run name."""
    env = dict(environ)
    for key in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_RESUME"):
        env.pop(key, None)  # a local trial is not a W&B sweep run
    if not resume:
        env.pop("SLURM_RESTART_COUNT", None)  # a new trial of a requeued job has nothing to resume
    env.pop(STORAGE_ENV, None)  # the trial reports through its agent: it never opens the storage
    env.update({"WANDB_RUN_GROUP": f"sweep-{sweep_id}", "WANDB_NAME": f"sweep-{sweep_id}-trial-{number}"})
    return env


def _wait(process: subprocess.Popen, reports: ReportChannel | None, timeout: float) -> int | None:
    """Wait up to ``timeout`` seconds for the trial, answering its reports meanwhile; its exit code (None: running)."""
    if reports is None or reports.socket is None:
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
    reports.serve(timeout)
    return process.poll()


@contextmanager
def _beating(backend: TrialQueue, claimed: ClaimedTrial, interval_s: float) -> Iterator[None]:
    """Send ``claimed``'s heartbeat every ``interval_s`` from a thread while the block runs; a ``StorageFault`` of a
    heartbeat ends the beating and is raised here when the block ends."""
    done = threading.Event()
    faults: list[StorageFault] = []

    def beat() -> None:
        while not done.wait(interval_s):
            try:
                backend.heartbeat(claimed)
            except StorageFault as fault:
                faults.append(fault)
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-trial-{claimed.number}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    if faults:
        raise faults[0]


def _watch(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: _StopOnSignal,
           process: subprocess.Popen, reports: ReportChannel | None) -> int:
    """Wait for the trial's process to end, answering its reports, beating its heartbeat and passing on a stop
    request (SIGTERM, then SIGKILL after ``options.stop_timeout_s``); returns its exit code."""
    job_id = _slurm_job()[0]
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


def _run_trial(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: _StopOnSignal,
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
            _say(f"trial {claimed.number} failed: {fault}")
        except StorageFault:
            _say(f"trial {claimed.number} stopped; the storage cannot record it, so the next stale check fails it")
        raise


def _run_claimed(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: _StopOnSignal,
                 resume: bool) -> str:
    """``_run_trial``'s work, storage faults aside."""
    spec = backend.spec
    started = time.monotonic()
    log_path = claimed.run_dir / TRIAL_LOG
    try:
        # composing can take longer than a heartbeat interval on a loaded node: keep beating meanwhile, so no other
        # agent's stale check fails this live trial
        with _beating(backend, claimed, options.heartbeat_interval_s):
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
    _say(f"trial {claimed.number} starts: {shown or '(fixed parameters only)'}")

    env = trial_env(backend.info.sweep_id, claimed.number, resume, os.environ)
    job_id = _slurm_job()[0]
    if stop.requeue and job_id:
        backend.await_requeue(claimed, job_id)
        return REQUEUED
    if stop.signum is not None:
        return backend.finish(claimed, "interrupted", error=f"stopped by {signal.Signals(stop.signum).name}")
    reports = None if claimed.reporter is None else ReportChannel(backend, claimed)
    try:
        if reports is not None:
            env[CHANNEL_ENV] = str(reports.trial_fd)
        argv = trial_argv(spec, [*overrides, *plumbing], options.python)
        try:
            process = start_trial_process(argv, log_path, env, pass_fds=() if reports is None else (reports.trial_fd,))
        except OSError as exc:
            if exc.errno in DISK_ERRNOS:  # the sweep folder's disk: no later trial can run either
                raise StorageFault(f"sweep folder {claimed.run_dir}: cannot write {TRIAL_LOG}: {exc.strerror}"
                                   ) from None
            error = f"cannot start {' '.join(argv[:2])}: {exc}"
            _say(f"trial {claimed.number} failed: {error}")
            return backend.finish(claimed, "failed", error=error)
        if reports is not None:
            reports.started()
        return_code = _watch(backend, claimed, options, stop, process, reports)
    finally:
        if reports is not None:
            reports.close()
    seconds = time.monotonic() - started

    if job_id and (stop.requeue or return_code == -signal.SIGUSR2):  # the trial may see SLURM's signal first
        stop.requeue, stop.signum = True, stop.signum or signal.SIGUSR2
        backend.await_requeue(claimed, job_id)
        _say(f"trial {claimed.number} stopped after {seconds:.1f} s for the requeue of job {job_id}; it resumes "
             "from its last checkpoint when the job starts again")
        return REQUEUED
    if stop.signum is not None:
        state = backend.finish(claimed, "interrupted", error=f"stopped by {signal.Signals(stop.signum).name}")
    elif (diverged := diverged_reason(claimed.run_dir, return_code)) is not None:
        state = backend.finish(claimed, "failed", error=f"{diverged}; log {log_path}")  # one line: monitor shows it
        _say(trial_end_line(claimed.number, state, seconds, spec.metric, cause=f"exit code {return_code}",
                            detail=diverged))
        return state
    elif return_code != 0:
        tail = error_tail(log_path)
        state = backend.finish(claimed, "failed", error=f"exit code {return_code}; log {log_path}:\n{tail}")
        last_line = tail.splitlines()[-1] if tail else ""
        _say(trial_end_line(claimed.number, state, seconds, spec.metric, cause=f"exit code {return_code}",
                            detail=last_line))
        return state
    else:
        value = best_value(metric_values(claimed.run_dir, spec.metric), spec.goal)
        if value is None:
            error = f"{spec.metric} is not in {metrics_path(claimed.run_dir)}"
            state = backend.finish(claimed, "failed", error=error)
            _say(trial_end_line(claimed.number, state, seconds, spec.metric, detail=error))
            return state
        state = backend.finish(claimed, "finished", value=value)
        _say(trial_end_line(claimed.number, state, seconds, spec.metric, value=value))
        return state
    _say(trial_end_line(claimed.number, state, seconds, spec.metric))
    return state
