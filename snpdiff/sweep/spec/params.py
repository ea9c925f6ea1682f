"""One swept parameter: W&B's distributions, ``ParamSpec`` and the parsing of one ``parameters`` entry.

A parameter's name is a Hydra key (``optimizer.lr``) or a config-group choice (``model``); it may start with ``+`` to
add a key the config does not have (Hydra's append syntax). Its value is plain data: never a ``_target_`` (which
Hydra's ``instantiate`` would call with the trial's arguments).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snpdiff.errors import SweepError

PARAM_KEYS = ("value", "values", "distribution", "min", "max", "q", "mu", "sigma", "probabilities", "parameters")
# A quantile in (0, 1) is what the local backend samples for the normal family; the tails beyond ~5 sigma are cut.
NORMAL_QUANTILE_BOUNDS = (3e-7, 1 - 3e-7)
# Config checks try the normal family at mu and mu +- this many sigma.
NORMAL_CHECK_SIGMAS = 3.0
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


def quantize(value: float, q: float) -> float | int:
    """W&B's ``q_*`` rounding: ``round(value / q) * q``, an int when ``q`` is an int."""
    rounded = round(value / q) * q
    return int(rounded) if isinstance(q, int) and not isinstance(q, bool) else rounded


def is_number(value: Any) -> bool:
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


def _distribution_of(entry: Any, where: str, problems: list[str]) -> str | None:
    """The distribution ``entry`` names or W&B infers from its keys; None with the reason appended to ``problems``."""
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
    return distribution


def _parse_categorical(name: str, written: str, entry: dict[str, Any], where: str,
                       problems: list[str]) -> ParamSpec | None:
    """A ``values:`` entry (with optional ``probabilities``)."""
    values = entry.get("values")
    if not isinstance(values, list) or not values:
        problems.append(f"{where}: 'values' must be a non-empty list, got {values!r}")
        return None
    probabilities = entry.get("probabilities")
    if probabilities is not None:
        if (not isinstance(probabilities, list) or len(probabilities) != len(values)
                or not all(is_number(p) and p >= 0 for p in probabilities)
                or not math.isclose(sum(probabilities), 1.0, abs_tol=1e-6)):
            problems.append(f"{where}: 'probabilities' must be {len(values)} non-negative numbers summing to 1")
            return None
        probabilities = tuple(float(p) for p in probabilities)
    return ParamSpec(name, "categorical", written, values=tuple(values), probabilities=probabilities,
                     as_numbers=_as_numbers(values))


def _distribution_args(distribution: str, entry: dict[str, Any], written: str, where: str, problems: list[str],
                       coerced: list[str] | None) -> dict[str, Any] | None:
    """The arguments of ``distribution`` in ``entry`` (W&B's defaults where missing; text read as numbers and listed
    in ``coerced``), or None with the reasons appended to ``problems``."""
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
        elif not is_number(value):
            problems.append(f"{where}: '{key}' must be a finite number, got {value!r}")
            ok = False
        args[key] = value
    extra = sorted(set(entry) - set(DISTRIBUTIONS[distribution]) - {"distribution"})
    if extra:
        problems.append(f"{where}: distribution {distribution} takes {sorted(DISTRIBUTIONS[distribution])}, "
                        f"not {extra}")
        ok = False
    return args if ok else None


def _range_ok(distribution: str, args: dict[str, Any], where: str, problems: list[str]) -> bool:
    """Whether the numeric ``args`` make a usable ``distribution``; the reasons appended to ``problems`` otherwise."""
    ok = True
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
    return ok


def parse_param(name: str, written: str, entry: Any, problems: list[str],
                coerced: list[str] | None = None) -> ParamSpec | None:
    """One parameter entry -> ParamSpec, or None with the reasons appended to ``problems``. ``name``: the key it
    sets; ``written``: the name as the file wrote it (another name standing for ``name``, e.g. an old one).

    Distribution arguments written as text (``min: 1e-4``) are read as numbers and listed in ``coerced``."""
    where = f"parameter '{written}'" + (f" (alias of {name})" if written != name else "")
    distribution = _distribution_of(entry, where, problems)
    if distribution is None:
        return None
    if distribution == "constant":
        if "value" not in entry:
            problems.append(f"{where}: distribution constant needs 'value'")
            return None
        return ParamSpec(name, "constant", written, value=entry["value"], as_numbers=_as_numbers([entry["value"]]))
    if distribution == "categorical":
        return _parse_categorical(name, written, entry, where, problems)
    args = _distribution_args(distribution, entry, written, where, problems, coerced)
    if args is None or not _range_ok(distribution, args, where, problems):
        return None
    return ParamSpec(name, distribution, written, **args)


def holds_target(value: Any) -> bool:
    """Whether ``value`` is or holds (in a list or mapping, at any depth) a mapping with ``TARGET_KEY``."""
    if isinstance(value, Mapping):
        return TARGET_KEY in value or any(holds_target(item) for item in value.values())
    return isinstance(value, list | tuple) and any(holds_target(item) for item in value)


def target_problems(param: ParamSpec, problems: list[str]) -> bool:
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

