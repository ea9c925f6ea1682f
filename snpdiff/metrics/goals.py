"""The metric table: every metric ``evaluate_genotypes`` returns, what it means and which way is better.

One place for this fact: checkpointing, early stopping, sweeps and the report all read it through
``metric_info`` / ``metric_goal``. Names may carry a logging prefix (``val/af_r2``, ``test/aats``): everything up
to the last ``/`` is ignored.

Goals: ``maximize``, ``minimize``, ``target`` (a value to hit, e.g. 0.5 for adversarial accuracy) or
``diagnostic`` (a quantity to read beside another, e.g. the S->T nearest-neighbour distance beside H->T). Target and
diagnostic metrics have no direction, so ``metric_goal`` refuses them and names the metric to optimise instead
(``aats_gap`` for the adversarial accuracies).
"""

from __future__ import annotations

from dataclasses import dataclass

from snpdiff.errors import ConfigError


@dataclass(frozen=True)
class MetricInfo:
    """How to read one metric. ``target`` is set for goal ``target``; ``optimize_as`` names its optimisable form."""

    goal: str
    meaning: str
    target: float | None = None
    optimize_as: str | None = None

    @property
    def goal_text(self) -> str:
        """``maximize``, ``minimize`` or ``target 0.5`` (for tables)."""
        return f"target {self.target:g}" if self.goal == "target" else self.goal


# KING's cut-offs of kinship (snpdiff.metrics.kinship): the closest relative is this degree or closer above them
KINSHIP_CUTOFFS = {"dup": 2**-1.5, "first": 2**-2.5, "second": 2**-3.5}
_KINSHIP_DEGREE_TEXT = {
    "dup": "duplicate or twin",
    "first": "first-degree relative or closer",
    "second": "second-degree relative or closer",
}


def _kinship_entries(suffix: str, who: str, duplicate_goal: str) -> dict[str, MetricInfo]:
    """``kinship_<degree>[_share]_<suffix>`` and ``kinship_max_<suffix>`` of the set ``who`` against T: S's
    duplicates are minimised (a copied person is a leak whatever H reads); the other figures are read beside H's."""
    entries = {}
    for degree, cutoff in KINSHIP_CUTOFFS.items():
        goal = duplicate_goal if degree == "dup" else "diagnostic"
        entries[f"kinship_{degree}_{suffix}"] = MetricInfo(
            goal, f"people of {who} whose closest T is a {_KINSHIP_DEGREE_TEXT[degree]} (KING kinship > {cutoff:.3f})"
        )
        entries[f"kinship_{degree}_share_{suffix}"] = MetricInfo(goal, f"the same as a share of {who}")
    entries[f"kinship_max_{suffix}"] = MetricInfo("diagnostic", f"largest KING-robust kinship of {who} with T")
    return entries


