"""``sweep.py monitor``: the sweep's state, progress against its run cap, recent trials and the best so far."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from snpdiff.sweep.backends.base import TRIAL_STATES, SweepBackend, TrialRecord

STATE_STYLES = {"running": "cyan", "finished": "green", "pruned": "yellow", "failed": "red", "interrupted": "magenta"}


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
    (console or Console()).print(monitor_view(backend, recent))
