"""The sweep file: a standard W&B sweep YAML, read, parsed for its structure, flattened and de-aliased.

Parameter names are Hydra keys (``optimizer.lr``) or config-group choices (``model``, ``scheduler``). Nested
``parameters:`` blocks are flattened to dotted keys (``optimizer: {parameters: {lr: ...}}`` is ``optimizer.lr``).
The old tool's flat names are accepted through ``ALIASES``, the one table that maps them. A name may start with
``+`` to add a key the config does not have (Hydra's append syntax); without it an unknown key is an error.

Parsing is pure: it reads the file alone, never the config. ``parse_sweep`` returns the ``SweepSpec`` and every
structural problem, once; ``snpdiff.sweep.rules`` checks that spec against the composed config.
"""

from __future__ import annotations

import math
import shlex
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from snpdiff.errors import SweepError

METHODS = ("grid", "random", "bayes")
GOALS = ("minimize", "maximize")
TOP_LEVEL_KEYS = (
    "method", "metric", "parameters", "early_terminate", "run_cap", "program", "command",
    "name", "description", "project", "entity", "controller", "count",
)
# The stored sweep's own key (``to_dict``): what W&B's spec cannot say (agents' default count, conditional parameters).
STORED_KEY = "snpdiff"
PARAM_KEYS = ("value", "values", "distribution", "min", "max", "q", "mu", "sigma", "probabilities", "parameters")
DEFAULT_PROGRAM = "train.py"
DEFAULT_COMMAND = ("${env}", "${interpreter}", "${program}", "${args_no_hyphens}")
# W&B's argument macros. For a Hydra program every one of them means "the trial's Hydra overrides", rendered by
# snpdiff.sweep.bridge (W&B's own rendering writes None as "None" and dicts in Python syntax, which Hydra rejects).
ARGS_MACROS = ("${args}", "${args_no_hyphens}", "${args_no_boolean_flags}")
# W&B's ${args_json}, ${args_json_file} and per-parameter macros have no Hydra form: refused with these listed.
OTHER_MACROS = ("${env}", "${interpreter}", "${program}")
# A quantile in (0, 1) is what the local backend samples for the normal family; the tails beyond ~5 sigma are cut.
NORMAL_QUANTILE_BOUNDS = (3e-7, 1 - 3e-7)
# Config checks try the normal family at mu and mu +- this many sigma.
NORMAL_CHECK_SIGMAS = 3.0
# Limits on a sweep YAML (a sweep file, a stored sweep, a sweep record, a W&B run's parameters), which may come from
# anyone: a real one is a few kB of a few hundred values. Each is checked before the file is built into Python
# objects, so no file makes a sweep command hold more than a few MB or take more than a moment.
MAX_YAML_BYTES = 1_000_000
MAX_YAML_NODES = 5_000  # scalars, lists and mappings
MAX_YAML_DEPTH = 50  # lists and mappings inside each other
# The key by which Hydra's ``instantiate`` calls what a mapping names: never in a parameter's value (plain data, as
# in a checkpoint's stored config), where it would run any callable with the trial's arguments.
TARGET_KEY = "_target_"

# W&B distributions: the keys each needs, with W&B's defaults (None = required).
DISTRIBUTIONS: dict[str, dict[str, float | None]] = {
    "constant": {},
    "categorical": {},
    "int_uniform": {"min": None, "max": None},
    "uniform": {"min": None, "max": None},
    "q_uniform": {"min": None, "max": None, "q": 1.0},
    "log_uniform": {"min": None, "max": None},  # exp(uniform(min, max)): min/max are natural-log exponents
    "log_uniform_values": {"min": None, "max": None},  # log-uniform between the values min and max
    "q_log_uniform": {"min": None, "max": None, "q": 1.0},
    "q_log_uniform_values": {"min": None, "max": None, "q": 1.0},
    "inv_log_uniform": {"min": None, "max": None},  # exp(-uniform(min, max))
    "inv_log_uniform_values": {"min": None, "max": None},  # 1/X log-uniform, X in [min, max]
    "normal": {"mu": 0.0, "sigma": 1.0},
    "q_normal": {"mu": 0.0, "sigma": 1.0, "q": 1.0},
    "log_normal": {"mu": 0.0, "sigma": 1.0},  # exp(normal(mu, sigma))
    "q_log_normal": {"mu": 0.0, "sigma": 1.0, "q": 1.0},
}
NORMAL_FAMILY = ("normal", "q_normal", "log_normal", "q_log_normal")

