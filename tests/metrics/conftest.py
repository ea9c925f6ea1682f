"""Shared fixtures: a small OutOfAfrica_3G09 simulation split into a training set T and a held-out set H."""

from dataclasses import dataclass

import numpy as np
import pytest

from snpdiff.data import simulate_genotypes


@dataclass
class RealSplit:
    """T and H: 1,000 diploids each from one simulation (rows shuffled, so each split mixes YRI, CEU and CHB)."""

    train: np.ndarray
    holdout: np.ndarray
    train_populations: np.ndarray
    holdout_populations: np.ndarray
    positions: np.ndarray  # bp, one per kept SNP


@pytest.fixture(scope="session")
def real_split(tmp_path_factory) -> RealSplit:
    # 2,000 diploids x 2 Mb (about 7,500 SNPs with MAF >= 1%, ~5 s), every 4th SNP kept: about 1,900 SNPs.
    # A shorter region would be cheaper but is not real-like for the copy test: 1,334 YRI haplotypes are 5% of
    # the model's YRI population, so recent common ancestors make a few individuals identical over < 1 Mb
    # (13 pairs of 2,000 at 350 kb).
    genotypes = simulate_genotypes(2000, region_length=2_000_000, seed=7, cache_dir=tmp_path_factory.mktemp("sim"))
    codes = np.ascontiguousarray(genotypes.codes[:, ::4])
    order = np.random.default_rng(0).permutation(genotypes.n_rows)
    train, holdout = order[:1000], order[1000:]
    return RealSplit(
        codes[train],
        codes[holdout],
        genotypes.populations[train],
        genotypes.populations[holdout],
        genotypes.snps.position[::4],
    )