METRICS: dict[str, MetricInfo] = {
    "af_r2": MetricInfo("maximize", "squared Pearson r of per-SNP alternate-allele frequency, T vs S (1 = same)"),
    "af_mae": MetricInfo("minimize", "mean absolute difference of per-SNP alternate-allele frequency, T vs S"),
    "monomorphic_in_s_not_t": MetricInfo("minimize", "number of SNPs with one genotype in S but several in T"),
    "geno_freq_r": MetricInfo("maximize", "Pearson r of per-SNP genotype frequencies (f0, f1, f2), T vs S"),
    "het_diff": MetricInfo("target", "mean observed heterozygosity of S minus that of T", target=0.0),
    "het_sd_t": MetricInfo("diagnostic", "standard deviation over T's individuals of their share of heterozygous SNPs"),
    "het_sd_s": MetricInfo("diagnostic", "the same over S's individuals (compare with het_sd_t)"),
    "het_sd_ratio": MetricInfo(
        "target", "het_sd_s / het_sd_t: < 1 when S's individuals are averages rather than people", target=1.0
    ),
    "ld_corr": MetricInfo("maximize", "Pearson r of pairwise LD r^2 within the window, T vs S"),
    "ld_mae": MetricInfo("minimize", "mean absolute difference of pairwise LD r^2 within the window, T vs S"),
    "ld_decay_l2": MetricInfo("minimize", "root-mean-square gap between mean-r^2-by-SNP-distance curves, T vs S"),
    "pca_w1": MetricInfo("minimize", "1-D Wasserstein distance of S to T on T's leading PCs, in units of T's spread"),
    "fst_hudson": MetricInfo("minimize", "Hudson's Fst between T and S (0 = one population; tiny negatives = noise)"),
    "pop_tv": MetricInfo("minimize", "total variation distance of population proportions, T vs S (S labelled by kNN)"),
    "aa_t": MetricInfo(
        "target", "share of T whose nearest S is farther than their nearest other T", target=0.5, optimize_as="aats_gap"
    ),
    "aa_s": MetricInfo(
        "target", "share of S whose nearest T is farther than their nearest other S", target=0.5, optimize_as="aats_gap"
    ),
    "aats": MetricInfo(
        "target", "nearest-neighbour adversarial accuracy (aa_t + aa_s) / 2", target=0.5, optimize_as="aats_gap"
    ),
    "aats_gap": MetricInfo("minimize", "(|aa_t - 0.5| + |aa_s - 0.5|) / 2: 0 when S and T are indistinguishable"),
    "exact_copy_rate": MetricInfo("minimize", "share of S individuals identical to some T individual"),
    "aats_holdout": MetricInfo(
        "target", "adversarial accuracy of S against held-out H instead of T", target=0.5, optimize_as="aats_gap"
    ),
    "privacy_loss": MetricInfo("minimize", "aats_holdout - aats: > 0 when S sits closer to T than to unseen H"),
    "mia_auc": MetricInfo(
        "target",
        "membership-inference AUC: nearness to S separating T from held-out H (0.5 = no leak)",
        target=0.5,
        optimize_as="privacy_loss",
    ),
    **_kinship_entries("s", "S", "minimize"),
    **_kinship_entries("h", "held-out H (S's yardstick)", "diagnostic"),
    "recovery_rate": MetricInfo(
        "maximize", "ancestry classifier trained on labelled S, tested on H, over the same trained on T (1 = as real)"
    ),
    "tstr_accuracy": MetricInfo("diagnostic", "ancestry accuracy on H of the classifier trained on labelled S"),
    "trtr_accuracy": MetricInfo("diagnostic", "ancestry accuracy on H of the same classifier trained on T"),
    "nn_st_median": MetricInfo("diagnostic", "median L1 distance (alleles) from each S to its nearest T"),
    "nn_ht_median": MetricInfo(
        "diagnostic", "median L1 distance from each held-out H to its nearest T (nn_st's yardstick)"
    ),
    "nn_ss_median": MetricInfo("diagnostic", "median L1 distance from each S to its nearest other S"),
    "nn_tt_median": MetricInfo("diagnostic", "median L1 distance from each T to its nearest other T"),
    "nn_distance_ratio": MetricInfo(
        "target",
        "median nearest-T distance of S over that of H (< 1: S closer to T than unseen real people)",
        target=1.0,
    ),
}

# computed only with population labels on S, H and T (a population-conditioned model's output)
LABELLED_METRICS = ("recovery_rate", "tstr_accuracy", "trtr_accuracy")


def metric_info(name: str) -> MetricInfo:
    """The table entry of a metric name, prefix allowed (``val/ld_corr``). Raises ConfigError for unknown names."""
    base = name.rsplit("/", 1)[-1]
    if base not in METRICS:
        raise ConfigError(
            f"metric {name!r} is not a genotype metric; allowed (optionally prefixed, e.g. val/af_r2): "
            f"{sorted(METRICS)}"
        )
    return METRICS[base]


def metric_goal(name: str) -> str:
    """``"maximize"`` or ``"minimize"`` for a metric name such as ``val/af_r2``, ``aats_gap`` or ``val_loss``.

    Loss names (``loss``, ``*_loss``, ``*_loss_epoch``, ``*_mse``, ``*_penalty`` not in the table, with or without
    prefix) are minimised.
    Target metrics (``aats``, ``aa_t``, ``het_diff``, ...) and diagnostics (``nn_st_median``, ...) raise ConfigError,
    naming the metric to optimise instead where there is one.
    """
    base = name.rsplit("/", 1)[-1]
    if base not in METRICS and (base == "loss" or base.endswith(("_loss", "_loss_epoch", "_mse", "_penalty"))):
        return "minimize"
    info = metric_info(name)
    if info.goal == "diagnostic":
        raise ConfigError(f"metric {name!r} is a diagnostic to read beside others; it has no direction")
    if info.goal == "target":
        instead = f"optimise {info.optimize_as!r} (minimize) instead" if info.optimize_as else "it has no direction"
        raise ConfigError(f"metric {name!r} aims at {info.target:g}, not at a maximum or minimum; {instead}")
    return info.goal
