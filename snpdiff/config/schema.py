"""Structured configs generated from the constructors: the one place config defaults and key types come from.

Two uses, both driven by a component's signature (like hydra-zen's ``builds(populate_full_signature=True)``):

- ``register_schemas`` stores the defaults of snpdiff's own components in Hydra's ConfigStore as
  ``schema/<group>/<name>``; ``conf/<group>/<option>.yaml`` pulls one in its defaults list and sets only what the
  option changes, so every default is written once, in the constructor.
- ``check_target_nodes`` checks every ``_target_`` node of a config (model, optimizer, scheduler, callbacks.*,
  logger.*, nested ones too) against a dataclass built from its target's signature: unknown keys and wrong types
  come back as messages naming the key and what is allowed.

``type_ok`` is the one check that a value fits a key's type; sweeps make it too, finding a dotted key's schema with
``key_schema``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import NoneType, UnionType
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.utils import get_object
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from snpdiff.compat import declared_type
from snpdiff.config.signatures import NotStatic, has_literal_defaults, read_signature

# arguments the code passes itself when it instantiates a node under this top-level key, so they are not config keys
PASSED_BY_CODE: dict[str, frozenset[str]] = {
    "model": frozenset({"seq_length", "in_channels", "num_classes"}),
    "optimizer": frozenset({"params"}),
    "scheduler": frozenset({"optimizer", "total_steps"}),
    "trainer": frozenset({"callbacks", "logger", "plugins"}),
}
# schema/<group>/<name> -> the component whose constructor defaults conf/<group>/*.yaml start from
OWN_COMPONENTS = {
    "model/unet": "snpdiff.models.UNet1D",
    "model/mlp": "snpdiff.models.MLPDenoiser",
    "diffusion/gaussian": "snpdiff.diffusion.GaussianDiffusion",
    "loss/diffusion": "snpdiff.diffusion.losses.DiffusionLoss",
    "data/genotypes": "snpdiff.data.GenotypeDataModule",
}
_PLAIN_TYPES = (int, float, bool, str, Path)


@dataclasses.dataclass(frozen=True)
class TargetSchema:
    """What a ``_target_`` accepts: a structured config of its keyword arguments, and whether it takes ``**kwargs``."""

    target: str
    config: Any  # the OmegaConf DictConfig of the generated dataclass (every field MISSING)
    keys: tuple[str, ...]
    takes_kwargs: bool


def _config_type(annotation: Any) -> Any:
    """The OmegaConf-supported type for a signature annotation; ``Any`` where OmegaConf has none (unions, tensors)."""
    if annotation in _PLAIN_TYPES:
        return annotation
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, UnionType):
        rest = [arg for arg in args if arg is not NoneType]
        if len(rest) == 1 and len(args) == 2 and _config_type(rest[0]) is not Any:
            return typing.Optional[_config_type(rest[0])]  # noqa: UP045 (OmegaConf needs typing.Optional)
        return Any
    if origin in (list, tuple, Sequence) and args:
        items = {arg for arg in args if arg is not Ellipsis}
        if len(items) == 1 and (item := items.pop()) in _PLAIN_TYPES:
            return list[item]
    return Any


def _parameters(target: str, need_defaults: bool = False) -> tuple[dict[str, inspect.Parameter], dict[str, Any], bool]:
    """Keyword parameters of ``target`` (a class's ``__init__`` or a function), their type hints, and ``**kwargs``.

    Read from the source where it can be (``snpdiff.config.signatures``: validating a config then imports neither torch
    nor Lightning), else from the imported target; ``need_defaults``: every default's value must be known.
    """
    try:
        parameters, hints, takes_kwargs = read_signature(target)
        if not need_defaults or has_literal_defaults(parameters):
            named = {n: p for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
            return named, hints, takes_kwargs
    except NotStatic:
        pass
    named, hints, takes_kwargs = imported_signature(target)
    return named, hints or {}, takes_kwargs


def imported_signature(target: str) -> tuple[dict[str, inspect.Parameter], dict[str, Any] | None, bool]:
    """Keyword parameters, type hints and ``**kwargs`` of ``target`` imported (a class's ``__init__`` or a function).

    The hints are None when an annotation does not resolve (a third-party one imported only for type checkers): then
    only the names can be checked.
    """
    obj = get_object(target)
    function = obj.__init__ if inspect.isclass(obj) else obj
    parameters = dict(inspect.signature(function).parameters)
    parameters.pop("self", None)
    try:
        hints = typing.get_type_hints(function)
    except Exception:  # noqa: BLE001
        hints = None
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in parameters.values())
    named = {n: p for n, p in parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    return named, hints, takes_kwargs


@functools.cache
def target_schema(target: str, passed_by_code: frozenset[str] = frozenset()) -> TargetSchema:
    """The structured config of ``target``'s keyword arguments, less those in ``passed_by_code``.

    Raises ImportError/AttributeError (via Hydra) when ``target`` cannot be imported.
    """
    parameters, hints, takes_kwargs = _parameters(target)
    keys = tuple(name for name in parameters if name not in passed_by_code)
    fields = [(name, _config_type(hints.get(name, Any)), dataclasses.field(default=MISSING)) for name in keys]
    schema = dataclasses.make_dataclass(f"{target.rsplit('.', 1)[-1]}Config", fields)
    return TargetSchema(target, OmegaConf.structured(schema), keys, takes_kwargs)


def _holds_target(value: Any) -> bool:
    """True for a ``_target_`` node or a list holding one (checked on its own by ``check_target_nodes``)."""
    if isinstance(value, Mapping):
        return "_target_" in value
    return isinstance(value, list) and any(_holds_target(item) for item in value)


def unknown_key_message(path: str, owner: str, allowed: Sequence[str]) -> str:
    """``unknown key 'model.chanels' for <owner>; allowed: ...; did you mean 'model.channels'?`` (one line)."""
    parent, _, name = path.rpartition(".")
    message = f"unknown key '{path}' for {owner}; allowed: {', '.join(sorted(allowed))}"
    for guess in difflib.get_close_matches(name, allowed, n=1):
        message += f"; did you mean '{parent}.{guess}'?" if parent else f"; did you mean '{guess}'?"
    return message


def check_node(node: Mapping, key: str, schema: TargetSchema, extra_keys: Sequence[str] = ()) -> list[str]:
    """Every unknown key and wrongly typed value of ``node`` (resolved values) at dotted path ``key``.

    ``extra_keys`` are keys the code reads itself besides the target's arguments (Lightning's ``interval``, ...).
    A null value passes the type check: it means "the default, or the code decides" (range rules catch the rest).
    """
    problems = []
    for name, value in node.items():
        if name.startswith("_") or name in extra_keys or value is None or _holds_target(value):
            continue
        path = f"{key}.{name}" if key else str(name)
        if name not in schema.keys:
            if not schema.takes_kwargs:
                problems.append(unknown_key_message(path, schema.target, (*schema.keys, *extra_keys)))
            continue
        if not type_ok(schema, name, value):
            allowed = type_name(schema, name)
            problems.append(f"{path}={value!r} has the wrong type for {schema.target}; allowed: {allowed}")
    return problems


# Declared types whose values must be of the type itself: the config nodes are plain (``register_schemas``), so text
# such as 'yes' or '8', which OmegaConf's check would accept as true or 8, reaches the constructor as text.
_EXACT_TYPES: dict[Any, tuple[type, ...]] = {bool: (bool,), int: (int,), float: (int, float)}
# (target, key, repr(value)) -> whether the value fits the key's type: a sweep validates the same values many times
_TYPE_CHECKS: dict[tuple[str, str, str], bool] = {}


def type_ok(schema: TargetSchema, name: str, value: Any) -> bool:
    """Whether ``value`` fits the type ``schema`` declares for its key ``name``: the one type check of a config
    value, made by config validation and by sweeps. Booleans and numbers must be exactly that (a bool is not a
    number); other types are OmegaConf's own check (lists item by item, paths, ``Any``). Memoised."""
    memo_key = (schema.target, name, f"{type(value).__name__}:{value!r}")
    if memo_key not in _TYPE_CHECKS:
        exact = _EXACT_TYPES.get(declared_type(schema.config, name))
        if exact is not None:
            _TYPE_CHECKS[memo_key] = isinstance(value, exact) and (bool in exact or not isinstance(value, bool))
        else:
            try:
                OmegaConf.merge(schema.config, {name: value})
                _TYPE_CHECKS[memo_key] = True
            except ValidationError:
                _TYPE_CHECKS[memo_key] = False
    return _TYPE_CHECKS[memo_key]


def type_name(schema: TargetSchema, name: str) -> str:
    """The type ``schema`` declares for its key ``name``, for messages (``int``, ``List[int]``, ``Any``)."""
    annotation = declared_type(schema.config, name)  # the declared type, not the value's
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def key_schema(cfg: DictConfig, key: str) -> tuple[TargetSchema, str] | None:
    """The schema that declares the dotted config ``key``, and the key's name in it: that of the ``_target_`` of the
    node holding it (less the arguments the code passes), or the dataclass of a node without one (``PLAIN_SCHEMAS``).
    None where no schema declares the key: a list item, a key the code reads itself, a target that does not import
    (``validate_config`` reports that)."""
    parent, _, name = key.rpartition(".")
    node = OmegaConf.select(cfg, parent, default=None) if parent else cfg
    if not isinstance(node, DictConfig):
        return None
    target = node.get("_target_")
    schema = PLAIN_SCHEMAS.get(parent)
    if isinstance(target, str):
        try:
            schema = target_schema(target, PASSED_BY_CODE.get(parent.split(".")[0], frozenset()))
        except (ImportError, AttributeError, ValueError):
            return None
    return (schema, name) if schema is not None and name in schema.keys else None


def takes_number(cfg: DictConfig, key: str) -> bool:
    """Whether the dotted config ``key`` takes a number: it holds one, or it holds null where its schema declares a
    number (an argument left untyped, or typed as a union OmegaConf cannot hold: where its default is a number)."""
    current = OmegaConf.select(cfg, key, default=None)
    if current is not None:
        return _is_number(current)
    found = key_schema(cfg, key)
    if found is None:
        return False
    schema, name = found
    declared = declared_type(schema.config, name)
    if declared is Any and schema not in PLAIN_SCHEMAS.values():  # a hand-written dataclass has no defaults to read
        return _is_number(constructor_defaults(schema.target).get(name))
    return declared in (int, float)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_target_node(
    node: Mapping, key: str, passed_by_code: frozenset[str] = frozenset(), extra_keys: Sequence[str] = ()
) -> list[str]:
    """``check_node`` against the schema generated from the node's ``_target_``."""
    target = node["_target_"]
    try:
        schema = target_schema(target, passed_by_code)
    except (ImportError, AttributeError, ValueError) as exc:
        return [f"{key}._target_={target!r} cannot be imported: {exc}"]
    return check_node(node, key, schema, extra_keys)


def check_target_nodes(config: Mapping) -> list[str]:
    """``check_target_node`` for every ``_target_`` node anywhere in a resolved config (plain containers).

    Arguments in ``PASSED_BY_CODE`` under a node's top-level key are not allowed as keys.
    """
    from snpdiff.config.schedulers import SCHEDULER_KEYS

    problems: list[str] = []

    def walk(value: Any, key: str, passed_by_code: frozenset[str]) -> None:
        if isinstance(value, Mapping):
            if "_target_" in value:
                extra_keys = SCHEDULER_KEYS if key == "scheduler" else ()
                problems.extend(check_target_node(value, key, passed_by_code, extra_keys))
            for name, item in value.items():
                top_level = not key
                inherited = PASSED_BY_CODE.get(str(name), frozenset()) if top_level else passed_by_code
                walk(item, f"{key}.{name}" if key else str(name), inherited)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{key}[{index}]", passed_by_code)

    walk(config, "", frozenset())
    return problems


def constructor_defaults(target: str, passed_by_code: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``{"_target_": target, key: default, ...}`` for every keyword argument of ``target`` that has a default."""
    parameters, _, _ = _parameters(target, need_defaults=True)
    defaults: dict[str, Any] = {"_target_": target}
    for name, parameter in parameters.items():
        if name in passed_by_code or parameter.default is inspect.Parameter.empty:
            continue
        default = parameter.default
        defaults[name] = list(default) if isinstance(default, tuple) else default
    return defaults


@dataclasses.dataclass
class TrainConfig:
    """The top level of ``conf/train.yaml``: its settings, and one entry per config group (checked on their own)."""

    task_name: str = MISSING
    tags: list[str] = MISSING
    seed: int = MISSING
    optimized_metric: str = MISSING
    ckpt_path: str | None = MISSING
    oom_max_retries: int = MISSING
    data: Any = MISSING
    model: Any = MISSING
    diffusion: Any = MISSING
    loss: Any = MISSING
    optimizer: Any = MISSING
    scheduler: Any = MISSING
    trainer: Any = MISSING
    logger: Any = MISSING
    callbacks: Any = MISSING
    quality: Any = MISSING
    paths: Any = MISSING
    hydra: Any = MISSING


@dataclasses.dataclass
class QualityConfig:
    """``conf/quality/*.yaml``: sample-quality metrics during training."""

    enabled: bool = MISSING
    eval_every_n_epochs: int = MISSING
    eval_samples: int = MISSING
    sampling_steps: int = MISSING
    sampler: str = MISSING
    ld_window: int = MISSING
    log_plots: bool = MISSING
    guidance_scale: float = MISSING


@dataclasses.dataclass
class PathsConfig:
    """``conf/paths/*.yaml``: where runs and caches go."""

    root_dir: str = MISSING
    log_dir: str = MISSING
    output_dir: str = MISSING
    cache_dir: str | None = MISSING


def dataclass_schema(schema: type, name: str) -> TargetSchema:
    """A ``TargetSchema`` for a hand-written dataclass (config nodes without a ``_target_``)."""
    keys = tuple(field.name for field in dataclasses.fields(schema))
    return TargetSchema(name, OmegaConf.structured(schema), keys, takes_kwargs=False)


# config nodes without a _target_: top-level key ("" for the top level) -> its schema
PLAIN_SCHEMAS = {
    "": dataclass_schema(TrainConfig, "conf/train.yaml"),
    "quality": dataclass_schema(QualityConfig, "conf/quality"),
    "paths": dataclass_schema(PathsConfig, "conf/paths"),
}


def register_schemas() -> None:
    """Store ``schema/<group>/<name>`` (``OWN_COMPONENTS``' constructor defaults) in Hydra's ConfigStore.

    Must run before Hydra composes ``conf/`` (``compose_config`` and ``train.py`` call it); repeating it is harmless.
    The nodes are plain (untyped) so that a bad value reaches ``validate_config``, which reports every problem at once.
    """
    store = ConfigStore.instance()
    for path, target in OWN_COMPONENTS.items():
        group, name = path.split("/")
        passed_by_code = PASSED_BY_CODE.get(group, frozenset())
        store.store(group=f"schema/{group}", name=name, node=constructor_defaults(target, passed_by_code))
