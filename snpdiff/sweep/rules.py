"""Check a parsed sweep against the composed config before anything is created, reporting every problem.

``snpdiff.sweep.spec`` parses the file (its structure, without the config); ``check_sweep`` takes that ``SweepSpec``
and checks the rest: every parameter name is a config key or group (with "did you mean" for near misses); every
group option exists; every value (each listed value, every value of a finite ``int_uniform``/``q_*`` range up to
``MAX_ENUMERATED``, or a distribution's extremes: ``ParamSpec.check_values``) fits the key's type
(``snpdiff.config.schema.type_ok``, the check config validation makes) and passes ``validate_config``, alone and
together with the other swept values of the same config node (up to ``MAX_COMBINATIONS``); the program exists; what
the chosen backend needs; the metric is one the training logs, with its goal. One message per problem, not per value.

It returns the spec normalised against the config, once: values written as text (``'1e-4'``) read as numbers where
the key takes a number, and the conditional parameters (a key that exists under only some options of a swept group:
trials receive it only under those).

Each option of a swept group is composed once (not every combination of options: a group's options differ only in
that group's node), and interpolations that read no swept key are resolved once per composed config.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import itertools
import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.compat import interpolation_references, raw_value
from snpdiff.config.schema import key_schema, takes_number, type_name, type_ok
from snpdiff.errors import ConfigError
from snpdiff.metrics.names import LOSS_METRICS, MODEL_METRICS, OOM_METRICS, QUALITY_PREFIX, is_logged
from snpdiff.sweep.bridge import config_groups
from snpdiff.sweep.legacy.aliases import ALIASES
from snpdiff.sweep.spec import ParamSpec, SweepSpec

# Values of a finite range (int_uniform, q_*) checked one by one; a longer range is checked at this many evenly
# spread values (init says so).
MAX_ENUMERATED = 64
# Combinations of the swept values of one config node (model, optimizer, ...) checked together (a fixed random
# sample beyond this many; init says so).
MAX_COMBINATIONS = 32
# Failing values named in a message before the rest are counted.
MAX_LISTED_VALUES = 6
# What a swept value must be, by the type the key's schema declares (other types are named as declared).
TYPE_WORDS = {
    "bool": "a boolean (true/false)",
    "int": "an integer; use int_uniform, q_* with an integer q, or int values",
    "float": "a number",
}
_ABSENT = object()

Compose = Callable[[list[str]], DictConfig]
Validate = Callable[[DictConfig], None]


@dataclass(frozen=True)
class SweepCheck:
    """What ``check_sweep`` found: the spec normalised against the config, every problem beyond the file's structure,
    and the lines ``init`` prints (``warning: ...`` for each accepted construct that changes or drops something,
    ``note: ...``)."""

    spec: SweepSpec
    problems: list[str]
    messages: list[str]


@dataclass
class _Findings:
    """What the checks collect on their way: problems, and the warnings and notes ``init`` prints."""

    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Context:
    """A composed config: the default group choices, or one option of one swept group (``group``, ``option``)."""

    group: str | None
    option: Any
    cfg: DictConfig
    known: set[str]  # validate_config's problems with the sweep's fixed values alone

    def where(self) -> str:
        return f"{self.group}={self.option}" if self.group else "the default groups"


def check_sweep(spec: SweepSpec, backend: str, compose: Compose | None = None, validate: Validate | None = None,
                cwd: Path | None = None) -> SweepCheck:
    """Check the parsed ``spec`` for what its structure does not show (``parse_sweep`` reports that): the metric
    against what the training logs, ``program`` (relative to ``cwd``, default the working directory), every parameter
    against the composed config (``compose``, ``validate``: ``compose_config``, ``validate_config``) and what
    ``backend`` needs. Returns the spec with text numbers read and conditions found, every problem, and the lines
    ``init`` prints."""
    from snpdiff.config import compose_config, validate_config

    compose = compose or compose_config
    validate = validate or validate_config
    found = _Findings(problems=_program_problems(spec.program, cwd or Path.cwd()))
    groups = config_groups()
    options = _group_options(spec, groups, found)
    contexts = _compose_contexts(spec, compose, options, found)
    if contexts:
        parameters, read = _numbers_read(spec, contexts)
        checked = {name: param.check_values(MAX_ENUMERATED) for name, param in parameters.items()}
        placed, conditions = _place(spec, contexts, options, groups, found)
        spec = dataclasses.replace(spec, parameters=parameters, coerced=(*spec.coerced, *read), conditions=conditions)
        _set_fixed_values(spec, contexts, placed, options, validate, found)
        _check_swept_values(spec, placed, checked, validate, found)
        found.warnings += _hyperband_warnings(spec, checked, contexts[0].cfg)
    found.problems += _backend_problems(spec, backend, contexts)
    messages = _messages(spec, backend, found)
    return SweepCheck(spec, _metric_problems(spec.metric, spec.goal, spec.metric_given) + found.problems, messages)


def _logged_metric_names() -> str:
    """The metric names a sweep may optimise, for messages."""
    return ", ".join([*LOSS_METRICS, *MODEL_METRICS, *OOM_METRICS, "lr-<optimizer>", f"{QUALITY_PREFIX}<metric>"])


def _metric_problems(name: str, goal: str, given: bool) -> list[str]:
    """Problems with the sweep's metric: never logged, or optimised the wrong way."""
    from snpdiff.metrics.goals import METRICS, metric_goal

    if name in MODEL_METRICS or name in OOM_METRICS or name.startswith("lr-"):
        return []
    if not is_logged(name):
        quality = ", ".join(sorted(METRICS))
        return [f"metric.name={name!r} is never logged by the training; logged: {_logged_metric_names()} "
                f"(<metric> one of {quality})"]
    try:
        natural = metric_goal(name)
    except ConfigError as exc:  # a target metric such as val/aats: no direction to optimise
        return [f"metric.name={name!r}: {exc}"]
    if given and goal != natural:
        return [f"metric {name!r} is better when it is {'larger' if natural == 'maximize' else 'smaller'}: "
                f"use goal: {natural}, not {goal}"]
    return []


