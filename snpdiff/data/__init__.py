"""Genotype data: sources (sim, PLINK, VCF/BCF, Parquet, npy), the cache, writers and the Lightning data module.

The names below load on first use (module ``__getattr__``): config validation reads ``check_data_config`` and the
data module's signature without importing Lightning or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import lazy_loader

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers
    from snpdiff.data.datamodule import GenotypeDataModule
    from snpdiff.data.readers import read_genotypes
    from snpdiff.data.rules import check_data_config
    from snpdiff.data.sim import simulate_genotypes
    from snpdiff.data.types import GenotypeSet, SnpInfo
    from snpdiff.data.writers import synthetic_sample_ids, write_npy, write_parquet, write_plink, write_vcf

# submodule -> the names it defines (loaded on first use)
_LAZY = {
    "datamodule": ["GenotypeDataModule"],
    "readers": ["read_genotypes"],
    "sim": ["simulate_genotypes"],
    "types": ["GenotypeSet", "SnpInfo"],
    "rules": ["check_data_config"],
    "writers": ["synthetic_sample_ids", "write_npy", "write_parquet", "write_plink", "write_vcf"],
}
__all__ = [
    "GenotypeDataModule",
    "GenotypeSet",
    "SnpInfo",
    "check_data_config",
    "read_genotypes",
    "simulate_genotypes",
    "synthetic_sample_ids",
    "write_npy",
    "write_parquet",
    "write_plink",
    "write_vcf",
]


__getattr__, __dir__, _ = lazy_loader.attach(__name__, submod_attrs=_LAZY)
