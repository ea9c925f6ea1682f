"""Genotype-fidelity metrics between a real training set T and a synthetic set S, and ``evaluate_genotypes``.

Inputs are integer code matrices ``[individuals, snps]`` with codes ``0..ploidy``: diploid dosages 0/1/2
(``ploidy=2``, the count of alternate alleles) or haplotypes 0/1 (``ploidy=1``). T and S share their SNP columns.
Notation: ``p_j`` is the alternate-allele frequency of SNP j, ``mean_i(x_ij) / ploidy``; ``r(a, b)`` is the
Pearson correlation, taken as 0 when either side is constant (so every metric stays a finite number).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import wasserstein_distance
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from snpdiff.errors import ConfigError, DataError
from snpdiff.metrics import privacy

# population labels of S are predicted from this many of T's PCs (or fewer when T is small)
POPULATION_PCS = 10
POPULATION_NEIGHBORS = 5


def check_codes(codes: np.ndarray, ploidy: int = 2, name: str = "genotypes") -> np.ndarray:
    """Return ``codes`` as an int8 array [individuals, snps]; raise DataError unless all codes are in 0..ploidy."""
    if ploidy not in (1, 2):
        raise ConfigError(f"ploidy={ploidy!r} is not supported; allowed: 1 (haplotypes 0/1) or 2 (dosages 0/1/2)")
    array = np.asarray(codes)
    if array.ndim != 2 or array.shape[0] < 2 or array.shape[1] < 1:
        raise DataError(f"{name}: expected a matrix [individuals >= 2, snps >= 1], got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        raise DataError(f"{name}: expected integer genotype codes, got dtype {array.dtype}")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > ploidy:
        raise DataError(
            f"{name}: codes must lie in 0..{ploidy} (ploidy={ploidy}, no missing calls); "
            f"found values from {low} to {high}" + ("; impute missing calls (-1) first" if low == -1 else "")
        )
    return array.astype(np.int8, copy=False)


def check_sets(
    real: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray | None = None, ploidy: int = 2
) -> dict[str, np.ndarray]:
    """``{"real", "synthetic"[, "holdout"]}`` as int8 code matrices after ``check_codes``; raise DataError when the
    sets differ in SNP count or no SNP varies in real."""
    sets = {"real": check_codes(real, ploidy, "real"), "synthetic": check_codes(synthetic, ploidy, "synthetic")}
    if holdout is not None:
        sets["holdout"] = check_codes(holdout, ploidy, "holdout")
    snps = sets["real"].shape[1]
    for name, codes in sets.items():
        if codes.shape[1] != snps:
            raise DataError(
                f"{name} has {codes.shape[1]} SNPs but real has {snps}; the sets must share their SNP columns"
            )
    if _is_monomorphic(sets["real"]).all():
        raise DataError("real: no SNP varies, so frequencies, LD and PCA cannot be compared")
    return sets


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson r of two vectors; 0 when either is constant."""
    x = np.asarray(x, dtype=np.float64) - np.mean(x)
    y = np.asarray(y, dtype=np.float64) - np.mean(y)
    denominator = np.sqrt((x @ x) * (y @ y))
    return float(x @ y / denominator) if denominator > 0 else 0.0


def allele_frequencies(codes: np.ndarray, ploidy: int = 2) -> np.ndarray:
    """Alternate-allele frequency ``p_j = mean_i(x_ij) / ploidy`` of each SNP: float64 [snps]."""
    return codes.mean(axis=0, dtype=np.float64) / ploidy


