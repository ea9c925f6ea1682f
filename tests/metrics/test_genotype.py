"""Fidelity metrics on tiny hand-made matrices whose values are worked out by hand in each test."""

import numpy as np
import pytest

from snpdiff.data import GenotypeSet
from snpdiff.errors import ConfigError, DataError
from snpdiff.metrics import genotype
from snpdiff.metrics.genotype import (
    af_mae,
    af_r2,
    check_codes,
    evaluate_genotypes,
    fst_hudson,
    geno_freq_r,
    het_diff,
    heterozygosity,
    ld_corr,
    ld_decay_l2,
    ld_mae,
    ld_r2_band,
    monomorphic_in_s_not_t,
    pca_w1,
    pop_tv,
)
from snpdiff.metrics.goals import LABELLED_METRICS, METRICS
from snpdiff.metrics.settings import MetricSettings

# p_T = (0, 0.5, 0.75); p_S = (0.25, 0, 1)
REAL = np.array([[0, 0, 2], [0, 1, 2], [0, 2, 1], [0, 1, 1]], dtype=np.int8)
SYNTHETIC = np.array([[0, 0, 2], [1, 0, 2], [0, 0, 2], [1, 0, 2]], dtype=np.int8)


def test_allele_frequency_metrics():
    assert af_mae(REAL, SYNTHETIC) == pytest.approx((0.25 + 0.5 + 0.25) / 3)
    # centred p_T = (-5, 1, 4) / 12, p_S = (-2, -5, 7) / 12: r^2 = 33^2 / (42 * 78) = 121 / 364
    assert af_r2(REAL, SYNTHETIC) == pytest.approx(121 / 364)
    assert af_r2(REAL, REAL) == pytest.approx(1.0)


def test_monomorphic_in_s_not_t():
    # SNP 1 (all 0) and SNP 2 (all 2) are fixed in S but vary in T; SNP 0 varies in S only
    assert monomorphic_in_s_not_t(REAL, SYNTHETIC) == 2
    assert monomorphic_in_s_not_t(SYNTHETIC, REAL) == 1


def test_genotype_frequency_correlation():
    # per SNP (f0, f1, f2), written out by hand
    frequencies_real = [1, 0, 0, 0.25, 0.5, 0.25, 0, 0.5, 0.5]
    frequencies_synthetic = [0.5, 0.5, 0, 1, 0, 0, 0, 0, 1]
    assert geno_freq_r(REAL, SYNTHETIC) == pytest.approx(np.corrcoef(frequencies_real, frequencies_synthetic)[0, 1])


def test_heterozygosity_difference():
    # heterozygous calls: 4 of 12 in T, 2 of 12 in S
    assert heterozygosity(REAL) == pytest.approx(1 / 3)
    assert het_diff(REAL, SYNTHETIC) == pytest.approx(1 / 6 - 1 / 3)
    # haplotypes: expected heterozygosity mean_j 2 p (1 - p); p = (0.5, 0.25)
    haplotypes = np.array([[0, 0], [1, 0], [1, 1], [0, 0]], dtype=np.int8)
    assert heterozygosity(haplotypes, ploidy=1) == pytest.approx((0.5 + 2 * 0.25 * 0.75) / 2)


def test_fst_of_identical_sets_is_minus_one_over_n_minus_one():
    # identical frequencies leave only the sample-size terms: Fst = -1 / (n - 1), n = 8 chromosomes
    assert fst_hudson(REAL, REAL) == pytest.approx(-1 / 7)
    large = np.random.default_rng(0).integers(0, 3, (1000, 50)).astype(np.int8)
    assert abs(fst_hudson(large, large)) < 1e-3


def test_fst_of_fixed_differences_is_one():
    real = np.zeros((10, 3), dtype=np.int8)
    assert fst_hudson(real, real + 2) == pytest.approx(1.0)


