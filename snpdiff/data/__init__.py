"""Genotype data: sources, cache, writers and the Lightning data module."""

from snpdiff.data.sim import simulate_genotypes
from snpdiff.data.types import GenotypeSet, SnpInfo

__all__ = ["GenotypeSet", "SnpInfo", "simulate_genotypes"]
