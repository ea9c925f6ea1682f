"""Genotype fidelity and privacy metrics of synthetic genotypes, their goals, plots and reports."""

from snpdiff.metrics.genotype import evaluate_genotypes
from snpdiff.metrics.goals import METRICS, MetricInfo, metric_goal, metric_info

__all__ = ["METRICS", "MetricInfo", "evaluate_genotypes", "metric_goal", "metric_info"]