def _program_problems(program: str, cwd: Path) -> list[str]:
    path = Path(program)
    if (path if path.is_absolute() else cwd / path).is_file():
        return []
    return [f"program {program!r} does not exist (relative to {cwd})"]


def _group_options(spec: SweepSpec, groups: Mapping[str, tuple[str, ...]], found: _Findings) -> dict[str, list[Any]]:
    """The options to compose of each config group the sweep sets (one that does not exist is reported; a group left
    without options is composed as null)."""
    options: dict[str, list[Any]] = {}
    for name, param in spec.parameters.items():
        if name not in groups:
            continue
        if param.distribution not in ("constant", "categorical"):
            found.problems.append(f"parameter '{param.written_as}' is the config group {name}: give value or values "
                                  f"(options: {', '.join(groups[name])}), not distribution {param.distribution}")
            continue
        valid = []
        for option in {repr(o): o for o in param.finite_values()}.values():  # each option once: each is composed
            if option is None or option in groups[name]:
                valid.append(option)
                continue
            close = difflib.get_close_matches(str(option), groups[name], n=2)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            found.problems.append(f"parameter '{param.written_as}': {name}={option!r} does not exist; options: "
                                  f"{', '.join(groups[name]) or '(none)'}{hint}")
        options[name] = valid or [None]
    return options