@dataclass(frozen=True)
class Retired:
    """An old parameter name whose feature this network does not have: dropped from a sweep with a warning."""

    reason: str


# The old tool's flat parameter names -> the Hydra key (or config group) that does what the name did there, or
# Retired(why) for a feature this network does not have. The one place this mapping lives.
ALIASES: dict[str, str | Retired] = {
    # optimizer
    "learning_rate": "optimizer.lr",
    "lr": "optimizer.lr",
    "weight_decay": "optimizer.weight_decay",
    "betas": "optimizer.betas",
    "beta1": "optimizer.betas.0",  # the halves of Adam's betas, each swept alone or both together
    "beta2": "optimizer.betas.1",
    "eps": "optimizer.eps",
    "amsgrad": "optimizer.amsgrad",
    # data and trainer
    "batch_size": "data.batch_size",
    "seq_length": "data.seq_length",
    "n_individuals": "data.n_individuals",
    "epochs": "trainer.max_epochs",
    "max_epochs": "trainer.max_epochs",
    "gradient_clip_val": "trainer.gradient_clip_val",
    "accumulate_grad_batches": "trainer.accumulate_grad_batches",
    "precision": "trainer.precision",
    # model
    "embedding_dim": "model.embedding_dim",
    "time_dim": "model.time_dim",
    "channels": "model.channels",
    "dim_mults": "model.dim_mults",
    "kernel_sizes": "model.kernel_sizes",
    "dilations": "model.dilations",
    "norm_groups": "model.norm_groups",
    "dropout": "model.dropout",
    "with_time_emb": "model.use_time_emb",
    "with_pos_emb": "model.use_pos_emb",
    "use_scale_shift_norm": "model.use_scale_shift_norm",
    "use_attention": "model.use_attention",
    "attention_heads": "model.attention_heads",
    "attention_dim_head": "model.attention_dim_head",
    "edge_pad": Retired("the UNet pads the SNP axis itself (zeros on the right up to a multiple of "
                        "2**(levels - 1), cropped from the output); there is no edge padding to choose"),
    "pos_dim": Retired("the positional embedding is learned per SNP at the first level's width "
                       "(model.use_pos_emb); it has no width of its own"),
    "attention_type": Retired("the old sparse attention is not implemented: model.use_attention gives linear "
                              "attention per level and full attention in the middle"),
    "attention_window": Retired("the old sliding-window attention is not implemented (model.use_attention "
                                "attends over the whole window)"),
    "window_size": Retired("the old sliding-window attention is not implemented (model.use_attention attends "
                           "over the whole window)"),
    "num_global_tokens": Retired("the old sparse attention's global tokens are not implemented"),
    # loss and diffusion
    "discrete_penalty_weight": "loss.discrete_penalty_weight",
    "use_discrete_loss": "loss.use_discrete_loss",
    "timesteps": "diffusion.timesteps",
    "beta_start": "diffusion.beta_start",
    "beta_end": "diffusion.beta_end",
    "schedule_type": "diffusion.schedule_type",
    "prediction": "diffusion.prediction",
    "sampler": "diffusion.sampler",
    "sampling_steps": "diffusion.sampling_steps",
    # learning-rate scheduler: a group choice, and the keys of the options that take them
    "scheduler_type": "scheduler",  # cosine | reduce | onecycle | warmup_cosine | none
    "eta_min": "scheduler.eta_min",  # cosine, warmup_cosine
    "min_lr": "scheduler.min_lr",  # reduce
    "warmup_epochs": "scheduler.warmup_epochs",  # warmup_cosine
    "scheduler_factor": "scheduler.factor",  # reduce (ReduceLROnPlateau)
    "scheduler_patience": "scheduler.patience",
    "scheduler_threshold": "scheduler.threshold",
    "scheduler_mode": "scheduler.mode",
    "scheduler_min_lr": "scheduler.min_lr",
    "scheduler_max_lr": "scheduler.max_lr",  # onecycle (OneCycleLR)
    "scheduler_pct_start": "scheduler.pct_start",
    "scheduler_div_factor": "scheduler.div_factor",
    "scheduler_final_div_factor": "scheduler.final_div_factor",
    "scheduler_anneal_strategy": "scheduler.anneal_strategy",
}
# What ``program:`` named in the old tool; a sweep of it runs train.py.
OLD_PROGRAMS = ("train_sweep.py",)


