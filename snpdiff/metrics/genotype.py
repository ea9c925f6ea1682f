"""Genotype-fidelity metrics between a real training set T and a synthetic set S, and ``evaluate_genotypes``.

Inputs are integer code matrices ``[individuals, snps]`` with codes ``0..ploidy``: diploid dosages 0/1/2
(``ploidy=2``, the count of alternate alleles) or haplotypes 0/1 (``ploidy=1``). T and S share their SNP columns.
Notation: ``p_j`` is the alternate-allele frequency of SNP j, ``mean_i(x_ij) / ploidy``; ``r(a, b)`` is the
Pearson correlation, taken as 0 when either side is constant (so every metric stays a finite number).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from scipy.stats import wasserstein_distance
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier
from threadpoolctl import threadpool_limits

from snpdiff.data.types import GenotypeSet
from snpdiff.errors import ConfigError, DataError
from snpdiff.metrics import privacy
from snpdiff.metrics.settings import MetricSettings
from snpdiff.metrics.utility import recovery_rate

# population labels of S are predicted from this many of T's PCs (or fewer when T is small)
POPULATION_PCS = 10
POPULATION_NEIGHBORS = 5
# SNPs per block of the LD band (each block multiplies [individuals, block] by [individuals, block + ld_window])
LD_BLOCK_SNPS = 128
# BLAS threads for those products: they are too small to gain from more, and on busy cores OpenBLAS threads
# spin waiting for each other, which made the blocks an order of magnitude slower
LD_BLAS_THREADS = 1
# SNPs per block when projecting a set onto T's PCs
PCA_BLOCK_SNPS = 8192


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


def check_sets(real: GenotypeSet, synthetic: GenotypeSet, holdout: GenotypeSet | None = None) -> dict[str, np.ndarray]:
    """The codes ``{"real", "synthetic"[, "holdout"]}`` as int8 matrices after ``check_codes`` at real's ploidy; raise
    DataError when the sets differ in ploidy or SNP count, or no SNP varies in real."""
    given = {"real": real, "synthetic": synthetic, "holdout": holdout}
    sets = {name: check_codes(each.codes, real.ploidy, name) for name, each in given.items() if each is not None}
    snps = sets["real"].shape[1]
    for name, codes in sets.items():
        if given[name].ploidy != real.ploidy:
            raise DataError(f"{name} has ploidy {given[name].ploidy} but real has {real.ploidy}; give sets of one kind")
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


def _standardized(codes: np.ndarray) -> np.ndarray:
    """float32 z-scores [individuals, columns] of each column of ``codes`` over individuals (ddof 0); monomorphic
    columns are all zero after centring and stay so, which makes their r 0."""
    values = codes.astype(np.float32)
    values -= values.mean(axis=0)
    spread = values.std(axis=0)
    np.divide(values, spread, out=values, where=spread > 0)
    return values


def _ld_band_blocks(codes: np.ndarray, ld_window: int, block_snps: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, band[start:stop])`` of ``ld_r2_band`` for consecutive blocks of ``block_snps`` SNPs.

    Each block standardises only its own SNPs and the ``width`` after them (float32 [individuals, block_snps +
    width]) and takes one product ``Z_b^T Z / n`` [block_snps, block_snps + width], so memory does not grow with
    the number of SNPs.
    """
    individuals, snps = codes.shape
    width = min(ld_window, snps) - 1
    offsets = np.arange(1, width + 1)
    for start in range(0, snps, block_snps):
        stop = min(start + block_snps, snps)
        reach = min(stop + width, snps)
        values = _standardized(codes[:, start:reach])
        # correlations of SNPs start:stop with start:stop+width; NaN past the last SNP
        correlation = np.full((stop - start, stop - start + width), np.nan, dtype=np.float32)
        correlation[:, : reach - start] = values[:, : stop - start].T @ values / individuals
        rows = np.arange(stop - start)[:, None]
        yield start, np.clip(correlation[rows, rows + offsets[None, :]] ** 2, 0.0, 1.0)


