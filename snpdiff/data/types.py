"""In-memory genotype containers shared by every source, writer and the data module.

A ``GenotypeSet`` is a matrix of int8 genotype codes ``[rows, snps]`` plus the metadata needed to write it back out:
one ``SnpInfo`` entry per column and one sample id (and optional population label) per row. Rows are diploid
individuals (codes 0/1/2 = copies of the alternate allele) or, with ``haplotype=True``, haplotypes (codes 0/1; rows
``2 * i`` and ``2 * i + 1`` are the two haplotypes of individual ``i``). Missing calls are ``MISSING_CODE`` (-1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from snpdiff.data.encoding import MISSING_CODE, ploidy_of

SNP_FIELDS = ("chrom", "position", "snp_id", "ref", "alt")
# row ids of the two haplotypes of an individual in haplotype mode
HAPLOTYPE_SUFFIXES = ("_h1", "_h2")


def _as_str_array(values: Sequence | np.ndarray) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind == "U":
        return values.reshape(-1)
    return np.asarray([str(value) for value in values], dtype=np.str_) if len(values) else np.array([], dtype=np.str_)


def haplotype_row_ids(individual_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Row ids ``[2 * individuals]`` for haplotype mode: ``<id>_h1, <id>_h2`` per individual."""
    return _as_str_array([f"{sample}{suffix}" for sample in individual_ids for suffix in HAPLOTYPE_SUFFIXES])


def individual_ids_of_rows(row_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """Inverse of ``haplotype_row_ids``: one id per individual ``[rows / 2]``."""
    first = np.asarray(row_ids)[0::2]
    suffix = HAPLOTYPE_SUFFIXES[0]
    return _as_str_array([row[: -len(suffix)] if row.endswith(suffix) else row for row in first])


@dataclass(frozen=True, eq=False)
class SnpInfo:
    """Per-SNP metadata, one array entry per SNP (column of the genotype matrix).

    ``chrom``, ``snp_id``, ``ref``, ``alt`` are str arrays; ``position`` is int64, 1-based base pairs (as in VCF and
    PLINK ``.bim``). ``alt`` is the allele whose copies the genotype codes count.
    """

    chrom: np.ndarray
    position: np.ndarray
    snp_id: np.ndarray
    ref: np.ndarray
    alt: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "chrom", _as_str_array(self.chrom))
        object.__setattr__(self, "position", np.asarray(self.position, dtype=np.int64).reshape(-1))
        object.__setattr__(self, "snp_id", _as_str_array(self.snp_id))
        object.__setattr__(self, "ref", _as_str_array(self.ref))
        object.__setattr__(self, "alt", _as_str_array(self.alt))
        lengths = {name: len(getattr(self, name)) for name in SNP_FIELDS}
        if len(set(lengths.values())) != 1:
            raise ValueError(f"SnpInfo fields must have one entry per SNP; got lengths {lengths}")

    def __len__(self) -> int:
        return len(self.position)

    def select(self, index: np.ndarray | slice | Sequence[int]) -> SnpInfo:
        """The SNPs at ``index`` (integer indices, boolean mask or slice), in that order."""
        return SnpInfo(**{name: getattr(self, name)[index] for name in SNP_FIELDS})

    @classmethod
    def empty(cls) -> SnpInfo:
        return cls(chrom=[], position=[], snp_id=[], ref=[], alt=[])

    @classmethod
    def concat(cls, parts: Sequence[SnpInfo]) -> SnpInfo:
        if not parts:
            return cls.empty()
        return cls(**{name: np.concatenate([getattr(part, name) for part in parts]) for name in SNP_FIELDS})

    @classmethod
    def placeholder(cls, n_snps: int, chrom: str = "1") -> SnpInfo:
        """Metadata for a matrix that came without any: positions 1..n on ``chrom``, ids ``snp<j>``, alleles ``N``."""
        return cls(
            chrom=[chrom] * n_snps,
            position=np.arange(1, n_snps + 1),
            snp_id=[f"snp{j}" for j in range(n_snps)],
            ref=["N"] * n_snps,
            alt=["N"] * n_snps,
        )

    def to_dict(self) -> dict[str, list]:
        """JSON-ready lists (used by cache and ``.npy`` sidecars)."""
        return {name: getattr(self, name).tolist() for name in SNP_FIELDS}

    @classmethod
    def from_dict(cls, data: dict) -> SnpInfo:
        return cls(**{name: data[name] for name in SNP_FIELDS})

    def equals(self, other: SnpInfo) -> bool:
        return all(np.array_equal(getattr(self, name), getattr(other, name)) for name in SNP_FIELDS)


