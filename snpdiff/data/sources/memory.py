"""A ``GenotypeSet`` already in memory (or memory-mapped) as a source: the ``sim`` dataset goes through it."""

from __future__ import annotations

import numpy as np

from snpdiff.data.sources.base import IndexedSource
from snpdiff.data.types import GenotypeSet, SnpInfo, individual_ids_of_rows


class MemorySource(IndexedSource):
    """Serves the rows and columns of a ``GenotypeSet``; ``identity`` describes where it came from (cache key)."""

    def __init__(self, genotypes: GenotypeSet, identity: dict, format: str = "memory"):
        super().__init__(genotypes.source)
        self.genotypes = genotypes
        self.haplotype = genotypes.haplotype
        self.format = format
        self._identity = identity

    @property
    def sample_ids(self) -> np.ndarray:
        ids = self.genotypes.sample_ids
        return individual_ids_of_rows(ids) if self.haplotype else ids

    @property
    def populations(self) -> np.ndarray | None:
        labels = self.genotypes.populations
        return labels[0::2] if labels is not None and self.haplotype else labels

    @property
    def snps(self) -> SnpInfo:
        return self.genotypes.snps

    def identity(self) -> dict:
        return self._identity

    def read(self, individuals: np.ndarray, snp_index: np.ndarray) -> np.ndarray:
        rows = np.stack([2 * individuals, 2 * individuals + 1], axis=1).reshape(-1) if self.haplotype else individuals
        return np.ascontiguousarray(self.genotypes.codes[np.ix_(rows, snp_index)])