def ld_r2_band(codes: np.ndarray, ld_window: int = 50, block_snps: int = LD_BLOCK_SNPS) -> np.ndarray:
    """LD r^2 of every SNP pair less than ``ld_window`` SNPs apart.

    Returns float32 [snps, width], ``width = min(ld_window, snps) - 1``, where entry ``[j, d - 1]`` is
    ``r(x_j, x_{j+d})^2`` (Pearson r over individuals, 0 when either SNP is monomorphic) and NaN where ``j + d``
    is past the last SNP. This band is the upper triangle of the r^2 matrix within the window, computed block by
    block (``_ld_band_blocks``); the metrics never hold it whole (``ld_comparison``).
    """
    _check_ld_window(ld_window)
    snps = codes.shape[1]
    band = np.empty((snps, min(ld_window, snps) - 1), dtype=np.float32)
    with threadpool_limits(LD_BLAS_THREADS, user_api="blas"):
        for start, block in _ld_band_blocks(codes, ld_window, block_snps):
            band[start : start + len(block)] = block
    return band


def _check_ld_window(ld_window: int) -> None:
    if ld_window < 2:
        raise ConfigError(f"ld_window={ld_window!r} must be >= 2 (pairs of SNPs less than ld_window apart)")


class _PairMoments:
    """Count, means and centred second moments of paired values (x, y), merged batch by batch (Chan, Golub and
    LeVeque's pairwise update, float64), so a Pearson r over billions of pairs needs neither the pairs nor the
    cancellation-prone raw sums of squares."""

    def __init__(self) -> None:
        self.count = 0
        self.mean_x = self.mean_y = 0.0
        self.sxx = self.syy = self.sxy = 0.0

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        count = x.size
        if count == 0:
            return
        x, y = x.astype(np.float64), y.astype(np.float64)
        mean_x, mean_y = float(x.mean()), float(y.mean())
        x -= mean_x
        y -= mean_y
        total = self.count + count
        delta_x, delta_y = mean_x - self.mean_x, mean_y - self.mean_y
        weight = self.count * count / total
        self.sxx += float(x @ x) + delta_x**2 * weight
        self.syy += float(y @ y) + delta_y**2 * weight
        self.sxy += float(x @ y) + delta_x * delta_y * weight
        self.mean_x += delta_x * count / total
        self.mean_y += delta_y * count / total
        self.count = total

    def pearson(self) -> float:
        """r(x, y); 0 when either side is constant (as ``_pearson``)."""
        denominator = np.sqrt(self.sxx * self.syy)
        return float(self.sxy / denominator) if denominator > 0 else 0.0


def ld_decay(codes: np.ndarray, ld_window: int = 50, block_snps: int = LD_BLOCK_SNPS) -> np.ndarray:
    """Mean r^2 at each SNP distance d = 1..width (in SNPs, not base pairs) over the pairs of ``ld_r2_band``:
    float64 [width], accumulated block by block."""
    _check_ld_window(ld_window)
    width = min(ld_window, codes.shape[1]) - 1
    sums, counts = np.zeros(width), np.zeros(width)
    with threadpool_limits(LD_BLAS_THREADS, user_api="blas"):
        for _, block in _ld_band_blocks(codes, ld_window, block_snps):
            sums += np.nansum(block, axis=0, dtype=np.float64)
            counts += np.sum(~np.isnan(block), axis=0)
    return sums / np.maximum(counts, 1)


