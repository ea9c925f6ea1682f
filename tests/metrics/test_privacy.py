"""Distances and privacy metrics: exact L1 against brute force, the AATS ties rule, copies and ratios by hand."""

import numpy as np
import pytest

from snpdiff.metrics.distances import cross_nearest, l1_block, self_nearest
from snpdiff.metrics.privacy import (
    aa_s,
    aa_t,
    aats,
    exact_copy_rate,
    nn_distance_ratio,
    privacy_loss,
    privacy_metrics,
)


def brute_l1(a, b):
    return np.abs(a[:, None, :].astype(int) - b[None, :, :].astype(int)).sum(axis=-1)


@pytest.mark.parametrize("ploidy", [1, 2])
def test_distances_match_brute_force_across_blocks(ploidy):
    rng = np.random.default_rng(0)
    a = rng.integers(0, ploidy + 1, (37, 50)).astype(np.int8)
    b = rng.integers(0, ploidy + 1, (23, 50)).astype(np.int8)
    a[5] = a[30]  # a duplicate row: distance 0 to another index
    full = brute_l1(a, b)
    np.testing.assert_array_equal(l1_block(a, b, ploidy, block_snps=7), full)
    a_to_b, b_to_a = cross_nearest(a, b, ploidy, block_rows=8)
    np.testing.assert_array_equal(a_to_b, full.min(axis=1))
    np.testing.assert_array_equal(b_to_a, full.min(axis=0))
    within = brute_l1(a, a) + np.diag(np.full(len(a), 10**9))
    # block_rows=9 leaves a last block of one row, which holds only its own (excluded) diagonal
    np.testing.assert_array_equal(self_nearest(a, ploidy, block_rows=9), within.min(axis=1))
    assert self_nearest(a, ploidy)[5] == 0


def test_ties_count_as_not_greater():
    # every nearest distance is 2, within and across sets: all ties, so both accuracies are 0 (1 if ties counted)
    real = np.array([[0, 0], [2, 0]], dtype=np.int8)
    synthetic = np.array([[0, 2], [2, 2]], dtype=np.int8)
    assert aa_t(real, synthetic) == 0.0
    assert aa_s(real, synthetic) == 0.0
    assert aats(real, synthetic) == 0.0


def test_adversarial_accuracy_by_hand():
    real = np.array([[0, 0, 0], [0, 0, 2], [2, 2, 2]], dtype=np.int8)
    synthetic = np.array([[0, 0, 1], [1, 1, 1]], dtype=np.int8)
    # d_TT = (2, 2, 4); d_TS = (1, 1, 3): no T row has its nearest S strictly farther -> aa_t = 0
    # d_SS = (2, 2); d_ST = (1, 3): only s2 has its nearest T farther than its nearest S -> aa_s = 1/2
    assert aa_t(real, synthetic) == 0.0
    assert aa_s(real, synthetic) == 0.5
    assert aats(real, synthetic) == 0.25
    metrics = privacy_metrics(real, synthetic)
    assert metrics["aats_gap"] == pytest.approx((0.5 + 0.0) / 2)


def test_exact_copy_rate():
    real = np.array([[0, 1, 2], [2, 2, 2], [0, 0, 0]], dtype=np.int8)
    synthetic = np.array([[2, 2, 2], [0, 1, 1], [0, 0, 0], [1, 1, 1]], dtype=np.int8)
    assert exact_copy_rate(real, synthetic) == 0.5


def test_nn_distance_ratio_and_privacy_loss_by_hand():
    real = np.array([[0, 0], [2, 2]], dtype=np.int8)
    synthetic = np.array([[0, 1], [2, 1]], dtype=np.int8)
    holdout = np.array([[0, 2], [2, 0]], dtype=np.int8)
    # S -> T: 1, 1; H -> T: 2, 2
    assert nn_distance_ratio(real, synthetic, holdout) == 0.5
    # AATS(T, S): d_TS = (1, 1) vs d_TT = (4, 4) -> 0; d_ST = (1, 1) vs d_SS = (2, 2) -> 0; AATS = 0
    # AATS(H, S): d_HS = (1, 1) vs d_HH = (4, 4) -> 0; d_SH = (1, 1) vs d_SS = (2, 2) -> 0; AATS = 0
    assert privacy_loss(real, synthetic, holdout) == 0.0
    # S copying T sits at distance 0 from T: the ratio falls to 0
    copies = real.copy()
    assert nn_distance_ratio(real, copies, holdout) == 0.0


def test_ratio_is_nan_when_holdout_copies_training():
    real = np.array([[0, 0], [2, 2]], dtype=np.int8)
    assert np.isnan(nn_distance_ratio(real, real[::-1].copy(), real.copy()))
