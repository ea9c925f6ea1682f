"""Metrics at chromosome scale: LD streamed in blocks of SNPs (equal to the whole-matrix values, memory that does not
grow with the SNP count), randomized PCA close to exact PCA, and evaluate.py end to end on wide files."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from snpdiff.data import GenotypeSet
from snpdiff.metrics.genotype import (
    _pca_w1_scores,
    _pearson,
    evaluate_genotypes,
    fit_pca,
    ld_comparison,
    ld_decay,
    ld_r2_band,
    pca_scores,
    pca_w1,
)
from snpdiff.metrics.settings import MetricSettings

REPO = Path(__file__).resolve().parents[2]


def structured_codes(individuals: int, snps: int, seed: int, switch: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """Dosages int8 [individuals, snps] of three populations (Balding-Nichols frequencies, Fst 0.1) whose haplotypes
    copy the previous SNP's allele with probability 1 - switch (LD that decays with distance); and the labels."""
    rng = np.random.default_rng(seed)
    ancestral = rng.uniform(0.05, 0.95, snps)
    frequencies = rng.beta(ancestral * 9, (1 - ancestral) * 9, (3, snps))
    labels = np.arange(individuals) % 3
    haplotype_frequencies = frequencies[np.repeat(labels, 2)]
    fresh = rng.random(haplotype_frequencies.shape) < haplotype_frequencies
    restart = rng.random(fresh.shape) < switch
    restart[:, 0] = True
    source = np.maximum.accumulate(np.where(restart, np.arange(snps), 0), axis=1)
    haplotypes = np.take_along_axis(fresh, source, axis=1).astype(np.int8)
    return haplotypes[0::2] + haplotypes[1::2], labels


def full_r2(codes: np.ndarray) -> np.ndarray:
    """The whole r^2 matrix [snps, snps] in float64, 0 for monomorphic SNPs: the reference for small cases."""
    values = codes.astype(np.float64)
    values -= values.mean(axis=0)
    spread = values.std(axis=0)
    np.divide(values, spread, out=values, where=spread > 0)
    return (values.T @ values / len(codes)) ** 2


@pytest.mark.parametrize("ld_window", [37, 100])
def test_streamed_ld_equals_the_full_matrix_when_the_window_covers_every_pair(ld_window):
    """With 37 SNPs and ld_window >= 37 every pair is in the band: ld_corr, ld_mae and ld_decay_l2 streamed over
    blocks of 5 SNPs equal the values from the whole r^2 matrices (one monomorphic SNP included)."""
    real, _ = structured_codes(80, 37, seed=1)
    synthetic, _ = structured_codes(80, 37, seed=2, switch=0.5)
    real[:, 10] = 1  # monomorphic: its r^2 with every SNP is 0
    r2_real, r2_synthetic = full_r2(real), full_r2(synthetic)
    upper = np.triu_indices(37, k=1)
    decay_gap = [np.mean(np.diagonal(r2_real, d)) - np.mean(np.diagonal(r2_synthetic, d)) for d in range(1, 37)]

    streamed = ld_comparison(real, synthetic, ld_window, block_snps=5)

    assert streamed["ld_corr"] == pytest.approx(_pearson(r2_real[upper], r2_synthetic[upper]), rel=1e-5)
    assert streamed["ld_mae"] == pytest.approx(np.mean(np.abs(r2_real[upper] - r2_synthetic[upper])), rel=1e-5)
    assert streamed["ld_decay_l2"] == pytest.approx(np.sqrt(np.mean(np.square(decay_gap))), rel=1e-5)
    assert ld_decay(real, ld_window, block_snps=5) == pytest.approx(
        [np.mean(np.diagonal(r2_real, d)) for d in range(1, 37)], rel=1e-5
    )


def test_streamed_ld_equals_the_whole_band_at_1024_snps(real_split):
    """At the 1,024-SNP training window the streamed metrics equal the former computation: both r^2 bands held
    whole, r and MAE over their pairs, decay as the band's column means."""
    real, synthetic = real_split.train[:, :1024], real_split.holdout[:, :1024]
    band_real, band_synthetic = ld_r2_band(real, 50), ld_r2_band(synthetic, 50)
    valid = ~np.isnan(band_real)
    gap = np.nanmean(band_real, axis=0) - np.nanmean(band_synthetic, axis=0)

    streamed = evaluate_genotypes(
        GenotypeSet.from_codes(real), GenotypeSet.from_codes(synthetic), settings=MetricSettings(50)
    )

    assert streamed["ld_corr"] == pytest.approx(_pearson(band_real[valid], band_synthetic[valid]), rel=1e-9)
    assert streamed["ld_mae"] == pytest.approx(np.mean(np.abs(band_real[valid] - band_synthetic[valid])), rel=1e-6)
    assert streamed["ld_decay_l2"] == pytest.approx(np.sqrt(np.mean(gap.astype(np.float64) ** 2)), rel=1e-4)


