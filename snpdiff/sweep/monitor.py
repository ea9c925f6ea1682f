"""``sweep.py monitor``: the sweep's state, progress against its run cap, recent trials and the best so far, as rich
tables (full width when the output is not a terminal) or, with ``--json``, as one JSON document (``monitor_json``;
schema in docs/sweeps.md)."""

from __future__ import annotations

import math
import sys
from collections import Counter
from typing import IO, Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from snpdiff.sweep.agent.interface import AgentReport
from snpdiff.sweep.backends.base import TRIAL_STATES, SweepBackend, TrialRecord
from snpdiff.sweep.spec import SweepSpec

# columns of the console when the output is not a terminal (a log file, a pipe, a batch job): no header is cut
FILE_WIDTH = 1000
STATE_STYLES = {"running": "cyan", "finished": "green", "pruned": "yellow", "failed": "red", "interrupted": "magenta"}


def output_console(file: IO[str] | None = None) -> Console:
    """A rich console on ``file`` (stdout): a terminal's width on a terminal, else ``FILE_WIDTH`` columns, so tables
    keep their full headers and paths do not wrap."""
    console = Console(file=file or sys.stdout)
    return console if console.is_terminal else Console(file=file or sys.stdout, width=FILE_WIDTH)


def format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{seconds:.1f}s"


def best_trial(records: list[TrialRecord], goal: str) -> TrialRecord | None:
    """The finished trial with the best value (the sweep's metric and goal)."""
    scored = [r for r in records if r.state == "finished" and r.value is not None]
    if not scored:
        return None
    return (max if goal == "maximize" else min)(scored, key=lambda r: r.value)


def agent_summary(report: AgentReport, records: list[TrialRecord], spec: SweepSpec) -> str:
    """The line an agent ends with: why it stopped, the trials it ran and failed, the sweep's best so far."""
    failed = sum(state == "failed" for state in report.states.values())
    best = best_trial(records, spec.goal)
    best_text = "none yet" if best is None else f"trial {best.number}, {spec.metric}={best.value:.6g}"
    return (f"agent stopped ({report.stopped_by}): {len(report.trials)} trial(s) run, {failed} failed; "
            f"sweep best so far: {best_text}")


def trials_table(records: list[TrialRecord], backend: SweepBackend, title: str) -> Table:
    """One row per trial: number, state, metric, duration and the parameters the sweep varies."""
    spec = backend.spec
    varying = spec.varying_names()
    table = Table(title=title, title_justify="left")
    for column in ("#", "state", spec.metric, "duration", *varying):
        table.add_column(column, justify="right" if column in ("#", spec.metric, "duration") else "left")
    for record in records:
        table.add_row(
            str(record.number),
            Text(record.state, style=STATE_STYLES.get(record.state, "")),
            "-" if record.value is None else f"{record.value:.6g}",
            format_duration(record.duration_s),
            *(format_value(record.params.get(name, "-")) for name in varying),
        )
    return table


def trial_json(record: TrialRecord) -> dict[str, Any]:
    """One trial as ``--json`` writes it (docs/sweeps.md#json-output)."""
    return {
        "number": record.number,
        "state": record.state,
        "value": record.value if record.value is not None and math.isfinite(record.value) else None,
        "duration_s": record.duration_s,
        "params": record.params,
        "run_dir": record.run_dir,
        "error": record.error,
    }


def sweep_json(backend: SweepBackend) -> dict[str, Any]:
    """The sweep's identity, method and metric, shared by ``monitor --json`` and ``analyze --json``."""
    spec, info = backend.spec, backend.info
    return {"id": info.sweep_id, "path": info.path, "backend": info.backend, "url": info.url, "method": spec.method,
            "metric": spec.metric, "goal": spec.goal}


def monitor_json(backend: SweepBackend, recent: int = 10) -> dict[str, Any]:
    """What ``monitor --json`` prints (docs/sweeps.md#json-output): the sweep, its state, trial counts by state, the
    ``recent`` last trials, the best finished trial and the last failure."""
    records = backend.trials()
    counts = Counter(r.state for r in records)
    best = best_trial(records, backend.spec.goal)
    failed = [r for r in records if r.state == "failed"]
    return {
        "sweep": sweep_json(backend),
        "state": backend.state(),
        "trials": {"total": len(records), "run_cap": backend.capacity(),
                   "by_state": {state: counts[state] for state in TRIAL_STATES}},
        "recent": [trial_json(r) for r in records[-recent:]] if recent > 0 else [],
        "best": None if best is None else trial_json(best),
        "last_failure": trial_json(failed[-1]) if failed else None,
    }


def monitor_view(backend: SweepBackend, recent: int = 10) -> Group:
    """Everything ``monitor`` prints, as one rich renderable."""
    spec, info = backend.spec, backend.info
    records = backend.trials()
    counts = Counter(r.state for r in records)
    capacity = backend.capacity()
    progress = f"{len(records)}/{capacity}" if capacity else f"{len(records)} (no run cap)"
    by_state = ", ".join(f"{counts[s]} {s}" for s in TRIAL_STATES if counts[s])
    header = Table.grid(padding=(0, 2))
    header.add_column(style="bold")
    header.add_column()
    header.add_row("sweep", f"{info.path} ({info.backend}{', ' + info.url if info.url else ''})")
    header.add_row("method", f"{spec.method}; metric {spec.metric} ({spec.goal})")
    header.add_row("state", backend.state())
    header.add_row("trials", f"{progress}" + (f": {by_state}" if by_state else ""))
    parts: list[Any] = [header]
    if records:
        parts.append(trials_table(records[-recent:], backend, f"last {min(recent, len(records))} trials"))
    best = best_trial(records, spec.goal)
    if best is not None:
        params = ", ".join(f"{k}={format_value(v)}" for k, v in best.params.items() if k in spec.varying_names())
        parts.append(Text(f"best so far: trial {best.number}, {spec.metric}={best.value:.6g}; {params}",
                          style="bold green"))
    failed = [r for r in records if r.state == "failed" and r.error]
    if failed:
        last = failed[-1]
        parts.append(Text(f"last failure (trial {last.number}): {last.error.strip().splitlines()[-1]}", style="red"))
    return Group(*parts)


def print_monitor(backend: SweepBackend, recent: int = 10, console: Console | None = None) -> None:
    (console or output_console()).print(monitor_view(backend, recent))