def ld_comparison(
    real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50, block_snps: int = LD_BLOCK_SNPS
) -> dict[str, float]:
    """``ld_corr``, ``ld_mae`` and ``ld_decay_l2`` of S against T over the SNP pairs of ``ld_r2_band``.

    Streams both r^2 bands block by block (``_ld_band_blocks``) and keeps only running statistics: the pairs'
    moments for r, the sum of ``|r2^T - r2^S|``, and sums per distance for the decay curves. Memory is
    ``O(individuals * (block_snps + ld_window))``, whatever the number of SNPs; the values equal those from the
    whole bands up to float rounding.
    """
    _check_ld_window(ld_window)
    width = min(ld_window, real.shape[1]) - 1
    if width == 0:  # a single SNP has no pairs
        return {"ld_corr": 0.0, "ld_mae": 0.0, "ld_decay_l2": 0.0}
    moments = _PairMoments()
    absolute_error = 0.0
    decay_real, decay_synthetic, counts = np.zeros(width), np.zeros(width), np.zeros(width)
    blocks_real, blocks_synthetic = (_ld_band_blocks(codes, ld_window, block_snps) for codes in (real, synthetic))
    with threadpool_limits(LD_BLAS_THREADS, user_api="blas"):
        for (_, band_real), (_, band_synthetic) in zip(blocks_real, blocks_synthetic, strict=True):
            valid = ~np.isnan(band_real)  # NaN past the last SNP, in both bands alike
            pairs_real, pairs_synthetic = band_real[valid], band_synthetic[valid]
            moments.add(pairs_real, pairs_synthetic)
            absolute_error += float(np.abs(pairs_real - pairs_synthetic).sum(dtype=np.float64))
            decay_real += np.nansum(band_real, axis=0, dtype=np.float64)
            decay_synthetic += np.nansum(band_synthetic, axis=0, dtype=np.float64)
            counts += valid.sum(axis=0)
    gap = (decay_real - decay_synthetic) / counts
    return {
        "ld_corr": moments.pearson(),
        "ld_mae": absolute_error / moments.count,
        "ld_decay_l2": float(np.sqrt(np.mean(gap**2))),
    }


def ld_corr(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``r(r2^T, r2^S)`` over all SNP pairs ``(j, j+d)``, ``1 <= d < ld_window`` (see ``ld_r2_band``)."""
    return ld_comparison(real, synthetic, ld_window)["ld_corr"]


def ld_mae(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``mean |r2^T_jk - r2^S_jk|`` over the same SNP pairs as ``ld_corr``."""
    return ld_comparison(real, synthetic, ld_window)["ld_mae"]


def ld_decay_l2(real: np.ndarray, synthetic: np.ndarray, ld_window: int = 50) -> float:
    """``sqrt(mean_d (decay^T(d) - decay^S(d))^2)`` over d = 1..ld_window-1 (``ld_decay``): an RMS gap in r^2
    units, so it does not grow with the window."""
    return ld_comparison(real, synthetic, ld_window)["ld_decay_l2"]


def _check_n_pcs(n_pcs: int, real: np.ndarray) -> None:
    limit = min(real.shape[0] - 1, real.shape[1])
    if not 1 <= n_pcs <= limit:
        raise ConfigError(f"n_pcs={n_pcs!r} must be between 1 and {limit} (individuals - 1 and SNPs of T)")


def fit_pca(real: np.ndarray, n_components: int, seed: int = 0) -> PCA:
    """PCA on all of T's SNPs (centred on T's SNP means, not scaled) by randomized SVD seeded with ``seed``.

    Randomized SVD (Halko et al.; scikit-learn's ``svd_solver="randomized"``) touches T only through products with
    thin matrices [snps, n_components + 10], so its extra memory is ``O(snps * n_components)`` besides one float32
    copy of T, which it centres in place (``copy=False``); no SNP is dropped.
    """
    _check_n_pcs(n_components, real)
    pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed, copy=False)
    return pca.fit(real.astype(np.float32))