@dataclass(eq=False)
class GenotypeSet:
    """Genotype codes ``[rows, snps]`` (int8, ``MISSING_CODE`` = missing) with their SNP and sample metadata.

    ``codes`` may be a read-only ``np.memmap`` (a cache entry); selections return in-memory copies.
    ``populations`` is a str array with one label per row, or None when the source has none.
    ``source`` names where the data came from (a path or a simulation), for messages.
    """

    codes: np.ndarray
    snps: SnpInfo
    sample_ids: np.ndarray
    populations: np.ndarray | None = None
    haplotype: bool = False
    source: str = ""

    def __post_init__(self) -> None:
        if self.codes.dtype != np.int8 or self.codes.ndim != 2:
            raise ValueError(f"codes must be an int8 matrix [rows, snps]; got {self.codes.dtype} {self.codes.shape}")
        self.sample_ids = _as_str_array(self.sample_ids)
        if self.populations is not None:
            self.populations = _as_str_array(self.populations)
        n_rows, n_snps = self.codes.shape
        if len(self.snps) != n_snps:
            raise ValueError(f"{len(self.snps)} SNP entries for {n_snps} genotype columns")
        if len(self.sample_ids) != n_rows:
            raise ValueError(f"{len(self.sample_ids)} sample ids for {n_rows} genotype rows")
        if self.populations is not None and len(self.populations) != n_rows:
            raise ValueError(f"{len(self.populations)} population labels for {n_rows} genotype rows")

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, populations: Sequence | np.ndarray | None = None, haplotype: bool = False
    ) -> GenotypeSet:
        """A set of bare codes ``[rows, snps]`` (int8) that came without metadata: placeholder SNPs
        (``SnpInfo.placeholder``), row ids ``row<i>``, and the rows' population labels when given."""
        ids = [f"row{row}" for row in range(codes.shape[0])]
        return cls(codes, SnpInfo.placeholder(codes.shape[1]), ids, populations, haplotype, source="codes")

    @property
    def ploidy(self) -> int:
        """Alleles per row: 1 for haplotype rows, 2 for individuals' dosages (``ploidy_of``)."""
        return ploidy_of(self.haplotype)

    @property
    def n_rows(self) -> int:
        return self.codes.shape[0]

    @property
    def n_snps(self) -> int:
        return self.codes.shape[1]

    @property
    def missing_count(self) -> int:
        return int(np.count_nonzero(self.codes == MISSING_CODE))

    def select_snps(self, index: np.ndarray | slice | Sequence[int]) -> GenotypeSet:
        """The SNP columns at ``index`` (integer indices, boolean mask or slice)."""
        return GenotypeSet(
            codes=np.ascontiguousarray(self.codes[:, index]),
            snps=self.snps.select(index),
            sample_ids=self.sample_ids,
            populations=self.populations,
            haplotype=self.haplotype,
            source=self.source,
        )

    def select_samples(self, index: np.ndarray | slice | Sequence[int]) -> GenotypeSet:
        """The rows at ``index`` (integer indices, boolean mask or slice)."""
        return GenotypeSet(
            codes=np.ascontiguousarray(self.codes[index]),
            snps=self.snps,
            sample_ids=self.sample_ids[index],
            populations=None if self.populations is None else self.populations[index],
            haplotype=self.haplotype,
            source=self.source,
        )

    def individual_of_row(self) -> np.ndarray:
        """Index of the individual each row belongs to ``[rows]`` (rows of one individual share a split)."""
        rows = np.arange(self.n_rows)
        return rows // 2 if self.haplotype else rows

    def __repr__(self) -> str:
        kind = "haplotypes" if self.haplotype else "individuals"
        return f"GenotypeSet({self.n_rows} {kind} x {self.n_snps} SNPs, source={self.source!r})"