def _compose_contexts(spec: SweepSpec, compose: Compose, options: dict[str, list[Any]],
                      found: _Findings) -> list[_Context]:
    """The default context (each swept group at its first option) and one per further option of a swept group:
    as many compositions as options, not as their combinations (a group's options differ in that group's node)."""
    first = {group: group_options[0] for group, group_options in options.items()}

    def overrides(choice: Mapping[str, Any]) -> list[str]:
        return [*spec.command_overrides(), *(f"{g}={'null' if o is None else o}" for g, o in choice.items())]

    wanted: list[tuple[str | None, Any]] = [(None, None)]
    wanted += [(g, o) for g, group_options in options.items() for o in group_options[1:]]
    contexts: list[_Context] = []
    for group, option in wanted:
        choice = {**first, **({group: option} if group else {})}
        try:
            cfg = _swapped(contexts[0].cfg, group, first[group], option) if contexts and group else None
            cfg = cfg if cfg is not None else compose(overrides(choice))
        except Exception as exc:  # noqa: BLE001 - Hydra raises many types; each becomes one reported problem
            where = f"{group}={option}" if group else _describe(first)
            found.problems.append(f"with {where}: the config does not compose: {exc}")
            continue
        contexts.append(_Context(group, option, cfg, set()))
    if contexts and contexts[0].group is None:  # the default context also stands for each group's first option
        for group, option in first.items():
            contexts.append(_Context(group, option, contexts[0].cfg, set()))
    order = {(g, o): i for g, group_options in options.items() for i, o in enumerate(group_options)}
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


def _numbers_read(spec: SweepSpec, contexts: list[_Context]) -> tuple[dict[str, ParamSpec], list[str]]:
    """The parameters with values written as text (``'1e-4'``) read as numbers (``ParamSpec.as_numbers``) where their
    key takes a number in some composed config, and what was read (for the warning)."""
    parameters = dict(spec.parameters)
    read = []
    for name, param in spec.parameters.items():
        if param.as_numbers is None or not any(takes_number(context.cfg, param.key) for context in contexts):
            continue  # no text that reads as numbers (the type check reports text that does not fit), or a text key
        texts = [v for v in param.finite_values() if isinstance(v, str)]
        read.append(f"{param.written_as}={texts[0]!r}" if len(texts) == 1 else
                    f"{param.written_as} values {', '.join(repr(t) for t in texts)}")
        numbers = {"value": param.as_numbers[0]} if param.is_fixed else {"values": param.as_numbers}
        parameters[name] = dataclasses.replace(param, **numbers, as_numbers=None)
    return parameters, read


def _place(spec: SweepSpec, contexts: list[_Context], options: dict[str, list[Any]],
           groups: Mapping[str, tuple[str, ...]],
           found: _Findings) -> tuple[dict[str, list[_Context]], dict[str, dict[str, tuple[Any, ...]]]]:
    """``(placed, conditions)``: the contexts each key parameter applies to (those with its key; for a ``+key``
    those that may add it), and the conditional ones: a key that only some options of its swept group have."""
    placed: dict[str, list[_Context]] = {}
    conditions: dict[str, dict[str, tuple[Any, ...]]] = {}
    for name, param in spec.parameters.items():
        if name in groups:
            continue
        top = param.key.split(".")[0]
        candidates = [c for c in contexts if c.group == top] if top in options else contexts[:1]
        present = [c for c in candidates if OmegaConf.select(c.cfg, param.key, default=_ABSENT) is not _ABSENT]
        if param.name.startswith("+"):
            if present:
                found.problems.append(f"parameter '{param.written_as}': the config already has {param.key} "
                                      f"(with {present[0].where()}); drop the '+'")
            else:
                placed[name] = candidates
            continue
        if not present:
            known = {k for c in contexts for k in _leaf_keys(c.cfg)} | set(groups)
            where = f" with any of {top}={', '.join(map(str, options[top]))}" if top in options else ""
            found.problems.append(f"parameter '{param.written_as}': unknown key {param.key} (not in the composed "
                                  f"config{where}){_did_you_mean(param.written_as, known)}")
            continue
        if len(present) < len(candidates):
            applies = tuple(c.option for c in present)
            conditions[name] = {top: applies}
            others = [str(c.option) for c in candidates if c not in present]
            found.notes.append(f"parameter '{param.written_as}' ({param.key}) applies only with {top}="
                               f"{', '.join(map(str, applies))}; trials with {', '.join(others)} do not receive it")
        placed[name] = present
    return placed, conditions


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