def test_ld_band_by_hand():
    # SNP 1 = SNP 0 (r = 1), SNP 2 = 2 - SNP 1 (r = -1), SNP 3 is monomorphic (r = 0)
    codes = np.array([[0, 0, 2, 1], [1, 1, 1, 1], [2, 2, 0, 1], [0, 0, 2, 1]], dtype=np.int8)
    band = ld_r2_band(codes, ld_window=3)
    expected = np.array([[1, 1], [1, 0], [0, np.nan], [np.nan, np.nan]])
    np.testing.assert_allclose(band, expected, atol=1e-6)


@pytest.mark.parametrize("ld_window", [2, 5, 30])
def test_ld_band_matches_corrcoef_across_blocks(ld_window):
    codes = np.random.default_rng(1).integers(0, 3, (40, 23)).astype(np.int8)
    codes[:, 4] = 1  # a monomorphic SNP
    band = ld_r2_band(codes, ld_window, block_snps=7)
    with np.errstate(invalid="ignore", divide="ignore"):
        full = np.nan_to_num(np.corrcoef(codes.T.astype(float)) ** 2)
    width = min(ld_window, 23) - 1
    assert band.shape == (23, width)
    for j in range(23):
        for d in range(1, width + 1):
            expected = full[j, j + d] if j + d < 23 else np.nan
            np.testing.assert_allclose(band[j, d - 1], expected, atol=1e-5)


def test_ld_metrics_by_hand():
    # T: SNPs 0 and 1 identical (r2 = 1); S: SNP 1 shuffled against SNP 0 so that r = 0 (r2 = 0)
    real = np.array([[0, 0], [0, 0], [2, 2], [2, 2]], dtype=np.int8)
    synthetic = np.array([[0, 0], [0, 2], [2, 0], [2, 2]], dtype=np.int8)
    assert ld_mae(real, synthetic, ld_window=2) == pytest.approx(1.0)
    assert ld_decay_l2(real, synthetic, ld_window=2) == pytest.approx(1.0)
    assert ld_corr(real, real, ld_window=2) == 0.0  # a single pair has no spread: r taken as 0
    more = np.random.default_rng(2).integers(0, 3, (30, 12)).astype(np.int8)
    assert ld_corr(more, more, ld_window=4) == pytest.approx(1.0)


def test_pca_w1_by_hand():
    # one SNP: T's PC1 scores are -1, 1, -1, 1 (sd 1); S sits at one end, so half the mass moves 2: W1 = 1
    real = np.array([[0], [2], [0], [2]], dtype=np.int8)
    synthetic = np.full((4, 1), 2, dtype=np.int8)
    assert pca_w1(real, synthetic, n_pcs=1) == pytest.approx(1.0)
    assert pca_w1(real, real, n_pcs=1) == pytest.approx(0.0)


def test_pop_tv_counts_population_mix():
    rng = np.random.default_rng(3)
    # two populations with opposite allele frequencies: a kNN on PCs tells them apart
    population_a = (rng.random((60, 40)) < 0.1).astype(np.int8) * 2
    population_b = (rng.random((60, 40)) < 0.9).astype(np.int8) * 2
    real = np.concatenate([population_a[:30], population_b[:30]])
    labels = ["A"] * 30 + ["B"] * 30
    assert pop_tv(real, np.concatenate([population_a[30:], population_b[30:]]), labels) == pytest.approx(0.0)
    # S only from population A: shares (1, 0) against (0.5, 0.5)
    assert pop_tv(real, population_a[30:], labels) == pytest.approx(0.5)


def test_evaluate_returns_exactly_the_table(real_split):
    real = GenotypeSet.from_codes(real_split.train[:200], real_split.train_populations[:200])
    metrics = evaluate_genotypes(
        real, GenotypeSet.from_codes(real_split.holdout[:200]), GenotypeSet.from_codes(real_split.holdout[200:400])
    )
    assert set(metrics) == set(METRICS) - set(LABELLED_METRICS)
    assert all(isinstance(value, float) and np.isfinite(value) for value in metrics.values())
    labelled = evaluate_genotypes(
        real,
        GenotypeSet.from_codes(real_split.holdout[:200], real_split.holdout_populations[:200]),
        GenotypeSet.from_codes(real_split.holdout[200:400], real_split.holdout_populations[200:400]),
    )
    assert set(labelled) == set(METRICS)
    assert labelled["recovery_rate"] > 0.95  # real people with their true labels teach ancestry as well as T


