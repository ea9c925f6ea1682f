"""L1 distances between genotype rows, computed in blocks with matrix products.

The L1 distance between two code rows ``x, y`` (codes ``0..ploidy``) is ``sum_j |x_j - y_j|``: the number of
alleles in which two individuals differ. With the thermometer encoding ``u_k(x) = [x >= k]`` for
``k = 1..ploidy`` each ``|x_j - y_j|`` is a Hamming distance between 0/1 vectors, so

    d(x, y) = sum(x) + sum(y) - 2 * sum_k u_k(x) . u_k(y)

which is one float32 matrix product per block. Every term is an integer below 2**24 for fewer than ~8 million
SNPs, so float32 gives the exact distance. Memory is bounded by ``block_rows`` x (rows of the other set) for the
distance block plus ``block_snps`` columns of thermometer codes for both sides.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 512
BLOCK_SNPS = 2048


def _thermometer(codes: np.ndarray, ploidy: int) -> np.ndarray:
    """int codes [rows, snps] -> float32 [rows, ploidy * snps] of indicators ``[code >= k]``, k = 1..ploidy."""
    snps = codes.shape[1]
    # written straight into one float32 buffer: no bool temporaries to concatenate and cast
    encoded = np.empty((codes.shape[0], ploidy * snps), dtype=np.float32)
    for level in range(1, ploidy + 1):
        np.greater_equal(codes, level, out=encoded[:, (level - 1) * snps : level * snps])
    return encoded


def l1_block(a: np.ndarray, b: np.ndarray, ploidy: int = 2, block_snps: int = BLOCK_SNPS) -> np.ndarray:
    """Exact L1 distances between the rows of ``a`` [rows_a, snps] and ``b`` [rows_b, snps]: float32 [rows_a, rows_b]"""
    gram = np.zeros((a.shape[0], b.shape[0]), dtype=np.float32)
    for start in range(0, a.shape[1], block_snps):
        chunk = slice(start, start + block_snps)
        gram += _thermometer(a[:, chunk], ploidy) @ _thermometer(b[:, chunk], ploidy).T
    row_sums_a = a.sum(axis=1, dtype=np.int64).astype(np.float32)
    row_sums_b = b.sum(axis=1, dtype=np.int64).astype(np.float32)
    return row_sums_a[:, None] + row_sums_b[None, :] - 2.0 * gram


def cross_nearest(
    a: np.ndarray, b: np.ndarray, ploidy: int = 2, block_rows: int = BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-neighbour L1 distances between two sets, both ways.

    Returns ``(a_to_b [rows_a], b_to_a [rows_b])``, int64 allele counts: ``a_to_b[i] = min_j d(a_i, b_j)``.
    """
    a_to_b = np.empty(a.shape[0], dtype=np.int64)
    b_to_a = np.full(b.shape[0], np.inf, dtype=np.float32)
    for start in range(0, a.shape[0], block_rows):
        dist = l1_block(a[start : start + block_rows], b, ploidy)
        a_to_b[start : start + block_rows] = dist.min(axis=1)
        np.minimum(b_to_a, dist.min(axis=0), out=b_to_a)
    return a_to_b, b_to_a.astype(np.int64)


def self_nearest(a: np.ndarray, ploidy: int = 2, block_rows: int = BLOCK_ROWS) -> np.ndarray:
    """Nearest-neighbour L1 distance of each row of ``a`` [rows, snps] to the other rows (itself left out).

    Identical rows at different indices are at distance 0. Only blocks on and above the diagonal are computed
    (each block updates the rows on both of its sides), so this costs about half of ``cross_nearest(a, a)``.
    Returns int64 [rows].
    """
    rows = a.shape[0]
    # float so that a block holding only the diagonal (min = inf) leaves earlier minima alone
    nearest = np.full(rows, np.inf, dtype=np.float32)
    for start in range(0, rows, block_rows):
        stop = min(start + block_rows, rows)
        # rows start:stop against rows start:end; column k of the block is row start + k
        dist = l1_block(a[start:stop], a[start:], ploidy)
        local = np.arange(stop - start)
        dist[local, local] = np.inf
        np.minimum(nearest[start:stop], dist.min(axis=1), out=nearest[start:stop])
        if stop < rows:
            np.minimum(nearest[stop:], dist[:, stop - start :].min(axis=0), out=nearest[stop:])
    return nearest.astype(np.int64)