def _set_fixed_values(spec: SweepSpec, contexts: list[_Context], placed: dict[str, list[_Context]],
                      options: dict[str, list[Any]], validate: Validate, found: _Findings) -> None:
    """Gives each context its config with the sweep's fixed values set (``_freeze``; contexts that share a composed
    config share the copy) and reports, once each, the problems those values bring."""
    fixed = [name for name in placed if spec.parameters[name].is_fixed]
    swept = [spec.parameters[name].key for name in placed if not spec.parameters[name].is_fixed]
    frozen: dict[int, tuple[DictConfig, set[str]]] = {}
    for context in contexts:
        if id(context.cfg) not in frozen:
            sharing = [c for c in contexts if c.cfg is context.cfg]
            values = {name: spec.parameters[name].value for name in fixed
                      if name not in spec.conditions or any(c in placed[name] for c in sharing)}
            cfg = _freeze(context.cfg, values, swept)
            frozen[id(context.cfg)] = cfg, set(_config_problems(cfg, {}, validate))
    for context in contexts:
        context.cfg, context.known = frozen[id(context.cfg)]
    reported: set[str] = set()
    for context in contexts:
        for line in sorted(context.known - reported):
            reported.add(line)
            where = f" with {context.where()}" if context.group and len(options[context.group]) > 1 else ""
            found.problems.append(f"the sweep's fixed values{where}: {line}")
        if spec.metric.startswith(QUALITY_PREFIX) and not OmegaConf.select(context.cfg, "quality.enabled"):
            found.problems.append(f"metric {spec.metric!r} is only logged with quality.enabled=true; with "
                                  f"{context.where()} it is false")
            break


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


def _check_swept_values(spec: SweepSpec, placed: dict[str, list[_Context]],
                        checked: dict[str, tuple[list[Any], bool]], validate: Validate, found: _Findings) -> None:
    """Reports the problems of the values that stand for each swept parameter (``checked``: ``check_values``) in the
    contexts it applies to, one message per parameter, then those of the values of one config node together
    (``_combination_problems``)."""
    passing: dict[str, list[Any]] = {}
    for name, where in placed.items():
        param = spec.parameters[name]
        if param.is_fixed:
            continue
        values, complete = checked[name]
        if not complete:
            found.notes.append(f"parameter '{param.written_as}': {len(values)} evenly spread values of its range or "
                               f"list are checked (up to {MAX_ENUMERATED} values are checked whole)")
        failing: dict[str, list[Any]] = {}
        passing[name], bad = [], []
        for value in values:
            lines = _value_problems(param, value, where, validate)
            for line in lines:
                failing.setdefault(line, []).append(value)
            (bad if lines else passing[name]).append(value)
        if bad:  # one message per parameter: every failing value, and what the first one breaks
            first = [line for line, values_ in failing.items() if bad[0] in values_]
            found.problems.append(f"parameter '{param.written_as}' = {_values_text(bad)}: {'; '.join(first)}"
                                  + (f" (for {bad[0]!r}; the others fail alike or similarly)" if len(bad) > 1 else ""))
    found.problems += _combination_problems(spec, placed, passing, validate, found.notes)


def _value_problems(param: ParamSpec, value: Any, contexts: list[_Context], validate: Validate) -> list[str]:
    """The problems ``value`` of ``param`` brings (beyond the fixed values') in each context it applies to;
    a context is named only when the value fails in some of them and not in others."""
    found: dict[str, list[_Context]] = {}
    for context in contexts:
        message = _type_problem(context.cfg, param.key, value)
        lines = [message] if message else [line for line in _config_problems(context.cfg, {param.name: value},
                                                                              validate) if line not in context.known]
        for line in lines:
            found.setdefault(line, []).append(context)
    return [line if len(where) == len(contexts) else f"{line} (with {', '.join(c.where() for c in where)})"
            for line, where in found.items()]


def _type_problem(cfg: DictConfig, key: str, value: Any) -> str | None:
    """A message when ``value`` does not fit the type the schema declares for ``key`` (``type_ok``, the check config
    validation makes); None when it fits, is null (the value rules decide) or no schema declares the key."""
    declared = None if value is None else key_schema(cfg, key)
    if declared is None or type_ok(*declared, value):
        return None
    name = type_name(*declared)
    return f"{key}={value!r}: the config holds {TYPE_WORDS.get(name, name)}"