def _peak_bytes(function) -> int:
    tracemalloc.start()
    try:
        function()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_ld_memory_does_not_grow_with_the_snp_count():
    """At 200 x 20,000 the LD comparison's peak allocation is a small fraction of one float32 copy of a set (16 MB)
    and nowhere near the r^2 matrix (snps^2 x 4 bytes = 1.6 GB); a quarter of the SNPs peaks about as high."""
    real, _ = structured_codes(200, 20_000, seed=3)
    synthetic, _ = structured_codes(200, 20_000, seed=4)
    wide = _peak_bytes(lambda: ld_comparison(real, synthetic, 50))
    narrow = _peak_bytes(lambda: ld_comparison(real[:, :5000], synthetic[:, :5000], 50))
    float32_copy = real.size * 4
    assert wide < float32_copy / 4
    assert wide < 1.5 * narrow


def test_pca_memory_is_one_float32_copy_of_t():
    """Fitting the randomized PCA on T and projecting S (in blocks of SNPs) holds one float32 copy of T (centred in
    place) plus thin matrices: well under the two copies a centring copy would add, and no float copy of S."""
    real, _ = structured_codes(200, 20_000, seed=5)
    synthetic, _ = structured_codes(200, 20_000, seed=6)
    peak = _peak_bytes(lambda: pca_scores(fit_pca(real, 10), synthetic))
    assert peak < 1.5 * real.size * 4


def test_randomized_pca_is_close_to_exact_pca():
    """On three populations (independent SNPs, so the two structure PCs stand well above the rest) the randomized
    PCA's scores match exact PCA (SVD of the centred matrix) up to sign, block-wise projection equals sklearn's
    transform, and pca_w1 agrees with the exact scores' value."""
    real, _ = structured_codes(150, 3000, seed=7, switch=1.0)
    synthetic, _ = structured_codes(150, 3000, seed=8, switch=1.0)
    centred = real - real.mean(axis=0)
    left, singular, right = np.linalg.svd(centred, full_matrices=False)
    exact_real = left[:, :2] * singular[:2]
    exact_synthetic = (synthetic - real.mean(axis=0)) @ right[:2].T

    pca = fit_pca(real, 2, seed=0)
    scores_real, scores_synthetic = pca_scores(pca, real, block_snps=700), pca_scores(pca, synthetic, block_snps=700)

    signs = np.sign(np.sum(scores_real * exact_real, axis=0))
    scale = np.abs(exact_real).max()
    np.testing.assert_allclose(scores_real * signs, exact_real, atol=1e-3 * scale)
    np.testing.assert_allclose(scores_synthetic * signs, exact_synthetic, atol=1e-3 * scale)
    np.testing.assert_allclose(scores_synthetic, pca.transform(synthetic.astype(np.float32)), atol=1e-4 * scale)
    assert pca_w1(real, synthetic, n_pcs=2) == pytest.approx(_pca_w1_scores(exact_real, exact_synthetic), abs=1e-3)


@pytest.mark.slow
def test_evaluate_scale_benchmark_runs_evaluate_py_on_wide_files(tmp_path):
    """benchmarks/evaluate_scale.py writes real, synthetic and held-out .npy files (populations in real's sidecar),
    runs evaluate.py on them as a user would, and reports its time, peak memory and metrics."""
    command = [sys.executable, "benchmarks/evaluate_scale.py", "--individuals", "40", "--snps", "3000"]
    result = subprocess.run(
        [*command, "--work-dir", str(tmp_path), "ld_window=20"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["snps"], report["individuals_per_set"], report["evaluate_overrides"]) == (3000, 40, ["ld_window=20"])
    assert report["seconds"] > 0 and 0 < report["peak_rss_gib"] < 24
    metrics = report["metrics"]
    # the weaker LD of the synthetic set shows; populations and the held-out set reached evaluate.py
    assert 0 < metrics["ld_corr"] < 1 and metrics["ld_mae"] > 0
    assert "pop_tv" in metrics and "privacy_loss" in metrics
    assert metrics == pytest.approx(json.loads((tmp_path / "evaluate" / "metrics.json").read_text()), abs=1e-4)
    assert (tmp_path / "evaluate" / "plots" / "ld_heatmap.png").is_file()
