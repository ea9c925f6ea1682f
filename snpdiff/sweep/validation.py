"""Check a whole sweep file against the composed config before anything is created, reporting every problem.

What is checked: the file's structure (``snpdiff.sweep.spec``); every parameter name is a config key or group (with
"did you mean" for near misses); every group option exists; every value (each listed value, every value of a finite
``int_uniform``/``q_*`` range up to ``MAX_ENUMERATED``, or a distribution's extremes) has the config value's type and
passes ``validate_config``, alone and together with the other swept values of the same config node (up to
``MAX_COMBINATIONS``); the metric is one the training logs, with its goal; the program exists; what the chosen backend
needs. One message per problem, not per value.

Speed: each option of a swept group is composed once (not every combination of options: a group's options differ
only in that group's node), and interpolations that read no swept key are resolved once per composed config.
A key that exists under only some options of a swept group is conditional: trials receive it only under those.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import math
import random
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.compat import declared_type, interpolation_references, raw_value
from snpdiff.errors import ConfigError, SweepError
from snpdiff.metrics.names import LOSS_METRICS, MODEL_METRICS, OOM_METRICS, QUALITY_PREFIX, is_logged
from snpdiff.sweep.bridge import config_groups, split_params
from snpdiff.sweep.spec import ALIASES, NORMAL_FAMILY, ParamSpec, SweepSpec, number_from_text, parse_sweep, quantize

# Values of a finite range (int_uniform, q_*) checked one by one; a longer range is checked at this many evenly
# spread values (init says so).
MAX_ENUMERATED = 64
# Combinations of the swept values of one config node (model, optimizer, ...) checked together (a fixed random
# sample beyond this many; init says so).
MAX_COMBINATIONS = 32
# Failing values named in a message before the rest are counted.
MAX_LISTED_VALUES = 6
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


def _holds_number(cfg: DictConfig, key: str) -> bool:
    """Whether the config's ``key`` holds a number, or null where its ``_target_`` takes a number."""
    current = OmegaConf.select(cfg, key, default=_ABSENT)
    if isinstance(current, (int, float)) and not isinstance(current, bool):
        return True
    if current is not None:
        return False
    parent_key, _, name = key.rpartition(".")
    target = OmegaConf.select(cfg, f"{parent_key}._target_", default=None) if parent_key else None
    if not isinstance(target, str):
        return False
    from snpdiff.config.schema import constructor_defaults, target_schema

    try:
        schema = target_schema(target)
    except (ImportError, AttributeError, ValueError):
        return False
    if name not in schema.keys:
        return False
    ref_type = declared_type(schema.config, name)
    if any(t in (int, float) for t in (ref_type, *typing.get_args(ref_type))):
        return True
    default = constructor_defaults(target).get(name)  # an untyped argument: its default tells
    return isinstance(default, (int, float)) and not isinstance(default, bool)


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


def _leaf_keys(cfg: DictConfig | Mapping, prefix: str = "") -> Iterable[str]:
    """Every dotted key of ``cfg`` that holds a value, read as written (interpolations unresolved)."""
    raw = OmegaConf.to_container(cfg, resolve=False) if isinstance(cfg, DictConfig) else cfg
    for key, value in raw.items():
        if isinstance(value, Mapping):
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    """``; did you mean a, b?`` for near misses of ``name`` among config keys, groups and old names, else ``""``.

    A flat name is also compared with the last part of every dotted key (``chanels`` -> ``model.channels``)."""
    pool = {key: key for key in known}
    pool.update({old: f"{old} ({new})" for old, new in ALIASES.items() if isinstance(new, str)})
    if "." not in name:
        pool.update({key.rsplit(".", 1)[-1]: key for key in known if "." in key and key.rsplit(".", 1)[-1] not in pool})
    close = difflib.get_close_matches(name, list(pool), n=3)
    return f"; did you mean {', '.join(dict.fromkeys(pool[c] for c in close))}?" if close else ""


