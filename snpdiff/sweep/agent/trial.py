"""One trial in its own process: the command line, the environment, the process itself, its log, and the value it
reached. Both backends' agents run trials through these (W&B's: ``snpdiff.sweep.backends.wandb.run_wandb_trial``).

``trial_end_line``: what an agent says when a trial ends, the same for both backends (state, duration, best value of
the metric).
"""

from __future__ import annotations

import ctypes
import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from snpdiff.cli.exit import DIVERGED_EXIT_CODE
from snpdiff.run_folder import read_metrics
from snpdiff.sweep.bridge import format_value
from snpdiff.sweep.spec import ARGS_MACROS, SweepSpec
from snpdiff.sweep.store import STORAGE_ENV

TRIAL_LOG = "trial.log"
ERROR_TAIL_LINES = 25
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def trial_argv(spec: SweepSpec, overrides: Sequence[str], python: str = sys.executable) -> list[str]:
    """The trial's command line from the sweep's ``command`` (W&B macros replaced; ``${env}`` dropped)."""
    argv: list[str] = []
    for token in spec.command:
        if token == "${env}":
            continue
        if token == "${interpreter}":
            argv.append(python)
        elif token == "${program}":
            argv.append(spec.program)
        elif token in ARGS_MACROS:
            argv.extend(overrides)
        else:
            argv.append(token)
    return argv


def run_dir_override(run_dir: Path) -> str:
    """The override that makes Hydra write the trial's outputs into ``run_dir``."""
    return f"hydra.run.dir={format_value(str(run_dir))}"


def die_with_parent(parent_pid: int):
    """In the child, before exec: get SIGKILL when the agent dies (even by SIGKILL), so no trial is orphaned."""

    def setup() -> None:
        if _LIBC is not None:
            _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the agent died before prctl took effect
            os._exit(1)

    return setup


def start_trial_process(argv: Sequence[str], log_path: Path, env: Mapping[str, str],
                        pass_fds: Sequence[int] = ()) -> subprocess.Popen:
    """Start a trial in its own session (so a terminal's Ctrl-C reaches only the agent), logging to ``log_path``;
    ``pass_fds``: the agent's file descriptors the trial inherits (its report channel)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        return subprocess.Popen(
            list(argv), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env),
            start_new_session=True, preexec_fn=die_with_parent(os.getpid()), pass_fds=tuple(pass_fds),
        )


def signal_process_group(proc: subprocess.Popen, signum: int) -> None:
    """Send ``signum`` to the trial and everything it started (its session's process group)."""
    try:
        os.killpg(proc.pid, signum)
    except ProcessLookupError:
        pass


def error_tail(log_path: Path, lines: int = ERROR_TAIL_LINES) -> str:
    """The last ``lines`` lines of a trial's log (where its traceback is)."""
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return f"(no log at {log_path})"
    return "\n".join(text.rstrip().splitlines()[-lines:])


def best_value(values: Sequence[float | None], goal: str) -> float | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    return max(finite) if goal == "maximize" else min(finite)


def metric_values(run_dir: Path, metric: str) -> list[float]:
    """Every value of ``metric`` in the trial's ``metrics.json`` (per-epoch history and the final value)."""
    try:
        payload = read_metrics(run_dir)
    except (OSError, json.JSONDecodeError):  # a sweep's program need not be train.py: its file is input
        return []
    values = [row[metric] for row in payload.get("history", []) if isinstance(row.get(metric), (int, float))]
    if isinstance(payload.get(metric), (int, float)):
        values.append(payload[metric])
    return values


def diverged_reason(run_dir: Path, return_code: int | None) -> str | None:
    """Why the trial's training diverged, e.g. ``diverged at step 12 (epoch 1, loss=nan, lr=10000)``, from the
    ``diverged`` entry of its ``metrics.json`` (train.py then exits with ``DIVERGED_EXIT_CODE``); None when it did
    not diverge."""
    try:
        info = read_metrics(run_dir).get("diverged")
    except (OSError, json.JSONDecodeError, AttributeError):  # a sweep's program need not be train.py
        info = None
    if isinstance(info, dict):
        lr = info.get("lr")
        lr_text = f"{lr:g}" if isinstance(lr, (int, float)) else str(lr)
        return f"diverged at step {info.get('step')} (epoch {info.get('epoch')}, loss={info.get('loss')}, lr={lr_text})"
    if return_code == DIVERGED_EXIT_CODE:
        return f"diverged (exit code {DIVERGED_EXIT_CODE}; its metrics.json does not say where)"
    return None


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


def agent_say(message: str, agent_pid: int | None = None) -> None:
    """Print ``message`` as an agent's line, prefixed with the agent's process id (default: this process)."""
    print(f"[sweep agent {agent_pid or os.getpid()}] {message}", flush=True)


def trial_end_line(trial: int | str, state: str, seconds: float, metric: str, value: float | None = None,
                   cause: str | None = None, detail: str | None = None) -> str:
    """What an agent says when a trial ends, e.g. ``trial 1 finished after 26.8 s: val_loss=1.07659 (best over its
    epochs)`` or ``trial 2 failed after 3.1 s (exit code 1): <why>``. ``trial``: its number (a W&B run: its id);
    ``value``: the best value of ``metric`` over its epochs (shown instead of ``detail`` when known)."""
    line = f"trial {trial} {state} after {seconds:.1f} s"
    if cause:
        line += f" ({cause})"
    if value is not None:
        detail = f"{metric}={value:.6g} (best over its epochs)"
    return f"{line}: {detail}" if detail else line
