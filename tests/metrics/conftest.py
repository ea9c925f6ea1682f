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


@pytest.fixture(scope="session")
def real_split(tmp_path_factory) -> RealSplit:
    # 2,000 diploids x 350 kb: about 1,400 SNPs with MAF >= 1%, simulated in a few seconds
    genotypes = simulate_genotypes(2000, region_length=350_000, seed=7, cache_dir=tmp_path_factory.mktemp("sim"))
    order = np.random.default_rng(0).permutation(genotypes.n_rows)
    train, holdout = order[:1000], order[1000:]
    return RealSplit(genotypes.codes[train], genotypes.codes[holdout], genotypes.populations[train])
