"""Config validation: every problem of a composed config is found here, before any work starts.

Unknown keys and types come from structured configs (``snpdiff.config.schema``); value rules of a component live
beside the component (``check_unet_config``, ``check_diffusion_config``, ``check_data_config``). This module calls
them, adds the rules that span groups and collects every problem into one ``ConfigError``.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from snpdiff.config.compose import drop_unset_arguments
from snpdiff.config.lr_scheduler_keys import resolve_floors
from snpdiff.config.resolvers import fused_optimizer
from snpdiff.config.schema import ENTRY_SCHEMAS, PLAIN_SCHEMAS, check_node, check_target_nodes
from snpdiff.diffusion.rules import SAMPLER_NAMES
from snpdiff.errors import ConfigError
from snpdiff.metrics.names import is_metric_name
from snpdiff.models.registry import model_kind


def _positive(cfg: DictConfig, key: str, problems: list[str], allow_zero: bool = False) -> None:
    value = OmegaConf.select(cfg, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value >= 0 if allow_zero else value > 0)
    if not ok:
        problems.append(f"{key}={value!r} must be a number {'>= 0' if allow_zero else '> 0'}")


# groups whose files override top-level keys: without `# @package _global_` (e.g. an empty or comment-only file)
# their content lands under the group's name
OVERRIDE_GROUPS = ("experiment", "debug", "local")


def _override_file_problem(group: str, content: Any) -> str:
    """The message for an override file that was not read as one (empty, or without ``# @package _global_``)."""
    if not content:
        return f"the selected conf/{group}/ file is empty (or only comments); give it keys to set or remove it"
    return (
        f"the selected conf/{group}/ file does not start with `# @package _global_`, so its keys landed under "
        f"'{group}.'; add that line first"
    )


def _schema_problems(plain: dict[str, Any]) -> dict[str, list[str]]:
    """Unknown keys and wrong types per top-level key ("" for the top level itself): every ``_target_`` node
    against its target, the nodes without one against their dataclass (``snpdiff.config.schema``)."""
    misplaced = {group: plain[group] for group in OVERRIDE_GROUPS if group in plain}
    keys = {key: value for key, value in plain.items() if key not in misplaced}
    problems = {
        "": [
            *(_override_file_problem(group, content) for group, content in misplaced.items()),
            *check_node(keys, "", PLAIN_SCHEMAS[""]),
        ]
    }
    for key, value in keys.items():
        problems[key] = check_target_nodes({key: value})
        if key in PLAIN_SCHEMAS and isinstance(value, dict):
            problems[key] += check_node(value, key, PLAIN_SCHEMAS[key])
    return problems


def _integer(low: int) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def _fraction_or_count(value: Any) -> bool:
    """A share of the batches (a float in [0, 1]) or a count of them (an integer >= 0)."""
    return _integer(0)(value) or (isinstance(value, float) and 0 <= value <= 1)


def _duration(value: Any) -> bool:
    """Lightning's ``max_time``: ``"DD:HH:MM:SS"`` or a mapping of ``datetime.timedelta`` keywords."""
    if isinstance(value, str):
        return re.fullmatch(r"\s*\d+:\d+:\d+:\d+\s*", value) is not None
    units = {"weeks", "days", "hours", "minutes", "seconds", "milliseconds", "microseconds"}
    return isinstance(value, dict) and bool(value) and all(
        unit in units and isinstance(amount, int | float) and not isinstance(amount, bool) and amount >= 0
        for unit, amount in value.items()
    )


PRECISIONS = ("64-true", "32-true", "16-true", "16-mixed", "bf16-true", "bf16-mixed", "transformer-engine",
              "transformer-engine-float16", "64", "32", "16", "bf16", 64, 32, 16)  # fmt: skip
# the Trainer arguments whose values Lightning checks only when the Trainer is built (after the data has loaded):
# key -> (the rule, what is allowed); null is allowed for every one of them
TRAINER_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "max_epochs": (_integer(-1), "an integer >= 0, or -1 for no limit"),
    "min_epochs": (_integer(0), "an integer >= 0"),
    "max_steps": (_integer(-1), "an integer >= 0, or -1 for no limit"),
    "min_steps": (_integer(0), "an integer >= 0"),
    "max_time": (_duration, 'a duration "DD:HH:MM:SS" (e.g. "00:12:00:00") or {days: .., hours: .., minutes: ..}'),
    "check_val_every_n_epoch": (_integer(1), "an integer >= 1"),
    "val_check_interval": (lambda v: _integer(1)(v) or (isinstance(v, float) and 0 < v <= 1),
                           "a share of an epoch in (0, 1] or a number of batches >= 1"),
    "limit_train_batches": (_fraction_or_count, "a share in [0, 1] or a number of batches >= 0"),
    "limit_val_batches": (_fraction_or_count, "a share in [0, 1] or a number of batches >= 0"),
    "num_sanity_val_steps": (_integer(-1), "an integer >= 0, or -1 for all"),
    "accumulate_grad_batches": (_integer(1), "an integer >= 1"),
    "gradient_clip_val": (lambda v: isinstance(v, int | float) and not isinstance(v, bool) and v >= 0,
                          "a number >= 0"),
    "gradient_clip_algorithm": (lambda v: v in ("norm", "value"), "norm or value"),
    "precision": (lambda v: v in PRECISIONS, ", ".join(str(p) for p in PRECISIONS[:8])),
}


