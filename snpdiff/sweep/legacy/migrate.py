"""``sweep.py migrate OLD.yaml -o NEW.yaml``: an old tool's sweep file rewritten as the equivalent modern one.

What changes, each said in a comment of the new file where it happened:

- flat old names -> the dotted Hydra keys of ``snpdiff.sweep.legacy.aliases.ALIASES`` (``learning_rate`` ->
  ``optimizer.lr``); retired names (features this network does not have) are removed, with the reason;
- numbers written as text (``'1e-4'``, which PyYAML reads as a string) -> numbers;
- ``log_uniform`` whose bounds look like values (W&B reads them as natural-log exponents) -> ``log_uniform_values``;
- ``program: train_sweep.py`` -> ``train.py``; a top-level ``count`` (W&B refuses it) is removed: ``agent --count``;
- ``warmup_epochs`` beside schedulers without a warm-up (``scheduler_type: {values: [cosine, reduce]}``) is removed,
  with a warning: the old tool's last version applied it to ``warmup_cosine`` only, so it had no effect there.

Everything else (method, metric, early_terminate, run_cap, W&B's own keys, nested blocks) is kept as written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from snpdiff.errors import SweepError
from snpdiff.sweep.legacy.aliases import ALIASES, OLD_PROGRAMS, Retired
from snpdiff.sweep.spec import DEFAULT_PROGRAM, dump_yaml, number_from_text, read_sweep_file, value_like_log_uniform
from snpdiff.sweep.store import write_sweep_yaml

# the one scheduler the old tool's last version warmed up (``warmup_epochs``)
WARMUP_SCHEDULER = "warmup_cosine"


def _numbers(value: Any) -> Any:
    """``value`` with every text that stands for a number (``'1e-4'``) turned into that number, recursively."""
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    if isinstance(value, dict):
        return {key: _numbers(item) for key, item in value.items()}
    number = number_from_text(value)
    return value if number is None else number


def _dump(key: str, value: Any, indent: int = 0) -> list[str]:
    text = dump_yaml({key: value}, sort_keys=False, default_flow_style=False, width=120)
    return [" " * indent + line for line in text.rstrip("\n").splitlines()]


def _parameter(name: str, entry: Any, indent: int) -> list[str]:
    """The lines of one parameter entry (nested blocks recursively), with a comment for each change."""
    comments: list[str] = []
    target = ALIASES.get(name, name) if indent == 2 else name  # old flat names live at the top of parameters
    if isinstance(target, Retired):
        return [" " * indent + f"# {name}: removed; {target.reason}"]
    if isinstance(entry, dict) and isinstance(entry.get("parameters"), dict):
        lines = [" " * indent + f"{target}:", " " * (indent + 2) + "parameters:"]
        for child, child_entry in entry["parameters"].items():
            lines += _parameter(str(child), child_entry, indent + 4)
        return lines
    entry = _numbers(entry)
    if (isinstance(entry, dict) and entry.get("distribution") in ("log_uniform", "q_log_uniform")
            and all(isinstance(entry.get(k), (int, float)) for k in ("min", "max"))
            and value_like_log_uniform(entry["min"], entry["max"])):
        low, high = entry["min"], entry["max"]
        comments.append(f"# was {entry['distribution']}, which takes natural-log exponents (it sampled "
                        f"[{math.exp(low):.6g}, {math.exp(high):.6g}]); the bounds are the values meant")
        entry = {**entry, "distribution": f"{entry['distribution']}_values"}
    if target != name:
        comments.append(f"# the old tool's {name}")
    return [" " * indent + c for c in comments] + _dump(str(target), entry, indent)


def _swept_schedulers(parameters: dict[str, Any]) -> list[Any] | None:
    """The old file's ``scheduler_type`` options (None: it does not set one, or not as value/values)."""
    entry = parameters.get("scheduler_type")
    if isinstance(entry, dict) and isinstance(entry.get("values"), list):
        return entry["values"]
    if isinstance(entry, dict) and "value" in entry:
        return [entry["value"]]
    return None


def _dropped_warmup(parameters: dict[str, Any]) -> str | None:
    """Why ``warmup_epochs`` is dropped, or None when it is kept. In the old tool's last version the warm-up applied
    to ``warmup_cosine`` only (earlier versions warmed up every scheduler), so beside other schedulers only it varied
    a setting without effect: dropping it reproduces what those sweeps ran. Beside ``warmup_cosine`` it is kept, and
    ``init`` makes it a parameter of ``scheduler=warmup_cosine`` trials only."""
    schedulers = _swept_schedulers(parameters)
    if "warmup_epochs" not in parameters or schedulers is None or WARMUP_SCHEDULER in schedulers:
        return None
    return (f"warmup_epochs dropped: the old tool applied warm-up only to {WARMUP_SCHEDULER}, so with scheduler_type "
            f"in [{', '.join(map(str, schedulers))}] it had no effect (versions before its last warmed up every "
            f"scheduler; sweep scheduler: {{values: [{WARMUP_SCHEDULER}]}} with scheduler.warmup_epochs for a "
            "warm-up)")


def migrate_sweep(raw: Any, source: str = "the old file", warnings: list[str] | None = None) -> str:
    """The modern sweep file (YAML text with comments) equivalent to the old tool's sweep ``raw``; what the user
    should know beyond the file's comments (a parameter dropped because it had no effect) is appended to
    ``warnings``."""
    if not isinstance(raw, dict) or not isinstance(raw.get("parameters"), dict):
        raise SweepError(f"{source} is not a sweep file: it needs a mapping with 'parameters'")
    lines = [f"# Migrated from {source} by `python sweep.py migrate`."]
    for key, value in raw.items():
        if key == "parameters":
            lines.append("parameters:")
            dropped_warmup = _dropped_warmup(value)
            for name, entry in value.items():
                if name == "warmup_epochs" and dropped_warmup:
                    lines.append(f"  # {dropped_warmup}")
                    if warnings is not None:
                        warnings.append(dropped_warmup)
                    continue
                lines += _parameter(str(name), entry, 2)
        elif key == "count":
            lines.append(f"# count: {value} removed (W&B refuses it): run agents with "
                         f"`python sweep.py agent --count {value}`")
        elif key == "program" and Path(str(value)).name in OLD_PROGRAMS:
            lines.append(f"# program: {value} was the old tool's script")
            lines += _dump("program", DEFAULT_PROGRAM)
        else:
            lines += _dump(str(key), _numbers(value))
    return "\n".join(lines) + "\n"


def migrate_file(old: str | Path, new: str | Path, warnings: list[str] | None = None) -> Path:
    """Write the modern form of sweep file ``old`` to ``new`` (which must not be ``old``), whole or not at all (a
    read-only or full disk: a SweepError naming the path); returns ``new``. What the user should know beyond the new
    file's comments is appended to ``warnings``."""
    old, new = Path(old), Path(new)
    if new.resolve() == old.resolve():
        raise SweepError(f"migrate: write the new file elsewhere than {old} (-o NEW.yaml); the old one is kept")
    text = migrate_sweep(read_sweep_file(old), old.name, warnings)
    write_sweep_yaml(new, text, folder="folder")
    return new