def quantize(value: float, q: float) -> float | int:
    """W&B's ``q_*`` rounding: ``round(value / q) * q``, an int when ``q`` is an int."""
    rounded = round(value / q) * q
    return int(rounded) if isinstance(q, int) and not isinstance(q, bool) else rounded


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ParamSpec:
    """One swept parameter: its Hydra key (or group), its W&B distribution and that distribution's arguments.

    ``distribution`` is ``constant`` for ``value:``, ``categorical`` for ``values:``, else a key of DISTRIBUTIONS.
    """

    name: str
    distribution: str
    written_as: str
    value: Any = None
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None
    # value/values with each text read as the number it stands for ('1e-4': YAML reads 1e-4 without a dot as text),
    # when there is such text and all of it is numbers; snpdiff.sweep.rules uses them where the key takes a number
    as_numbers: tuple[Any, ...] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The Hydra key without a leading ``+`` (the ``+`` only says "add it")."""
        return self.name.lstrip("+")

    @property
    def is_fixed(self) -> bool:
        return self.distribution == "constant"

    @property
    def is_finite(self) -> bool:
        """Whether the parameter takes a finite list of values (usable by grid search)."""
        return self.distribution in ("constant", "categorical", "int_uniform")

    def finite_values(self) -> list[Any]:
        """Every value of a finite parameter, in order (grid search iterates these)."""
        if self.distribution == "constant":
            return [self.value]
        if self.distribution == "categorical":
            return list(self.values)
        if self.distribution == "int_uniform":
            return list(range(int(self.min), int(self.max) + 1))
        raise SweepError(f"parameter {self.written_as!r}: distribution {self.distribution} has no finite values")

    def from_unit(self, u: float) -> Any:
        """The value at the point ``u`` in (0, 1) of the distribution's own scale (used for checks and sampling).

        Uniform family: the ``u`` fraction between the bounds on the distribution's scale; normal family:
        the ``u`` quantile. ``q_*`` distributions are rounded to ``q``.
        """
        d = self.distribution
        if d in NORMAL_FAMILY:
            x = statistics.NormalDist(self.mu, self.sigma).inv_cdf(u)
            x = math.exp(x) if "log" in d else x
        else:
            low, high, log = self.sample_range()
            x = math.exp(math.log(low) + u * (math.log(high) - math.log(low))) if log else low + u * (high - low)
        return quantize(x, self.q) if d.startswith("q_") else x

    def sample_range(self) -> tuple[float, float, bool]:
        """``(low, high, log_scale)`` of the uniform family, in the parameter's own units."""
        d = self.distribution
        if d in ("uniform", "q_uniform"):
            return float(self.min), float(self.max), False
        if d in ("log_uniform", "q_log_uniform"):
            return math.exp(self.min), math.exp(self.max), True
        if d in ("log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"):
            return float(self.min), float(self.max), True
        if d == "inv_log_uniform":
            return math.exp(-self.max), math.exp(-self.min), True
        raise SweepError(f"parameter {self.written_as!r}: {d} is not in the uniform family")

    def check_values(self, limit: int) -> tuple[list[Any], bool]:
        """``(values, complete)``: the values that stand for the parameter in config checks. Every listed value and
        every value of an ``int_uniform`` or ``q_*`` range, or ``limit`` evenly spread ones of a longer list or range
        (``complete`` false: each value costs a config validation); the extremes of a continuous range; mu and
        mu +- ``NORMAL_CHECK_SIGMAS`` sigma of the normal family."""
        d = self.distribution
        if d in NORMAL_FAMILY:
            tail = statistics.NormalDist().cdf(NORMAL_CHECK_SIGMAS)
            return [self.from_unit(1 - tail), self.from_unit(0.5), self.from_unit(tail)], True
        values: Sequence[Any]
        if d in ("constant", "categorical"):
            values = self.finite_values()
        elif d == "int_uniform":
            values = range(int(self.min), int(self.max) + 1)  # a range: a long one is never listed whole
        elif d.startswith("q_"):
            low, high, _ = self.sample_range()
            if (high - low) / self.q > 10 * limit:  # too many steps to list: the extremes stand for them
                return [self.from_unit(0.0), self.from_unit(1.0)], False
            steps = range(math.ceil(low / self.q), math.floor(high / self.q) + 1)
            values = sorted({quantize(low, self.q), quantize(high, self.q), *(quantize(k * self.q, self.q)
                                                                               for k in steps)})
        else:
            return [self.from_unit(0.0), self.from_unit(1.0)], True
        if len(values) <= limit:
            return list(values), True
        step = (len(values) - 1) / (limit - 1)
        return [values[round(i * step)] for i in range(limit)], False

    def to_wandb(self) -> dict[str, Any]:
        """This parameter as a W&B sweep ``parameters`` entry."""
        if self.distribution == "constant":
            return {"value": self.value}
        if self.distribution == "categorical":
            entry: dict[str, Any] = {"values": list(self.values)}
            if self.probabilities is not None:
                entry["probabilities"] = list(self.probabilities)
            return entry
        entry = {"distribution": self.distribution}
        for key in DISTRIBUTIONS[self.distribution]:
            entry[key] = getattr(self, key)
        return entry


