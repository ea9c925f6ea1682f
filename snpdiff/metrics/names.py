"""Names of the metrics the training logs (one place); which way each is optimised comes from ``snpdiff.metrics``.

Quality metrics are logged as ``val/<name>`` with the names of ``snpdiff.metrics.METRICS``. ``metric_mode`` is the
``${metric_mode:${optimized_metric}}`` resolver of ``conf/`` (``min`` or ``max``), registered by
``snpdiff.config.resolvers``.
"""

from __future__ import annotations

from collections.abc import Mapping

from snpdiff.metrics.goals import METRICS, metric_goal

LOSS_METRICS = (
    "train_loss",  # per step
    "train_loss_epoch",
    "val_loss",  # per epoch, deterministic (fixed timestep grid and noise seed)
    "val_loss_epoch",  # same value as val_loss, kept for the old tool's dashboards
    "train_mse",  # per epoch: the MSE part of the loss (= the loss with loss=mse)
    "val_mse",  # per epoch, deterministic: comparable between trials with and without the discrete penalty
    "train_discrete_penalty",  # per epoch, loss=discrete only: the penalty before its weight
    "val_discrete_penalty",
    "final/val_loss",  # best val_loss of the run
)
MODEL_METRICS = ("model/total_params", "model/trainable_params", "model/size_mb")
OOM_METRICS = ("oom/retries", "oom/batch_size")
QUALITY_PREFIX = "val/"
# the sample-quality metrics a log line shows (training progress, evaluate.py): ``headline``
HEADLINE_METRICS = ("af_r2", "ld_corr", "aa_t", "aa_s", "pca_w1")


def is_logged(name: object) -> bool:
    """Whether the training logs a loss or quality metric of this name (optimisable or not)."""
    if not isinstance(name, str):
        return False
    if name in LOSS_METRICS:
        return True
    quality = name.removeprefix("final/")
    return quality.startswith(QUALITY_PREFIX) and quality.removeprefix(QUALITY_PREFIX) in METRICS


def is_metric_name(name: object) -> bool:
    """Whether ``name`` is a metric the training logs and can optimise (it has a direction)."""
    if not is_logged(name):
        return False
    try:
        metric_goal(name)
    except ValueError:  # a target metric such as val/aats
        return False
    return True


def metric_mode(name: str) -> str:
    """Lightning's ``mode`` for a metric: ``"min"`` or ``"max"``."""
    return "max" if metric_goal(name) == "maximize" else "min"


def headline(metrics: Mapping[str, float]) -> str:
    """``af_r2 0.9886  ld_corr 0.7771  ...``: the ``HEADLINE_METRICS`` present in ``metrics`` (names without a
    prefix), four decimals each."""
    return "  ".join(f"{name} {metrics[name]:.4f}" for name in HEADLINE_METRICS if name in metrics)
