"""Config composition and validation: every cross-key rule is checked here, before any work starts.

Key-level rules of a component live beside the component (``check_unet_config``, ``check_diffusion_config``,
``check_data_config``); this module calls them and adds the rules that span groups.
"""

from __future__ import annotations

import importlib
import inspect
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = PROJECT_ROOT / "conf"

SCHEDULER_NAMES = ("cosine", "reduce", "onecycle", "warmup_cosine", "none")
# eta_min / min_lr that are not below optimizer.lr are replaced by this fraction of lr
MIN_LR_FRACTION = 0.01
TOP_LEVEL_KEYS = {
    "task_name",
    "tags",
    "seed",
    "optimized_metric",
    "ckpt_path",
    "oom_max_retries",
    "data",
    "model",
    "diffusion",
    "loss",
    "optimizer",
    "scheduler",
    "trainer",
    "logger",
    "callbacks",
    "quality",
    "paths",
    "hydra",
}
LOGGER_NAMES = ("wandb", "csv")
PROGRESS_BARS = ("rich", "tqdm", "none")
# arguments the training code passes itself, so they are not config keys
_PASSED_BY_CODE = {"model": {"seq_length", "in_channels"}, "optimizer": {"params"}, "data": set()}


def compose_config(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with Hydra's compose API, as ``train.py`` would, in struct mode.

    Outside a running Hydra app ``paths.output_dir`` points at a fresh folder under ``paths.log_dir``
    unless an override sets it.
    """
    from hydra import compose, initialize_config_dir

    from snpdiff.cluster import expose_launchers

    expose_launchers()
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


def _target_parameters(target: str) -> tuple[set[str], bool]:
    """Names a ``_target_`` accepts, and whether it also takes ``**kwargs``."""
    module_name, _, attr = target.rpartition(".")
    obj = getattr(importlib.import_module(module_name), attr)
    signature = inspect.signature(obj.__init__ if inspect.isclass(obj) else obj)
    names = {n for n, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in signature.parameters.values())
    return names - {"self"}, takes_kwargs


def _check_target_keys(cfg: DictConfig, group: str, problems: list[str]) -> None:
    node = cfg.get(group)
    if node is None or "_target_" not in node:
        return
    target = node["_target_"]
    try:
        allowed, takes_kwargs = _target_parameters(target)
    except (ImportError, AttributeError) as exc:
        problems.append(f"{group}._target_={target!r} cannot be imported: {exc}")
        return
    if takes_kwargs:
        return
    allowed -= _PASSED_BY_CODE.get(group, set())
    for key in node:
        if key.startswith("_") or key in allowed:
            continue
        problems.append(f"unknown key '{group}.{key}' for {target}; allowed: {', '.join(sorted(allowed))}")


def _positive(cfg: DictConfig, key: str, problems: list[str], allow_zero: bool = False) -> None:
    value = OmegaConf.select(cfg, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        problems.append(f"{key}={value!r} must be a number {'>= 0' if allow_zero else '> 0'}")


def _component_problems(cfg: DictConfig) -> list[str]:
    from snpdiff.data import check_data_config
    from snpdiff.diffusion import check_diffusion_config
    from snpdiff.models import check_mlp_config, check_unet_config

    problems: list[str] = []
    model = OmegaConf.to_container(cfg.model, resolve=True)
    model_target = model.pop("_target_", "")
    checker = check_mlp_config if model_target.endswith("MLPDenoiser") else check_unet_config
    problems += checker(**{k: v for k, v in model.items() if not k.startswith("_")})
    diffusion = OmegaConf.to_container(cfg.diffusion, resolve=True)
    problems += check_diffusion_config(**{k: v for k, v in diffusion.items() if not k.startswith("_")})
    problems += check_data_config(OmegaConf.to_container(cfg.data, resolve=True))
    return problems


def validate_config(cfg: DictConfig) -> None:
    """Raise one ``ConfigError`` listing every problem of ``cfg`` (unknown keys, bad values, cross-key rules)."""
    from snpdiff.training_metrics import is_metric_name

    problems: list[str] = []
    for key in cfg:
        if key not in TOP_LEVEL_KEYS:
            problems.append(f"unknown top-level key '{key}'; allowed: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    for group in ("model", "diffusion", "loss", "optimizer", "data"):
        _check_target_keys(cfg, group, problems)
    try:
        problems += _component_problems(cfg)
    except TypeError as exc:  # an unknown key already reported above
        problems.append(str(exc))

    _positive(cfg, "optimizer.lr", problems)
    _positive(cfg, "optimizer.weight_decay", problems, allow_zero=True)
    _positive(cfg, "optimizer.eps", problems)
    betas = OmegaConf.select(cfg, "optimizer.betas")
    if betas is None or len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
        problems.append(f"optimizer.betas={betas!r} must be two numbers in [0, 1)")
    _positive(cfg, "loss.discrete_penalty_weight", problems, allow_zero=True)
    if cfg.loss.get("use_discrete_loss") and not cfg.loss.get("discrete_penalty_weight"):
        problems.append("loss.use_discrete_loss=true needs loss.discrete_penalty_weight > 0")

    scheduler = cfg.get("scheduler") or {}
    if scheduler.get("name") not in SCHEDULER_NAMES:
        problems.append(f"scheduler.name={scheduler.get('name')!r}; allowed: {', '.join(SCHEDULER_NAMES)}")
    for key in ("eta_min", "min_lr"):
        if key in scheduler:
            _positive(cfg, f"scheduler.{key}", problems, allow_zero=True)
    if scheduler.get("name") == "reduce":
        factor = scheduler.get("factor")
        if not (isinstance(factor, (int, float)) and 0 < factor < 1):
            problems.append(f"scheduler.factor={factor!r} must be in (0, 1)")
    if "warmup_fraction" in scheduler and not 0 <= scheduler.warmup_fraction < 1:
        problems.append(f"scheduler.warmup_fraction={scheduler.warmup_fraction!r} must be in [0, 1)")

    if not is_metric_name(cfg.optimized_metric):
        problems.append(
            f"optimized_metric={cfg.optimized_metric!r} is not a metric the training logs; use val_loss, "
            "train_loss_epoch or a val/<quality metric> (see snpdiff.training_metrics)"
        )
    elif str(cfg.optimized_metric).startswith("val/") and not cfg.quality.enabled:
        problems.append(f"optimized_metric={cfg.optimized_metric!r} needs quality.enabled=true")
    ckpt = cfg.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(str(ckpt)).is_file():
        problems.append(f"ckpt_path={ckpt!r} is not a file; use null, 'last' or an existing .ckpt path")

    loggers = cfg.get("logger") or {}
    for name in loggers:
        if name not in LOGGER_NAMES:
            problems.append(f"unknown logger '{name}'; allowed: {', '.join(LOGGER_NAMES)}")
    bar = OmegaConf.select(cfg, "callbacks.progress_bar.kind")
    if bar not in PROGRESS_BARS:
        problems.append(f"callbacks.progress_bar.kind={bar!r}; allowed: {', '.join(PROGRESS_BARS)}")
    quality = cfg.get("quality") or {}
    if quality.get("enabled"):
        for key in ("eval_every_n_epochs", "eval_samples", "sampling_steps", "ld_window"):
            value = quality.get(key)
            if not (isinstance(value, int) and value >= 1):
                problems.append(f"quality.{key}={value!r} must be an integer >= 1")
    if not (isinstance(cfg.get("oom_max_retries"), int) and cfg.oom_max_retries >= 0):
        problems.append(f"oom_max_retries={cfg.get('oom_max_retries')!r} must be an integer >= 0")

    if problems:
        raise ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def fix_min_lr(cfg: DictConfig) -> list[str]:
    """Replace ``scheduler.eta_min`` / ``scheduler.min_lr`` that are not below ``optimizer.lr`` in place.

    The new value is ``MIN_LR_FRACTION * lr``, so the saved config says what ran. Returns one warning per fix.
    """
    lr = float(cfg.optimizer.lr)
    warnings = []
    for key in ("eta_min", "min_lr"):
        value = cfg.scheduler.get(key)
        if value is not None and float(value) >= lr:
            fixed = MIN_LR_FRACTION * lr
            warnings.append(
                f"scheduler.{key}={value} is not below optimizer.lr={lr}; using {fixed:g} ({MIN_LR_FRACTION:g} x lr)"
            )
            with open_dict(cfg):
                cfg.scheduler[key] = fixed
    return warnings


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain Python containers (what checkpoints and W&B store)."""
    return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
