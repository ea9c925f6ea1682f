"""Model-free anchors: synthetic cohorts built from the training set T without a model, scored like a model's.

A model's figures mean little alone; beside these they say where it sits between "no structure" and "copies people":

- ``independent_snps``: every SNP drawn on its own from T's genotype frequencies (per population when labels are
  given). Right allele frequencies, no LD, no individuals: the "no structure" end.
- ``haplotype_mosaic``: a Li-Stephens-style copier (Li & Stephens 2003). Each synthetic haplotype copies one
  training haplotype and switches to another, chosen uniformly, with probability ``switch`` between neighbouring
  SNPs; a person is the sum of two such haplotypes. With genotypes only (no phase) whole-genotype segments are
  copied instead. Realistic LD and population membership (donors are drawn from the person's population when labels
  are given), leaky by construction: long copied segments put every synthetic person close to some training
  person. The "copies people" end.

The switch probability between neighbouring SNPs follows Li & Stephens' model: ``1 - exp(-rho * d / K)`` with
``rho = 4 Ne r`` (``Ne`` = 10,000, ``r`` = 1e-8 per bp: human averages), ``d`` the distance in bp and ``K`` the
number of donor haplotypes; without positions, one switch per ``DEFAULT_SEGMENT_SNPS`` SNPs.

Codes are int8 ``[individuals, snps]`` (0/1/2); haplotypes int8 ``[2 * individuals, snps]`` (0/1, rows ``2i`` and
``2i + 1`` of individual ``i``), as ``snpdiff.data.types`` lays them out.
"""

from __future__ import annotations

import numpy as np

EFFECTIVE_POPULATION_SIZE = 10_000
RECOMBINATION_RATE_PER_BP = 1e-8
DEFAULT_SEGMENT_SNPS = 100


def _labels_for(n: int, populations: np.ndarray | None, rng: np.random.Generator) -> np.ndarray | None:
    """``n`` population labels drawn at T's proportions (None without labels)."""
    return None if populations is None else rng.choice(np.asarray(populations).astype(str), n)


def independent_snps(
    train: np.ndarray, n: int, populations: np.ndarray | None = None, seed: int = 0
) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` individuals, each SNP drawn independently from T's genotype shares (of the person's population when
    ``populations`` labels T's rows). Returns (int8 codes ``[n, snps]``, labels ``[n]`` or None)."""
    rng = np.random.default_rng(seed)
    labels = _labels_for(n, populations, rng)
    groups = (
        {None: np.arange(train.shape[0])}
        if labels is None
        else {label: np.flatnonzero(np.asarray(populations).astype(str) == label) for label in np.unique(labels)}
    )
    codes = np.empty((n, train.shape[1]), dtype=np.int8)
    for label, rows in groups.items():
        chosen = np.arange(n) if label is None else np.flatnonzero(labels == label)
        shares = np.stack([(train[rows] == code).mean(axis=0) for code in (0, 1, 2)], axis=1)  # [snps, 3]
        draws = rng.random((chosen.size, train.shape[1], 1)) > shares.cumsum(axis=1)[None]
        codes[chosen] = draws.sum(axis=2)
    return codes, labels


def switch_probabilities(snps: int, donors: int, positions: np.ndarray | None = None) -> np.ndarray:
    """Probability of a switch between SNP j and j + 1, float64 ``[snps - 1]`` (see the module docstring)."""
    if positions is None or len(positions) != snps:
        return np.full(snps - 1, 1.0 / DEFAULT_SEGMENT_SNPS)
    distance = np.clip(np.diff(np.asarray(positions, dtype=np.float64)), 0.0, None)
    rho = 4.0 * EFFECTIVE_POPULATION_SIZE * RECOMBINATION_RATE_PER_BP
    return -np.expm1(-rho * distance / max(donors, 1))


def _mosaic_rows(
    rows: np.ndarray, count: int, donors: np.ndarray, switch: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``count`` mosaics of ``rows[donors]``: ``[count, snps]``, each a copy that switches donor where a uniform draw
    falls below ``switch``."""
    snps = rows.shape[1]
    switches = np.concatenate([np.ones((count, 1), bool), rng.random((count, snps - 1)) < switch[None]], axis=1)
    segment = np.cumsum(switches, axis=1) - 1  # [count, snps]: index of the segment each SNP is in
    picks = rng.choice(donors, size=(count, int(segment.max()) + 1))
    return rows[np.take_along_axis(picks, segment, axis=1), np.arange(snps)[None]]


def haplotype_mosaic(
    train: np.ndarray,
    n: int,
    populations: np.ndarray | None = None,
    haplotypes: np.ndarray | None = None,
    positions: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """``n`` individuals copied from T in segments (see the module docstring): int8 codes ``[n, snps]`` and labels.

    ``haplotypes`` (``[2 * individuals, snps]``, phased T) makes each person two haplotype mosaics summed; without
    it whole genotype rows of T are the donors. ``populations`` (one label per T individual) keeps each person's
    donors in one population; ``positions`` (bp) set the switch rate.
    """
    rng = np.random.default_rng(seed)
    labels = _labels_for(n, populations, rng)
    individual_labels = None if populations is None else np.asarray(populations).astype(str)
    rows = train if haplotypes is None else haplotypes
    per_person = 1 if haplotypes is None else 2
    row_labels = None if individual_labels is None else np.repeat(individual_labels, per_person)
    codes = np.empty((n, train.shape[1]), dtype=np.int8)
    for label in [None] if labels is None else np.unique(labels):
        chosen = np.arange(n) if label is None else np.flatnonzero(labels == label)
        donors = np.arange(rows.shape[0]) if label is None else np.flatnonzero(row_labels == label)
        switch = switch_probabilities(rows.shape[1], donors.size, positions)
        copies = _mosaic_rows(rows, chosen.size * per_person, donors, switch, rng)
        codes[chosen] = copies.reshape(chosen.size, per_person, -1).sum(axis=1)
    return codes, labels
