"""Privacy metrics: nearest-neighbour adversarial accuracy (Yale et al. 2020), exact copies, distance ratios.

Distances are L1 on genotype codes (the number of alleles two individuals differ in; ``distances.py``).
For a set A against a set B, with ``d_AB(i) = min_j d(a_i, b_j)`` and ``d_AA(i) = min_{j != i} d(a_i, a_j)``
(the individual itself left out; identical rows at other indices count, at distance 0):

    aa_A(A, B) = mean_i [ d_AB(i) > d_AA(i) ]      ties count as "not greater", i.e. 0

so ``aa_t = aa_A(T, S)``, ``aa_s = aa_A(S, T)`` and ``AATS(T, S) = (aa_t + aa_s) / 2``. A 1-nearest-neighbour
classifier that labels each individual with the set of its nearest neighbour is right with probability
``AATS``: 0.5 when S cannot be told from T; near 1 when S is far from T (or T's neighbours are all real);
near 0 when S copies T (overfitting).

The medians of those nearest-neighbour distances (``nn_st_median`` = median_i d_ST(i), ``nn_ss_median``,
``nn_tt_median``, ``nn_ht_median``; alleles, not normalised by the SNP count) say why an accuracy is off: with
``aa_t`` = 1 and S->T far above H->T, the synthetic individuals sit off the real cloud; with S->S as large as
S->T, they are not even close to each other (noise at many SNPs), not a few modes.

``mia_auc`` is a distance-based membership-inference attack (Hilprecht et al. 2019; Chen et al. 2020's "GAN-leaks"
without a model): an attacker who holds S and a candidate person guesses "in the training set" the closer the
candidate's nearest synthetic individual is. Training members T and non-members H are the candidates; the AUC of
the score ``-d_candidate,S`` separating T from H is 0.5 when S leaks nothing about who trained it, 1.0 when every
member is nearer to S than every non-member. Above about 0.55 on a few hundred people is more than noise.

The KING-robust kinship figures (``kinship_*_s`` of S against T, ``kinship_*_h`` of H against T;
``snpdiff.metrics.kinship``) count people whose closest training relative is a duplicate, first- or second-degree
relative by KING's cut-offs, and their largest kinship: H's figures are the yardstick for S's.
"""

from __future__ import annotations

import numpy as np

from snpdiff.metrics.distances import cross_nearest, self_nearest
from snpdiff.metrics.kinship import kinship_metrics


def adversarial_accuracy(to_other: np.ndarray, to_own: np.ndarray) -> float:
    """``mean_i [to_other_i > to_own_i]``: share of a set whose nearest neighbour in the other set is strictly
    farther than their nearest neighbour in their own set (ties count 0)."""
    return float(np.mean(to_other > to_own))