def _config_problems(cfg: DictConfig, values: Mapping[str, Any], validate: Validate) -> list[str]:
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


def _first_absent(cfg: DictConfig, key: str) -> str | None:
    """The shortest prefix of the dotted ``key`` that ``cfg`` lacks (what setting ``key`` would create)."""
    parts = key.split(".")
    for end in range(1, len(parts) + 1):
        prefix = ".".join(parts[:end])
        if OmegaConf.select(cfg, prefix, default=_ABSENT) is _ABSENT:
            return prefix
    return None


def _problem_lines(exc: ConfigError) -> list[str]:
    """The individual problems of a ``validate_config`` error (one per ``  - `` line)."""
    lines = [line[4:] for line in str(exc).splitlines() if line.startswith("  - ")]
    return lines or [str(exc)]


def _combination_problems(spec: SweepSpec, placed: dict[str, list[_Context]], passing: dict[str, list[Any]],
                          validate: Validate, notes: list[str]) -> list[str]:
    """Cross-key problems that appear only when several swept values of one config node meet (each value alone
    passed): one message per node, naming the first failing combination and how many fail."""
    nodes: dict[str, list[str]] = {}
    for name, values in passing.items():
        if len(values) > 1:
            nodes.setdefault(spec.parameters[name].key.split(".")[0], []).append(name)
    found = []
    for node, names in nodes.items():
        if len(names) < 2:
            continue
        combos = [dict(zip(names, c, strict=True)) for c in itertools.product(*(passing[n] for n in names))]
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


def _hyperband_warnings(spec: SweepSpec, checked: dict[str, tuple[list[Any], bool]], cfg: DictConfig) -> list[str]:
    """Hyperband whose first rung is at or beyond the trials' last epoch can never prune."""
    if spec.early_terminate is None:
        return []
    min_resource, _ = spec.early_terminate.resource_bounds()
    epochs = spec.parameters.get("trainer.max_epochs")
    if epochs is not None and epochs.is_finite:
        max_epochs = max(checked["trainer.max_epochs"][0])
    else:
        max_epochs = OmegaConf.select(cfg, "trainer.max_epochs", default=None)
    if isinstance(max_epochs, int) and min_resource >= max_epochs:
        return [f"early_terminate: the first hyperband rung is at epoch {min_resource}, not below "
                f"trainer.max_epochs={max_epochs}: no trial runs long enough to be pruned; lower min_iter"]
    return []


def _backend_problems(spec: SweepSpec, backend: str, contexts: list[_Context]) -> list[str]:
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
    if backend == "wandb" and any(not (c.cfg.get("logger") or {}).get("wandb") for c in contexts):
        problems.append("backend wandb needs logger=wandb: each trial logs its metrics into its W&B run; "
                        "remove the logger setting or use --backend local")
    return problems


def _messages(spec: SweepSpec, backend: str, found: _Findings) -> list[str]:
    """The ``warning: ...`` and ``note: ...`` lines ``init`` prints: each accepted construct that changes or drops
    something says so once."""
    warnings = [*spec.warnings, *found.warnings]
    if spec.coerced:
        warnings.append(f"read as numbers (YAML reads 1e-4 without a dot as text): {', '.join(spec.coerced)}")
    if backend == "local" and spec.early_terminate is not None and spec.early_terminate.strict is not None:
        warnings.append("early_terminate.strict is not applicable to the local backend (Optuna's Hyperband pruner "
                        "has no strict mode); it is kept for W&B")
    return [f"warning: {w}" for w in warnings] + [f"note: {n}" for n in found.notes]


def _describe(choice: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in choice.items()) or "the default groups"


def _values_text(values: list[Any]) -> str:
    shown = ", ".join(repr(v) for v in values[:MAX_LISTED_VALUES])
    return shown + (f" and {len(values) - MAX_LISTED_VALUES} more" if len(values) > MAX_LISTED_VALUES else "")
