"""Typed settings of the metrics (``MetricSettings``) and of ``evaluate.py`` (``EvaluationSettings``).

Plain frozen dataclasses with no heavy imports, so a config check can read them without loading scipy or sklearn.
``EvaluationSettings`` has exactly the keys of ``conf/evaluate.yaml`` (the public API).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class MetricSettings:
    """How ``evaluate_genotypes`` and ``make_plots`` compute.

    ``ld_window``: LD pairs are SNPs less than this many columns apart. ``n_pcs``: leading PCs of T compared by
    ``pca_w1``. ``max_snps_ld``: the LD metrics use a contiguous window of at most this many SNPs (seeded start);
    None = all (LD memory does not depend on it; it only saves time). ``seed``: seeds the randomized PCA, the LD
    window and the classifiers.
    """

    ld_window: int = 50
    n_pcs: int = 2
    max_snps_ld: int | None = None
    seed: int = 0


@dataclass(frozen=True, kw_only=True)
class EvaluationSettings(MetricSettings):
    """What ``evaluate.py`` compares and how (``conf/evaluate.yaml``, one field per key), besides the
    ``MetricSettings`` it passes on to the metrics and plots.

    ``real``, ``synthetic``, ``holdout``: genotype files or run folders (``snpdiff.metrics.evaluation``);
    ``synthetic_populations``, ``holdout_populations``: label files of those rows; ``out``: the output folder;
    ``haplotype``: every input's rows are phased haplotypes (codes 0/1); ``select``: ``read_genotypes`` keywords
    for real; ``plots``: write ``plots/*.png``; ``min_snp_overlap``: the share of real's SNPs that synthetic and
    holdout must have at the same chromosome:position (the SNPs all sets share are compared).
    """

    real: str | os.PathLike
    synthetic: str | os.PathLike
    out: str | os.PathLike
    holdout: str | os.PathLike | None = None
    synthetic_populations: str | None = None
    holdout_populations: str | None = None
    haplotype: bool = False
    select: Mapping[str, Any] = field(default_factory=dict)
    plots: bool = True
    min_snp_overlap: float = 0.9
