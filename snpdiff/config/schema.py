"""Schemas of config nodes, from the constructors' signatures: the one place config keys, types and defaults come
from.

The signatures are read with ``inspect.signature`` ahead of time and committed (``snpdiff.config.constructor_keys``,
``constructor_keys.yaml``), so that validating a config imports neither torch nor Lightning. Three uses:

- ``register_schemas`` stores one node per target in Hydra's ConfigStore as ``schema/<target>``, listing every
  keyword argument: ``conf/<group>/<option>.yaml`` pulls it in its defaults list, so every argument is settable on
  the command line without ``+`` and Hydra itself refuses a key no argument has. snpdiff's own components
  (``OWN_COMPONENTS``) list their constructor defaults (every default is written once, in the constructor); a
  library's arguments are listed unset (``???``) and ``drop_unset_arguments`` removes those nobody set, so the
  library's own defaults apply.
- ``check_target_nodes`` checks every ``_target_`` node of a config (model, optimizer, scheduler, callbacks.*,
  logger.*, nested ones too) against its target's keys and types: unknown keys and wrong types come back as
  messages naming the key and what is allowed.
- ``type_ok`` is the one check that a value fits a key's type; sweeps make it too, finding a dotted key's schema with
  ``key_schema``.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import typing
from collections.abc import Mapping, Sequence
from types import NoneType, UnionType
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ValidationError

from snpdiff.config.constructor_keys import (
    PLAIN_NODE_TARGETS,
    committed_signatures,
    parse_type,
    signature,
    type_text,
)
from snpdiff.metrics.settings import EvaluationSettings
from snpdiff.models.registry import MODELS

# arguments the code passes itself when it instantiates a node under this top-level key, so they are not config keys
PASSED_BY_CODE: dict[str, frozenset[str]] = {
    "model": frozenset({"seq_length", "in_channels", "num_classes"}),
    "optimizer": frozenset({"params"}),
    "scheduler": frozenset({"optimizer", "total_steps"}),
    "trainer": frozenset({"callbacks", "logger", "plugins"}),
    "quality": frozenset({"seed"}),  # the run's seed
}
# snpdiff's components whose constructor defaults are the config's defaults (conf/<group>/ sets only what it changes)
OWN_COMPONENTS = frozenset(
    {
        *(kind.target for kind in MODELS),
        "snpdiff.diffusion.GaussianDiffusion",
        "snpdiff.diffusion.losses.DiffusionLoss",
        "snpdiff.data.GenotypeDataModule",
    }
)


@dataclasses.dataclass(frozen=True)
class TargetSchema:
    """What a ``_target_`` accepts: its keyword arguments, their declared types (``Optional[X]`` read as ``X``:
    whether None is allowed is kept apart, as OmegaConf does), a structured config of them for OmegaConf's own type
    check, and whether it takes ``**kwargs``."""

    target: str
    config: Any  # the OmegaConf DictConfig of the generated dataclass (every field MISSING)
    keys: tuple[str, ...]
    takes_kwargs: bool
    types: Mapping[str, Any]


def _declared(annotation: Any) -> Any:
    """``Optional[X]`` -> ``X``; any other type as it is."""
    if typing.get_origin(annotation) in (typing.Union, UnionType):
        rest = [arg for arg in typing.get_args(annotation) if arg is not NoneType]
        return rest[0] if len(rest) == 1 else Any
    return annotation


def _schema(owner: str, types: Mapping[str, Any], takes_kwargs: bool = False) -> TargetSchema:
    """The ``TargetSchema`` of keys with these types (as OmegaConf can hold them)."""
    fields = [(key, annotation, dataclasses.field(default=MISSING)) for key, annotation in types.items()]
    config = OmegaConf.structured(dataclasses.make_dataclass("KeySchema", fields))
    declared = {key: _declared(annotation) for key, annotation in types.items()}
    return TargetSchema(owner, config, tuple(types), takes_kwargs, declared)


@functools.cache
def target_schema(target: str, passed_by_code: frozenset[str] = frozenset()) -> TargetSchema:
    """The schema of ``target``'s keyword arguments, less those in ``passed_by_code``.

    Raises ImportError/AttributeError (via Hydra) when ``target`` is not in ``constructor_keys.yaml`` and cannot be
    imported.
    """
    entry = signature(target)
    types = {key: parse_type(found["type"]) for key, found in entry["keys"].items() if key not in passed_by_code}
    return _schema(target, types, entry["takes_kwargs"])


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
        exact = _EXACT_TYPES.get(schema.types[name])
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
    """The type ``schema`` declares for its key ``name``, for messages (``int``, ``list[int]``, ``Any``)."""
    annotation = schema.types[name]  # the declared type, not the value's
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("typing.", "")


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
    declared = schema.types[name]
    if declared is Any and schema.target in committed_signatures():  # a hand-written dataclass has no defaults
        return _is_number(signature(schema.target)["keys"][name].get("default"))
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
    from snpdiff.config.lr_scheduler_keys import SCHEDULER_KEYS

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


def schema_node(target: str) -> dict[str, Any]:
    """The ConfigStore node ``schema/<target>``: ``_target_`` and every keyword argument the config may set (those
    the code passes left out), at its default for ``OWN_COMPONENTS``, else unset (``???``)."""
    entry = signature(target)
    passed_by_code = PASSED_BY_CODE.get(entry["group"], frozenset())
    own = target in OWN_COMPONENTS
    node = {"_target_": target}
    for name, found in entry["keys"].items():
        if name not in passed_by_code:
            node[name] = found["default"] if own and "default" in found else MISSING
    return node


@dataclasses.dataclass
class TrainConfig:
    """The top level of ``conf/train.yaml``: its settings, and one entry per config group (checked on their own)."""

    task_name: str = MISSING
    tags: list[str] = MISSING
    seed: int = MISSING
    optimized_metric: str = MISSING
    ckpt_path: str | None = MISSING
    overwrite: bool = MISSING
    threads: int | None = MISSING
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
class PathsConfig:
    """``conf/paths/*.yaml``: where runs and caches go."""

    root_dir: str = MISSING
    log_dir: str = MISSING
    output_dir: str = MISSING
    cache_dir: str | None = MISSING


@dataclasses.dataclass
class GenerateConfig:
    """``conf/generate.yaml``: what ``generate.py`` samples and where it writes (``snpdiff.generation.stream``).
    Types only: the defaults are the file's."""

    ckpt: str
    n: int
    out: str
    format: str
    overwrite: bool
    population: Any  # a label as written (text, or a number YAML reads as one)
    guidance_scale: float
    sampler: str | None
    sampling_steps: int | None
    batch_size: int
    seed: int
    device: str


def dataclass_schema(schema: type, name: str) -> TargetSchema:
    """A ``TargetSchema`` for a dataclass (config nodes without a ``_target_``, an entry point's settings): its
    fields' types as OmegaConf can hold them (``Any`` where it cannot, as for constructors)."""
    return _schema(name, {key: parse_type(type_text(hint)) for key, hint in typing.get_type_hints(schema).items()})


def plain_node_schema(group: str) -> TargetSchema:
    """The schema of a node without a ``_target_`` that the code passes to a class as its keywords
    (``PLAIN_NODE_TARGETS``): that class's committed keywords, less those the code passes."""
    return target_schema(PLAIN_NODE_TARGETS[group], PASSED_BY_CODE.get(group, frozenset()))


# config nodes without a _target_: top-level key ("" for the top level) -> its schema
PLAIN_SCHEMAS = {
    "": dataclass_schema(TrainConfig, "conf/train.yaml"),
    "quality": plain_node_schema("quality"),
    "paths": dataclass_schema(PathsConfig, "conf/paths"),
}
# the primary configs of generate.py and evaluate.py -> the schema of their keys (snpdiff.config.rules.check_composed)
ENTRY_SCHEMAS = {
    "generate": dataclass_schema(GenerateConfig, "conf/generate.yaml"),
    "evaluate": dataclass_schema(EvaluationSettings, "conf/evaluate.yaml"),
}


def register_schemas() -> None:
    """Store ``schema/<target>`` (``schema_node``) in Hydra's ConfigStore for every target of
    ``constructor_keys.yaml``.

    Must run before Hydra composes ``conf/`` (``compose_config`` and the entry points call it); repeating it is
    harmless. The nodes are plain (untyped) so that a bad value reaches ``validate_config``, which reports every
    problem at once.
    """
    store = ConfigStore.instance()
    for target in committed_signatures():
        store.store(group="schema", name=target, node=schema_node(target))