def af_r2(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``r(p^T, p^S)^2`` over SNPs: 1 when allele frequencies agree up to a linear map."""
    return _pearson(allele_frequencies(real, ploidy), allele_frequencies(synthetic, ploidy)) ** 2


def af_mae(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``mean_j |p^T_j - p^S_j|``, in allele-frequency units."""
    return float(np.mean(np.abs(allele_frequencies(real, ploidy) - allele_frequencies(synthetic, ploidy))))


def _is_monomorphic(codes: np.ndarray) -> np.ndarray:
    """bool [snps]: every individual carries the same code."""
    return codes.min(axis=0) == codes.max(axis=0)


def monomorphic_in_s_not_t(real: np.ndarray, synthetic: np.ndarray) -> int:
    """Number of SNPs with a single code in S but more than one in T (variation the generator lost)."""
    return int(np.sum(_is_monomorphic(synthetic) & ~_is_monomorphic(real)))


def genotype_frequencies(codes: np.ndarray, ploidy: int = 2) -> np.ndarray:
    """``f_kj``: share of individuals with code k at SNP j: float64 [snps, ploidy + 1]."""
    return np.stack([(codes == code).mean(axis=0, dtype=np.float64) for code in range(ploidy + 1)], axis=1)


def geno_freq_r(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``r`` between T's and S's concatenated genotype frequencies ``(f_0j, f_1j, f_2j)`` over all SNPs j."""
    return _pearson(genotype_frequencies(real, ploidy).ravel(), genotype_frequencies(synthetic, ploidy).ravel())


def heterozygosity(codes: np.ndarray, ploidy: int = 2) -> float:
    """Mean heterozygosity over SNPs: observed ``mean_ij [x_ij = 1]`` for dosages; for haplotypes (no observed
    heterozygotes) the expected ``mean_j 2 p_j (1 - p_j)``."""
    if ploidy == 2:
        return float(np.mean(codes == 1))
    frequency = allele_frequencies(codes, ploidy)
    return float(np.mean(2 * frequency * (1 - frequency)))


def het_diff(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """``H(S) - H(T)`` with H from ``heterozygosity``: signed; 0 is ideal, > 0 means S has too many heterozygotes."""
    return heterozygosity(synthetic, ploidy) - heterozygosity(real, ploidy)


def individual_heterozygosity(codes: np.ndarray, ploidy: int = 2) -> np.ndarray:
    """Per individual, the share of SNPs at which it is heterozygous (``mean_j [x_ij = 1]``): float64
    ``[individuals]``. Haplotypes have no heterozygotes: there it is the share of alternate alleles."""
    return np.mean(codes == 1, axis=1, dtype=np.float64)


def het_spread(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> dict[str, float]:
    """Standard deviation over individuals of ``individual_heterozygosity`` in T and in S, and S's over T's.

    Ancestry and relatedness make real individuals differ in heterozygosity; a model that averages people
    (independent SNPs at the right frequencies) gives each about the mean, so ``het_sd_ratio`` falls well below 1.
    """
    sd_real = float(np.std(individual_heterozygosity(real, ploidy)))
    sd_synthetic = float(np.std(individual_heterozygosity(synthetic, ploidy)))
    ratio = sd_synthetic / sd_real if sd_real > 0 else float("nan")
    return {"het_sd_t": sd_real, "het_sd_s": sd_synthetic, "het_sd_ratio": ratio}


def ld_r2_band(codes: np.ndarray, ld_window: int = 50, block_snps: int = 128) -> np.ndarray:
    """LD r^2 of every SNP pair less than ``ld_window`` SNPs apart.

    Returns float32 [snps, width], ``width = min(ld_window, snps) - 1``, where entry ``[j, d - 1]`` is
    ``r(x_j, x_{j+d})^2`` (Pearson r over individuals, 0 when either SNP is monomorphic) and NaN where ``j + d``
    is past the last SNP. This band is the upper triangle of the r^2 matrix within the window. Computed as
    standardised blocks ``Z_b^T Z_c / n`` (one matrix product per block of ``block_snps`` SNPs).
    """
    _check_ld_window(ld_window)
    individuals, snps = codes.shape
    width = min(ld_window, snps) - 1
    values = codes.astype(np.float32)
    values -= values.mean(axis=0)
    spread = values.std(axis=0)
    # monomorphic SNPs are all-zero columns after centring and stay so: their r is 0
    np.divide(values, spread, out=values, where=spread > 0)
    offsets = np.arange(1, width + 1)
    band = np.empty((snps, width), dtype=np.float32)
    for start in range(0, snps, block_snps):
        stop = min(start + block_snps, snps)
        reach = min(stop + width, snps)
        # correlations of SNPs start:stop with start:stop+width; NaN past the last SNP
        correlation = np.full((stop - start, stop - start + width), np.nan, dtype=np.float32)
        correlation[:, : reach - start] = values[:, start:stop].T @ values[:, start:reach] / individuals
        rows = np.arange(stop - start)[:, None]
        band[start:stop] = correlation[rows, rows + offsets[None, :]] ** 2
    return np.clip(band, 0.0, 1.0)


def _check_ld_window(ld_window: int) -> None:
    if ld_window < 2:
        raise ConfigError(f"ld_window={ld_window!r} must be >= 2 (pairs of SNPs less than ld_window apart)")


def ld_decay(band: np.ndarray) -> np.ndarray:
    """Mean r^2 at each SNP distance d = 1..width (in SNPs, not base pairs), from ``ld_r2_band``: [width]."""
    return np.nanmean(band, axis=0).astype(np.float64)


def _ld_metrics(band_real: np.ndarray, band_synthetic: np.ndarray) -> dict[str, float]:
    """``ld_corr``, ``ld_mae`` and ``ld_decay_l2`` from the r^2 bands of T and S (same shape)."""
    if band_real.size == 0:  # a single SNP has no pairs
        return {"ld_corr": 0.0, "ld_mae": 0.0, "ld_decay_l2": 0.0}
    valid = ~np.isnan(band_real)
    pairs_real, pairs_synthetic = band_real[valid], band_synthetic[valid]
    gap = ld_decay(band_real) - ld_decay(band_synthetic)
    return {
        "ld_corr": _pearson(pairs_real, pairs_synthetic),
        "ld_mae": float(np.mean(np.abs(pairs_real - pairs_synthetic))),
        "ld_decay_l2": float(np.sqrt(np.mean(gap**2))),
    }


def ld_corr(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``r(r2^T, r2^S)`` over all SNP pairs ``(j, j+d)``, ``1 <= d < ld_window`` (see ``ld_r2_band``)."""
    return _ld_metrics(ld_r2_band(real, ld_window), ld_r2_band(synthetic, ld_window))["ld_corr"]


def ld_mae(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``mean |r2^T_jk - r2^S_jk|`` over the same SNP pairs as ``ld_corr``."""
    return _ld_metrics(ld_r2_band(real, ld_window), ld_r2_band(synthetic, ld_window))["ld_mae"]


def ld_decay_l2(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``sqrt(mean_d (decay^T(d) - decay^S(d))^2)`` over d = 1..ld_window-1 (``ld_decay``): an RMS gap in r^2
    units, so it does not grow with the window."""
    return _ld_metrics(ld_r2_band(real, ld_window), ld_r2_band(synthetic, ld_window))["ld_decay_l2"]


def _check_n_pcs(n_pcs: int, real: np.ndarray) -> None:
    limit = min(real.shape[0] - 1, real.shape[1])
    if not 1 <= n_pcs <= limit:
        raise ConfigError(f"n_pcs={n_pcs!r} must be between 1 and {limit} (individuals - 1 and SNPs of T)")


def fit_pca(real: np.ndarray, n_components: int, seed: int = 0) -> PCA:
    """PCA on T's codes (centred on T's SNP means, not scaled), randomized SVD seeded with ``seed``."""
    _check_n_pcs(n_components, real)
    return PCA(n_components=n_components, svd_solver="randomized", random_state=seed).fit(real.astype(np.float32))


def _pca_w1_scores(scores_real: np.ndarray, scores_synthetic: np.ndarray) -> float:
    spread = scores_real.std(axis=0)
    distances = [
        wasserstein_distance(scores_real[:, k], scores_synthetic[:, k]) / spread[k] if spread[k] > 0 else 0.0
        for k in range(scores_real.shape[1])
    ]
    return float(np.mean(distances))


def pca_w1(real: np.ndarray, synthetic: np.ndarray, n_pcs: int = 2, seed: int = 0) -> float:
    """``mean_k W1(z^T_k, z^S_k) / sd(z^T_k)`` over the first ``n_pcs`` PCs k of T.

    ``z^X_k`` are the scores of set X on PC k of a PCA fitted on T (centred on T's means); W1 is the 1-D
    Wasserstein (earth mover's) distance between the two empirical distributions; ``sd`` is T's standard deviation
    on that PC (ddof 0). 0 = same distribution; 1 = shifted by one standard deviation of T.
    """
    pca = fit_pca(real, n_pcs, seed)
    return _pca_w1_scores(pca.transform(real.astype(np.float32)), pca.transform(synthetic.astype(np.float32)))


def fst_hudson(real: np.ndarray, synthetic: np.ndarray, ploidy: int = 2) -> float:
    """Hudson's Fst, ratio of averages (Bhatia et al. 2013), between T and S.

    ``Fst = sum_j N_j / sum_j D_j`` with ``N_j = (p1 - p2)^2 - p1 (1 - p1) / (n1 - 1) - p2 (1 - p2) / (n2 - 1)``,
    ``D_j = p1 (1 - p2) + p2 (1 - p1)``, ``p1, p2`` the allele frequencies of T and S and ``n1, n2`` their numbers
    of sampled chromosomes (``ploidy * individuals``). Two samples of one population give about 0 (slightly
    negative: ``-1 / (n - 1)`` for identical sets); 0 when no SNP varies.
    """
    p1, p2 = allele_frequencies(real, ploidy), allele_frequencies(synthetic, ploidy)
    n1, n2 = ploidy * real.shape[0], ploidy * synthetic.shape[0]
    numerator = (p1 - p2) ** 2 - p1 * (1 - p1) / (n1 - 1) - p2 * (1 - p2) / (n2 - 1)
    denominator = p1 * (1 - p2) + p2 * (1 - p1)
    total = denominator.sum()
    return float(numerator.sum() / total) if total > 0 else 0.0


def _population_tv(scores_real: np.ndarray, scores_synthetic: np.ndarray, populations: np.ndarray) -> float:
    classifier = KNeighborsClassifier(n_neighbors=min(POPULATION_NEIGHBORS, len(populations)))
    predicted = classifier.fit(scores_real, populations).predict(scores_synthetic)
    labels = np.unique(populations)
    share_real = np.array([np.mean(populations == label) for label in labels])
    share_synthetic = np.array([np.mean(predicted == label) for label in labels])
    return float(0.5 * np.abs(share_real - share_synthetic).sum())


def pop_tv(real: np.ndarray, synthetic: np.ndarray, populations: Sequence, seed: int = 0) -> float:
    """``0.5 * sum_p |share_T(p) - share_S(p)|``: total variation distance between population proportions.

    T's shares come from ``populations`` (one label per T row); each S individual gets the majority label of its
    5 nearest T individuals on T's first 10 PCs (fewer when T is small). 0 = same mix; 1 = disjoint.
    """
    labels = _check_populations(populations, real.shape[0])
    pca = fit_pca(real, _population_pcs(real), seed)
    return _population_tv(pca.transform(real.astype(np.float32)), pca.transform(synthetic.astype(np.float32)), labels)


def _population_pcs(real: np.ndarray) -> int:
    return min(POPULATION_PCS, real.shape[0] - 1, real.shape[1])


def _check_populations(populations: Sequence, individuals: int) -> np.ndarray:
    labels = np.asarray(populations).astype(str)
    if labels.shape != (individuals,):
        raise DataError(
            f"populations: expected one label per real individual ({individuals}), got shape {labels.shape}"
        )
    return labels


def evaluate_genotypes(
    real: np.ndarray,
    synthetic: np.ndarray,
    holdout: np.ndarray | None = None,
    populations: Sequence | None = None,
    ld_window: int = 50,
    n_pcs: int = 2,
    max_snps_ld: int | None = None,
    seed: int = 0,
    ploidy: int = 2,
) -> dict[str, float]:
    """Every fidelity and privacy metric of synthetic S against real T (and held-out real H when given).

    Args:
        real: T, int codes [individuals_t, snps] (the model's training set).
        synthetic: S, int codes [individuals_s, snps], same SNP columns as T.
        holdout: H, int codes [individuals_h, snps], real individuals the model never saw; adds
            ``aats_holdout``, ``privacy_loss`` and ``nn_distance_ratio``.
        populations: one label per row of T; adds ``pop_tv``.
        ld_window: LD pairs are SNPs less than this many columns apart.
        n_pcs: leading PCs of T compared by ``pca_w1``.
        max_snps_ld: LD metrics use a contiguous window of at most this many SNPs (seeded start); None = all.
        seed: seeds the randomized PCA and the LD window.
        ploidy: 2 for dosages 0/1/2, 1 for haplotypes 0/1.

    Returns:
        ``{metric name: value}``; names, meanings and goals are in ``snpdiff.metrics.goals.METRICS``.
        Adversarial accuracies are most readable when S and T (and H) have the same number of individuals.
    """
    sets = check_sets(real, synthetic, holdout, ploidy)
    real, synthetic, holdout = sets["real"], sets["synthetic"], sets.get("holdout")
    labels = None if populations is None else _check_populations(populations, real.shape[0])
    _check_ld_window(ld_window)
    _check_n_pcs(n_pcs, real)
    if max_snps_ld is not None and max_snps_ld < 2:
        raise ConfigError(f"max_snps_ld={max_snps_ld!r} must be >= 2 or null (all SNPs)")

    metrics = {
        "af_r2": af_r2(real, synthetic, ploidy),
        "af_mae": af_mae(real, synthetic, ploidy),
        "monomorphic_in_s_not_t": float(monomorphic_in_s_not_t(real, synthetic)),
        "geno_freq_r": geno_freq_r(real, synthetic, ploidy),
        "het_diff": het_diff(real, synthetic, ploidy),
        **het_spread(real, synthetic, ploidy),
        "fst_hudson": fst_hudson(real, synthetic, ploidy),
    }

    ld_columns = ld_snp_window(real.shape[1], max_snps_ld, seed)
    metrics.update(
        _ld_metrics(ld_r2_band(real[:, ld_columns], ld_window), ld_r2_band(synthetic[:, ld_columns], ld_window))
    )

    n_fit = n_pcs if labels is None else max(n_pcs, _population_pcs(real))
    pca = fit_pca(real, n_fit, seed)
    scores_real = pca.transform(real.astype(np.float32))
    scores_synthetic = pca.transform(synthetic.astype(np.float32))
    metrics["pca_w1"] = _pca_w1_scores(scores_real[:, :n_pcs], scores_synthetic[:, :n_pcs])
    if labels is not None:
        metrics["pop_tv"] = _population_tv(scores_real, scores_synthetic, labels)

    metrics.update(privacy.privacy_metrics(real, synthetic, holdout, ploidy))
    return metrics


def ld_snp_window(snps: int, max_snps_ld: int | None, seed: int = 0) -> slice:
    """The contiguous SNP columns the LD metrics use: all, or ``max_snps_ld`` from a seeded random start."""
    if max_snps_ld is None or max_snps_ld >= snps:
        return slice(0, snps)
    start = int(np.random.default_rng(seed).integers(0, snps - max_snps_ld + 1))
    return slice(start, start + max_snps_ld)