def test_evaluate_uses_a_seeded_ld_window(real_split):
    real, synthetic = real_split.train[:200], real_split.holdout[:200]
    window = genotype.ld_snp_window(real.shape[1], 300, seed=5)
    assert window.stop - window.start == 300
    sets = GenotypeSet.from_codes(real), GenotypeSet.from_codes(synthetic)
    restricted = evaluate_genotypes(*sets, settings=MetricSettings(max_snps_ld=300, seed=5))
    assert restricted["ld_corr"] == pytest.approx(ld_corr(real[:, window], synthetic[:, window]))
    assert restricted["ld_corr"] != pytest.approx(evaluate_genotypes(*sets)["ld_corr"], abs=1e-9)


def test_haplotype_input():
    rng = np.random.default_rng(4)
    haplotypes = rng.integers(0, 2, (50, 30)).astype(np.int8)
    real, reversed_rows, doubled = (
        GenotypeSet.from_codes(codes, haplotype=True) for codes in (haplotypes, haplotypes[::-1].copy(), haplotypes * 2)
    )
    metrics = evaluate_genotypes(real, reversed_rows, settings=MetricSettings(ld_window=5))
    assert metrics["af_r2"] == pytest.approx(1.0)
    assert metrics["exact_copy_rate"] == 1.0
    with pytest.raises(DataError, match=r"codes must lie in 0\.\.1"):
        evaluate_genotypes(real, doubled)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"synthetic": np.zeros((4, 2), dtype=np.int8)}, DataError, "synthetic has 2 SNPs but real has 3"),
        ({"holdout": np.zeros((4, 5), dtype=np.int8)}, DataError, "holdout has 5 SNPs but real has 3"),
        ({"synthetic": np.full((4, 3), -1, dtype=np.int8)}, DataError, r"synthetic: codes must lie in 0\.\.2.*-1"),
        ({"real": np.zeros((4, 3), dtype=np.int8)}, DataError, "real: no SNP varies"),
        ({"synthetic": np.zeros((1, 3), dtype=np.int8)}, DataError, r"individuals >= 2.*\(1, 3\)"),
        ({"ld_window": 1}, ConfigError, "ld_window=1 must be >= 2"),
        ({"n_pcs": 4}, ConfigError, "n_pcs=4 must be between 1 and 3"),
        ({"max_snps_ld": 1}, ConfigError, "max_snps_ld=1 must be >= 2"),
    ],
)
def test_bad_inputs_are_named(kwargs, error, message):
    codes = {"real": REAL, "synthetic": SYNTHETIC, **{k: v for k, v in kwargs.items() if isinstance(v, np.ndarray)}}
    sets = {name: GenotypeSet.from_codes(each) for name, each in codes.items()}
    settings = MetricSettings(**{k: v for k, v in kwargs.items() if not isinstance(v, np.ndarray)})
    with pytest.raises(error, match=message):
        evaluate_genotypes(**sets, settings=settings)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [  # what a genotype set cannot hold: float codes, a third allele, a wrong number of labels
        (
            lambda: check_codes(np.zeros((4, 3)), name="synthetic"),
            DataError,
            "synthetic: expected integer genotype codes, got dtype float64",
        ),
        (lambda: check_codes(REAL, ploidy=3), ConfigError, "ploidy=3 is not supported"),
        (lambda: pop_tv(REAL, SYNTHETIC, ["A", "B"]), DataError, r"one label per real individual \(4\)"),
    ],
)
def test_bad_codes_and_labels_are_named(call, error, message):
    with pytest.raises(error, match=message):
        call()
