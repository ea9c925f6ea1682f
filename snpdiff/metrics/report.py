"""Write evaluation results: ``metrics.json`` (machine-readable) and ``report.md`` (table + embedded plots).

The JSON file has the run folder's file name (``snpdiff.run_folder.METRICS_FILE``) in evaluate's own output folder, so
tools that read a run's metrics find an evaluation's the same way.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

from snpdiff.metrics.goals import METRICS, metric_info
from snpdiff.metrics.plots import PLOT_TITLES
from snpdiff.run_folder import METRICS_FILE

REPORT_NAME = "report.md"


def _json_value(value: float) -> float | None:
    """Non-finite numbers (e.g. an undefined ratio) become JSON null: NaN is not valid JSON."""
    return float(value) if math.isfinite(value) else None


def write_metrics_json(metrics: dict[str, float], path: str | os.PathLike) -> Path:
    """``{metric name: value}`` as JSON (NaN/inf written as null), in the order of the metric table."""
    path = Path(path)
    ordered = sorted(metrics, key=_table_position)
    path.write_text(json.dumps({name: _json_value(metrics[name]) for name in ordered}, indent=2) + "\n")
    return path


def _table_position(name: str) -> int:
    return list(METRICS).index(name.rsplit("/", 1)[-1])


def _format(value: float) -> str:
    if not math.isfinite(value):
        return "n/a"
    return f"{value:.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4f}"


def write_report(
    metrics: dict[str, float],
    plots: dict[str, str | os.PathLike],
    out_dir: str | os.PathLike,
    inputs: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write ``metrics.json`` and ``report.md`` into ``out_dir``; return ``{"json": path, "report": path}``.

    ``metrics``: names from the metric table (``snpdiff.metrics.goals``); ``plots``: ``{name: png path}``, linked
    relative to ``out_dir``; ``inputs``: optional ``{role: description}`` lines (e.g. file and shape of T, S, H).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# Synthetic genotype evaluation", ""]
    if inputs:
        lines += ["## Inputs", ""] + [f"- **{role}**: {text}" for role, text in inputs.items()] + [""]
    lines += [
        "## Metrics",
        "",
        "T = real training set, S = synthetic set, H = held-out real set.",
        "",
        "| metric | value | goal | meaning |",
        "|---|---:|---|---|",
    ]
    for name in sorted(metrics, key=_table_position):
        info = metric_info(name)
        meaning = info.meaning.replace("|", "\\|")  # a bare | would end the table cell
        lines.append(f"| `{name}` | {_format(metrics[name])} | {info.goal_text} | {meaning} |")
    lines.append("")
    if plots:
        lines += ["## Plots", ""]
        for name, path in plots.items():
            relative = Path(os.path.relpath(Path(path).resolve(), out.resolve())).as_posix()
            title = PLOT_TITLES.get(name, name)
            lines += [f"### {title}", "", f"![{title}]({relative})", ""]
    report = out / REPORT_NAME
    report.write_text("\n".join(lines))
    return {"json": write_metrics_json(metrics, out / METRICS_FILE), "report": report}