def aa_t(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``mean_i [d_TS(i) > d_TT(i)]`` over T (see the module docstring)."""
    return privacy_metrics(real, synthetic, ploidy=ploidy)["aa_t"]


def aa_s(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``mean_i [d_ST(i) > d_SS(i)]`` over S (see the module docstring)."""
    return privacy_metrics(real, synthetic, ploidy=ploidy)["aa_s"]


def aats(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``AATS(T, S) = (aa_t + aa_s) / 2``; ideal 0.5."""
    return privacy_metrics(real, synthetic, ploidy=ploidy)["aats"]


def exact_copy_rate(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``mean_i [d_ST(i) = 0]``: share of S rows identical to some row of T."""
    return privacy_metrics(real, synthetic, ploidy=ploidy)["exact_copy_rate"]


def privacy_loss(real: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray, ploidy: int = 2) -> float:
    """``AATS(H, S) - AATS(T, S)``: about 0 when S is as close to unseen real individuals H as to the training set T;
    > 0 when S sits closer to T (memorisation)."""
    return privacy_metrics(real, synthetic, holdout, ploidy)["privacy_loss"]


def nn_distance_ratio(real: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray, ploidy: int = 2) -> float:
    """``median_i d_ST(i) / median_i d_HT(i)``: about 1 when S is as far from T as unseen real individuals are;
    < 1 when S sits closer to T; NaN when the median H->T distance is 0."""
    return privacy_metrics(real, synthetic, holdout, ploidy)["nn_distance_ratio"]


def membership_inference_auc(members_to_synthetic: np.ndarray, outsiders_to_synthetic: np.ndarray) -> float:
    """AUC of ``-distance to the nearest synthetic individual`` separating members (T) from outsiders (H): the
    probability that a random member is strictly nearer to S than a random outsider, ties counting one half."""
    members = np.sort(np.asarray(members_to_synthetic, dtype=np.float64))
    outsiders = np.asarray(outsiders_to_synthetic, dtype=np.float64)
    nearer = np.searchsorted(members, outsiders, side="left")  # members strictly nearer than each outsider
    tied = np.searchsorted(members, outsiders, side="right") - nearer
    return float((nearer + 0.5 * tied).sum() / (members.size * outsiders.size))


def _ratio(numerator: float, denominator: float) -> float:
    return float(numerator / denominator) if denominator > 0 else float("nan")


def privacy_metrics(
    real: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray | None = None, ploidy: int = 2
) -> dict[str, float]:
    """``aa_t``, ``aa_s``, ``aats``, ``aats_gap``, ``exact_copy_rate`` and, with H, ``aats_holdout``,
    ``privacy_loss``, ``nn_distance_ratio``, ``mia_auc``, each nearest-neighbour search done once.

    Also the nearest-neighbour distance medians ``nn_st_median``, ``nn_ss_median``, ``nn_tt_median`` and, with H,
    ``nn_ht_median``, and the kinship figures ``kinship_*_s`` and, with H, ``kinship_*_h`` (``kinship_metrics``;
    haplotype rows are paired into people) (see the module docstring).

    ``aats_gap = (|aa_t - 0.5| + |aa_s - 0.5|) / 2`` is the optimisable form of the adversarial accuracy: it is 0
    only when both halves read 0.5, whereas ``aats`` reads 0.5 also when aa_t = 1 and aa_s = 0.
    """
    real_to_synthetic, synthetic_to_real = cross_nearest(real, synthetic, ploidy)
    real_to_real = self_nearest(real, ploidy)
    synthetic_to_synthetic = self_nearest(synthetic, ploidy)
    accuracy_real = adversarial_accuracy(real_to_synthetic, real_to_real)
    accuracy_synthetic = adversarial_accuracy(synthetic_to_real, synthetic_to_synthetic)
    metrics = {
        "aa_t": accuracy_real,
        "aa_s": accuracy_synthetic,
        "aats": 0.5 * (accuracy_real + accuracy_synthetic),
        "aats_gap": 0.5 * (abs(accuracy_real - 0.5) + abs(accuracy_synthetic - 0.5)),
        "exact_copy_rate": float(np.mean(synthetic_to_real == 0)),
        "nn_st_median": float(np.median(synthetic_to_real)),
        "nn_ss_median": float(np.median(synthetic_to_synthetic)),
        "nn_tt_median": float(np.median(real_to_real)),
    }
    if holdout is not None:
        holdout_to_synthetic, synthetic_to_holdout = cross_nearest(holdout, synthetic, ploidy)
        holdout_to_real, _ = cross_nearest(holdout, real, ploidy)
        aats_holdout = 0.5 * (
            adversarial_accuracy(holdout_to_synthetic, self_nearest(holdout, ploidy))
            + adversarial_accuracy(synthetic_to_holdout, synthetic_to_synthetic)
        )
        metrics["aats_holdout"] = aats_holdout
        metrics["privacy_loss"] = aats_holdout - metrics["aats"]
        metrics["nn_ht_median"] = float(np.median(holdout_to_real))
        metrics["nn_distance_ratio"] = _ratio(metrics["nn_st_median"], metrics["nn_ht_median"])
        metrics["mia_auc"] = membership_inference_auc(real_to_synthetic, holdout_to_synthetic)
    metrics.update(kinship_metrics(real, synthetic, holdout, ploidy))
    return metrics