def _finite_check_values(param: ParamSpec) -> tuple[list[Any], bool]:
    """``(values, complete)``: every value a finite parameter can take (``int_uniform`` and ``q_*`` ranges
    enumerated) up to ``MAX_ENUMERATED``, evenly spread ones beyond (``complete`` false), else its extremes."""
    d = param.distribution
    if d in ("constant", "categorical"):
        return param.finite_values(), True
    if d == "int_uniform":
        values = list(range(int(param.min), int(param.max) + 1))
    elif d.startswith("q_") and d not in NORMAL_FAMILY:
        low, high, _ = param.sample_range()
        values = sorted({quantize(x, param.q) for x in (low, high)} | {
            quantize(k * param.q, param.q) for k in range(math.ceil(low / param.q), math.floor(high / param.q) + 1)
        }) if (high - low) / param.q <= 10 * MAX_ENUMERATED else []
        if not values:  # too many steps to list: the extremes stand for them
            return param.check_values(), False
    else:
        return param.check_values(), True
    if len(values) <= MAX_ENUMERATED:
        return values, True
    step = (len(values) - 1) / (MAX_ENUMERATED - 1)
    return [values[round(i * step)] for i in range(MAX_ENUMERATED)], False


def _freeze(cfg: DictConfig, fixed: Mapping[str, Any], swept: Iterable[str]) -> DictConfig:
    """A copy of ``cfg`` with the sweep's ``fixed`` values set and every interpolation that does not read a swept key
    replaced by its value: resolving interpolations is most of what validating a config costs, and a sweep
    validates one config many times."""
    swept = tuple(swept)

    def depends(refs: set[str]) -> bool:
        return any(r == k or r.startswith(k + ".") or k.startswith(r + ".") for r in refs for k in swept)

    frozen = copy.deepcopy(cfg)
    with open_dict(frozen):
        for key, value in fixed.items():
            OmegaConf.update(frozen, key.lstrip("+"), value, merge=False, force_add=True)
        cfg = copy.deepcopy(frozen)  # the values interpolations resolve to
        for key in list(_leaf_keys(frozen)):
            parent_key, _, name = key.rpartition(".")
            parent = OmegaConf.select(frozen, parent_key) if parent_key else frozen
            if not OmegaConf.is_interpolation(parent, name):
                continue
            if depends(interpolation_references(str(raw_value(parent, name)))):
                continue
            try:
                parent[name] = OmegaConf.select(cfg, key, throw_on_resolution_failure=True)
            except Exception:  # noqa: BLE001 - left as it is: validate_config reports what does not resolve
                continue
    return frozen


def _describe(choice: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items()) or "the default groups"


def _values_text(values: list[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:MAX_LISTED_VALUES])
    return shown + (f" and {len(values) - MAX_LISTED_VALUES} more" if len(values) > MAX_LISTED_VALUES else "")


@dataclass
class _Context:
    """A composed config: the default group choices, or one option of one swept group (``group``, ``option``)."""

    group: str | None
    option: Any
    cfg: DictConfig
    known: set[str]  # validate_config's problems with the sweep's fixed values alone

    def where(self) -> str:
        return f"{self.group}={self.option}" if self.group else "the default groups"


@dataclass
class ConfigCheck:
    """What checking a sweep against the config found: problems, the notes ``init`` prints, numbers read from
    text, the conditional parameters, and the spec with those applied."""

    spec: SweepSpec
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def _compose_contexts(spec: SweepSpec, compose: Callable[[list[str]], DictConfig], choice_lists: dict[str, list[Any]],
                      check: ConfigCheck) -> list[_Context]:
    """The default context (each swept group at its first option) and one per further option of a swept group:
    as many compositions as options, not as their combinations (a group's options differ in that group's node)."""
    first = {group: options[0] for group, options in choice_lists.items()}

    def overrides(choice: Mapping[str, Any]) -> list[str]:
        return [*spec.command_overrides(), *(f"{g}={'null' if o is None else o}" for g, o in choice.items())]

    wanted: list[tuple[str | None, Any]] = [(None, None)]
    wanted += [(g, o) for g, options in choice_lists.items() for o in options[1:]]
    contexts: list[_Context] = []
    for group, option in wanted:
        choice = {**first, **({group: option} if group else {})}
        try:
            cfg = _swapped(contexts[0].cfg, group, first[group], option) if contexts and group else None
            cfg = cfg if cfg is not None else compose(overrides(choice))
        except Exception as exc:  # noqa: BLE001 - Hydra raises many types; each becomes one reported problem
            where = f"{group}={option}" if group else _describe(first)
            check.problems.append(f"with {where}: the config does not compose: {exc}")
            continue
        contexts.append(_Context(group, option, cfg, set()))
    if contexts and contexts[0].group is None:  # the default context also stands for each group's first option
        for group, option in first.items():
            contexts.append(_Context(group, option, contexts[0].cfg, set()))
    order = {(g, o): i for g, options in choice_lists.items() for i, o in enumerate(options)}
    return sorted(contexts, key=lambda c: (c.group is not None, order.get((c.group, c.option), 0)))


