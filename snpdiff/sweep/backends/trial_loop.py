"""The agent loop of a backend that hands out trials itself (a ``TrialQueue``: the local backend).

``run_trial_loop``: claim a trial, run it as ``train.py`` in its own process, record the outcome, repeat; a crashed
trial is recorded failed with the tail of its log and the loop goes on; ``max_consecutive_failures`` failures in a row
stop it; SIGINT/SIGTERM stop the running trial (SIGTERM, then SIGKILL after ``stop_timeout_s``), record it interrupted
and return. The trial reaches its reporter only through its command line (``+callbacks.sweep_reporter={...}``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from types import FrameType

from snpdiff.run_folder import metrics_path
from snpdiff.sweep.backends.base import AgentOptions, AgentReport, ClaimedTrial, TrialQueue
from snpdiff.sweep.bridge import callback_override, params_to_overrides
from snpdiff.sweep.trial import (
    TRIAL_LOG,
    best_value,
    error_tail,
    metric_values,
    run_dir_override,
    signal_process_group,
    start_trial_process,
    trial_argv,
)

# the key under ``callbacks`` that a trial's reporter is added as
REPORTER_CALLBACK = "sweep_reporter"


class _StopOnSignal:
    """Turns SIGINT/SIGTERM into a request to stop (the trial loop then sends the running trial SIGTERM); a second
    signal kills the running trial at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.process: subprocess.Popen | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and self.process is not None:
            signal_process_group(self.process, signal.SIGKILL)
        self.signum = signum

    def __enter__(self) -> _StopOnSignal:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread only
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _say(message: str) -> None:
    print(f"[sweep agent {os.getpid()}] {message}", flush=True)


def run_trial_loop(backend: TrialQueue, options: AgentOptions) -> AgentReport:
    """Run trials of ``backend``'s sweep in this process until ``options.count``, the sweep's end, a signal or too
    many failures in a row (see the module docstring)."""
    report = AgentReport()
    failures_in_row = 0
    with _StopOnSignal() as stop:
        while stop.signum is None:
            if options.count is not None and len(report.trials) >= options.count:
                report.stopped_by = "count"
                break
            claimed = backend.claim(options.heartbeat_interval_s)
            if claimed is None:
                report.stopped_by = "exhausted"
                _say(f"sweep {backend.info.sweep_id}: no trials left (run cap or grid reached)")
                break
            state = _run_trial(backend, claimed, options, stop)
            report.trials.append(claimed.number)
            report.states[claimed.number] = state
            failures_in_row = failures_in_row + 1 if state == "failed" else 0
            if state == "interrupted":
                break
            if failures_in_row >= options.max_consecutive_failures:
                report.stopped_by, report.exit_code = "failures", 1
                _say(f"stopping: {failures_in_row} trials failed in a row (--max-consecutive-failures)")
                break
        if stop.signum is not None:
            report.stopped_by, report.exit_code = "signal", 128 + stop.signum
            _say(f"stopped by {signal.Signals(stop.signum).name}")
    return report


def _run_trial(backend: TrialQueue, claimed: ClaimedTrial, options: AgentOptions, stop: _StopOnSignal) -> str:
    """Run one claimed trial to its end and record it; returns the state recorded."""
    spec = backend.spec
    started = time.monotonic()
    log_path = claimed.run_dir / TRIAL_LOG
    try:
        overrides = params_to_overrides(claimed.params, base_overrides=spec.command_overrides())
    except Exception as exc:  # noqa: BLE001 - SweepError and Hydra's errors: the trial fails, the agent goes on
        return backend.finish(claimed, "failed", error=f"the parameters do not compose into a config: {exc}")
    overrides.append(run_dir_override(claimed.run_dir))
    backend.record_overrides(claimed, overrides)
    # the reporter is this run's plumbing, not its config: left out of the recorded overrides that `analyze` rebuilds
    plumbing = [] if claimed.reporter is None else [callback_override(REPORTER_CALLBACK, claimed.reporter)]
    shown = ", ".join(f"{k}={v}" for k, v in claimed.params.items() if not spec.parameters[k].is_fixed)
    _say(f"trial {claimed.number} starts: {shown or '(fixed parameters only)'}")

    env = dict(os.environ)
    for key in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_RESUME"):
        env.pop(key, None)  # a local trial is not a W&B sweep run
    env.update({"WANDB_RUN_GROUP": f"sweep-{backend.info.sweep_id}",
                "WANDB_NAME": f"sweep-{backend.info.sweep_id}-trial-{claimed.number}"})
    if stop.signum is not None:
        return backend.finish(claimed, "interrupted", error=f"stopped by {signal.Signals(stop.signum).name}")
    process = start_trial_process(trial_argv(spec, [*overrides, *plumbing], options.python), log_path, env)
    stop.process = process
    last_beat = time.monotonic()
    term_at: float | None = None
    while True:
        try:
            return_code = process.wait(timeout=min(0.5, options.heartbeat_interval_s))
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if now - last_beat >= options.heartbeat_interval_s:
            backend.heartbeat(claimed)
            last_beat = now
        if stop.signum is not None and term_at is None:
            term_at = now
            signal_process_group(process, signal.SIGTERM)
        elif term_at is not None and now - term_at > options.stop_timeout_s:
            signal_process_group(process, signal.SIGKILL)
    stop.process = None
    seconds = time.monotonic() - started

    if stop.signum is not None:
        state = backend.finish(claimed, "interrupted", error=f"stopped by {signal.Signals(stop.signum).name}")
    elif return_code != 0:
        tail = error_tail(log_path)
        state = backend.finish(claimed, "failed", error=f"exit code {return_code}; log {log_path}:\n{tail}")
        last_line = tail.splitlines()[-1] if tail else ""
        _say(f"trial {claimed.number} failed after {seconds:.1f} s (exit code {return_code}): {last_line}")
        return state
    else:
        value = best_value(metric_values(claimed.run_dir, spec.metric), spec.goal)
        if value is None:
            state = backend.finish(claimed, "failed", error=f"{spec.metric} is not in {metrics_path(claimed.run_dir)}")
        else:
            state = backend.finish(claimed, "finished", value=value)
    _say(f"trial {claimed.number} {state} after {seconds:.1f} s")
    return state
