"""Model-free anchors, the membership-inference AUC and the TSTR recovery rate, on a real simulation (conftest)."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from snpdiff.data import GenotypeSet
from snpdiff.metrics import evaluate_genotypes
from snpdiff.metrics.anchors import DEFAULT_SEGMENT_SNPS, haplotype_mosaic, independent_snps, switch_probabilities
from snpdiff.metrics.distances import cross_nearest
from snpdiff.metrics.privacy import membership_inference_auc
from snpdiff.metrics.utility import ancestry_accuracy, recovery_rate

N = 300


@pytest.fixture(scope="module")
def split(real_split):
    return (
        real_split.train[:N],
        real_split.train_populations[:N],
        real_split.holdout[:N],
        real_split.holdout_populations[:N],
    )


def test_independent_snps_keep_frequencies_and_lose_ld(split):
    train, labels, holdout, _ = split
    fake, fake_labels = independent_snps(train, N, labels, seed=1)
    assert fake.dtype == np.int8 and fake.shape == train.shape
    assert set(np.unique(fake_labels)) == set(np.unique(labels))
    metrics = evaluate_genotypes(*map(GenotypeSet.from_codes, (train, fake, holdout)))
    assert metrics["af_r2"] > 0.95  # per-population frequencies: the marginal frequencies come back
    assert metrics["ld_corr"] < 0.6  # no LD beyond what population structure makes
    assert metrics["het_sd_ratio"] < 0.8  # every person near the mean heterozygosity


def test_mosaic_copies_structure_and_leaks(split, real_split):
    train, labels, holdout, _ = split
    mosaic, _ = haplotype_mosaic(train, N, labels, positions=real_split.positions, seed=1)
    metrics = evaluate_genotypes(*map(GenotypeSet.from_codes, (train, mosaic, holdout)))
    assert metrics["ld_corr"] > 0.9
    # copied segments put synthetic people nearer to their donors than to unseen real people
    assert metrics["nn_st_median"] < metrics["nn_ht_median"]
    assert metrics["privacy_loss"] > 0.2
    assert metrics["mia_auc"] > 0.65


def test_mosaic_from_phased_haplotypes_sums_two_copies():
    rng = np.random.default_rng(0)
    haplotypes = (rng.random((40, 500)) < 0.3).astype(np.int8)
    genotypes = haplotypes[0::2] + haplotypes[1::2]
    mosaic, labels = haplotype_mosaic(genotypes, 25, haplotypes=haplotypes, seed=3)
    assert labels is None and mosaic.shape == (25, 500)
    assert mosaic.min() >= 0 and mosaic.max() <= 2 and (mosaic == 1).any()  # heterozygotes: two different copies


def test_switch_probabilities_follow_distance_and_donors():
    positions = np.array([0, 1_000, 101_000, 101_000])
    switch = switch_probabilities(4, 100, positions)
    assert switch[2] == 0.0 and 0 < switch[0] < switch[1] < 1
    assert switch_probabilities(4, 1000, positions)[1] < switch[1]  # more donors: rarer switches
    assert np.allclose(switch_probabilities(4, 100, None), 1 / DEFAULT_SEGMENT_SNPS)


def test_membership_inference_auc_is_the_roc_auc_with_ties():
    rng = np.random.default_rng(0)
    members, outsiders = rng.integers(0, 20, 200), rng.integers(5, 25, 150)
    labels = np.r_[np.ones(200), np.zeros(150)]
    expected = roc_auc_score(labels, -np.r_[members, outsiders])
    assert membership_inference_auc(members, outsiders) == pytest.approx(expected)


def test_unseen_real_people_leak_nothing(real_split):
    """Held-out real people as the 'synthetic' set: nearness to them cannot tell T from other real people."""
    train, holdout = real_split.train[:500], real_split.holdout[:500]
    others = real_split.holdout[500:1000]
    to_members, _ = cross_nearest(train, others)
    to_outsiders, _ = cross_nearest(holdout, others)
    assert abs(membership_inference_auc(to_members, to_outsiders) - 0.5) < 0.06


def test_recovery_rate_separates_right_and_wrong_labels(split):
    train, labels, holdout, holdout_labels = split
    mosaic, mosaic_labels = haplotype_mosaic(train, N, labels, seed=2)
    right = recovery_rate(train, labels, mosaic, mosaic_labels, holdout, holdout_labels)
    assert right["trtr_accuracy"] > 0.95 and right["recovery_rate"] > 0.95
    shuffled = np.random.default_rng(0).permutation(mosaic_labels)
    wrong = recovery_rate(train, labels, mosaic, shuffled, holdout, holdout_labels)
    assert wrong["recovery_rate"] < 0.7


def test_one_label_classifier_answers_that_label():
    codes = np.zeros((4, 3), dtype=np.int8)
    assert ancestry_accuracy(codes, ["A"] * 4, codes, ["A", "A", "B", "B"]) == 0.5
