"""Value checks shared by the denoisers' `check_*_config` functions.

Each helper returns a list of problem messages (empty when the value is fine). Messages name the key with the
`model.` prefix, as it appears in the Hydra config, and say what is allowed. There are no defaults here (they live
in the constructors' signatures) and no unknown-key check (the config schema's business, `snpdiff.schemas`).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def is_int(value: Any) -> bool:
    """True for a Python integer that is not a bool (YAML `true` must not pass as 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_int_list(value: Any) -> bool:
    """True for a list, tuple or OmegaConf ListConfig of integers."""
    return isinstance(value, Sequence) and not isinstance(value, str) and all(is_int(item) for item in value)


def key_problems(values: Mapping[str, Any], rules: Mapping[str, Callable[[str, Any], list[str]]]) -> list[str]:
    """The problems of every key in `values` that has a rule in `rules` (key -> rule(key, value)), in the rules'
    order. A key not given is not checked: the config and the constructors always give every key."""
    return [problem for key, rule in rules.items() if key in values for problem in rule(key, values[key])]


def positive_int_problems(key: str, value: Any) -> list[str]:
    if is_int(value) and value >= 1:
        return []
    return [f"model.{key} must be a positive integer (>= 1), got {value!r}"]


def embedding_dim_problems(key: str, value: Any) -> list[str]:
    """The sinusoidal time embedding is made of sin/cos pairs, so its width must be even."""
    if is_int(value) and value >= 2 and value % 2 == 0:
        return []
    return [f"model.{key} must be a positive even integer (2, 4, ..., sin/cos pairs), got {value!r}"]


def dropout_problems(key: str, value: Any) -> list[str]:
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 <= value < 1.0:
        return []
    return [f"model.{key} must be a number in [0, 1), got {value!r}"]


def flag_problems(key: str, value: Any) -> list[str]:
    if isinstance(value, bool):
        return []
    return [f"model.{key} must be true or false, got {value!r}"]


def per_level_problems(
    key: str, value: Any, levels: int | None, element_ok: Callable[[int], bool], allowed: str
) -> list[str]:
    """Check a key that takes one int for every level or a list with one int per level.

    `levels` is len(model.dim_mults), or None when dim_mults is itself invalid (then the length is not checked).
    `allowed` describes a valid element, e.g. "odd integers >= 1".
    """
    if is_int(value):
        return [] if element_ok(value) else [f"model.{key} must be {allowed} (one int or one per level), got {value!r}"]
    if not is_int_list(value):
        return [f"model.{key} must be one integer or a list of integers (one per level), got {value!r}"]
    problems = []
    bad = [item for item in value if not element_ok(item)]
    if bad:
        problems.append(f"model.{key} entries must be {allowed}, got {list(value)} (bad: {bad})")
    if levels is not None and len(value) != levels:
        problems.append(
            f"model.{key} has {len(value)} entries but model.dim_mults has {levels} levels; "
            f"allowed: a list of {levels} entries or a single integer"
        )
    return problems
