"""The value rules of the denoisers' keys: `check_unet_config` and `check_mlp_config`.

Torch-free, so that config validation can run them without loading the networks; the models call them on
construction with every key.
"""

import math
from typing import Any

from snpdiff.models.validation import (
    dropout_problems,
    embedding_dim_problems,
    flag_problems,
    is_int_list,
    key_problems,
    per_level_problems,
    positive_int_problems,
)


def _optional_positive_int_problems(key: str, value: Any) -> list[str]:
    return [] if value is None else positive_int_problems(key, value)


def _dim_mults_problems(key: str, value: Any) -> list[str]:
    if is_int_list(value) and len(value) > 0 and all(mult >= 1 for mult in value):
        return []
    return [f"model.{key} must be a non-empty list of positive integers (one per level), got {value!r}"]


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


def check_unet_config(**model_keys: Any) -> list[str]:
    """Every problem with a set of UNet1D keys, one message each naming the `model.` key and what is allowed.

    Takes UNet1D's keyword arguments as composed (the config's `model` node without `_target_`, or what UNet1D
    was called with) and returns an empty list when UNet1D can be built from them. It has no defaults of its own
    (they live in UNet1D's signature): a key not given is not checked. Unknown keys are the config schema's
    business (`snpdiff.schemas`). This is the only place these rules live: UNet1D and the config validator both
    call it.
    """
    problems = key_problems(model_keys, _UNET_KEY_RULES)
    dim_mults = model_keys.get("dim_mults")
    levels = len(dim_mults) if "dim_mults" in model_keys and not _dim_mults_problems("dim_mults", dim_mults) else None
    for key, allowed, element_ok in _PER_LEVEL_KEYS:
        if key in model_keys:
            problems += per_level_problems(key, model_keys[key], levels, element_ok, allowed)
    return problems + _norm_groups_problems(model_keys)


# one rule per key, in the order the problems are reported
_MLP_KEY_RULES = {
    "seq_length": positive_int_problems,
    "in_channels": positive_int_problems,
    "hidden_dim": positive_int_problems,
    "num_layers": positive_int_problems,
    "embedding_dim": embedding_dim_problems,
    "dropout": dropout_problems,
    "use_time_emb": flag_problems,
}


def check_mlp_config(**model_keys: Any) -> list[str]:
    """Every problem with a set of MLPDenoiser keys, one message each naming the `model.` key and what is allowed.

    Takes MLPDenoiser's keyword arguments as composed (the config's `model` node without `_target_`, or what
    MLPDenoiser was called with); returns an empty list when the model can be built. No defaults of its own (they
    live in MLPDenoiser's signature): a key not given is not checked. Unknown keys are the config schema's business.
    """
    return key_problems(model_keys, _MLP_KEY_RULES)
