"""Genotype fidelity and privacy metrics of synthetic genotypes, their goals, plots and reports.

The names below load on first use (module ``__getattr__``): ``snpdiff.metrics.goals`` is read by config validation,
which must not pay for scipy and scikit-learn that the metrics themselves need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from snpdiff.metrics.genotype import evaluate_genotypes
    from snpdiff.metrics.goals import METRICS, MetricInfo, metric_goal, metric_info
    from snpdiff.metrics.settings import EvaluationSettings, MetricSettings

# submodule -> the names it defines (loaded on first use)
_LAZY = {
    "genotype": ["evaluate_genotypes"],
    "goals": ["METRICS", "MetricInfo", "metric_goal", "metric_info"],
    "settings": ["EvaluationSettings", "MetricSettings"],
}
__all__ = [
    "METRICS",
    "EvaluationSettings",
    "MetricInfo",
    "MetricSettings",
    "evaluate_genotypes",
    "metric_goal",
    "metric_info",
]


__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
