"""Genotype data: sources (sim, PLINK, VCF/BCF, Parquet, npy), the cache, writers and the Lightning data module.

The names below load on first use (module ``__getattr__``): config validation reads ``check_data_config`` and the
data module's signature without importing Lightning or torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from snpdiff.lazy import lazy_exports

if TYPE_CHECKING:  # what __getattr__ loads, for type checkers and snpdiff.signatures
    from snpdiff.data.datamodule import GenotypeDataModule
    from snpdiff.data.readers import read_genotypes
    from snpdiff.data.sim import simulate_genotypes
    from snpdiff.data.types import GenotypeSet, SnpInfo
    from snpdiff.data.validation import check_data_config
    from snpdiff.data.writers import synthetic_sample_ids, write_npy, write_parquet, write_plink, write_vcf

# public name -> the submodule that defines it
_EXPORTS = {
    "GenotypeDataModule": "datamodule",
    "GenotypeSet": "types",
    "SnpInfo": "types",
    "check_data_config": "validation",
    "read_genotypes": "readers",
    "simulate_genotypes": "sim",
    "synthetic_sample_ids": "writers",
    "write_npy": "writers",
    "write_parquet": "writers",
    "write_plink": "writers",
    "write_vcf": "writers",
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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
