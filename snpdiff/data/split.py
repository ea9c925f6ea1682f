"""Train/validation/test split of genotype rows by fractions and a seed, optionally stratified by population.

Rows of one individual (its two haplotypes in haplotype mode) always land in the same split.
"""

from __future__ import annotations

import numpy as np

from snpdiff.errors import DataError


def _allocate(group_sizes: np.ndarray, fraction: float, total: int) -> np.ndarray:
    """Split ``total`` over the groups in proportion to their sizes (largest remainder)."""
    exact = group_sizes * fraction
    counts = np.floor(exact).astype(np.int64)
    remaining = total - counts.sum()
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[: max(remaining, 0)]] += 1
    return counts


def split_rows(
    individual_of_row: np.ndarray,
    populations: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
    source: str = "the data",
) -> dict[str, np.ndarray]:
    """Row indices (sorted) per split: ``{"train", "val", "test"}``.

    ``individual_of_row`` ``[rows]`` groups rows by individual; ``populations`` ``[rows]`` (or None) stratifies the
    split when ``stratify`` is True: each population contributes its share of validation and test individuals.
    A non-zero fraction always yields at least one individual.
    """
    individuals, first_row = np.unique(individual_of_row, return_index=True)
    n_individuals = len(individuals)
    counts = {}
    for name, fraction in (("val", val_fraction), ("test", test_fraction)):
        counts[name] = max(1, round(fraction * n_individuals)) if fraction > 0 else 0
    if counts["val"] + counts["test"] >= n_individuals:
        raise DataError(
            f"{source}: {n_individuals} individuals are too few for data.val_fraction={val_fraction} and "
            f"data.test_fraction={test_fraction} (no training rows would be left)"
        )
    if stratify and populations is not None:
        groups, group_of_individual = np.unique(populations[first_row], return_inverse=True)
    else:
        groups, group_of_individual = np.array(["all"]), np.zeros(n_individuals, dtype=np.int64)
    group_sizes = np.bincount(group_of_individual, minlength=len(groups))
    val_counts = _allocate(group_sizes, counts["val"] / n_individuals, counts["val"])
    test_counts = np.minimum(
        _allocate(group_sizes, counts["test"] / n_individuals, counts["test"]), group_sizes - val_counts
    )
    rng = np.random.default_rng(seed)
    split_of_individual = np.zeros(n_individuals, dtype=np.int8)  # 0 train, 1 val, 2 test
    for group in range(len(groups)):
        members = rng.permutation(np.flatnonzero(group_of_individual == group))
        split_of_individual[members[: val_counts[group]]] = 1
        split_of_individual[members[val_counts[group] : val_counts[group] + test_counts[group]]] = 2
    split_of_row = split_of_individual[np.searchsorted(individuals, individual_of_row)]
    return {name: np.flatnonzero(split_of_row == code) for code, name in enumerate(("train", "val", "test"))}
