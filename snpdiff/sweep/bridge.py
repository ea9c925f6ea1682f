"""The bridge: a trial's parameter dict -> Hydra command-line overrides for ``train.py``.

Values are rendered in Hydra's override grammar from their Python types, never from W&B's ``str()`` rendering of
``${args_no_hyphens}`` (which writes ``None`` as "None" and dicts in Python syntax):

- ``True``/``False`` -> ``true``/``false``; ``None`` -> ``null``; ints stay ints, floats are written so that
  Hydra reads a float (``1e-05``, ``2.0``); lists (nested too) -> ``[a,b]``; dicts -> ``{key:value}``;
- strings are always quoted (``'...'``), so ``'1e-3'``, ``'true'``, spaces, commas, quotes and ``=`` survive;
  a literal ``${`` is escaped so that OmegaConf does not read it as an interpolation;
- config-group choices (``model: unet_attn``) become ``model=unet_attn``;
- keys the composed config lacks get Hydra's ``+key=`` (add) prefix; ``+``/``++`` written in the name are kept;
- a dict value replaces a list or mapping the key held (``~key +key={...}``: Hydra would merge ``key={...}``).

A sweep reaches the training run only through such overrides: its in-training reporter too, as a callback node
(``callback_override``), which the training instantiates like every other ``_target_`` node under ``callbacks``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import yaml
from omegaconf import DictConfig, OmegaConf

from snpdiff.compat import quote_override
from snpdiff.errors import SweepError

_DICT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INTERPOLATION_START = re.compile(r"(\\*)\$\{")
_ABSENT = object()


def _escape_interpolation(text: str) -> str:
    r"""Make ``${`` literal for OmegaConf: ``\${``, with the backslashes before it doubled."""
    return _INTERPOLATION_START.sub(lambda m: "\\" * (2 * len(m.group(1))) + "\\${", text)


def format_value(value: Any) -> str:
    """One value in Hydra's override grammar, such that Hydra parses it back to an equal Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        text = repr(value)
        return text if any(c in text for c in ".eE") else text + ".0"
    if isinstance(value, str):
        return quote_override(_escape_interpolation(value))
    if isinstance(value, Mapping):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str) or not _DICT_KEY.match(key):
                raise SweepError(f"dict key {key!r} cannot be passed to Hydra; use identifiers (letters, digits, _)")
            parts.append(f"{key}:{format_value(item)}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(format_value(item) for item in value) + "]"
    raise SweepError(f"value {value!r} of type {type(value).__name__} cannot be passed to Hydra")


def callback_override(name: str, node: Mapping[str, Any]) -> str:
    """The override that adds callback ``name`` (a ``_target_`` mapping of plain values) to a training run:
    ``+callbacks.<name>={_target_:'...',key:value}``."""
    return f"+callbacks.{name}={format_value(node)}"


def _format_choice(option: Any) -> str:
    """A config-group option: ``null`` or its name (``unet_attn``, ``sub/option``) as Hydra reads it."""
    if option is None:
        return "null"
    if not isinstance(option, str):
        raise SweepError(f"config-group option {option!r} must be a string (a file name under conf/<group>/)")
    return option if re.fullmatch(r"[A-Za-z0-9_\-/.]+", option) else format_value(option)


@lru_cache(maxsize=1)
def config_groups() -> dict[str, tuple[str, ...]]:
    """The config groups ``conf/train.yaml`` selects, each with its options (file names under ``conf/<group>/``)."""
    from snpdiff.config import CONF_DIR

    defaults = yaml.safe_load((CONF_DIR / "train.yaml").read_text()).get("defaults", [])
    groups: dict[str, tuple[str, ...]] = {}
    for entry in defaults:
        if not isinstance(entry, dict):
            continue  # _self_
        for key in entry:
            group = key.split()[-1]  # "optional local" / "override x" -> the group name
            folder = CONF_DIR / group
            options = sorted(str(p.relative_to(folder).with_suffix("")) for p in folder.rglob("*.yaml"))
            groups[group] = tuple(options)
    return groups


@lru_cache(maxsize=64)
def _composed(overrides: tuple[str, ...]) -> DictConfig:
    """The default config composed with ``overrides``, cached: an agent composes once per group combination."""
    from snpdiff.config import compose_config

    return compose_config(list(overrides))


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(group choices, key values)`` of a parameter dict."""
    groups = config_groups()
    choices = {k: v for k, v in params.items() if k in groups}
    return choices, {k: v for k, v in params.items() if k not in groups}


def key_overrides(key: str, value: Any, cfg: DictConfig | None) -> list[str]:
    """The overrides that set ``key`` to ``value``: ``key=value``; ``+key=value`` when ``cfg`` lacks the key; and
    ``~key +key=value`` for a dict onto a list or mapping, which Hydra would otherwise merge into (or fail on).
    A ``+``/``++`` written in the key is kept."""
    if key.startswith("+") or cfg is None:
        return [f"{key}={format_value(value)}"]
    current = OmegaConf.select(cfg, key, default=_ABSENT)
    if current is _ABSENT:
        return [f"+{key}={format_value(value)}"]
    if isinstance(value, Mapping) and OmegaConf.is_config(current):
        return [f"~{key}", f"+{key}={format_value(value)}"]
    return [f"{key}={format_value(value)}"]


def params_to_overrides(
    params: Mapping[str, Any],
    base_overrides: Sequence[str] = (),
    compose: Callable[[list[str]], DictConfig] | None = None,
) -> list[str]:
    """Hydra overrides that set every parameter of ``params`` (canonical names: Hydra keys and group choices).

    Group choices come first. To know which keys need ``+``, the config is composed with ``base_overrides`` and
    the group choices (``compose`` defaults to ``snpdiff.config.compose_config``).
    """
    choices, values = split_params(params)
    overrides = [f"{group}={_format_choice(option)}" for group, option in choices.items()]
    cfg = None
    if values:
        cfg = compose([*base_overrides, *overrides]) if compose else _composed((*base_overrides, *overrides))
    return overrides + [o for key, value in values.items() for o in key_overrides(key, value, cfg)]
