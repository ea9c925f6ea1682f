"""Learning-rate schedulers from the ``scheduler`` config group: a ``_partial_`` torch scheduler plus a few keys.

A scheduler node is a ``_target_`` with ``_partial_: true`` and every argument except the optimizer (and
``total_steps``, which the module supplies to targets that take it). Besides the target's own arguments it may hold:

Lightning's lr-scheduler keys and the floor ratios (``snpdiff.config.lr_scheduler_keys``, where config validation
applies the same rules without loading torch).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from snpdiff.config.lr_scheduler_keys import LIGHTNING_KEYS, resolve_floors
from snpdiff.errors import ConfigError

if TYPE_CHECKING:  # torch loads where a scheduler is built
    import torch


@dataclass(frozen=True)
class LRSchedulerFactory:
    """Builds Lightning's lr-scheduler dict for an optimizer: ``{"scheduler": ..., "interval": ..., ...}``.

    ``floor`` is the resolved lowest learning rate (``None`` for schedulers without one).
    """

    scheduler: functools.partial
    lightning: Mapping[str, Any]
    floor: float | None

    @property
    def takes_total_steps(self) -> bool:
        """Whether the target has a ``total_steps`` argument the config leaves to the module."""
        parameters = inspect.signature(self.scheduler.func).parameters
        return "total_steps" in parameters and "total_steps" not in self.scheduler.keywords

    def __call__(self, optimizer: torch.optim.Optimizer, total_steps: int) -> dict[str, Any]:
        """The scheduler for ``optimizer``; ``total_steps`` is the run's number of optimizer steps."""
        extra = {"total_steps": total_steps} if self.takes_total_steps else {}
        return {"scheduler": self.scheduler(optimizer, **extra), **self.lightning}


def lr_scheduler_factory(node: DictConfig | Mapping | None, lr: float) -> LRSchedulerFactory | None:
    """The factory for the ``scheduler`` node (``None`` when it has no ``_target_``: a constant ``lr``).

    Floors are resolved here, before any training: ``<floor>_ratio x lr`` when ``<floor>`` is null, and a
    ConfigError naming the key when an absolute floor is not below ``lr``.
    """
    args = OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else dict(node or {})
    if "_target_" not in args:
        return None
    lightning = {key: args.pop(key) for key in LIGHTNING_KEYS if key in args}
    floor, problems = resolve_floors(args, lr)
    if problems:
        raise ConfigError(problems[0])
    args["_partial_"] = True  # the optimizer is supplied later, by the module
    return LRSchedulerFactory(instantiate(args), lightning, floor)


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    total_steps: int,
    warmup_fraction: float,
    eta_min: float = 0.0,
    warmup_epochs: float | None = None,
    max_epochs: int | None = None,
) -> torch.optim.lr_scheduler.SequentialLR:
    """Linear warm-up to ``optimizer.lr`` over ``warmup_fraction`` of ``total_steps`` (or over ``warmup_epochs`` of
    the run's ``max_epochs`` epochs when given), then cosine decay to ``eta_min`` over the rest (stepped every
    optimizer step)."""
    import torch

    if warmup_epochs is not None:
        if not max_epochs or not 0 < warmup_epochs < max_epochs:
            raise ConfigError(f"scheduler.warmup_epochs={warmup_epochs!r} must be > 0 and below "
                              f"trainer.max_epochs={max_epochs!r}")
        warmup_fraction = warmup_epochs / max_epochs  # total_steps spans max_epochs epochs
    warmup_steps = max(1, round(warmup_fraction * total_steps))
    # step k of the warm-up runs at (k + 1) / warmup_steps of lr: the last warm-up step is at full lr
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=1 / warmup_steps, total_iters=max(1, warmup_steps - 1)
    )
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=max(1, total_steps - warmup_steps), eta_min=eta_min
    )
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, decay], milestones=[warmup_steps])
