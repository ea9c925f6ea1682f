"""Train/validation/test split of genotype rows by fractions and a seed, optionally stratified by population.

Rows of one individual (its two haplotypes in haplotype mode) always land in the same split. A split never has 0
rows when its fraction is above 0, and a stratified split keeps at least one individual of every population in
training: a population too small for that, or fractions the populations cannot give, is a DataError naming it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from snpdiff.errors import DataError


def _allocate(group_sizes: np.ndarray, total: int, capacity: np.ndarray) -> np.ndarray:
    """Split ``total`` over the groups in proportion to their sizes (largest remainder), no group above its
    ``capacity``; the counts add up to less than ``total`` only when the capacities cannot hold it."""
    exact = group_sizes * (total / group_sizes.sum())
    counts = np.minimum(np.floor(exact).astype(np.int64), capacity)
    order = np.argsort(-(exact - np.floor(exact)), kind="stable")
    while counts.sum() < total:
        room = order[counts[order] < capacity[order]]  # the rest goes by largest remainder to groups with room
        if len(room) == 0:
            break
        counts[room[: total - counts.sum()]] += 1
    return counts


def _check_population_sizes(
    groups: np.ndarray, group_sizes: np.ndarray, fractions: Mapping[str, float], source: str, origins: Mapping
) -> None:
    """DataError naming the first population with fewer individuals than a stratified split needs: one for each
    split with a fraction above 0, and training."""
    needed = 1 + sum(fraction > 0 for fraction in fractions.values())
    small = np.flatnonzero(group_sizes < needed)
    if len(small) == 0:
        return
    label = str(groups[small[0]])
    origin = f" ({origins[label]})" if label in origins else ""
    others = (
        f"; {len(small)} populations have fewer: {', '.join(map(str, groups[small[:5]]))}" if len(small) > 1 else ""
    )
    keys = " and ".join(f"data.{name}_fraction={fraction}" for name, fraction in fractions.items())
    raise DataError(
        f"{source}: population {label!r}{origin} has {group_sizes[small[0]]} individual(s); a split stratified by "
        f"population with {keys} needs at least {needed} in each population{others}. Merge it into another "
        "population, leave its samples out (data.samples), or set data.stratify=false"
    )


def split_rows(
    individual_of_row: np.ndarray,
    populations: np.ndarray | None,
    val_fraction: float,
    test_fraction: float,
    seed: int,
    stratify: bool = True,
    source: str = "the data",
    population_origins: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Row indices (sorted) per split: ``{"train", "val", "test"}``.

    ``individual_of_row`` ``[rows]`` groups rows by individual; ``populations`` ``[rows]`` (or None) stratifies the
    split when ``stratify`` is True: each population contributes its share of validation and test individuals and
    keeps at least one in training. A non-zero fraction always yields at least one individual.
    ``population_origins`` (label -> where it was read, e.g. ``line 7 of pops.tsv``) goes into the messages.
    """
    individuals, first_row = np.unique(individual_of_row, return_index=True)
    n_individuals = len(individuals)
    fractions = {"val": val_fraction, "test": test_fraction}
    counts = {
        name: max(1, round(fraction * n_individuals)) if fraction > 0 else 0 for name, fraction in fractions.items()
    }
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
    _check_population_sizes(groups, group_sizes, fractions, source, population_origins or {})
    val_counts = _allocate(group_sizes, counts["val"], group_sizes - 1)
    test_counts = _allocate(group_sizes, counts["test"], group_sizes - val_counts - 1)
    for name, allocated in (("val", val_counts), ("test", test_counts)):
        if allocated.sum() < counts[name]:
            raise DataError(
                f"{source}: the {len(groups)} populations are too small to give data.{name}_fraction="
                f"{fractions[name]} its {counts[name]} individuals while keeping one of each in training; lower "
                "the fractions or set data.stratify=false"
            )
    rng = np.random.default_rng(seed)
    split_of_individual = np.zeros(n_individuals, dtype=np.int8)  # 0 train, 1 val, 2 test
    for group in range(len(groups)):
        members = rng.permutation(np.flatnonzero(group_of_individual == group))
        split_of_individual[members[: val_counts[group]]] = 1
        split_of_individual[members[val_counts[group] : val_counts[group] + test_counts[group]]] = 2
    split_of_row = split_of_individual[np.searchsorted(individuals, individual_of_row)]
    return {name: np.flatnonzero(split_of_row == code) for code, name in enumerate(("train", "val", "test"))}
