"""Names of the metrics the training logs, and which way each is optimised (one place).

Quality metrics are logged as ``val/<name>`` with the names and goals of ``snpdiff.metrics``.
"""

from __future__ import annotations

LOSS_METRICS = {
    "train_loss": "minimize",  # per step
    "train_loss_epoch": "minimize",
    "val_loss": "minimize",  # per epoch, deterministic (fixed timestep grid and noise seed)
    "val_loss_epoch": "minimize",  # same value as val_loss, kept for the old tool's dashboards
    "final/val_loss": "minimize",  # best val_loss of the run
}
MODEL_METRICS = ("model/total_params", "model/trainable_params", "model/size_mb")
OOM_METRICS = ("oom/retries", "oom/batch_size")
QUALITY_PREFIX = "val/"


def metric_goal(name: str) -> str:
    """``"minimize"`` or ``"maximize"`` for a logged metric name; KeyError when the training never logs it."""
    if name in LOSS_METRICS:
        return LOSS_METRICS[name]
    if name.startswith(QUALITY_PREFIX) or name.startswith("final/" + QUALITY_PREFIX):
        from snpdiff.metrics import metric_goal as quality_goal

        return quality_goal(name.rsplit("/", 1)[-1])
    raise KeyError(name)


def is_metric_name(name: object) -> bool:
    """Whether ``name`` is a metric the training logs and can optimise."""
    if not isinstance(name, str):
        return False
    try:
        metric_goal(name)
    except (KeyError, ValueError):
        return False
    return True
