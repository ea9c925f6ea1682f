"""Composing ``conf/`` as ``train.py`` would, outside a running Hydra app (tests, sweeps, benchmarks)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONF_DIR = PROJECT_ROOT / "conf"


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra's compose API, as ``train.py`` would, in struct mode.

    Outside a running Hydra app ``paths.output_dir`` points at a fresh folder under ``paths.log_dir``
    unless an override sets it.
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
    output_dir = cfg.hydra.run.dir
    with open_dict(cfg):
        if not any(o.split("=", 1)[0].lstrip("+~") == "paths.output_dir" for o in overrides):
            cfg.paths.output_dir = output_dir
        del cfg["hydra"]
    OmegaConf.set_struct(cfg, True)
    return cfg


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers (what checkpoints and W&B store)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