def check_trainer_config(keys: dict[str, Any]) -> list[str]:
    """``trainer.<key>=<value> must be ...`` for each value of ``TRAINER_RULES`` that Lightning would refuse."""
    return [
        f"trainer.{key}={keys[key]!r} must be {allowed} (or null)"
        for key, (allowed_value, allowed) in TRAINER_RULES.items()
        if keys.get(key) is not None and not allowed_value(keys[key])
    ]


def _component_problems(plain: dict[str, Any], schema_ok: set[str]) -> list[str]:
    """The value rules each of snpdiff's components keeps beside itself (ranges, widths that must divide, ...); the
    model's are those of its row of ``snpdiff.models.MODELS``; the Trainer's (Lightning's) ``TRAINER_RULES``.

    Only for groups in ``schema_ok``: where keys or types are wrong, the value rules would repeat the problem.
    """
    from snpdiff.data.rules import check_data_config
    from snpdiff.diffusion.rules import check_diffusion_config

    kind = model_kind(plain.get("model", {}).get("_target_"))
    checkers: dict[str, Callable[[dict[str, Any]], list[str]]] = {
        "diffusion": lambda keys: check_diffusion_config(**keys),
        "data": check_data_config,
        "trainer": check_trainer_config,
    }
    if kind is not None:
        checkers["model"] = lambda keys: kind.check(**keys)
    problems = []
    for group, checker in checkers.items():
        if group in schema_ok and group in plain:
            problems += checker({k: v for k, v in plain[group].items() if not k.startswith("_")})
    return problems


def _optimizer_problems(cfg: DictConfig) -> list[str]:
    """Ranges of the torch optimizer's keys (torch checks them only when it is built)."""
    problems: list[str] = []
    _positive(cfg, "optimizer.lr", problems)
    _positive(cfg, "optimizer.weight_decay", problems, allow_zero=True)
    _positive(cfg, "optimizer.eps", problems)
    betas = OmegaConf.select(cfg, "optimizer.betas")
    if betas is None or len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
        problems.append(f"optimizer.betas={betas!r} must be two numbers in [0, 1)")
    precision, clip = OmegaConf.select(cfg, "trainer.precision"), OmegaConf.select(cfg, "trainer.gradient_clip_val")
    if OmegaConf.select(cfg, "optimizer.fused") and not fused_optimizer(precision) and clip:
        # Lightning raises this only at the first clipped step, after the data and model are built
        problems.append(
            f"optimizer.fused=true cannot go with trainer.precision={precision} and "
            f"trainer.gradient_clip_val={clip}: Lightning refuses gradient clipping with a fused optimizer "
            "under mixed precision; allowed: optimizer.fused=false, or trainer.gradient_clip_val=null"
        )
    return problems