@dataclass(frozen=True)
class Hyperband:
    """W&B ``early_terminate: {type: hyperband}``. Resources are epochs (the training reports once per epoch)."""

    eta: int = 3
    min_iter: int | None = None
    max_iter: int | None = None
    s: int | None = None
    strict: bool | None = None  # W&B's stricter brackets; kept for W&B, not applicable to Optuna's pruner

    def resource_bounds(self) -> tuple[int, int | str]:
        """``(min_resource, max_resource)`` in epochs; max is ``"auto"`` when only ``min_iter`` is given.

        W&B's brackets are ``min_iter * eta**k`` (k < s) or ``max_iter / eta**k`` (k <= s).
        """
        if self.max_iter is not None:
            return max(1, int(self.max_iter // self.eta ** (self.s or 0))), int(self.max_iter)
        if self.s is not None:
            return int(self.min_iter), int(self.min_iter * self.eta**self.s)
        return int(self.min_iter), "auto"


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file. ``parameters`` maps canonical names (Hydra keys or groups) to their specs, in file order."""

    method: str
    metric: str
    goal: str
    parameters: dict[str, ParamSpec]
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    program: str = DEFAULT_PROGRAM
    command: tuple[str, ...] = DEFAULT_COMMAND
    name: str | None = None
    description: str | None = None
    project: str | None = None
    entity: str | None = None
    metric_given: bool = True
    target: float | None = None  # metric.target: the sweep stops once a trial reaches it
    controller: dict[str, Any] | None = None  # W&B's controller, passed on unchanged
    count: int | None = None  # the agents' default --count (an old file's top-level count)
    # key -> {group: options}: a key that only some options of a swept group have is set only under those options
    # (found against the composed config by snpdiff.sweep.rules, then stored with the sweep)
    conditions: dict[str, dict[str, tuple[Any, ...]]] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default=(), compare=False)  # accepted, but the user should know
    coerced: tuple[str, ...] = field(default=(), compare=False)  # numbers written as text, read as numbers

    def fixed_params(self) -> dict[str, Any]:
        return {name: p.value for name, p in self.parameters.items() if p.is_fixed}

    def varying_names(self) -> list[str]:
        return [name for name, p in self.parameters.items() if not p.is_fixed]

    def _grid_columns(self) -> list[tuple[str, Sequence[Any]]]:
        """Each parameter's grid values, in file order (an ``int_uniform`` as a range: never listed whole)."""
        return [(name, range(int(p.min), int(p.max) + 1) if p.distribution == "int_uniform" else p.finite_values())
                for name, p in self.parameters.items()]

    def grid_size(self) -> int:
        """How many points a grid sweep has: the product of its parameters' numbers of values."""
        return math.prod(len(values) for _, values in self._grid_columns())

    def grid_point(self, number: int) -> dict[str, Any]:
        """Point ``number`` (0-based, below ``grid_size()``) of a grid sweep, in W&B's order: that of
        ``itertools.product`` over the parameters in file order (the last varies fastest), computed from the number
        as a mixed-radix numeral, so no grid is ever listed."""
        point: dict[str, Any] = {}
        for name, values in reversed(self._grid_columns()):
            number, index = divmod(number, len(values))
            point[name] = values[index]
        return {name: point[name] for name in self.parameters}

    def command_overrides(self) -> list[str]:
        """Literal tokens after ``${program}`` in ``command``: Hydra overrides every trial gets."""
        tokens = list(self.command)
        start = tokens.index("${program}") + 1 if "${program}" in tokens else len(tokens)
        return [t for t in tokens[start:] if not (t.startswith("${") and t.endswith("}"))]

    def applies(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether parameter ``name`` applies with the group choices in ``params`` (see ``conditions``)."""
        return all(params.get(group) in options for group, options in self.conditions.get(name, {}).items())

    def applicable(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``params`` without the conditional parameters that do not apply to its group choices."""
        return {name: value for name, value in params.items() if self.applies(name, params)}

    def to_wandb(self) -> dict[str, Any]:
        """The sweep as W&B's spec: every W&B key of the file, parameters under their canonical names."""
        out: dict[str, Any] = {
            "method": self.method,
            "metric": {"name": self.metric, "goal": self.goal,
                       **({"target": self.target} if self.target is not None else {})},
            "parameters": {name: p.to_wandb() for name, p in self.parameters.items()},
            "program": self.program,
            "command": list(self.command),
        }
        if self.early_terminate is not None:
            hb = self.early_terminate
            out["early_terminate"] = {
                "type": "hyperband",
                **{k: v for k, v in (("eta", hb.eta), ("min_iter", hb.min_iter), ("max_iter", hb.max_iter),
                                     ("s", hb.s), ("strict", hb.strict)) if v is not None},
            }
        for key in ("run_cap", "name", "description", "project", "entity", "controller"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The canonical sweep file (flattened, aliases resolved): what is stored with the sweep."""
        out = self.to_wandb()
        stored = {"count": self.count,
                  "conditions": {k: {g: list(o) for g, o in c.items()} for k, c in self.conditions.items()}}
        stored = {k: v for k, v in stored.items() if v}
        if stored:
            out[STORED_KEY] = stored
        return out


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


def number_from_text(value: Any) -> float | int | None:
    """The number a text such as ``'1e-4'`` stands for (PyYAML reads ``1e-4`` without a dot as text), else None."""
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return int(number) if number.is_integer() and not any(c in value for c in ".eE") else number


def _as_numbers(values: list[Any]) -> tuple[Any, ...] | None:
    """``values`` with every text read as the number it stands for, when some value is text and all of it numbers."""
    if not any(isinstance(v, str) for v in values):
        return None
    numbers = tuple(number_from_text(v) if isinstance(v, str) else v for v in values)
    return None if any(n is None for n in numbers) else numbers


def value_like_log_uniform(low: float, high: float) -> bool:
    """Whether ``log_uniform`` bounds look like the values meant rather than their natural logs: both in (0, 1], or
    both above 1 and more than a factor e apart."""
    return (0 < low <= 1 and 0 < high <= 1) or (low > 1 and high > 1 and high / low > math.e)


def _parse_param(name: str, written: str, entry: Any, problems: list[str],
                 coerced: list[str] | None = None) -> ParamSpec | None:
    """One parameter entry -> ParamSpec, or None with the reasons appended to ``problems``.

    Distribution arguments written as text (``min: 1e-4``) are read as numbers and listed in ``coerced``."""
    where = f"parameter '{written}'" + (f" (alias of {name})" if written != name else "")
    if not isinstance(entry, dict):
        problems.append(f"{where}: must be a mapping with value, values or distribution; got {entry!r}")
        return None
    unknown = sorted(set(entry) - set(PARAM_KEYS))
    if unknown:
        problems.append(f"{where}: unknown keys {unknown}; allowed: {', '.join(PARAM_KEYS[:-1])}")
        return None
    distribution = entry.get("distribution")
    if distribution is None:  # W&B infers the distribution from the keys given
        if "values" in entry:
            distribution = "categorical"
        elif "value" in entry:
            distribution = "constant"
        elif "min" in entry and "max" in entry:
            ints = all(isinstance(entry[k], int) and not isinstance(entry[k], bool) for k in ("min", "max"))
            distribution = "int_uniform" if ints else "uniform"
        elif "mu" in entry or "sigma" in entry:
            distribution = "normal"
        else:
            problems.append(f"{where}: give value, values, min/max or a distribution")
            return None
    if distribution not in DISTRIBUTIONS:
        problems.append(f"{where}: unknown distribution {distribution!r}; allowed: {', '.join(DISTRIBUTIONS)}")
        return None

    if distribution == "constant":
        if "value" not in entry:
            problems.append(f"{where}: distribution constant needs 'value'")
            return None
        return ParamSpec(name, "constant", written, value=entry["value"], as_numbers=_as_numbers([entry["value"]]))
    if distribution == "categorical":
        values = entry.get("values")
        if not isinstance(values, list) or not values:
            problems.append(f"{where}: 'values' must be a non-empty list, got {values!r}")
            return None
        probabilities = entry.get("probabilities")
        if probabilities is not None:
            if (not isinstance(probabilities, list) or len(probabilities) != len(values)
                    or not all(_is_number(p) and p >= 0 for p in probabilities)
                    or not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6)):
                problems.append(f"{where}: 'probabilities' must be {len(values)} non-negative numbers summing to 1")
                return None
            probabilities = tuple(float(p) for p in probabilities)
        return ParamSpec(name, "categorical", written, values=tuple(values), probabilities=probabilities,
                         as_numbers=_as_numbers(values))

    args: dict[str, Any] = {}
    ok = True
    for key, default in DISTRIBUTIONS[distribution].items():
        value = entry.get(key, default)
        number = number_from_text(value)
        if number is not None:
            value = number
            if coerced is not None:
                coerced.append(f"{written}.{key}={entry[key]!r}")
        if value is None:
            problems.append(f"{where}: distribution {distribution} needs '{key}'")
            ok = False
        elif not _is_number(value):
            problems.append(f"{where}: '{key}' must be a finite number, got {value!r}")
            ok = False
        args[key] = value
    extra = sorted(set(entry) - set(DISTRIBUTIONS[distribution]) - {"distribution"})
    if extra:
        problems.append(f"{where}: distribution {distribution} takes {sorted(DISTRIBUTIONS[distribution])}, "
                        f"not {extra}")
        ok = False
    if not ok:
        return None
    if "min" in args and args["min"] >= args["max"]:
        problems.append(f"{where}: min={args['min']!r} must be below max={args['max']!r}")
        ok = False
    if distribution == "int_uniform" and not all(isinstance(args[k], int) for k in ("min", "max")):
        problems.append(f"{where}: int_uniform needs integer min and max, got {args['min']!r}, {args['max']!r}")
        ok = False
    if distribution.endswith("_values") and "min" in args and args["min"] <= 0:
        problems.append(f"{where}: {distribution} needs min > 0 (a log scale), got min={args['min']!r}")
        ok = False
    if distribution in ("log_uniform", "q_log_uniform") and ok and value_like_log_uniform(args["min"], args["max"]):
        problems.append(
            f"{where}: distribution {distribution} takes natural-log exponents, so min={args['min']!r}, "
            f"max={args['max']!r} samples values in [{math.exp(args['min']):.6g}, {math.exp(args['max']):.6g}]; "
            f"for values between {args['min']!r} and {args['max']!r} write distribution: "
            f"{distribution}_values, or convert the old file with `python sweep.py migrate OLD.yaml -o NEW.yaml`")
        ok = False
    if "q" in args and args["q"] <= 0:
        problems.append(f"{where}: q must be > 0, got {args['q']!r}")
        ok = False
    if "sigma" in args and args["sigma"] <= 0:
        problems.append(f"{where}: sigma must be > 0, got {args['sigma']!r}")
        ok = False
    return ParamSpec(name, distribution, written, **args) if ok else None


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


def holds_target(value: Any) -> bool:
    """Whether ``value`` is or holds (in a list or mapping, at any depth) a mapping with ``TARGET_KEY``."""
    if isinstance(value, Mapping):
        return TARGET_KEY in value or any(holds_target(item) for item in value.values())
    return isinstance(value, list | tuple) and any(holds_target(item) for item in value)


def _target_problems(param: ParamSpec, problems: list[str]) -> bool:
    """Append a problem when ``param`` sets a ``_target_`` key or a value holds a ``_target_`` mapping (a value is
    plain data: Hydra would call what it names, e.g. ``os.system``, in every trial); whether it did."""
    where = f"parameter '{param.written_as}'"
    if TARGET_KEY in param.key.split("."):
        problems.append(f"{where}: sets a {TARGET_KEY} key, which names code the trial would run; parameters take "
                        "plain values (numbers, text, lists, mappings without _target_) and choose among the "
                        "config groups' options (e.g. model: {values: [unet, mlp]})")
        return True
    if holds_target(param.value) or holds_target(list(param.values)):
        problems.append(f"{where}: a value holds a {TARGET_KEY} mapping, which names code the trial would run; "
                        "parameter values are plain data (numbers, text, lists, mappings without _target_): add a "
                        "callback or logger as a file under conf/ and choose it by name")
        return True
    return False


def _command_warnings(command: tuple[str, ...], program: str) -> list[str]:
    """A warning naming what each trial runs, when ``command`` runs more than ``${interpreter} ${program}`` with
    overrides: a token before the program (``sh -c ...``), the program run as an executable, or an override that
    instantiates a ``_target_`` of its own."""
    at = command.index("${program}") if "${program}" in command else len(command)
    plain_start = [t for t in command[:at] if t != "${env}"] == ["${interpreter}"]
    if plain_start and not any(TARGET_KEY in t for t in command[at:]):
        return []
    shown = {"${env}": "", "${interpreter}": "python", "${program}": program}
    runs = " ".join(shown.get(t, "<the trial's overrides>" if t in ARGS_MACROS else shlex.quote(t)) for t in command)
    return [f"command: each trial runs `{runs.strip()}`, not `python {program} <the trial's overrides>`; check that "
            "this is what you mean to run"]


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


def parse_sweep(raw: Mapping[str, Any], default_metric: str = "val_loss") -> tuple[SweepSpec, list[str]]:
    """Parse a sweep's content. Returns the spec (valid parameters only) and every structural problem found.

    ``default_metric`` (the config's ``optimized_metric``) is used, minimised, when the file has no ``metric``.
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

    metric = raw.get("metric")
    metric_given = metric is not None
    metric_name, goal, target = default_metric, "minimize", None
    if metric_given:
        if not isinstance(metric, dict) or not isinstance(metric.get("name"), str):
            problems.append(f"metric must be a mapping with 'name' (and 'goal'), got {metric!r}")
        else:
            metric_name, goal = metric["name"], metric.get("goal", "minimize")
            if goal not in GOALS:
                problems.append(f"metric.goal={goal!r}; allowed: {', '.join(GOALS)}")
            extra = sorted(set(metric) - {"name", "goal", "target"})
            if extra:
                problems.append(f"metric: unknown keys {extra}; allowed: name, goal, target")
            target = metric.get("target")
            if target is not None and not _is_number(number_from_text(target) or target):
                problems.append(f"metric.target must be a number (the value that ends the sweep), got {target!r}")
                target = None
            elif target is not None:
                target = number_from_text(target) or target

    flat: dict[str, tuple[str, Any]] = {}
    if "parameters" not in raw:
        problems.append("the sweep file has no 'parameters'")
    else:
        _flatten(raw["parameters"], "", flat, problems)
    parameters: dict[str, ParamSpec] = {}
    written_for: dict[str, str] = {}  # key -> the name that set it first
    for dotted, (written, entry) in flat.items():
        name = ALIASES.get(dotted, dotted)
        if isinstance(name, Retired):
            warnings.append(f"parameter '{written}' is dropped: {name.reason}")
            continue
        key = name.lstrip("+")
        if key in written_for:
            problems.append(f"parameter '{written}' and '{written_for[key]}' both set {key}; keep one")
            continue
        written_for[key] = written
        param = _parse_param(name, written, entry, problems, coerced)
        if param is not None and not _target_problems(param, problems):
            parameters[name] = param

    if method == "grid":
        for param in parameters.values():
            if not param.is_finite:
                problems.append(f"parameter '{param.written_as}': grid search needs values, value or int_uniform, "
                                f"not distribution {param.distribution}")
    if method == "bayes" and not metric_given:
        problems.append("method bayes needs a metric (name and goal)")

    early = raw.get("early_terminate")
    hyperband = _parse_hyperband(early, problems) if early is not None else None

    run_cap = raw.get("run_cap")
    if run_cap is not None and not (isinstance(run_cap, int) and not isinstance(run_cap, bool) and run_cap >= 1):
        problems.append(f"run_cap must be a positive integer, got {run_cap!r}")
        run_cap = None
    program = raw.get("program", DEFAULT_PROGRAM)
    if not isinstance(program, str) or not program:
        problems.append(f"program must be a script path such as train.py, got {program!r}")
        program = DEFAULT_PROGRAM
    elif Path(program).name in OLD_PROGRAMS:
        warnings.append(f"program: {program} is the old tool's script; the trials run {DEFAULT_PROGRAM}")
        program = DEFAULT_PROGRAM
    stored = raw.get(STORED_KEY) or {}
    count = raw.get("count", stored.get("count"))
    if count is not None and not (isinstance(count, int) and not isinstance(count, bool) and count >= 1):
        problems.append(f"count must be a positive integer, got {count!r}")
        count = None
    elif "count" in raw:
        warnings.append(f"count: {count} is not a W&B sweep key (W&B refuses it); it is the agents' default "
                        "--count here (`sweep.py agent --count N` sets it per agent)")
    conditions = {key: {group: tuple(options) for group, options in groups.items()}
                  for key, groups in (stored.get("conditions") or {}).items()}
    controller = raw.get("controller")
    if controller is not None and not isinstance(controller, dict):
        problems.append(f"controller must be a mapping such as {{type: local}}, got {controller!r}")
        controller = None
    command = _parse_command(raw.get("command"), problems)
    warnings += _command_warnings(command, program)
    texts = {}
    for key in ("name", "description", "project", "entity"):
        value = raw.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"{key} must be a string, got {value!r}")
            value = None
        texts[key] = value

    spec = SweepSpec(
        method=method if method in METHODS else "random",  # still lets the parameters be checked
        metric=metric_name, goal=goal if goal in GOALS else "minimize", parameters=parameters,
        early_terminate=hyperband, run_cap=run_cap, program=program, command=command, metric_given=metric_given,
        target=target, controller=controller, count=count, conditions=conditions, warnings=tuple(warnings),
        coerced=tuple(coerced), **texts,
    )
    return spec, problems


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where PyYAML has it: the same results


class _NoAliasDumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing a value that occurs twice out twice rather than as an anchor and an alias (which
    ``read_yaml`` refuses)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump_yaml(data: Any, **options: Any) -> str:
    """``data`` as YAML text without anchors or aliases (``yaml.safe_dump``'s ``options``), so ``read_yaml`` reads it
    back."""
    return yaml.dump(data, Dumper=_NoAliasDumper, **options)


def _check_yaml_events(data: bytes, where: str) -> None:
    """SweepError when the YAML ``data`` (of ``where``) holds an alias or more than ``MAX_YAML_NODES`` values or
    ``MAX_YAML_DEPTH`` levels. Reads the parser's events only: nothing is built, so this costs no memory."""
    nodes = depth = 0
    anchors: dict[str, int] = {}
    for event in yaml.parse(data, Loader=_LOADER):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            marked = f" (marked at line {anchors[event.anchor]})" if event.anchor in anchors else ""
            raise SweepError(f"{where}: line {line}: the YAML alias *{event.anchor} repeats the value of anchor "
                             f"&{event.anchor}{marked}; aliases are refused in sweep YAML, as aliases of aliases "
                             "expand exponentially (a 1 kB file can stand for 10^9 values): write the value out")
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if event.anchor:
                anchors[event.anchor] = line
            if nodes > MAX_YAML_NODES:
                raise SweepError(f"{where}: more than {MAX_YAML_NODES} YAML values, the last at line {line} (limit "
                                 f"{MAX_YAML_NODES}); sweep a long range with a distribution (int_uniform, q_uniform, "
                                 "...) rather than a values list")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise SweepError(f"{where}: lists or mappings nested more than {MAX_YAML_DEPTH} deep at line {line} "
                                 f"(limit {MAX_YAML_DEPTH})")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def read_yaml(path: str | Path, what: str = "sweep file") -> Any:
    """The YAML content of ``path``, ``what`` the sweep commands call it (a sweep file, a stored sweep, a sweep record,
    a W&B run's parameters): every sweep YAML is read here, within ``MAX_YAML_BYTES``, ``MAX_YAML_NODES`` and
    ``MAX_YAML_DEPTH`` and without aliases (``_check_yaml_events``), before any Python object is built from it.
    SweepError naming ``what``, the file and the limit otherwise, and when the file cannot be read or is not YAML."""
    path = Path(path)
    where = f"{what} {path}"
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_YAML_BYTES + 1)  # never more: the file may be huge, or grow while it is read
    except OSError as exc:
        raise SweepError(f"cannot read {where}: {exc.strerror or exc}") from None
    if len(data) > MAX_YAML_BYTES:
        size = max(path.stat().st_size, len(data))
        raise SweepError(f"{where}: {size} bytes is too large for a sweep YAML (limit {MAX_YAML_BYTES} bytes); sweep "
                         "a long range with a distribution (int_uniform, q_uniform, ...) rather than a values list")
    try:
        _check_yaml_events(data, where)
        return yaml.load(data, Loader=_LOADER)  # a safe loader: plain data only
    except yaml.YAMLError as exc:
        raise SweepError(f"{where} is not valid YAML: {exc}") from None


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


def load_sweep(raw: Mapping[str, Any], default_metric: str = "val_loss") -> SweepSpec:
    """Parse a sweep that is known to be valid (e.g. one stored with a sweep); SweepError otherwise (also for a stored
    file that no longer holds a mapping)."""
    if not isinstance(raw, Mapping):
        raise SweepError(f"invalid sweep: a stored sweep is a mapping with method and parameters, got "
                         f"{type(raw).__name__}")
    spec, problems = parse_sweep(raw, default_metric)
    if problems:
        raise SweepError("invalid sweep:\n  - " + "\n  - ".join(problems))
    return spec