def _option_node(group: str, option: Any) -> DictConfig | None:
    """``conf/<group>/<option>.yaml`` as it is, when it is a plain node (no defaults list of its own)."""
    from snpdiff.config import CONF_DIR

    path = CONF_DIR / group / f"{option}.yaml"
    if option is None or not path.is_file():
        return None
    node = OmegaConf.load(path)
    return None if not isinstance(node, DictConfig) or "defaults" in node else node


def _swapped(base: DictConfig, group: str, first: Any, option: Any) -> DictConfig | None:
    """``base`` with its ``group`` node replaced by option ``option``'s file, when that is exactly what composing
    would give: the base's node is the first option's file untouched (no override or global package changed it).
    None otherwise (then the caller composes)."""
    first_node, node = _option_node(group, first), _option_node(group, option)
    if first_node is None or node is None:
        return None
    if OmegaConf.to_container(first_node) != OmegaConf.to_container(base[group]):
        return None
    cfg = copy.deepcopy(base)
    with open_dict(cfg):
        cfg[group] = node
    return cfg


def _coerce_text_numbers(spec: SweepSpec, contexts: list[_Context]) -> SweepSpec:
    """The spec with values written as text (``'1e-4'``) read as numbers where the config holds a number."""
    params = dict(spec.parameters)
    coerced = list(spec.coerced)
    for name, param in spec.parameters.items():
        if param.distribution not in ("constant", "categorical") or not any(isinstance(v, str)
                                                                              for v in param.finite_values()):
            continue
        if not any(_holds_number(c.cfg, param.key) for c in contexts):
            continue
        numbers = [number_from_text(v) if isinstance(v, str) else v for v in param.finite_values()]
        if any(n is None for n in numbers):
            continue  # not all numbers: the type check reports it
        texts = [v for v in param.finite_values() if isinstance(v, str)]
        coerced.append(f"{param.written_as}={texts[0]!r}" if len(texts) == 1 else
                       f"{param.written_as} values {', '.join(repr(t) for t in texts)}")
        params[name] = (dataclasses.replace(param, value=numbers[0]) if param.is_fixed
                        else dataclasses.replace(param, values=tuple(numbers)))
    return dataclasses.replace(spec, parameters=params, coerced=tuple(coerced))


