"""What every genotype source offers the selection pipeline, and the genomic region syntax.

A source knows its individuals up front and hands out genotype codes in chunks of SNPs, in file order, so a window of
a large file is served without decoding the rest. Sources whose SNP metadata is known before decoding (PLINK ``.bim``,
Parquet metadata columns, ``.npy`` sidecars, simulations) subclass ``IndexedSource`` and read any SNP columns by
index; streaming sources (VCF) implement ``iter_chunks`` themselves.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snpdiff.data.encoding import ploidy_of
from snpdiff.data.types import SnpInfo
from snpdiff.errors import ConfigError, DataError

_REGION = re.compile(r"^(?P<chrom>[^:\s]+)(?::(?P<start>[\d,_]+)?-(?P<end>[\d,_]+)?)?$")


MAX_CHUNK_SNPS = 16384
# data.haploid_calls (vcf): what a haploid GT ("1" on a male chrX) becomes; see snpdiff.data.sources.vcf
HAPLOID_CALLS = ("error", "homozygous", "missing")


def next_chunk_size(chunk_snps: int) -> int:
    """Chunks grow: the first is sized to what the window needs, later ones amortise per-read overhead."""
    return min(chunk_snps * 2, MAX_CHUNK_SNPS)


def chrom_key(chrom: str) -> str:
    """Chromosome name without a ``chr`` prefix, so ``chr1`` and ``1`` compare equal."""
    return chrom[3:] if chrom.lower().startswith("chr") else chrom


@dataclass(frozen=True)
class Region:
    """``chrom:start-end``, 1-based and inclusive; ``chrom`` alone is the whole chromosome. ``chr1`` matches ``1``."""

    chrom: str
    start: int = 1
    end: int | None = None

    @classmethod
    def parse(cls, text: str) -> Region:
        match = _REGION.match(str(text).strip())
        if not match:
            raise ConfigError(
                f"data.region={text!r} is not a region; expected 'chrom:start-end' (1-based, inclusive; start or end "
                "may be left out: 'chrom:start-') or 'chrom'"
            )
        start = int(match["start"].replace(",", "").replace("_", "")) if match["start"] else 1
        end = int(match["end"].replace(",", "").replace("_", "")) if match["end"] else None
        if start < 1 or (end is not None and end < start):
            raise ConfigError(f"data.region={text!r}: need 1 <= start <= end")
        return cls(match["chrom"], start, end)

    def contains(self, chrom: np.ndarray, position: np.ndarray) -> np.ndarray:
        """Boolean mask ``[snps]`` of the SNPs inside the region."""
        wanted = chrom_key(self.chrom)
        same_chrom = np.array([chrom_key(str(name)) == wanted for name in chrom], dtype=bool)
        inside = position >= self.start
        if self.end is not None:
            inside &= position <= self.end
        return same_chrom & inside

    def locate(self, chrom: str, position: int) -> int:
        """0 if the SNP is inside the region, 1 if past its end on the same chromosome, -1 otherwise."""
        if chrom_key(chrom) != chrom_key(self.chrom) or position < self.start:
            return -1
        return 1 if self.end is not None and position > self.end else 0

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start}-{'' if self.end is None else self.end}"


def require_file(path: str | os.PathLike, what: str) -> Path:
    """``path`` as a Path, or a DataError naming it when it is not a readable file."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{what} {path} does not exist")
    if not path.is_file():
        raise DataError(f"{what} {path} is not a file")
    return path


class GenotypeSource(ABC):
    """An opened genotype file (or simulation). Opening validates the files; reading decodes SNP chunks.

    Rows handed out are individuals (codes 0/1/2) or, when ``haplotype`` is True, two haplotype rows per individual
    (codes 0/1) in individual order. Missing calls are ``MISSING_CODE``.
    """

    #: source name as used in ``data=<name>``
    format: str = ""
    #: rows are haplotypes (two per individual)
    haplotype: bool = False

    @property
    def ploidy(self) -> int:
        """Alleles per row, also the largest code a row holds (``ploidy_of``)."""
        return ploidy_of(self.haplotype)

    def __init__(self, path: str):
        self.path = path
        # sites skipped while decoding, by reason (e.g. multi-allelic), for the log
        self.skipped: dict[str, int] = {}

    @property
    @abstractmethod
    def sample_ids(self) -> np.ndarray:
        """One id per individual ``[individuals]``."""

    @property
    def family_ids(self) -> np.ndarray | None:
        """PLINK family ids ``[individuals]``, where the format has them."""
        return None

    @property
    def populations(self) -> np.ndarray | None:
        """Population labels stored in the source itself ``[individuals]`` (simulations, ``.npy`` sidecars)."""
        return None

    @property
    def snp_count(self) -> int | None:
        """Number of SNP records before any filtering, when known without decoding."""
        return None

    def files(self) -> list[Path]:
        """The files whose size and modification time identify this version of the source (cache key)."""
        return [Path(self.path)]

    def identity(self) -> dict:
        """Cache identity of the source; simulations override it with their parameters."""
        from snpdiff.data.cache import file_identity

        return {"files": [file_identity(path) for path in self.files()]}

    def options(self) -> dict:
        """Format options that change the decoded codes (part of the cache key)."""
        return {}

    @abstractmethod
    def iter_chunks(
        self, individuals: np.ndarray, region: Region | None, chunk_snps: int
    ) -> Iterator[tuple[SnpInfo, np.ndarray]]:
        """Yield ``(snps, codes)`` in file order: codes int8 ``[rows, chunk]`` for ``individuals`` (indices into
        ``sample_ids``), only SNPs inside ``region``. ``chunk_snps`` is a hint for the chunk width.
        Raise DataError naming the file when the region holds no SNPs."""


class IndexedSource(GenotypeSource):
    """A source whose SNP metadata is known before decoding; reads any set of SNP columns by index."""

    @property
    @abstractmethod
    def snps(self) -> SnpInfo:
        """Metadata of every SNP in the file ``[snps]``."""

    @property
    def snp_count(self) -> int:
        return len(self.snps)

    @abstractmethod
    def read(self, individuals: np.ndarray, snp_index: np.ndarray) -> np.ndarray:
        """Codes int8 ``[rows, len(snp_index)]`` of the given individuals and SNP columns (sorted indices)."""

    def region_index(self, region: Region | None) -> np.ndarray:
        """Indices of the SNPs inside ``region`` (all when None); DataError naming the file when there are none."""
        snps = self.snps
        if region is None:
            return np.arange(len(snps))
        index = np.flatnonzero(region.contains(snps.chrom, snps.position))
        if len(index) == 0:
            chroms = ", ".join(sorted(set(snps.chrom.tolist()))[:10])
            raise DataError(
                f"data.region={region} holds no SNPs in {self.path} "
                f"({len(snps)} SNPs on chromosome(s) {chroms or 'none'}, "
                f"positions {snps.position.min() if len(snps) else '-'}-{snps.position.max() if len(snps) else '-'})"
            )
        return index

    def iter_chunks(
        self, individuals: np.ndarray, region: Region | None, chunk_snps: int
    ) -> Iterator[tuple[SnpInfo, np.ndarray]]:
        index = self.region_index(region)
        start = 0
        while start < len(index):
            chunk = index[start : start + chunk_snps]
            yield self.snps.select(chunk), self.read(individuals, chunk)
            start += len(chunk)
            chunk_snps = next_chunk_size(chunk_snps)
