"""The old tool's names: its flat parameter names, its retired features and its training script, and the one
translation of an old sweep file into the current form (``modernize``), which ``init`` applies before parsing.

Only here: the parser (``snpdiff.sweep.spec``) reads current files and never sees an old name; a stored sweep is
always current (``init`` stores it parsed, under the keys its parameters set).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snpdiff.sweep.spec import DEFAULT_PROGRAM, SweepSpec, load_sweep, parse_sweep


@dataclass(frozen=True)
class Retired:
    """An old parameter name whose feature this network does not have: dropped from a sweep with a warning."""

    reason: str


# The old tool's flat parameter names -> the Hydra key (or config group) that does what the name did there, or
# Retired(why) for a feature this network does not have. The one place this mapping lives.
ALIASES: dict[str, str | Retired] = {
    # optimizer
    "learning_rate": "optimizer.lr",
    "lr": "optimizer.lr",
    "weight_decay": "optimizer.weight_decay",
    "betas": "optimizer.betas",
    "beta1": "optimizer.betas.0",  # the halves of Adam's betas, each swept alone or both together
    "beta2": "optimizer.betas.1",
    "eps": "optimizer.eps",
    "amsgrad": "optimizer.amsgrad",
    # data and trainer
    "batch_size": "data.batch_size",
    "seq_length": "data.seq_length",
    "n_individuals": "data.n_individuals",
    "epochs": "trainer.max_epochs",
    "max_epochs": "trainer.max_epochs",
    "gradient_clip_val": "trainer.gradient_clip_val",
    "accumulate_grad_batches": "trainer.accumulate_grad_batches",
    "precision": "trainer.precision",
    # model
    "embedding_dim": "model.embedding_dim",
    "time_dim": "model.time_dim",
    "channels": "model.channels",
    "dim_mults": "model.dim_mults",
    "kernel_sizes": "model.kernel_sizes",
    "dilations": "model.dilations",
    "norm_groups": "model.norm_groups",
    "dropout": "model.dropout",
    "with_time_emb": "model.use_time_emb",
    "with_pos_emb": "model.use_pos_emb",
    "use_scale_shift_norm": "model.use_scale_shift_norm",
    "use_attention": "model.use_attention",
    "attention_heads": "model.attention_heads",
    "attention_dim_head": "model.attention_dim_head",
    "edge_pad": Retired("the UNet pads the SNP axis itself (zeros on the right up to a multiple of "
                        "2**(levels - 1), cropped from the output); there is no edge padding to choose"),
    "pos_dim": Retired("the positional embedding is learned per SNP at the first level's width "
                       "(model.use_pos_emb); it has no width of its own"),
    "attention_type": Retired("the old sparse attention is not implemented: model.use_attention gives linear "
                              "attention per level and full attention in the middle"),
    "attention_window": Retired("the old sliding-window attention is not implemented (model.use_attention "
                                "attends over the whole window)"),
    "window_size": Retired("the old sliding-window attention is not implemented (model.use_attention attends "
                           "over the whole window)"),
    "num_global_tokens": Retired("the old sparse attention's global tokens are not implemented"),
    # loss and diffusion
    "discrete_penalty_weight": "loss.discrete_penalty_weight",
    "use_discrete_loss": "loss.use_discrete_loss",
    "timesteps": "diffusion.timesteps",
    "beta_start": "diffusion.beta_start",
    "beta_end": "diffusion.beta_end",
    "schedule_type": "diffusion.schedule_type",
    "prediction": "diffusion.prediction",
    "sampler": "diffusion.sampler",
    "sampling_steps": "diffusion.sampling_steps",
    # learning-rate scheduler: a group choice, and the keys of the options that take them
    "scheduler_type": "scheduler",  # cosine | reduce | onecycle | warmup_cosine | none
    "eta_min": "scheduler.eta_min",  # cosine, warmup_cosine
    "min_lr": "scheduler.min_lr",  # reduce
    "warmup_epochs": "scheduler.warmup_epochs",  # warmup_cosine
    "scheduler_factor": "scheduler.factor",  # reduce (ReduceLROnPlateau)
    "scheduler_patience": "scheduler.patience",
    "scheduler_threshold": "scheduler.threshold",
    "scheduler_mode": "scheduler.mode",
    "scheduler_min_lr": "scheduler.min_lr",
    "scheduler_max_lr": "scheduler.max_lr",  # onecycle (OneCycleLR)
    "scheduler_pct_start": "scheduler.pct_start",
    "scheduler_div_factor": "scheduler.div_factor",
    "scheduler_final_div_factor": "scheduler.final_div_factor",
    "scheduler_anneal_strategy": "scheduler.anneal_strategy",
}
# What ``program:`` named in the old tool; a sweep of it runs train.py.
OLD_PROGRAMS = ("train_sweep.py",)


@dataclass(frozen=True)
class Modernized:
    """An old or current sweep's content with the old tool's constructs translated: ``raw`` without retired
    parameters and with the current training script; ``renamed``: ``{old flat name: the key it sets}`` (the parser
    keeps both for its messages); ``warnings``: what was dropped or replaced, in file order."""

    raw: Mapping[str, Any]
    renamed: dict[str, str]
    warnings: tuple[str, ...]


def modernize(raw: Mapping[str, Any]) -> Modernized:
    """``raw`` (a sweep's content) with the old tool's names translated (``Modernized``); a current file comes back
    as it is. Old flat names live at the top of ``parameters`` (a nested block's names are dotted, never old)."""
    warnings: list[str] = []
    renamed: dict[str, str] = {}
    parameters = raw.get("parameters")
    if isinstance(parameters, dict):
        kept = {}
        for name, entry in parameters.items():
            new = None if isinstance(entry, dict) and "parameters" in entry else ALIASES.get(str(name))
            if isinstance(new, Retired):
                warnings.append(f"parameter '{name}' is dropped: {new.reason}")
                continue
            if new is not None:
                renamed[str(name)] = new
            kept[name] = entry
        raw = {**raw, "parameters": kept}
    program = raw.get("program")
    if isinstance(program, str) and Path(program).name in OLD_PROGRAMS:
        warnings.append(f"program: {program} is the old tool's script; the trials run {DEFAULT_PROGRAM}")
        raw = {**raw, "program": DEFAULT_PROGRAM}
    return Modernized(raw, renamed, tuple(warnings))


def _with_warnings(spec: SweepSpec, old: Modernized) -> SweepSpec:
    return dataclasses.replace(spec, warnings=(*old.warnings, *spec.warnings)) if old.warnings else spec


def parse_with_old_names(raw: Mapping[str, Any], default_metric: str = "val_loss") -> tuple[SweepSpec, list[str]]:
    """``parse_sweep`` of a sweep a person wrote, in the current form or the old tool's (``modernize``); the spec's
    warnings say what the translation dropped or replaced."""
    old = modernize(raw)
    spec, problems = parse_sweep(old.raw, default_metric, old.renamed)
    return _with_warnings(spec, old), problems


def load_with_old_names(raw: Any) -> SweepSpec:
    """``load_sweep`` of a valid sweep that may be in the old tool's form (a W&B sweep the old tool created)."""
    if not isinstance(raw, Mapping):
        return load_sweep(raw)  # its error: not a mapping
    old = modernize(raw)
    return _with_warnings(load_sweep(old.raw, renamed=old.renamed), old)


def current_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """A run's parameter values under the keys they set: old flat names renamed, retired ones dropped (the sweep
    dropped them too)."""
    current = {}
    for name, value in params.items():
        new = ALIASES.get(name, name)
        if not isinstance(new, Retired):
            current[new] = value
    return current
