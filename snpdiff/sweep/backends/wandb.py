"""The W&B backend: ``wandb.sweep`` creates the sweep, W&B's agent runs it, W&B's public API lists its runs.

The sweep sent to W&B runs ``python -m snpdiff.sweep.backends.wandb`` instead of ``train.py ${args_no_hyphens}``:
a W&B agent starts each trial with ``WANDB_SWEEP_ID``, ``WANDB_RUN_ID`` and ``WANDB_SWEEP_PARAM_PATH`` (a YAML of the
run's parameters) in the environment; that entry point reads the run's parameters from that file and renders them
with the bridge (``wandb_trial``), because W&B's own rendering (``None`` as "None", dicts in Python syntax) is not
Hydra's grammar. It runs the
training as its child (``run_wandb_trial``), passes on the signals W&B's agent forwards (and its stop of an
early-terminated run), and when the training ends prints the agent's line for the trial, as the local backend's
agent does (``trial_end_line``), and appends the outcome to the agent's report file, from which ``run_agent`` makes
the report that ``sweep.py agent`` sums up.

Credentials come from ``WANDB_API_KEY`` or ``wandb login`` (~/.netrc); none means a SweepError, never a prompt, and
the key is never written anywhere by snpdiff.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from snpdiff.cli import run_or_exit
from snpdiff.cli.exit import TRIALS_FAILING_EXIT_CODE
from snpdiff.errors import SweepError
from snpdiff.run_folder import metrics_path
from snpdiff.sweep.agent.interface import AgentOptions, AgentReport
from snpdiff.sweep.agent.trial import (
    agent_say,
    best_value,
    die_with_parent,
    diverged_reason,
    metric_values,
    run_dir_override,
    trial_argv,
    trial_end_line,
)
from snpdiff.sweep.backends.base import SweepBackend, TrialRecord
from snpdiff.sweep.bridge import params_to_overrides
from snpdiff.sweep.legacy.aliases import current_params, load_with_old_names
from snpdiff.sweep.spec import TARGET_KEY, SweepSpec, holds_target, load_sweep, read_yaml
from snpdiff.sweep.store import SPEC_FILE, SWEEPS_DIR_ENV, TRIALS_DIR, SweepInfo, sweeps_root
from snpdiff.training.loggers import wandb_credentials_source

TRIAL_COMMAND = ["${env}", "${interpreter}", "-m", "snpdiff.sweep.backends.wandb"]
NO_CREDENTIALS = (
    "the W&B backend needs W&B credentials, and none were found. Provide them in one of two ways: "
    "set WANDB_API_KEY in the environment (batch jobs: export it in the job, never in a file), or run "
    "`wandb login` once (it stores the key in ~/.netrc). Or run the sweep without W&B: --backend local"
)
_STATES = {"running": "running", "pending": "running", "finished": "finished", "crashed": "failed",
           "failed": "failed", "killed": "interrupted", "preempted": "interrupted"}
# the file (JSON lines: run_id, state, value) each trial of a `sweep.py agent` appends its outcome to
AGENT_REPORT_ENV = "SNPDIFF_AGENT_REPORT"
# what a trial passes on to its training (W&B's agent forwards every signal it gets; SLURM's come as USR1/USR2)
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
_STOPPING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def require_credentials() -> None:
    if wandb_credentials_source() is None:
        raise SweepError(NO_CREDENTIALS)


def wandb_sweep_config(spec: SweepSpec) -> dict[str, Any]:
    """The sweep as W&B receives it: canonical parameter names, and the bridge's trial entry point as command."""
    config = spec.to_wandb()
    config["command"] = TRIAL_COMMAND
    return config


def read_wandb_params(path: str | Path) -> dict[str, Any]:
    """The run's parameters from the file a W&B agent writes (``{name: {value: v}}``), names de-aliased."""
    data = read_yaml(path, "W&B sweep parameters") or {}
    if not isinstance(data, dict):
        raise SweepError(f"W&B sweep parameters {path}: holds a {type(data).__name__}, not a mapping of parameters")
    data.pop("wandb_version", None)
    params = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or "value" not in entry:
            raise SweepError(f"{path}: parameter {name!r} has no 'value' (not a W&B sweep parameter file)")
        if TARGET_KEY in str(name).split(".") or holds_target(entry["value"]):  # the sweep may be edited on W&B
            raise SweepError(f"W&B sweep parameters {path}: parameter {name!r} sets or holds a {TARGET_KEY}, which "
                             "names code the trial would run; parameter values are plain data")
        params[name] = entry["value"]
    return current_params(params)  # a sweep the old tool created on W&B sends its flat names