def config_problems(
    spec: SweepSpec,
    compose: Callable[[list[str]], DictConfig],
    validate: Callable[[DictConfig], None],
) -> ConfigCheck:
    """Every problem of the sweep's parameters against the config: each group option composed once, each key
    checked where it exists, each value (finite ranges enumerated) alone, and the values of each config node
    (``model``, ``optimizer``, ...) together. Returns the spec with text numbers read and conditions found."""
    check = ConfigCheck(spec)
    groups = config_groups()
    group_params, key_params = split_params(spec.parameters)

    choice_lists: dict[str, list[Any]] = {}
    for name in group_params:
        param = spec.parameters[name]
        if not param.is_finite or param.distribution == "int_uniform":
            check.problems.append(f"parameter '{param.written_as}' is the config group {name}: give value or values "
                                  f"(options: {', '.join(groups[name])}), not distribution {param.distribution}")
            continue
        valid = []
        for option in param.finite_values():
            if option is not None and option not in groups[name]:
                close = difflib.get_close_matches(str(option), groups[name], n=2)
                hint = f"; did you mean {', '.join(close)}?" if close else ""
                check.problems.append(f"parameter '{param.written_as}': {name}={option!r} does not exist; options: "
                                      f"{', '.join(groups[name]) or '(none)'}{hint}")
            else:
                valid.append(option)
        choice_lists[name] = valid or [None]

    contexts = _compose_contexts(spec, compose, choice_lists, check)
    if not contexts:
        return check
    spec = check.spec = _coerce_text_numbers(spec, contexts)
    placed: dict[str, list[_Context]] = {}
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name in key_params:
        param = spec.parameters[name]
        top = param.key.split(".")[0]
        candidates = [c for c in contexts if c.group == top] if top in choice_lists else contexts[:1]
        present = [c for c in candidates if OmegaConf.select(c.cfg, param.key, default=_ABSENT) is not _ABSENT]
        if param.name.startswith("+"):
            if present:
                check.problems.append(f"parameter '{param.written_as}': the config already has {param.key} "
                                      f"(with {present[0].where()}); drop the '+'")
            else:
                placed[name] = candidates
            continue
        if not present:
            known = {k for c in contexts for k in _leaf_keys(c.cfg)} | set(groups)
            where = f" with any of {top}={', '.join(map(str, choice_lists[top]))}" if top in choice_lists else ""
            check.problems.append(f"parameter '{param.written_as}': unknown key {param.key} (not in the composed "
                                  f"config{where}){_did_you_mean(param.written_as, known)}")
            continue
        if len(present) < len(candidates):
            options = tuple(c.option for c in present)
            conditions[name] = {top: options}
            others = [str(c.option) for c in candidates if c not in present]
            check.notes.append(f"parameter '{param.written_as}' ({param.key}) applies only with {top}="
                               f"{', '.join(map(str, options))}; trials with {', '.join(others)} do not receive it")
        placed[name] = present

    fixed = [name for name in placed if spec.parameters[name].is_fixed]
    swept = [spec.parameters[name].key for name in placed if not spec.parameters[name].is_fixed]
    frozen: dict[int, tuple[DictConfig, set[str]]] = {}
    for context in contexts:  # contexts that share a composed config share its frozen copy (fixed values set)
        if id(context.cfg) not in frozen:
            sharing = [c for c in contexts if c.cfg is context.cfg]
            values = {name: spec.parameters[name].value for name in fixed
                      if name not in conditions or any(c in placed[name] for c in sharing)}
            cfg = _freeze(context.cfg, values, swept)
            frozen[id(context.cfg)] = cfg, set(_config_problems(cfg, {}, validate))
    for context in contexts:
        context.cfg, context.known = frozen[id(context.cfg)]
    reported: set[str] = set()
    for context in contexts:
        for line in sorted(context.known - reported):
            reported.add(line)
            where = f" with {context.where()}" if context.group and len(choice_lists[context.group]) > 1 else ""
            check.problems.append(f"the sweep's fixed values{where}: {line}")
        if spec.metric.startswith(QUALITY_PREFIX) and not OmegaConf.select(context.cfg, "quality.enabled"):
            check.problems.append(f"metric {spec.metric!r} is only logged with quality.enabled=true; with "
                                  f"{context.where()} it is false")
            break

    checks: dict[str, list[Any]] = {}
    for name, where in placed.items():
        param = spec.parameters[name]
        if param.is_fixed:
            continue
        values, complete = _finite_check_values(param)
        if not complete:
            check.notes.append(f"parameter '{param.written_as}': {len(values)} evenly spread values of its range are "
                               f"checked (ranges of up to {MAX_ENUMERATED} values are checked whole)")
        failing: dict[str, list[Any]] = {}
        passing = []
        for value in values:
            lines = _value_problems(param, value, where, validate)
            for line in lines:
                failing.setdefault(line, []).append(value)
            if not lines:
                passing.append(value)
        if failing:  # one message per parameter: every failing value, and what the first one breaks
            bad = list(dict.fromkeys(v for values_ in failing.values() for v in values_))
            first = [line for line, values_ in failing.items() if bad[0] in values_]
            check.problems.append(f"parameter '{param.written_as}' = {_values_text(bad)}: {'; '.join(first)}"
                                  + (f" (for {bad[0]!r}; the others fail alike or similarly)" if len(bad) > 1 else ""))
        checks[name] = passing
    check.problems += _combination_problems(spec, placed, checks, validate, check.notes)
    check.warnings += _hyperband_warnings(spec, contexts[0].cfg)
    check.spec = dataclasses.replace(spec, conditions=conditions)
    return check


def _hyperband_warnings(spec: SweepSpec, cfg: DictConfig) -> list[str]:
    """Hyperband whose first rung is at or beyond the trials' last epoch can never prune."""
    if spec.early_terminate is None:
        return []
    min_resource, _ = spec.early_terminate.resource_bounds()
    epochs = spec.parameters.get("trainer.max_epochs")
    if epochs is not None and epochs.is_finite:
        max_epochs = max(_finite_check_values(epochs)[0])
    else:
        max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if isinstance(max_epochs, int) and min_resource >= max_epochs:
        return [f"early_terminate: the first hyperband rung is at epoch {min_resource}, not below "
                f"trainer.max_epochs={max_epochs}: no trial runs long enough to be pruned; lower min_iter"]
    return []


def _value_problems(param: ParamSpec, value: Any, contexts: list[_Context],
                    validate: Callable[[DictConfig], None]) -> list[str]:
    """The problems ``value`` of ``param`` brings (beyond the fixed values') in each context it applies to;
    a context is named only when the value fails in some of them and not in others."""
    found: dict[str, list[_Context]] = {}
    for context in contexts:
        current = OmegaConf.select(context.cfg, param.key, default=_ABSENT)
        message = _type_problem(param.key, current, value)
        lines = [message] if message else [line for line in _config_problems(context.cfg, {param.name: value},
                                                                              validate) if line not in context.known]
        for line in lines:
            found.setdefault(line, []).append(context)
    return [line if len(where) == len(contexts) else f"{line} (with {', '.join(c.where() for c in where)})"
            for line, where in found.items()]


