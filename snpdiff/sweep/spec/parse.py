"""The sweep file: a standard W&B sweep YAML, read and parsed for its structure, nested blocks flattened.

Parameter names are Hydra keys (``optimizer.lr``) or config-group choices (``model``, ``scheduler``). Nested
``parameters:`` blocks are flattened to dotted keys (``optimizer: {parameters: {lr: ...}}`` is ``optimizer.lr``).

Parsing is pure: it reads the file alone, never the config. ``parse_sweep`` returns the ``SweepSpec`` and every
structural problem, once; ``snpdiff.sweep.rules`` checks that spec against the composed config. The old tool's flat
names are not known here: ``snpdiff.sweep.legacy.aliases`` translates an old file and hands this parser the names it
renamed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from snpdiff.errors import SweepError
from snpdiff.sweep.spec.definition import (
    ARGS_MACROS,
    DEFAULT_COMMAND,
    DEFAULT_PROGRAM,
    GOALS,
    METHODS,
    OTHER_MACROS,
    STORED_KEY,
    TOP_LEVEL_KEYS,
    Hyperband,
    SweepSpec,
    shown_command,
)
from snpdiff.sweep.spec.params import (
    TARGET_KEY,
    ParamSpec,
    is_number,
    number_from_text,
    parse_param,
    target_problems,
)
from snpdiff.sweep.spec.yaml_io import read_yaml


def _flatten(block: Any, prefix: str, out: dict[str, tuple[str, Any]], problems: list[str]) -> None:
    """Flatten nested ``parameters:`` blocks into ``{dotted name: (name as written, entry)}``."""
    if not isinstance(block, dict):
        problems.append(f"'{prefix or 'parameters'}' must be a mapping of parameter names, got {block!r}")
        return
    for name, entry in block.items():
        dotted = f"{prefix}.{name}" if prefix else str(name)
        if isinstance(entry, dict) and "parameters" in entry:
            extra = sorted(set(entry) - {"parameters"})
            if extra:
                problems.append(f"parameter '{dotted}': a nested 'parameters' block cannot also have {extra}")
            _flatten(entry["parameters"], dotted, out, problems)
        else:
            out[dotted] = (dotted, entry)


def _parse_hyperband(entry: Any, problems: list[str]) -> Hyperband | None:
    if not isinstance(entry, dict) or entry.get("type") != "hyperband":
        problems.append(f"early_terminate: only type 'hyperband' is supported, got {entry!r}")
        return None
    allowed = {"type", "eta", "min_iter", "max_iter", "s", "strict"}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        problems.append(f"early_terminate: unknown keys {unknown}; allowed: {', '.join(sorted(allowed))}")
        return None
    values = {k: entry.get(k) for k in ("eta", "min_iter", "max_iter", "s")}
    for key, value in values.items():
        if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
            problems.append(f"early_terminate.{key} must be a non-negative integer, got {value!r}")
            return None
    strict = entry.get("strict")
    if strict is not None and not isinstance(strict, bool):
        problems.append(f"early_terminate.strict must be true or false, got {strict!r}")
        return None
    eta = values["eta"] if values["eta"] is not None else 3
    if eta < 2:
        problems.append(f"early_terminate.eta must be >= 2, got {eta}")
        return None
    if values["min_iter"] is None and values["max_iter"] is None:
        problems.append("early_terminate: hyperband needs min_iter (epochs of the first bracket) or max_iter and s")
        return None
    if values["max_iter"] is not None and values["s"] is None:
        problems.append("early_terminate: max_iter needs s (the number of brackets)")
        return None
    if values["min_iter"] is not None and values["min_iter"] < 1:
        problems.append(f"early_terminate.min_iter must be >= 1, got {values['min_iter']}")
        return None
    return Hyperband(eta=eta, min_iter=values["min_iter"], max_iter=values["max_iter"], s=values["s"], strict=strict)


def _command_warnings(command: tuple[str, ...], program: str) -> list[str]:
    """A warning naming what each trial runs, when ``command`` runs more than ``${interpreter} ${program}`` with
    overrides: a token before the program (``sh -c ...``), the program run as an executable, or an override that
    instantiates a ``_target_`` of its own."""
    at = command.index("${program}") if "${program}" in command else len(command)
    plain_start = [t for t in command[:at] if t != "${env}"] == ["${interpreter}"]
    if plain_start and not any(TARGET_KEY in t for t in command[at:]):
        return []
    return [f"command: each trial runs `{shown_command(command, program)}`, not `python {program} <the trial's "
            "overrides>`; check that this is what you mean to run"]


def _parse_command(command: Any, problems: list[str]) -> tuple[str, ...]:
    if command is None:
        return DEFAULT_COMMAND
    if not isinstance(command, list) or not all(isinstance(t, str) for t in command):
        problems.append(f"command must be a list of strings, got {command!r}")
        return DEFAULT_COMMAND
    allowed = ", ".join(OTHER_MACROS + ARGS_MACROS)
    unsupported = [token for token in command if "${" in token and token not in ARGS_MACROS + OTHER_MACROS]
    for token in unsupported:
        problems.append(f"command: {token!r} is not supported: a Hydra program takes the trial's parameters "
                        f"only through ${{args_no_hyphens}}; supported macros: {allowed} (each a whole token)")
    command = [token for token in command if token not in unsupported]  # the rest is still checked
    if "${program}" not in command:
        problems.append("command must contain ${program}")
    if not any(t in ARGS_MACROS for t in command):
        problems.append("command must contain ${args_no_hyphens} (where the trial's Hydra overrides go)")
    return tuple(command)


def _parse_metric(raw: Mapping[str, Any], default_metric: str, problems: list[str]) -> tuple[str, str, Any]:
    """``(metric name, goal, target)`` of ``metric:`` (``default_metric``, minimised, without one)."""
    metric = raw.get("metric")
    if metric is None:
        return default_metric, "minimize", None
    if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
        problems.append(f"metric must be a mapping with 'name' (and 'goal'), got {metric!r}")
        return default_metric, "minimize", None
    goal = metric.get("goal", "minimize")
    if goal not in GOALS:
        problems.append(f"metric.goal={goal!r}; allowed: {', '.join(GOALS)}")
    extra = sorted(set(metric) - {"name", "goal", "target"})
    if extra:
        problems.append(f"metric: unknown keys {extra}; allowed: name, goal, target")
    target = metric.get("target")
    if target is not None and not is_number(number_from_text(target) or target):
        problems.append(f"metric.target must be a number (the value that ends the sweep), got {target!r}")
        target = None
    elif target is not None:
        target = number_from_text(target) or target
    return metric["name"], goal, target


def _parse_parameters(raw: Mapping[str, Any], renamed: Mapping[str, str], problems: list[str],
                      coerced: list[str]) -> dict[str, ParamSpec]:
    """The valid parameters under the keys they set, in file order (``renamed``: see ``parse_sweep``)."""
    flat: dict[str, tuple[str, Any]] = {}
    if "parameters" not in raw:
        problems.append("the sweep file has no 'parameters'")
    else:
        _flatten(raw["parameters"], "", flat, problems)
    parameters: dict[str, ParamSpec] = {}
    written_for: dict[str, str] = {}  # key -> the name that set it first
    for dotted, (written, entry) in flat.items():
        name = renamed.get(dotted, dotted)
        key = name.lstrip("+")
        if key in written_for:
            problems.append(f"parameter '{written}' and '{written_for[key]}' both set {key}; keep one")
            continue
        written_for[key] = written
        param = parse_param(name, written, entry, problems, coerced)
        if param is not None and not target_problems(param, problems):
            parameters[name] = param
    return parameters


def _method_problems(method: Any, metric_given: bool, parameters: Mapping[str, ParamSpec]) -> list[str]:
    """What ``method`` needs that the parameters or the metric do not give."""
    problems = []
    if method == "grid":
        problems += [f"parameter '{param.written_as}': grid search needs values, value or int_uniform, not "
                     f"distribution {param.distribution}" for param in parameters.values() if not param.is_finite]
    if method == "bayes" and not metric_given:
        problems.append("method bayes needs a metric (name and goal)")
    return problems


def _positive_int(key: str, value: Any, problems: list[str]) -> int | None:
    """``value`` (of ``key``) when it is a positive integer or None; None with a problem otherwise."""
    if value is not None and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        problems.append(f"{key} must be a positive integer, got {value!r}")
        return None
    return value


def _parse_program(raw: Mapping[str, Any], problems: list[str]) -> str:
    program = raw.get("program", DEFAULT_PROGRAM)
    if not isinstance(program, str) or not program:
        problems.append(f"program must be a script path such as train.py, got {program!r}")
        return DEFAULT_PROGRAM
    return program


def _parse_texts(raw: Mapping[str, Any], problems: list[str]) -> dict[str, str | None]:
    """``name``, ``description``, ``project`` and ``entity`` (None where missing or not a string)."""
    texts = {}
    for key in ("name", "description", "project", "entity"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{key} must be a string, got {value!r}")
            value = None
        texts[key] = value
    return texts


def _parse_controller(raw: Mapping[str, Any], problems: list[str]) -> dict[str, Any] | None:
    controller = raw.get("controller")
    if controller is not None and not isinstance(controller, dict):
        problems.append(f"controller must be a mapping such as {{type: local}}, got {controller!r}")
        return None
    return controller


def parse_sweep(raw: Mapping[str, Any], default_metric: str = "val_loss",
                renamed: Mapping[str, str] | None = None) -> tuple[SweepSpec, list[str]]:
    """Parse a sweep's content. Returns the spec (valid parameters only) and every structural problem found.

    ``default_metric`` (the config's ``optimized_metric``) is used, minimised, when the file has no ``metric``.
    ``renamed``: ``{name as written: the key it sets}`` for parameters written under another name (an old file's
    flat names, translated by ``snpdiff.sweep.legacy``); messages show both.
    """
    problems: list[str] = []
    warnings: list[str] = []
    coerced: list[str] = []
    unknown = sorted(set(raw) - set(TOP_LEVEL_KEYS) - {STORED_KEY})
    if unknown:
        problems.append(f"unknown top-level keys {unknown}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    method = raw.get("method")
    if method not in METHODS:
        problems.append(f"method={method!r}; allowed: {', '.join(METHODS)}")
    metric, goal, target = _parse_metric(raw, default_metric, problems)
    parameters = _parse_parameters(raw, renamed or {}, problems, coerced)
    problems += _method_problems(method, raw.get("metric") is not None, parameters)
    early = raw.get("early_terminate")
    hyperband = _parse_hyperband(early, problems) if early is not None else None
    run_cap = _positive_int("run_cap", raw.get("run_cap"), problems)
    program = _parse_program(raw, problems)
    stored = raw.get(STORED_KEY) or {}
    count = _positive_int("count", raw.get("count", stored.get("count")), problems)
    if "count" in raw and (count is not None or raw["count"] is None):  # an old file's count (not refused)
        warnings.append(f"count: {count} is not a W&B sweep key (W&B refuses it); it is the agents' default "
                        "--count here (`sweep.py agent --count N` sets it per agent)")
    conditions = {key: {group: tuple(options) for group, options in groups.items()}
                  for key, groups in (stored.get("conditions") or {}).items()}
    controller = _parse_controller(raw, problems)
    command = _parse_command(raw.get("command"), problems)
    warnings += _command_warnings(command, program)
    spec = SweepSpec(
        method=method if method in METHODS else "random",  # still lets the parameters be checked
        metric=metric, goal=goal if goal in GOALS else "minimize", parameters=parameters,
        early_terminate=hyperband, run_cap=run_cap, program=program, command=command,
        metric_given=raw.get("metric") is not None, target=target, controller=controller, count=count,
        conditions=conditions, warnings=tuple(warnings), coerced=tuple(coerced), **_parse_texts(raw, problems),
    )
    return spec, problems


def read_sweep_file(path: str | Path) -> dict[str, Any]:
    """The YAML content of a sweep file (``read_yaml``); SweepError when it is missing, not YAML, beyond a limit or not
    a mapping."""
    path = Path(path)
    if not path.is_file():
        raise SweepError(f"sweep file {path} does not exist")
    raw = read_yaml(path)
    if raw is None:
        raise SweepError(f"sweep file {path} is empty (or only comments); it needs at least method and parameters, "
                         "e.g. conf/sweeps/cpu_smoke.yaml")
    if not isinstance(raw, dict):
        raise SweepError(f"sweep file {path} holds a {type(raw).__name__}; a sweep file is a mapping with method and "
                         "parameters, e.g. conf/sweeps/cpu_smoke.yaml")
    return raw


def load_sweep(raw: Mapping[str, Any], default_metric: str = "val_loss",
               renamed: Mapping[str, str] | None = None) -> SweepSpec:
    """Parse a sweep that is known to be valid (e.g. one stored with a sweep); SweepError otherwise (also for a stored
    file that no longer holds a mapping). ``renamed``: as for ``parse_sweep``."""
    if not isinstance(raw, Mapping):
        raise SweepError(f"invalid sweep: a stored sweep is a mapping with method and parameters, got "
                         f"{type(raw).__name__}")
    spec, problems = parse_sweep(raw, default_metric, renamed)
    if problems:
        raise SweepError("invalid sweep:\n  - " + "\n  - ".join(problems))
    return spec