def pca_scores(pca: PCA, codes: np.ndarray, block_snps: int = PCA_BLOCK_SNPS) -> np.ndarray:
    """Scores of ``codes`` [individuals, snps] on the fitted PCs: float64 [individuals, n_components].

    Equal to ``pca.transform`` (centred on T's means), summed over blocks of ``block_snps`` SNPs so no float copy
    of the whole matrix is made.
    """
    scores = np.zeros((codes.shape[0], pca.n_components_))
    for start in range(0, codes.shape[1], block_snps):
        columns = slice(start, start + block_snps)
        centred = codes[:, columns].astype(np.float32) - pca.mean_[columns]
        scores += centred @ pca.components_[:, columns].T
    return scores


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
    return _pca_w1_scores(pca_scores(pca, real), pca_scores(pca, synthetic))


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
    return _population_tv(pca_scores(pca, real), pca_scores(pca, synthetic), labels)


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
    real: GenotypeSet,
    synthetic: GenotypeSet,
    holdout: GenotypeSet | None = None,
    settings: MetricSettings = MetricSettings(),
) -> dict[str, float]:
    """Every fidelity, privacy and utility metric of synthetic S against real T (and held-out real H when given).

    ``real`` is T, codes ``[individuals_t, snps]`` (the model's training set); ``synthetic`` is S ``[individuals_s,
    snps]``, same SNP columns and ploidy; ``holdout`` is H ``[individuals_h, snps]``, real individuals the model never
    saw, which adds ``aats_holdout``, ``privacy_loss`` and ``nn_distance_ratio``. Ploidy comes from the sets (codes
    0/1/2 for individuals, 0/1 for haplotypes). T's population labels add ``pop_tv``; with labels on S and H too
    (a population-conditioned model's output) they add ``recovery_rate``, ``tstr_accuracy`` and ``trtr_accuracy``
    (``snpdiff.metrics.utility``). ``settings``: window, PCs, LD window and seed (``MetricSettings``).

    Returns ``{metric name: value}``; names, meanings and goals are in ``snpdiff.metrics.goals.METRICS``.
    Adversarial accuracies are most readable when S and T (and H) have the same number of individuals.
    Memory beyond the int8 inputs: one float32 copy of T for the PCA fit, blocks of SNPs for LD and projections,
    and blocks of individuals for the distances (``snpdiff.metrics.distances``); nothing is [snps, snps].
    """
    codes = check_sets(real, synthetic, holdout)
    train, fake, held = codes["real"], codes["synthetic"], codes.get("holdout")
    _check_settings(settings, train)
    ploidy, seed, labels = real.ploidy, settings.seed, real.populations
    metrics = {
        "af_r2": af_r2(train, fake, ploidy),
        "af_mae": af_mae(train, fake, ploidy),
        "monomorphic_in_s_not_t": float(monomorphic_in_s_not_t(train, fake)),
        "geno_freq_r": geno_freq_r(train, fake, ploidy),
        "het_diff": het_diff(train, fake, ploidy),
        **het_spread(train, fake, ploidy),
        "fst_hudson": fst_hudson(train, fake, ploidy),
    }
    ld_columns = ld_snp_window(train.shape[1], settings.max_snps_ld, seed)
    metrics.update(ld_comparison(train[:, ld_columns], fake[:, ld_columns], settings.ld_window))

    n_pcs = settings.n_pcs
    pca = fit_pca(train, n_pcs if labels is None else max(n_pcs, _population_pcs(train)), seed)
    scores_real, scores_synthetic = pca_scores(pca, train), pca_scores(pca, fake)
    metrics["pca_w1"] = _pca_w1_scores(scores_real[:, :n_pcs], scores_synthetic[:, :n_pcs])
    if labels is not None:
        metrics["pop_tv"] = _population_tv(scores_real, scores_synthetic, labels)

    metrics.update(privacy.privacy_metrics(train, fake, held, ploidy))
    if all(each is not None and each.populations is not None for each in (real, synthetic, holdout)):
        metrics.update(recovery_rate(train, labels, fake, synthetic.populations, held, holdout.populations, seed=seed))
    return metrics


def _check_settings(settings: MetricSettings, real: np.ndarray) -> None:
    """Raise ConfigError for a setting the metrics cannot use on T ``[individuals, snps]``."""
    _check_ld_window(settings.ld_window)
    _check_n_pcs(settings.n_pcs, real)
    if settings.max_snps_ld is not None and settings.max_snps_ld < 2:
        raise ConfigError(f"max_snps_ld={settings.max_snps_ld!r} must be >= 2 or null (all SNPs)")


def ld_snp_window(snps: int, max_snps_ld: int | None, seed: int = 0) -> slice:
    """The contiguous SNP columns the LD metrics use: all, or ``max_snps_ld`` from a seeded random start."""
    if max_snps_ld is None or max_snps_ld >= snps:
        return slice(0, snps)
    start = int(np.random.default_rng(seed).integers(0, snps - max_snps_ld + 1))
    return slice(start, start + max_snps_ld)
