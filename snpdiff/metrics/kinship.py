"""KING-robust kinship (Manichaikul et al. 2010) between synthetic (or held-out) people and the training people.

For two people i and j, over the SNPs genotyped in both (dosages 0/1/2, ``MISSING_CODE`` skipped pair by pair):
``N_AaAa`` SNPs where both are heterozygous, ``N_AA,aa`` SNPs where they are opposite homozygotes (IBS0), and
``N_Aa^(i)``, ``N_Aa^(j)`` each one's heterozygous SNPs. The between-family estimator (Manichaikul et al. eq. 11,
the form plink2's ``--make-king-table`` writes as KINSHIP) is

    phi_ij = 1/2 + (2 N_AaAa - 4 N_AA,aa - N_Aa^(i) - N_Aa^(j)) / (4 min(N_Aa^(i), N_Aa^(j)))

scaled so a duplicate (or a monozygotic twin) scores 0.5, a parent or sibling 0.25, a second-degree relative
0.125, unrelated people about 0 (negative across populations). NaN when either person has no heterozygous SNP.

The counts are matrix products of indicator matrices (float32, exact for integer sums below 2^24): with ``H`` the
heterozygote indicator, ``P`` the non-missing indicator and ``Y = x - 1`` on homozygotes (0 elsewhere),
``N_AaAa = H_a H_b^T``, ``N_Aa^(i) = H_a P_b^T``, ``N_Aa^(j) = P_a H_b^T``, ``n = P_a P_b^T`` and
``N_AA,aa = (both homozygous - Y_a Y_b^T) / 2`` with ``both homozygous = n - N_Aa^(i) - N_Aa^(j) + N_AaAa``.
Without missing calls only ``H_a H_b^T`` and ``Y_a Y_b^T`` are multiplied. Blocks of ``KINSHIP_BLOCK_ROWS`` people
of a and ``KINSHIP_BLOCK_SNPS`` SNPs keep memory at ``O((block_rows + people_b) * block_snps)`` indicators plus
``[block_rows, people_b]`` counts: 2,000 x 2,000 people x 10,000 SNPs take about 200 MB.

The figures (``kinship_metrics``) count synthetic people S whose closest training person (largest phi over T) is
above the conventional cut-offs 2^-1.5 (0.354, duplicate or twin), 2^-2.5 (0.177, first degree or closer) and
2^-3.5 (0.088, second degree or closer), and the same for held-out real people H against T: over a short window
linked SNPs make unrelated real people score high too, so H, not zero, is the yardstick.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import numpy as np

from snpdiff.data.encoding import MISSING_CODE
from snpdiff.errors import DataError
from snpdiff.metrics.goals import KINSHIP_CUTOFFS

log = logging.getLogger(__name__)

KINSHIP_BLOCK_ROWS = 512
KINSHIP_BLOCK_SNPS = 4096


def diploid_dosages(codes: np.ndarray, ploidy: int = 2) -> np.ndarray:
    """Codes ``[people, snps]`` as diploid dosages: as they are for ploidy 2; for haplotype rows (ploidy 1) rows
    ``2i`` and ``2i + 1`` summed into person ``i`` (the layout of ``snpdiff.data.types``), missing where either is.
    Returns int8 ``[people, snps]``; DataError for an odd number of haplotype rows."""
    if ploidy == 2:
        return codes
    if ploidy != 1 or codes.shape[0] % 2:
        raise DataError(
            f"kinship needs people: {codes.shape[0]} rows of ploidy {ploidy} are not pairs of haplotypes "
            "(rows 2i and 2i + 1 of person i)"
        )
    pairs = codes.reshape(codes.shape[0] // 2, 2, codes.shape[1])
    dosages = pairs.sum(axis=1, dtype=np.int8)
    dosages[(pairs == MISSING_CODE).any(axis=1)] = MISSING_CODE
    return dosages


def _indicators(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """float32 ``[people, snps]`` each: heterozygote indicator H, ``x - 1`` on homozygotes (0 on heterozygotes and
    missing calls) Y, and the non-missing indicator P (None when nothing is missing)."""
    present = codes != MISSING_CODE
    het = (codes == 1).astype(np.float32)
    centred = np.where(present, codes.astype(np.float32) - 1.0, 0.0).astype(np.float32)
    return het, centred, None if present.all() else present.astype(np.float32)


def _pair_counts(a: np.ndarray, b: np.ndarray, block_snps: int) -> tuple[np.ndarray, ...]:
    """``(N_AaAa, N_AA,aa, N_Aa^(i), N_Aa^(j))`` of every pair of rows of a and b: float64 ``[people_a, people_b]``
    each, summed over blocks of ``block_snps`` SNPs (see the module docstring)."""
    counts = [np.zeros((a.shape[0], b.shape[0])) for _ in range(5)]  # hethet, yy, het_a, het_b, both present
    for start in range(0, a.shape[1], block_snps):
        columns = slice(start, start + block_snps)
        het_a, centred_a, present_a = _indicators(a[:, columns])
        het_b, centred_b, present_b = _indicators(b[:, columns])
        counts[0] += het_a @ het_b.T
        counts[1] += centred_a @ centred_b.T
        if present_a is None and present_b is None:
            counts[2] += het_a.sum(axis=1, dtype=np.float64)[:, None]
            counts[3] += het_b.sum(axis=1, dtype=np.float64)[None, :]
            counts[4] += het_a.shape[1]
            continue
        present_a = np.ones_like(het_a) if present_a is None else present_a
        present_b = np.ones_like(het_b) if present_b is None else present_b
        counts[2] += het_a @ present_b.T
        counts[3] += present_a @ het_b.T
        counts[4] += present_a @ present_b.T
    hethet, same_minus_opposite, het_a_count, het_b_count, both = counts
    both_homozygous = both - het_a_count - het_b_count + hethet
    return hethet, (both_homozygous - same_minus_opposite) / 2, het_a_count, het_b_count


def _king_blocks(a: np.ndarray, b: np.ndarray, block_rows: int, block_snps: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, phi[start:stop])`` of ``king_robust`` for consecutive blocks of ``block_rows`` rows of a."""
    for start in range(0, a.shape[0], block_rows):
        hethet, ibs0, het_a, het_b = _pair_counts(a[start : start + block_rows], b, block_snps)
        smaller = np.minimum(het_a, het_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            phi = 0.5 + (2 * hethet - 4 * ibs0 - het_a - het_b) / (4 * smaller)
        phi[smaller == 0] = np.nan
        yield start, phi


def king_robust(
    a: np.ndarray, b: np.ndarray, block_rows: int = KINSHIP_BLOCK_ROWS, block_snps: int = KINSHIP_BLOCK_SNPS
) -> np.ndarray:
    """KING-robust between-family kinship of every row of ``a`` with every row of ``b`` (module docstring).

    ``a`` ``[people_a, snps]``, ``b`` ``[people_b, snps]``: int8 dosages 0/1/2, ``MISSING_CODE`` for a missing
    call, same SNP columns. Returns float64 ``[people_a, people_b]`` (NaN where either has no heterozygous SNP).
    """
    phi = np.empty((a.shape[0], b.shape[0]))
    for start, block in _king_blocks(a, b, block_rows, block_snps):
        phi[start : start + len(block)] = block
    return phi


def closest_kinship(
    a: np.ndarray, b: np.ndarray, block_rows: int = KINSHIP_BLOCK_ROWS, block_snps: int = KINSHIP_BLOCK_SNPS
) -> np.ndarray:
    """For each row of ``a``, the largest kinship with any row of ``b`` (its closest relative there): float64
    ``[people_a]``, NaN pairs ignored (-inf when all are NaN). Memory as ``king_robust``'s blocks, not its matrix."""
    closest = np.empty(a.shape[0])
    for start, block in _king_blocks(a, b, block_rows, block_snps):
        closest[start : start + len(block)] = np.max(np.where(np.isnan(block), -np.inf, block), axis=1)
    return closest


def relative_counts(closest: np.ndarray, suffix: str) -> dict[str, float]:
    """``kinship_<degree>_<suffix>`` (count of people whose closest relative is above that degree's cut-off),
    ``kinship_<degree>_share_<suffix>`` (over all people) for each of ``KINSHIP_CUTOFFS``, and
    ``kinship_max_<suffix>`` (the largest kinship of all), from ``closest`` ``[people]``."""
    metrics = {}
    for degree, cutoff in KINSHIP_CUTOFFS.items():
        count = int(np.count_nonzero(closest > cutoff))
        metrics[f"kinship_{degree}_{suffix}"] = float(count)
        metrics[f"kinship_{degree}_share_{suffix}"] = count / closest.size
    metrics[f"kinship_max_{suffix}"] = float(np.max(closest))
    return metrics


def kinship_metrics(
    real: np.ndarray, synthetic: np.ndarray, holdout: np.ndarray | None = None, ploidy: int = 2
) -> dict[str, float]:
    """The kinship figures of S against T (``_s``) and, with H, of H against T (``_h``): ``relative_counts`` of
    each set's closest-relative kinship in T. Codes ``[rows, snps]`` of the given ploidy; haplotype rows are paired
    into people first (``diploid_dosages``). With an odd haplotype count the figures are left out, with a warning."""
    try:
        train, fake = diploid_dosages(real, ploidy), diploid_dosages(synthetic, ploidy)
        held = None if holdout is None else diploid_dosages(holdout, ploidy)
    except DataError as error:
        log.warning("kinship figures left out: %s", error)
        return {}
    metrics = relative_counts(closest_kinship(fake, train), "s")
    if held is not None:
        metrics.update(relative_counts(closest_kinship(held, train), "h"))
    return metrics
