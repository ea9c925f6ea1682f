"""The value rules of the denoisers' keys: `check_unet_config` and `check_mlp_config`, and the small checks they
share.

Torch-free, so that config validation can run them without loading the networks; the models call them on
construction with every key. Each helper returns a list of problem messages (empty when the value is fine), naming
the key with the `model.` prefix, as it appears in the Hydra config, and saying what is allowed. There are no
defaults here (they live in the constructors' signatures) and no unknown-key check (the config schema's business,
`snpdiff.config.schema`).
"""

import math
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


def _optional_positive_int_problems(key: str, value: Any) -> list[str]:
    return [] if value is None else positive_int_problems(key, value)


def _dim_mults_problems(key: str, value: Any) -> list[str]:
    if is_int_list(value) and len(value) > 0 and all(mult >= 1 for mult in value):
        return []
    return [f"model.{key} must be a non-empty list of positive integers (one per level), got {value!r}"]


GLOBAL_CONTEXTS = ("none", "mlp")  # UNet1D's global_context values


def _global_context_problems(key: str, value: Any) -> list[str]:
    if isinstance(value, str) and value in GLOBAL_CONTEXTS:
        return []
    allowed = ", ".join(repr(option) for option in GLOBAL_CONTEXTS)
    return [f"model.{key} must be one of {allowed}, got {value!r}"]


def _non_negative_int_problems(key: str, value: Any) -> list[str]:
    return [] if is_int(value) and value >= 0 else [f"model.{key} must be an integer >= 0, got {value!r}"]


# one rule per key, in the order the problems are reported
_UNET_KEY_RULES = {
    "seq_length": positive_int_problems,
    "in_channels": positive_int_problems,
    "channels": positive_int_problems,
    "norm_groups": positive_int_problems,
    "attention_heads": positive_int_problems,
    "attention_dim_head": positive_int_problems,
    "embedding_dim": embedding_dim_problems,
    "time_dim": _optional_positive_int_problems,
    "dropout": dropout_problems,
    "use_time_emb": flag_problems,
    "use_pos_emb": flag_problems,
    "use_scale_shift_norm": flag_problems,
    "use_attention": flag_problems,
    "level_attention": flag_problems,
    "dim_mults": _dim_mults_problems,
    "global_context": _global_context_problems,
    "global_dim": positive_int_problems,
    "num_classes": _non_negative_int_problems,
    "label_dropout": dropout_problems,
}
# per-level keys: (key, what a valid element is, the rule for one element)
_PER_LEVEL_KEYS = (
    ("kernel_sizes", "odd integers >= 1", lambda size: size >= 1 and size % 2 == 1),
    ("dilations", "integers >= 1", lambda dilation: dilation >= 1),
)


def _norm_groups_problems(model_keys: dict[str, Any]) -> list[str]:
    """GroupNorm needs norm_groups to divide every level width (checked when all three keys are valid)."""
    keys = ("channels", "norm_groups", "dim_mults")
    if not all(key in model_keys and not _UNET_KEY_RULES[key](key, model_keys[key]) for key in keys):
        return []
    channels, norm_groups, dim_mults = (model_keys[key] for key in keys)
    widths = [channels * mult for mult in dim_mults]
    if not any(width % norm_groups for width in widths):
        return []
    common = math.gcd(*widths)
    divisors = [d for d in range(1, common + 1) if common % d == 0]
    return [
        f"model.norm_groups={norm_groups} must divide every level width model.channels * model.dim_mults "
        f"= {widths}; allowed: one of {divisors}"
    ]


def _labels_time_problems(model_keys: dict[str, Any]) -> list[str]:
    """Population labels reach the network through the time embedding."""
    num_classes = model_keys.get("num_classes")
    if is_int(num_classes) and num_classes > 0 and model_keys.get("use_time_emb") is False:
        return [
            "population labels condition the network through the time embedding, so they need "
            "model.use_time_emb=true; or turn the labels off with data.population_labels=false"
        ]
    return []


def check_unet_config(**model_keys: Any) -> list[str]:
    """Every problem with a set of UNet1D keys, one message each naming the `model.` key and what is allowed.

    Takes UNet1D's keyword arguments as composed (the config's `model` node without `_target_`, or what UNet1D
    was called with) and returns an empty list when UNet1D can be built from them. It has no defaults of its own
    (they live in UNet1D's signature): a key not given is not checked. Unknown keys are the config schema's
    business (`snpdiff.config.schema`). This is the only place these rules live: UNet1D and the config validator both
    call it.
    """
    problems = key_problems(model_keys, _UNET_KEY_RULES)
    dim_mults = model_keys.get("dim_mults")
    levels = len(dim_mults) if "dim_mults" in model_keys and not _dim_mults_problems("dim_mults", dim_mults) else None
    for key, allowed, element_ok in _PER_LEVEL_KEYS:
        if key in model_keys:
            problems += per_level_problems(key, model_keys[key], levels, element_ok, allowed)
    return problems + _norm_groups_problems(model_keys) + _labels_time_problems(model_keys)


# one rule per key, in the order the problems are reported
_MLP_KEY_RULES = {
    "seq_length": positive_int_problems,
    "in_channels": positive_int_problems,
    "hidden_dim": positive_int_problems,
    "num_layers": positive_int_problems,
    "embedding_dim": embedding_dim_problems,
    "dropout": dropout_problems,
    "use_time_emb": flag_problems,
    "num_classes": _non_negative_int_problems,
    "label_dropout": dropout_problems,
}


def check_mlp_config(**model_keys: Any) -> list[str]:
    """Every problem with a set of MLPDenoiser keys, one message each naming the `model.` key and what is allowed.

    Takes MLPDenoiser's keyword arguments as composed (the config's `model` node without `_target_`, or what
    MLPDenoiser was called with); returns an empty list when the model can be built. No defaults of its own (they
    live in MLPDenoiser's signature): a key not given is not checked. Unknown keys are the config schema's business.
    """
    return key_problems(model_keys, _MLP_KEY_RULES) + _labels_time_problems(model_keys)
