"""The keyword arguments of every ``_target_`` in ``conf/``, read with ``inspect.signature`` and committed.

Config validation must not import torch or Lightning (seconds) to know which keys a constructor takes, so the
signatures are generated ahead (``python -m snpdiff.config.generate_schemas``) and committed as
``constructor_keys.yaml`` beside this module; ``tests/config/test_constructor_keys.py`` regenerates it and fails on
any difference, so an upgrade of torch or Lightning that changes a constructor shows up as a failing test, not as a
wrong schema. A target the file does not list (one a user adds) is read the same way, imported, when first checked.

One entry per target::

    lightning.pytorch.Trainer:
      group: trainer          # the conf/ folder it is used in (snpdiff.config.schema.PASSED_BY_CODE)
      takes_kwargs: false     # whether it takes **kwargs
      keys:
        max_epochs: {type: Optional[int], default: null}
        T_max: {type: int, required: true}    # no default
        theme: {type: Any}                    # a default that is not a plain value (the target's own applies)

``type`` is what OmegaConf can hold of the annotation: ``int``, ``float``, ``bool``, ``str``, ``Path``, ``list[X]``,
``Optional[X]``, else ``Any``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Sequence
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

import yaml

# nodes without a ``_target_`` that the code passes to a class as its keywords: group -> that class (its keys are
# committed beside the targets' and are the node's schema, ``snpdiff.config.schema.PLAIN_SCHEMAS``)
PLAIN_NODE_TARGETS = {"quality": "snpdiff.training.quality.SampleQualityCallback"}
CONSTRUCTOR_KEYS = Path(__file__).with_name("constructor_keys.yaml")
_PLAIN_TYPES: dict[str, type] = {"int": int, "float": float, "bool": bool, "str": str, "Path": Path}
_PLAIN_VALUES = (int, float, bool, str, NoneType)


def type_text(annotation: Any) -> str:
    """The OmegaConf-supported type of a signature annotation, as text; ``Any`` where OmegaConf has none."""
    if annotation in _PLAIN_TYPES.values():
        return annotation.__name__
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, UnionType):
        rest = [arg for arg in args if arg is not NoneType]
        if len(rest) == 1 and len(args) == 2 and (inner := type_text(rest[0])) != "Any":
            return f"Optional[{inner}]"
        return "Any"
    if origin in (list, tuple, Sequence) and args:
        items = {arg for arg in args if arg is not Ellipsis}
        if len(items) == 1 and (item := type_text(items.pop())) in _PLAIN_TYPES:
            return f"list[{item}]"
    return "Any"


def parse_type(text: str) -> Any:
    """The type ``type_text`` wrote: ``Optional[list[int]]`` -> ``typing.Optional[list[int]]``."""
    if text.startswith("Optional[") and text.endswith("]"):
        return typing.Optional[parse_type(text[len("Optional[") : -1])]  # noqa: UP045 (OmegaConf needs Optional)
    if text.startswith("list[") and text.endswith("]"):
        return list[_PLAIN_TYPES[text[len("list[") : -1]]]
    return _PLAIN_TYPES.get(text, Any)


def _plain(value: Any) -> bool:
    if isinstance(value, list | tuple):
        return all(type(item) in _PLAIN_VALUES for item in value)
    return type(value) in _PLAIN_VALUES


def _key_entry(parameter: inspect.Parameter, hint: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"type": type_text(hint)}
    if parameter.default is inspect.Parameter.empty:
        entry["required"] = True
    elif _plain(parameter.default):
        default = parameter.default
        entry["default"] = list(default) if isinstance(default, tuple) else default
    return entry


def constructor_signature(target: str) -> dict[str, Any]:
    """``{"takes_kwargs": ..., "keys": {name: {"type", "default" | "required"}}}`` of ``target`` (a class's
    ``__init__`` or a function), imported. Type hints that do not resolve (an annotation imported only for type
    checkers) read as ``Any``. Raises ImportError/AttributeError (via Hydra) when it cannot be imported."""
    from hydra.utils import get_object

    obj = get_object(target)
    function = obj.__init__ if inspect.isclass(obj) else obj
    parameters = dict(inspect.signature(function).parameters)
    parameters.pop("self", None)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001 - any annotation that does not evaluate
        hints = {}
    named = {n: p for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return {
        "takes_kwargs": any(p.kind == p.VAR_KEYWORD for p in parameters.values()),
        "keys": {name: _key_entry(parameter, hints.get(name, Any)) for name, parameter in named.items()},
    }


@functools.cache
def committed_signatures() -> dict[str, dict[str, Any]]:
    """The committed ``constructor_keys.yaml``: ``{target: {"group", "takes_kwargs", "keys"}}``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(CONSTRUCTOR_KEYS.read_text(), Loader=loader)  # noqa: S506 - a safe loader


@functools.cache
def signature(target: str) -> dict[str, Any]:
    """``target``'s entry of the committed file; a target it does not list is imported and read now (once)."""
    return committed_signatures().get(target) or constructor_signature(target)
