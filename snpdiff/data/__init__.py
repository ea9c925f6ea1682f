"""Genotype data: sources (sim, PLINK, VCF/BCF, Parquet, npy), the cache, writers and the Lightning data module."""

from snpdiff.data.datamodule import GenotypeDataModule, check_data_config
from snpdiff.data.readers import read_genotypes
from snpdiff.data.sim import simulate_genotypes
from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.data.writers import synthetic_sample_ids, write_npy, write_parquet, write_plink, write_vcf

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
