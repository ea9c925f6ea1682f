"""Check a whole sweep file against the composed config before anything is created, reporting every problem.

What is checked: the file's structure (``snpdiff.sweep.spec``); every parameter name is a config key or group of the
config composed with each combination of the swept group choices; every group option exists; every value (each
listed value, or a distribution's extremes) has the config value's type and passes ``validate_config``, alone and in
combination with the others (up to ``MAX_COMBINATIONS``); the metric is one the training logs, with its goal;
the program exists; and what the chosen backend needs.
"""

from __future__ import annotations

import difflib
import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.errors import ConfigError, SweepError
from snpdiff.sweep.bridge import config_groups, split_params
from snpdiff.sweep.spec import SweepSpec, parse_sweep
from snpdiff.training_metrics import LOSS_METRICS, MODEL_METRICS, OOM_METRICS, QUALITY_PREFIX, is_logged

# Combinations of all parameters' check values tried together (sampled, with a fixed seed, beyond this many).
MAX_COMBINATIONS = 48
# Failing combinations listed one by one before the rest are counted.
MAX_LISTED_COMBINATIONS = 5
_ABSENT = object()


def logged_metric_names() -> str:
    """The metric names a sweep may optimise, for messages."""
    return ", ".join([*LOSS_METRICS, *MODEL_METRICS, *OOM_METRICS, "lr-<optimizer>", f"{QUALITY_PREFIX}<metric>"])


def metric_problems(name: str, goal: str, given: bool) -> list[str]:
    """Problems with the sweep's metric: never logged, or optimised the wrong way."""
    from snpdiff.metrics.goals import METRICS, metric_goal

    if name in MODEL_METRICS or name in OOM_METRICS or name.startswith("lr-"):
        return []
    if not is_logged(name):
        quality = ", ".join(sorted(METRICS))
        return [f"metric.name={name!r} is never logged by the training; logged: {logged_metric_names()} "
                f"(<metric> one of {quality})"]
    try:
        natural = metric_goal(name)
    except ConfigError as exc:  # a target metric such as val/aats: no direction to optimise
        return [f"metric.name={name!r}: {exc}"]
    if given and goal != natural:
        return [f"metric {name!r} is better when it is {'larger' if natural == 'maximize' else 'smaller'}: "
                f"use goal: {natural}, not {goal}"]
    return []


def _problem_lines(exc: ConfigError) -> list[str]:
    """The individual problems of a ``validate_config`` error (one per ``  - `` line)."""
    lines = [line[4:] for line in str(exc).splitlines() if line.startswith("  - ")]
    return lines or [str(exc)]


def _first_absent(cfg: DictConfig, key: str) -> str | None:
    """The shortest prefix of the dotted ``key`` that ``cfg`` lacks (what setting ``key`` would create)."""
    parts = key.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if OmegaConf.select(cfg, prefix, default=_ABSENT) is _ABSENT:
            return prefix
    return None


def _config_problems(cfg: DictConfig, values: Mapping[str, Any], validate: Callable[[DictConfig], None]) -> list[str]:
    """``validate_config``'s problems for ``cfg`` with dotted keys set as the trial's overrides would set them.

    ``cfg`` is patched in place and restored afterwards (copying a config costs far more than validating it).
    """
    keys = [key.lstrip("+") for key in values]
    created = [prefix for prefix in (_first_absent(cfg, key) for key in keys) if prefix is not None]
    saved = {}
    for key in keys:
        old = OmegaConf.select(cfg, key, default=_ABSENT)
        saved[key] = OmegaConf.to_container(old) if OmegaConf.is_config(old) else old
    with open_dict(cfg):
        try:
            for key, value in zip(keys, values.values(), strict=True):
                OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            validate(cfg)
        except ConfigError as exc:
            return _problem_lines(exc)
        finally:
            for key, old in saved.items():
                if old is not _ABSENT:
                    OmegaConf.update(cfg, key, old, merge=False)
            for prefix in created:
                *parents, last = prefix.split(".")
                parent = OmegaConf.select(cfg, ".".join(parents)) if parents else cfg
                parent.pop(last, None)
    return []