def _combination_problems(
    spec: SweepSpec,
    placed: dict[str, list[_Context]],
    checks: dict[str, list[Any]],
    validate: Callable[[DictConfig], None],
    notes: list[str],
) -> list[str]:
    """Cross-key problems that appear only when several swept values of one config node meet (each value alone
    passed): one message per node, naming the first failing combination and how many fail."""
    nodes: dict[str, list[str]] = {}
    for name, values in checks.items():
        if len(values) > 1:
            nodes.setdefault(spec.parameters[name].key.split(".")[0], []).append(name)
    found = []
    for node, names in nodes.items():
        if len(names) < 2:
            continue
        combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*(checks[n] for n in names))]
        total = len(combos)
        if total > MAX_COMBINATIONS:
            combos = random.Random(0).sample(combos, MAX_COMBINATIONS)
            notes.append(f"{MAX_COMBINATIONS} of the {total} combinations of the swept {node} keys are checked "
                         "together (a fixed random sample)")
        contexts = [c for c in placed[names[0]] if all(c in placed[n] for n in names)][:1]
        failing = []
        for combo in combos:
            for context in contexts:
                lines = [line for line in _config_problems(context.cfg, combo, validate)
                         if line not in context.known]
                if lines:
                    failing.append((combo, lines))
                    break
        if failing:
            combo, lines = failing[0]
            values = ", ".join(f"{spec.parameters[n].written_as}={v!r}" for n, v in combo.items())
            more = f" (and {len(failing) - 1} more of the {len(combos)} checked)" if len(failing) > 1 else ""
            found.append(f"combination {values}{more}: {'; '.join(lines)}")
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
    """Parse ``raw`` (a sweep file's content) and return ``(spec, every problem)``; an empty list means valid.
    The spec carries the warnings and notes ``init`` prints (``checked_sweep``)."""
    spec, problems, _ = checked_sweep(raw, backend, compose, validate, cwd)
    return spec, problems


def checked_sweep(
    raw: Any,
    backend: str,
    compose: Callable[[list[str]], DictConfig] | None = None,
    validate: Callable[[DictConfig], None] | None = None,
    cwd: Path | None = None,
) -> tuple[SweepSpec | None, list[str], list[str]]:
    """``(spec, problems, messages)``: ``messages`` are the ``warning: ...`` and ``note: ...`` lines for the user
    (each accepted construct that changes or drops something says so once)."""
    from snpdiff.config import compose_config, validate_config

    compose = compose or compose_config
    validate = validate or validate_config
    spec, problems = parse_sweep(raw, "val_loss")
    if spec is None:
        return None, problems, []
    problems += metric_problems(spec.metric, spec.goal, spec.metric_given)
    program = Path(spec.program)
    if not (program if program.is_absolute() else (cwd or Path.cwd()) / program).is_file():
        problems.append(f"program {spec.program!r} does not exist (relative to {cwd or Path.cwd()})")
    check = config_problems(spec, compose, validate)
    spec = check.spec
    problems += check.problems
    problems += backend_problems(spec, backend, compose)
    warnings = [*spec.warnings, *check.warnings]
    if spec.coerced:
        warnings.append(f"read as numbers (YAML reads 1e-4 without a dot as text): {', '.join(spec.coerced)}")
    if backend == "local" and spec.early_terminate is not None and spec.early_terminate.strict is not None:
        warnings.append("early_terminate.strict is not applicable to the local backend (Optuna's Hyperband pruner "
                        "has no strict mode); it is kept for W&B")
    messages = [f"warning: {w}" for w in warnings] + [f"note: {n}" for n in check.notes]
    return spec, problems, messages


def check_sweep(raw: Any, source: str, backend: str, say: Callable[[str], None] = print, **kwargs: Any) -> SweepSpec:
    """The parsed spec when ``raw`` is a valid sweep (its warnings and notes passed to ``say``); else one SweepError
    naming every problem."""
    spec, problems, messages = checked_sweep(raw, backend, **kwargs)
    if problems or spec is None:
        numbered = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        raise SweepError(f"sweep file {source} has {len(problems)} problem(s); nothing was created:\n{numbered}")
    for message in messages:
        say(message)
    return spec