def wandb_trial(environ: Mapping[str, str] = os.environ,
                python: str = sys.executable) -> tuple[SweepSpec, Path, list[str]]:
    """The sweep, run folder and training command of the W&B run described by ``environ`` (module docstring)."""
    missing = [k for k in ("WANDB_SWEEP_ID", "WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH") if not environ.get(k)]
    if missing:
        raise SweepError(f"a W&B sweep trial needs {', '.join(missing)} in the environment (set by `wandb agent`)")
    sweep_dir = sweeps_root() / environ["WANDB_SWEEP_ID"]
    spec_path = sweep_dir / SPEC_FILE
    if not spec_path.is_file():
        raise SweepError(f"W&B sweep {environ['WANDB_SWEEP_ID']}: {spec_path} is missing; start agents with "
                         "`python sweep.py agent` (it writes the sweep's definition there)")
    spec = load_sweep(read_yaml(spec_path, "stored sweep"))
    # W&B sends every parameter to every run; a conditional one is set only where it applies
    params = spec.applicable(read_wandb_params(environ["WANDB_SWEEP_PARAM_PATH"]))
    overrides = params_to_overrides(params, base_overrides=spec.command_overrides())
    run_dir = sweep_dir / TRIALS_DIR / environ["WANDB_RUN_ID"]
    overrides.append(run_dir_override(run_dir))
    return spec, run_dir, trial_argv(spec, overrides, python)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def run_wandb_trial(spec: SweepSpec, run_dir: Path, argv: Sequence[str],
                    environ: Mapping[str, str] = os.environ) -> int:
    """Run a W&B run's training command ``argv`` as this process's child; when it ends, print the agent's line for
    it and append its outcome to the agent's report file (``AGENT_REPORT_ENV``). Returns its exit status (negative:
    killed by that signal; ``exit_like`` ends this process the same way, so W&B's agent sees what it would have
    seen from the training itself).

    The state is the one W&B records for the run: ``finished`` (exit 0), ``failed`` (another exit status),
    ``interrupted`` (stopped by a signal: Ctrl-C, ``scancel``, or W&B's stop of an early-terminated run); the value
    is the best of the sweep's metric over the epochs in the trial's ``metrics.json``. The line is prefixed with the
    agent's process id (this process's parent) and goes to the agent's console, which the training writes to too.
    """
    started = time.monotonic()
    received: list[int] = []
    process: subprocess.Popen | None = None

    def forward(signum: int, frame: object) -> None:
        if signum in _STOPPING:
            received.append(signum)
        if process is not None:
            process.send_signal(signum)

    previous = {signum: signal.signal(signum, forward) for signum in _FORWARDED}
    try:
        process = subprocess.Popen(list(argv), preexec_fn=die_with_parent(os.getpid()))
        return_code = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    seconds = time.monotonic() - started

    value = best_value(metric_values(run_dir, spec.metric), spec.goal)
    cause = detail = None
    if return_code < 0 or received:
        state, cause = "interrupted", _signal_name(-return_code if return_code < 0 else received[0])
    elif return_code:
        state, cause, value = "failed", f"exit code {return_code}", None
        detail = diverged_reason(run_dir, return_code)
    else:
        state = "finished"
        if value is None:
            detail = f"{spec.metric} is not in {metrics_path(run_dir)}"
    agent_say(trial_end_line(run_dir.name, state, seconds, spec.metric, value=value, cause=cause, detail=detail),
              agent_pid=os.getppid())
    if environ.get(AGENT_REPORT_ENV):
        try:
            with open(environ[AGENT_REPORT_ENV], "a") as report:
                report.write(json.dumps({"run_id": run_dir.name, "state": state, "value": value}) + "\n")
        except OSError:
            pass  # the agent's summary then misses this trial; the trial itself is in W&B
    return return_code


def exit_like(return_code: int) -> None:
    """End this process as a child with ``return_code`` ended (negative: killed by that signal)."""
    if return_code < 0:
        signal.signal(-return_code, signal.SIG_DFL)
        os.kill(os.getpid(), -return_code)
        return_code = 128 - return_code
    raise SystemExit(return_code)