def _type_problem(key: str, current: Any, value: Any) -> str | None:
    """A message when ``value`` cannot stand where the config has ``current`` (None when fine)."""
    if current is None or current is _ABSENT or OmegaConf.is_config(current):
        return None
    if isinstance(current, bool):
        return None if isinstance(value, bool) else f"{key}={value!r}: the config holds a boolean (true/false)"
    if isinstance(current, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return None
        return f"{key}={value!r}: the config holds an integer; use int_uniform, q_* with an integer q, or int values"
    if isinstance(current, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return None if ok else f"{key}={value!r}: the config holds a number"
    return None


def _leaf_keys(cfg: DictConfig, prefix: str = "") -> Iterable[str]:
    for key in cfg:
        dotted = f"{prefix}{key}"
        node = cfg._get_node(key)
        if isinstance(node, DictConfig):
            yield from _leaf_keys(node, dotted + ".")
        else:
            yield dotted


def _describe(choice: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items()) or "the default groups"


def config_problems(
    spec: SweepSpec,
    compose: Callable[[list[str]], DictConfig],
    validate: Callable[[DictConfig], None],
) -> list[str]:
    """Every problem of the sweep's parameters against the config composed for each swept group choice."""
    problems: list[str] = []
    groups = config_groups()
    group_params, key_params = split_params(spec.parameters)
    base_overrides = spec.command_overrides()
    fixed = {name: value for name, value in spec.fixed_params().items() if name in key_params}

    choice_lists: dict[str, list[Any]] = {}
    for name in group_params:
        param = spec.parameters[name]
        if not param.is_finite or param.distribution == "int_uniform":
            problems.append(f"parameter '{param.written_as}' is the config group {name}: give value or values "
                            f"(options: {', '.join(groups[name])}), not distribution {param.distribution}")
            continue
        valid = []
        for option in param.finite_values():
            if option is not None and option not in groups[name]:
                problems.append(f"parameter '{param.written_as}': {name}={option!r} does not exist; options: "
                                f"{', '.join(groups[name]) or '(none)'}")
            else:
                valid.append(option)
        choice_lists[name] = valid or [None]

    group_combos = [dict(zip(choice_lists, combo, strict=True)) for combo in itertools.product(*choice_lists.values())]
    bases: list[tuple[dict[str, Any], DictConfig]] = []
    for choice in group_combos[:MAX_COMBINATIONS]:
        overrides = [*base_overrides, *(f"{g}={'null' if o is None else o}" for g, o in choice.items())]
        try:
            bases.append((choice, compose(overrides)))
        except Exception as exc:  # noqa: BLE001 - Hydra raises many types; each becomes one reported problem
            problems.append(f"with {_describe(choice)}: the config does not compose: {exc}")
    if not bases:
        return problems

    base_lines: list[set[str]] = []
    for choice, cfg in bases:
        lines = _config_problems(cfg, fixed, validate)
        base_lines.append(set(lines))
        problems += [f"with {_describe(choice)} and the sweep's fixed values: {line}" for line in lines]
        if spec.metric.startswith(QUALITY_PREFIX) and not OmegaConf.select(cfg, "quality.enabled"):
            problems.append(f"metric {spec.metric!r} is only logged with quality.enabled=true; with "
                            f"{_describe(choice)} it is false")

    failing: set[tuple[str, str]] = set()
    checks: dict[str, list[Any]] = {}
    for name in key_params:
        param = spec.parameters[name]
        present = [choice for choice, cfg in bases if OmegaConf.select(cfg, param.key, default=_ABSENT) is not _ABSENT]
        if param.name.startswith("+"):
            if present:
                problems.append(f"parameter '{param.written_as}': the config already has {param.key} "
                                f"(with {_describe(present[0])}); drop the '+'")
                continue
        elif not present:
            known = sorted({k for _, cfg in bases for k in _leaf_keys(cfg)})
            close = difflib.get_close_matches(param.key, known, n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else "; prefix it with '+' to add a new key"
            problems.append(f"parameter '{param.written_as}': unknown key {param.key} (not in the composed "
                            f"config){hint}")
            continue
        elif len(present) < len(bases):
            missing = next(choice for choice, _ in bases if choice not in present)
            problems.append(f"parameter '{param.written_as}': {param.key} exists with {_describe(present[0])} but "
                            f"not with {_describe(missing)}, where the value would do nothing; sweep those "
                            "group options in separate sweeps")
            continue
        values = param.check_values()
        checks[name] = values
        for value in values:
            for (choice, cfg), known_lines in zip(bases, base_lines, strict=True):
                message = _type_problem(param.key, OmegaConf.select(cfg, param.key, default=_ABSENT), value)
                lines = [message] if message else [
                    line for line in _config_problems(cfg, {**fixed, name: value}, validate)
                    if line not in known_lines
                ]
                if lines:
                    failing.add((name, repr(value)))
                    where = f" (with {_describe(choice)})" if choice else ""
                    problems += [f"parameter '{param.written_as}' = {value!r}{where}: {line}" for line in lines]
                    break

    problems += _combination_problems(spec, fixed, bases, base_lines, checks, failing, validate)
    return problems


def _combination_problems(
    spec: SweepSpec,
    fixed: dict[str, Any],
    bases: list[tuple[dict[str, Any], DictConfig]],
    base_lines: list[set[str]],
    checks: dict[str, list[Any]],
    failing: set[tuple[str, str]],
    validate: Callable[[DictConfig], None],
) -> list[str]:
    """Cross-key problems that appear only when several swept values meet (each value alone passed)."""
    varying = {name: values for name, values in checks.items() if len(values) > 1}
    if len(varying) < 2:
        return []
    combos = [dict(zip(varying, c, strict=True)) for c in itertools.product(*varying.values())]
    if len(combos) > MAX_COMBINATIONS:
        combos = random.Random(0).sample(combos, MAX_COMBINATIONS)
    found: list[str] = []
    for combo in combos:
        if any((name, repr(value)) in failing for name, value in combo.items()):
            continue  # already reported for the single value
        for (choice, cfg), known_lines in zip(bases, base_lines, strict=True):
            lines = [line for line in _config_problems(cfg, {**fixed, **combo}, validate)
                     if line not in known_lines]
            if lines:
                values = ", ".join(f"{spec.parameters[n].written_as}={v!r}" for n, v in combo.items())
                where = f" with {_describe(choice)}" if choice else ""
                found.append(f"combination {values}{where}: {'; '.join(lines)}")
                break
    if len(found) > MAX_LISTED_COMBINATIONS:
        found = found[:MAX_LISTED_COMBINATIONS] + [f"... and {len(found) - MAX_LISTED_COMBINATIONS} more failing "
                                                   "combinations"]
    return found


def backend_problems(spec: SweepSpec, backend: str, compose: Callable[[list[str]], DictConfig]) -> list[str]:
    """What the chosen backend needs from the sweep."""
    problems = []
    if backend == "local":
        for param in spec.parameters.values():
            if param.probabilities is not None:
                problems.append(f"parameter '{param.written_as}': 'probabilities' is not supported by the local "
                                "backend (Optuna samples values uniformly); drop it or use --backend wandb")
        if spec.early_terminate is not None and (spec.metric.startswith("final/") or spec.metric in MODEL_METRICS):
            problems.append(f"early_terminate hyperband needs a metric logged every epoch (val_loss, "
                            f"train_loss_epoch, val/<metric>); {spec.metric!r} is logged once per run")
    if backend == "wandb":
        choices, _ = split_params(spec.fixed_params())
        overrides = [*spec.command_overrides(), *(f"{g}={'null' if o is None else o}" for g, o in choices.items())]
        try:
            loggers = compose(overrides).get("logger") or {}
        except Exception:  # noqa: BLE001 - a config that does not compose is reported by config_problems
            loggers = {"wandb": None}
        if "wandb" not in loggers:
            problems.append("backend wandb needs logger=wandb: each trial logs its metrics into its W&B run; "
                            "remove the logger setting or use --backend local")
    return problems


def sweep_problems(
    raw: Any,
    backend: str,
    compose: Callable[[list[str]], DictConfig] | None = None,
    validate: Callable[[DictConfig], None] | None = None,
    cwd: Path | None = None,
) -> tuple[SweepSpec | None, list[str]]:
    """Parse ``raw`` (a sweep file's content) and return ``(spec, every problem)``; an empty list means valid."""
    from snpdiff.config import compose_config, validate_config

    compose = compose or compose_config
    validate = validate or validate_config
    default_metric = "val_loss"
    spec, problems = parse_sweep(raw, default_metric)
    if spec is None:
        return None, problems
    problems += metric_problems(spec.metric, spec.goal, spec.metric_given)
    program = Path(spec.program)
    if not (program if program.is_absolute() else (cwd or Path.cwd()) / program).is_file():
        problems.append(f"program {spec.program!r} does not exist (relative to {cwd or Path.cwd()})")
    problems += config_problems(spec, compose, validate)
    problems += backend_problems(spec, backend, compose)
    return spec, problems


def check_sweep(raw: Any, source: str, backend: str, **kwargs: Any) -> SweepSpec:
    """The parsed spec when ``raw`` is a valid sweep; else one SweepError naming every problem."""
    spec, problems = sweep_problems(raw, backend, **kwargs)
    if problems or spec is None:
        numbered = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        raise SweepError(f"sweep file {source} has {len(problems)} problem(s); nothing was created:\n{numbered}")
    return spec
