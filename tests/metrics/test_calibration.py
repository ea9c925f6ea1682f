"""Calibration on simulated genotypes where the answer is known (OutOfAfrica_3G09, 1,000 vs 1,000 diploids).

The four reference cases of issue 4: held-out real data passes everything; an independent-SNP fake keeps allele
frequencies but loses LD and splits the adversarial accuracy into aa_t ~ 1, aa_s ~ 0 (aats still ~ 0.5);
bootstrap copies of T are caught by exact copies and a low aats; uniform noise fails everything.
"""

import numpy as np
import pytest

from snpdiff.data import GenotypeSet
from snpdiff.metrics import evaluate_genotypes


@pytest.fixture(scope="module")
def rng():
    return np.random.default_rng(11)


def test_held_out_real_passes(real_split):
    metrics = evaluate_genotypes(
        GenotypeSet.from_codes(real_split.train, real_split.train_populations),
        GenotypeSet.from_codes(real_split.holdout),
    )
    assert metrics["af_r2"] > 0.99
    assert metrics["geno_freq_r"] > 0.99
    assert metrics["ld_corr"] > 0.9
    assert metrics["ld_decay_l2"] < 0.01
    assert metrics["pca_w1"] < 0.15
    assert abs(metrics["fst_hudson"]) < 0.002
    assert abs(metrics["het_diff"]) < 0.01
    assert metrics["pop_tv"] < 0.1
    assert metrics["aats"] == pytest.approx(0.5, abs=0.05)
    assert metrics["aa_t"] == pytest.approx(0.5, abs=0.06)
    assert metrics["aa_s"] == pytest.approx(0.5, abs=0.06)
    assert metrics["exact_copy_rate"] == 0.0
    assert metrics["monomorphic_in_s_not_t"] <= 2


def test_independent_snp_fake_keeps_frequencies_but_not_ld(real_split, rng):
    train = real_split.train
    # each SNP drawn on its own from T's genotype frequencies: right marginals, no LD, no structure
    cumulative = np.cumsum([(train == code).mean(axis=0) for code in range(3)], axis=0)
    draws = rng.random(train.shape)
    fake = (draws > cumulative[0]).astype(np.int8) + (draws > cumulative[1])
    metrics = evaluate_genotypes(*map(GenotypeSet.from_codes, (train, fake, real_split.holdout)))
    assert metrics["af_r2"] > 0.99
    assert abs(metrics["ld_corr"]) < 0.1
    assert metrics["aa_t"] > 0.9
    assert metrics["aa_s"] < 0.1
    assert metrics["aats"] == pytest.approx(0.5, abs=0.1)
    assert metrics["aats_gap"] > 0.4  # what aats alone misses
    assert metrics["pca_w1"] > 0.3
    assert metrics["exact_copy_rate"] == 0.0


def test_bootstrap_copies_are_caught(real_split, rng):
    train = real_split.train
    copies = train[rng.integers(0, len(train), len(train))]
    metrics = evaluate_genotypes(*map(GenotypeSet.from_codes, (train, copies, real_split.holdout)))
    assert metrics["exact_copy_rate"] == 1.0
    assert metrics["aats"] < 0.2
    assert metrics["aa_s"] == 0.0
    assert metrics["privacy_loss"] > 0.3
    assert metrics["nn_distance_ratio"] == 0.0
    assert metrics["af_r2"] > 0.99  # fidelity metrics cannot see copying


def test_uniform_noise_fails_everything(real_split, rng):
    train = real_split.train
    noise = rng.integers(0, 3, train.shape).astype(np.int8)
    metrics = evaluate_genotypes(
        GenotypeSet.from_codes(train, real_split.train_populations),
        GenotypeSet.from_codes(noise),
        GenotypeSet.from_codes(real_split.holdout),
    )
    assert metrics["af_r2"] < 0.1
    assert metrics["af_mae"] > 0.2
    assert metrics["geno_freq_r"] < 0.3
    assert abs(metrics["ld_corr"]) < 0.1
    assert metrics["pca_w1"] > 0.3
    assert metrics["fst_hudson"] > 0.1
    assert metrics["het_diff"] > 0.1
    assert metrics["aats"] > 0.9
    assert metrics["aats_gap"] > 0.4
    assert metrics["nn_distance_ratio"] > 2
