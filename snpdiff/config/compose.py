"""Composing ``conf/`` as ``train.py`` would, outside a running Hydra app (tests, sweeps, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra's compose API, as ``train.py`` would, in struct mode.

    As on ``train.py``'s command line, every argument of a component's constructor is settable without ``+``
    (``trainer.limit_train_batches=3``: ``conf/`` lists them all, ``snpdiff.config.schema``); those nobody set are
    dropped (``drop_unset_arguments``). A key no constructor takes is Hydra's error (``missing_override_key`` reads
    it). Outside a running Hydra app ``paths.output_dir`` points at a fresh folder under ``paths.log_dir`` unless an
    override sets it.
    """
    from hydra import compose, initialize_config_dir

    from snpdiff.cluster import expose_launchers
    from snpdiff.config.resolvers import register_resolvers
    from snpdiff.config.schema import register_schemas

    expose_launchers()
    register_schemas()
    register_resolvers()
    overrides = list(overrides or [])
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3", job_name=config_name):
        cfg = compose(config_name=config_name, overrides=overrides, return_hydra_config=True)
    drop_unset_arguments(cfg)
    output_dir = cfg.hydra.run.dir
    with open_dict(cfg):
        if not any(o.split("=", 1)[0].lstrip("+~") == "paths.output_dir" for o in overrides):
            cfg.paths.output_dir = output_dir
        del cfg["hydra"]
    OmegaConf.set_struct(cfg, True)
    return cfg


def drop_unset_arguments(cfg: DictConfig | ListConfig) -> None:
    """Remove, in place, every key of a ``_target_`` node that is still unset (``???``): a constructor argument
    ``conf/`` lists so that it can be set without ``+``, which nobody set, so that the constructor's own default
    applies. Interpolations are left as they are; other unset keys (``generate.py``'s ``ckpt``) stay unset."""
    keys = range(len(cfg)) if isinstance(cfg, ListConfig) else list(cfg.keys())
    is_target_node = isinstance(cfg, DictConfig) and "_target_" in cfg
    for key in keys:
        if OmegaConf.is_missing(cfg, key):
            if is_target_node:
                with open_dict(cfg):
                    del cfg[key]
        elif not OmegaConf.is_interpolation(cfg, key) and OmegaConf.is_config(child := cfg[key]):
            drop_unset_arguments(child)


def missing_override_key(error: BaseException, config_name: str) -> tuple[str, str, list[str]] | None:
    """For Hydra's "Could not override 'model.chanels'" (a key the composed config lacks, given without ``+``): the
    key, the node's owner (its ``_target_`` or config file) and the keys allowed there. None for any other error."""
    from hydra.errors import ConfigCompositionException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from snpdiff.config.schema import PASSED_BY_CODE, target_schema

    cause = error.__cause__
    not_in_config = isinstance(cause, (ConfigKeyError, ConfigAttributeError))  # "Key '...' is not in struct"
    if not (isinstance(error, ConfigCompositionException) and not_in_config):
        return None
    node, path = cause.parent_node, str(cause.full_key or "")
    if not isinstance(node, DictConfig) or not path:
        return None
    parent = path.rpartition(".")[0]
    owner = parent or f"conf/{config_name}.yaml"
    allowed = {str(key) for key in node if not str(key).startswith("_")} - {"hydra"}
    target = node.get("_target_")
    if isinstance(target, str):
        owner = target
        try:  # a target conf/ does not list (a user's own) has arguments its node may not name
            allowed |= set(target_schema(target, PASSED_BY_CODE.get(path.split(".")[0], frozenset())).keys)
        except (ImportError, AttributeError, ValueError):
            pass
    return path, owner, sorted(allowed)


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers (what checkpoints and W&B store)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
