"""Fixtures for the data tests: one small msprime simulation, written in every format by the project's writers."""

from pathlib import Path

import numpy as np
import pytest

from snpdiff.data import GenotypeSet, simulate_genotypes, write_npy, write_parquet, write_plink, write_vcf
from snpdiff.data.encoding import MISSING_CODE

N_INDIVIDUALS = 60
N_SNPS = 400
# (row, snp) of the missing calls injected into the fixture
MISSING_CALLS = ((3, 5), (10, 5), (11, 7), (40, 120))


@pytest.fixture(scope="session")
def simulated(tmp_path_factory) -> GenotypeSet:
    """60 individuals x 400 SNPs of the embedded simulation (YRI/CEU/CHB), no missing calls."""
    full = simulate_genotypes(N_INDIVIDUALS, 300_000, seed=3, cache_dir=tmp_path_factory.mktemp("sim_cache"))
    assert full.n_snps >= N_SNPS
    return full.select_snps(slice(0, N_SNPS))


@pytest.fixture(scope="session")
def with_missing(simulated) -> GenotypeSet:
    """``simulated`` with the calls in ``MISSING_CALLS`` set missing."""
    codes = np.array(simulated.codes)
    for row, snp in MISSING_CALLS:
        codes[row, snp] = MISSING_CODE
    return GenotypeSet(codes, simulated.snps, simulated.sample_ids, simulated.populations, source="fixture")


@pytest.fixture(scope="session")
def files(tmp_path_factory, with_missing) -> dict[str, Path]:
    """``with_missing`` written as PLINK, VCF, bgzipped VCF, BCF, Parquet and npy (name -> path)."""
    root = tmp_path_factory.mktemp("genotype_files")
    return {
        "plink": write_plink(root / "cohort", with_missing),
        "vcf": write_vcf(root / "cohort.vcf", with_missing),
        "vcf.gz": write_vcf(root / "cohort.vcf.gz", with_missing),
        "bcf": write_vcf(root / "cohort.bcf", with_missing),
        "parquet": write_parquet(root / "cohort.parquet", with_missing, row_group_size=128),
        "npy": write_npy(root / "cohort.npy", with_missing),
    }


@pytest.fixture
def cache_dir(tmp_path) -> Path:
    return tmp_path / "cache"
