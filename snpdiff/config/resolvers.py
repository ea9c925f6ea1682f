"""The OmegaConf resolvers that ``conf/`` uses, registered by ``register_resolvers()``: the entry points call it
before Hydra composes (``compose_config`` does too), so no module registers anything as a side effect of its import.

- ``${fused_optimizer:${trainer.precision}}``: whether Adam(W) may use its fused kernel;
- ``${metric_mode:${optimized_metric}}``: Lightning's ``mode`` (``min``/``max``) for a metric.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from snpdiff.metrics.names import metric_mode


def fused_optimizer(precision: object) -> bool:
    """``fused: ${fused_optimizer:${trainer.precision}}`` (conf/optimizer): Adam(W)'s fused kernel, except under a
    mixed precision, where Lightning refuses gradient clipping with an optimizer that unscales gradients itself."""
    return "mixed" not in str(precision)


RESOLVERS = {"fused_optimizer": fused_optimizer, "metric_mode": metric_mode}


def register_resolvers() -> None:
    """Register every resolver of ``RESOLVERS`` with OmegaConf (repeating it is harmless)."""
    for name, resolver in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver)