def _scheduler_problems(cfg: DictConfig) -> list[str]:
    """Ranges of the torch LR scheduler's keys, wherever the scheduler node sets them."""
    problems: list[str] = []
    scheduler = cfg.get("scheduler") or {}
    for key in ("eta_min", "min_lr"):
        if scheduler.get(key) is not None:  # null: a ratio of optimizer.lr (snpdiff.training.lr_schedulers)
            _positive(cfg, f"scheduler.{key}", problems, allow_zero=True)
    factor = scheduler.get("factor")
    if factor is not None and not (isinstance(factor, (int, float)) and 0 < factor < 1):
        problems.append(f"scheduler.factor={factor!r} must be in (0, 1)")
    lr = OmegaConf.select(cfg, "optimizer.lr", default=None)
    if not problems and isinstance(lr, (int, float)) and lr > 0 and OmegaConf.is_config(scheduler):
        try:
            args = OmegaConf.to_container(scheduler, resolve=True)
        except OmegaConfBaseException:
            return problems  # reported by _resolved
        problems += resolve_floors(args, lr)[1]  # what the scheduler's build would refuse, before torch loads
    return problems


# loggers whose package is an optional extra of snpdiff: target -> (package to import, extra that installs it)
OPTIONAL_PACKAGES = {
    "lightning.pytorch.loggers.TensorBoardLogger": ("tensorboard", "trackers"),
    "snpdiff.training.loggers.mlflow_logger": ("mlflow", "trackers"),
    "lightning.pytorch.loggers.MLFlowLogger": ("mlflow", "trackers"),
}


def _package_problems(cfg: DictConfig) -> list[str]:
    """A logger whose package is not installed: named with the install command, before any work (else Hydra's
    traceback from inside Lightning once the data has loaded)."""
    problems = []
    for name, node in (cfg.get("logger") or {}).items():
        needed = OPTIONAL_PACKAGES.get(str(node.get("_target_"))) if OmegaConf.is_dict(node) else None
        if needed and importlib.util.find_spec(needed[0]) is None:
            problems.append(
                f"logger.{name} needs the {needed[0]} package, which is not installed; "
                f"pip install 'snpdiff[{needed[1]}]' (or pip install {needed[0]})"
            )
    return problems


def _cross_group_problems(cfg: DictConfig) -> list[str]:
    """Rules that span groups or settings: the optimised metric, the checkpoint, the discrete loss, quality."""
    problems: list[str] = []
    _positive(cfg, "loss.discrete_penalty_weight", problems, allow_zero=True)
    if cfg.loss.get("use_discrete_loss") and not cfg.loss.get("discrete_penalty_weight"):
        problems.append("loss.use_discrete_loss=true needs loss.discrete_penalty_weight > 0")
    if not is_metric_name(cfg.optimized_metric):
        problems.append(
            f"optimized_metric={cfg.optimized_metric!r} is not a metric the training logs; use val_loss, "
            "train_loss_epoch or a val/<quality metric> (see snpdiff.metrics.names)"
        )
    elif str(cfg.optimized_metric).startswith("val/") and not cfg.quality.enabled:
        problems.append(f"optimized_metric={cfg.optimized_metric!r} needs quality.enabled=true")
    ckpt = cfg.get("ckpt_path")
    if ckpt not in (None, "last") and not Path(str(ckpt)).is_file():
        problems.append(f"ckpt_path={ckpt!r} is not a file; use null, 'last' or an existing .ckpt path")
    quality = cfg.get("quality") or {}
    if quality.get("enabled"):
        for key in ("eval_every_n_epochs", "eval_samples", "sampling_steps", "ld_window"):
            value = quality.get(key)
            if not (isinstance(value, int) and value >= 1):
                problems.append(f"quality.{key}={value!r} must be an integer >= 1")
        if quality.get("sampler") not in SAMPLER_NAMES:
            problems.append(
                f"quality.sampler={quality.get('sampler')!r} is not a sampler; allowed: {', '.join(SAMPLER_NAMES)}"
            )
        scale = quality.get("guidance_scale")
        if not (isinstance(scale, int | float) and not isinstance(scale, bool) and scale >= 0):
            problems.append(f"quality.guidance_scale={scale!r} must be a number >= 0 (1: plain conditional sampling)")
    threads = cfg.get("threads")
    if threads is not None and not (isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1):
        problems.append(f"threads={threads!r} must be an integer >= 1, or null to share the cores among trainings")
    if not (isinstance(cfg.get("oom_max_retries"), int) and cfg.oom_max_retries >= 0):
        problems.append(f"oom_max_retries={cfg.get('oom_max_retries')!r} must be an integer >= 0")
    return problems