def _read_agent_report(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return []
    outcomes = []
    for line in lines:
        try:
            outcomes.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a trial killed while writing its line
    return outcomes


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class WandbBackend(SweepBackend):
    """Sweeps on the W&B server. ``api`` (a ``wandb.Api``) is made on first use."""

    name = "wandb"

    def __init__(self, info: SweepInfo, spec: SweepSpec | None = None, api: Any = None):
        self._api = api
        if spec is None:
            spec = self._local_definition(info)
        super().__init__(info, spec)

    @property
    def api(self) -> Any:
        if self._api is None:
            require_credentials()
            import wandb

            self._api = wandb.Api()
        return self._api

    def _sweep_path(self, info: SweepInfo | None = None) -> str:
        info = info or self.info
        return "/".join(p for p in (info.entity, info.project, info.sweep_id) if p)

    def _local_definition(self, info: SweepInfo) -> SweepSpec:
        """The sweep's definition, from its folder, or fetched from W&B and written there for the trial processes."""
        path = info.directory / SPEC_FILE
        if path.is_file():
            return load_sweep(read_yaml(path, "stored sweep"))
        sweep = self.api.sweep(self._sweep_path(info))
        spec = load_with_old_names(dict(sweep.config))  # the old tool created its W&B sweeps with its own names
        info.url = info.url or getattr(sweep, "url", None)
        info.save(spec, info.directory.parent)
        return spec

    @classmethod
    def check_available(cls) -> None:
        require_credentials()

    @classmethod
    def create(cls, spec: SweepSpec, root: Path, project: str | None = None, entity: str | None = None,
               **_: Any) -> SweepInfo:
        require_credentials()
        import wandb

        project = project or spec.project or "snpdiff"
        entity = entity or spec.entity
        sweep_id = wandb.sweep(wandb_sweep_config(spec), project=project, entity=entity)
        entity = entity or wandb.Api().default_entity
        return SweepInfo(sweep_id=sweep_id, backend=cls.name, sweep_dir=str(root / sweep_id), project=project,
                         entity=entity, url=f"https://wandb.ai/{entity}/{project}/sweeps/{sweep_id}")

    def run_agent(self, options: AgentOptions) -> AgentReport:
        """W&B's own agent: it asks the server for runs and starts each one's command in a subprocess."""
        require_credentials()
        import wandb

        os.environ[SWEEPS_DIR_ENV] = str(self.info.directory.parent)  # where the trial entry point looks
        handle, report_path = tempfile.mkstemp(prefix="snpdiff-agent-", suffix=".jsonl")
        os.close(handle)
        os.environ[AGENT_REPORT_ENV] = report_path  # each trial appends its outcome (run_wandb_trial)
        try:
            wandb.agent(self.info.sweep_id, entity=self.info.entity, project=self.info.project, count=options.count,
                        forward_signals=True, max_consecutive_failed_runs=options.max_consecutive_failures)
        finally:
            os.environ.pop(AGENT_REPORT_ENV, None)
            outcomes = _read_agent_report(Path(report_path))
            Path(report_path).unlink(missing_ok=True)
        return self.agent_report(outcomes, options)

    def agent_report(self, outcomes: list[dict[str, Any]], options: AgentOptions) -> AgentReport:
        """The report of an agent whose trials ended with ``outcomes`` (in order; run ids become trial numbers)."""
        report = AgentReport()
        if not outcomes:
            return report
        numbers = {record.run_id: record.number for record in self.trials()}
        for index, outcome in enumerate(outcomes):
            number = numbers.get(outcome.get("run_id"), len(numbers) + index)
            report.trials.append(number)
            report.states[number] = str(outcome.get("state"))
        failures_in_row = 0
        for outcome in outcomes:
            failures_in_row = failures_in_row + 1 if outcome.get("state") == "failed" else 0
        if failures_in_row >= options.max_consecutive_failures:
            report.stopped_by, report.exit_code = "failures", TRIALS_FAILING_EXIT_CODE
        elif options.count is not None and len(outcomes) >= options.count:
            report.stopped_by = "count"
        return report

    def _value(self, run: Any) -> float | None:
        """Best value of the metric over the run's history (not the last), else its summary value."""
        metric = self.spec.metric
        values = [row.get(metric) for row in run.scan_history(keys=[metric])]
        return best_value([*values, run.summary.get(metric)], self.spec.goal)

    def trials(self) -> list[TrialRecord]:
        runs = sorted(self.api.sweep(self._sweep_path()).runs, key=lambda r: str(getattr(r, "created_at", "")))
        records = []
        for number, run in enumerate(runs):
            started = _parse_time(getattr(run, "created_at", None))
            runtime = run.summary.get("_runtime")
            finished = None
            if started is not None and isinstance(runtime, (int, float)) and run.state != "running":
                finished = datetime.fromtimestamp(started.timestamp() + runtime, started.tzinfo)
            records.append(TrialRecord(
                number=number,
                state=_STATES.get(run.state, run.state),
                value=self._value(run),
                params={name: run.config.get(name) for name in self.spec.parameters},
                started=started,
                finished=finished,
                run_id=run.id,
                run_dir=str(self.info.trial_dir(run.id)),
            ))
        return records

    def state(self) -> str:
        return str(self.api.sweep(self._sweep_path()).state).lower()


def main() -> None:
    """The command each run of a W&B sweep executes: train with the run's parameters, then print its end line."""
    exit_like(run_wandb_trial(*run_or_exit(wandb_trial)))


if __name__ == "__main__":
    main()