def _resolved(cfg: DictConfig) -> tuple[dict[str, Any], list[str]]:
    """The config as plain containers, one top-level key at a time, and a problem per key that does not resolve
    (that key is then left out, so the rest is still checked)."""
    plain: dict[str, Any] = {}
    problems: list[str] = []
    for key in cfg:
        try:
            node = cfg[key]
            plain[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
        except MissingMandatoryValue as exc:
            problems.append(f"{exc.full_key or key} is required (???); give {exc.full_key or key}=<value>")
        except OmegaConfBaseException as exc:
            problems.append(_unresolved_problem(exc, exc.full_key or key))
    return plain, problems


def _unresolved_problem(error: OmegaConfBaseException, key: str) -> str:
    """What is wrong with ``key``, whose value does not resolve: an unset environment variable by its name."""
    unset = re.search(r"Environment variable '([^']+)' not found", str(error.msg))
    if unset:
        name = unset[1]
        return (
            f"{key}: the environment variable {name} is not set (${{oc.env:{name}}}); set it, or give a "
            f"default: ${{oc.env:{name},<value>}}"
        )
    return f"{key} cannot be resolved: {error.msg}"


def validate_config(cfg: DictConfig) -> None:
    """Raise one ``ConfigError`` listing every problem of ``cfg`` (unknown keys, types, bad values, cross-key rules)."""
    plain, problems = _resolved(cfg)
    unresolved = bool(problems)
    schema_problems = _schema_problems(plain)
    problems += [problem for group_problems in schema_problems.values() for problem in group_problems]
    problems += _component_problems(plain, {group for group, found in schema_problems.items() if not found})
    for rules in (_optimizer_problems, _scheduler_problems, _cross_group_problems, _package_problems):
        try:
            problems += rules(cfg)
        except OmegaConfBaseException:  # they read cfg itself: a value that does not resolve, reported above
            if not unresolved:
                raise
    if problems:
        raise problems_error(problems)


def problems_error(problems: list[str]) -> ConfigError:
    """One ``ConfigError`` for a config's problems: the problem itself when there is one (one ``error:`` line),
    else ``invalid config:`` and a ``  - `` line each."""
    if len(problems) == 1:
        return ConfigError(problems[0])
    return ConfigError("invalid config:\n  - " + "\n  - ".join(problems))


def check_composed(cfg: DictConfig, config_name: str) -> None:
    """What an entry point checks before any work, on the config Hydra composed from ``conf/<config_name>.yaml``.

    Constructor arguments nobody set are dropped first (``drop_unset_arguments``). ``train.py``'s config is
    validated whole (``validate_config``); ``generate.py``'s and ``evaluate.py``'s keys and types against their
    ``ENTRY_SCHEMAS``, then, where those pass, their values (``ENTRY_RULES``: counts, guidance, paths given, an
    output that can be written). One ``ConfigError`` listing every problem (one line for one).
    """
    drop_unset_arguments(cfg)
    if config_name not in ENTRY_SCHEMAS:
        validate_config(cfg)
        return
    plain, problems = _resolved(cfg)
    problems += check_node(plain, "", ENTRY_SCHEMAS[config_name])
    if not problems:
        problems = ENTRY_RULES[config_name](cfg)
    if problems:
        raise problems_error(problems)


def _integer_at_least(cfg: DictConfig, key: str, low: int, problems: list[str], allow_null: bool = False) -> None:
    value = OmegaConf.select(cfg, key)
    if (value is None and allow_null) or _integer(low)(value):
        return
    problems.append(f"{key}={value!r} must be an integer >= {low}{' or null' if allow_null else ''}")


def _path_given(cfg: DictConfig, key: str, what: str, problems: list[str]) -> None:
    value = OmegaConf.select(cfg, key)
    if not (isinstance(value, str) and value.strip()):
        problems.append(f"{key}={value!r} must name {what}; give {key}=<path>")


def _writable(key: str, value: str, folder: Path) -> list[str]:
    """The problem of writing into ``folder`` (or creating it): its nearest existing folder is a file, on a
    read-only file system or not writable by this user."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return [f"{key}={value!r}: {existing} is a file, not a folder"]
    if os.statvfs(existing).f_flag & os.ST_RDONLY:
        return [f"{key}={value!r} is on a read-only file system ({existing}); choose an {key}= on a writable one"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"{key}={value!r}: {existing} is not writable by this user; choose an {key}= you can write to"]
    return []


def _generate_problems(cfg: DictConfig) -> list[str]:
    """generate.py's values (conf/generate.yaml): counts, guidance, sampler, a checkpoint given and an output file
    that can be written. The format, the device and the checkpoint itself are checked by ``write_synthetic``."""
    problems: list[str] = []
    _path_given(cfg, "ckpt", "a checkpoint file", problems)
    _integer_at_least(cfg, "n", 1, problems)
    _integer_at_least(cfg, "batch_size", 1, problems)
    _integer_at_least(cfg, "seed", 0, problems)
    _integer_at_least(cfg, "sampling_steps", 1, problems, allow_null=True)
    scale = cfg.guidance_scale
    if not (isinstance(scale, int | float) and not isinstance(scale, bool) and math.isfinite(scale) and scale >= 0):
        problems.append(f"guidance_scale={scale!r} must be a finite number >= 0 (1: plain conditional sampling)")
    if cfg.sampler is not None and cfg.sampler not in SAMPLER_NAMES:
        problems.append(f"sampler={cfg.sampler!r} is not a sampler; allowed: {', '.join(SAMPLER_NAMES)}")
    out = cfg.out
    if not isinstance(out, str) or out.endswith(("/", os.sep)) or Path(out).name in ("", ".", ".."):
        problems.append(f"out={out!r} must name a file (a path prefix such as results/synthetic), not a folder")
    else:
        problems += _writable("out", out, Path(out).absolute().parent)
    return problems


def _evaluate_problems(cfg: DictConfig) -> list[str]:
    """evaluate.py's values (conf/evaluate.yaml): the inputs given, ``min_snp_overlap`` a share, and an output
    folder that can be created and written. The metric settings are checked where they are used."""
    problems: list[str] = []
    for key in ("real", "synthetic"):
        _path_given(cfg, key, "a genotype file or run folder", problems)
    if cfg.holdout is not None:
        _path_given(cfg, "holdout", "a genotype file or run folder", problems)
    overlap = cfg.min_snp_overlap
    if not (isinstance(overlap, int | float) and not isinstance(overlap, bool) and 0 < overlap <= 1):
        problems.append(f"min_snp_overlap={overlap!r} must be a share in (0, 1] of real's SNPs")
    _path_given(cfg, "out", "an output folder", problems)
    if not problems:
        problems += _writable("out", str(cfg.out), Path(str(cfg.out)).absolute())
    return problems


# an entry point's config (ENTRY_SCHEMAS) -> the rules of its values, run when its keys and types pass
ENTRY_RULES: dict[str, Callable[[DictConfig], list[str]]] = {
    "generate": _generate_problems,
    "evaluate": _evaluate_problems,
}
