"""Genotype sources by ``data.source`` name, and format detection from a path."""

from __future__ import annotations

import os
from pathlib import Path

from snpdiff.data.sources.base import HAPLOID_CALLS, GenotypeSource, IndexedSource, Region
from snpdiff.errors import ConfigError, DataError

# data.source -> what the path must be
FILE_SOURCES = {
    "plink": "a PLINK fileset prefix (PREFIX.bed/.bim/.fam) or its .bed file",
    "vcf": "a .vcf, .vcf.gz (bgzipped) or .bcf file",
    "parquet": "a .parquet table, markers x samples (the old tool's layout)",
    "npy": "a .npy int8 matrix [individuals, snps] with an optional .json sidecar",
}
SOURCES = ("sim", *FILE_SOURCES)
# format options that only some sources take: name -> sources
FORMAT_OPTIONS = {"snps_only": ("vcf",), "haploid_calls": ("vcf",), "missing_code": ("parquet",)}


def detect_format(path: str | os.PathLike) -> str:
    """The file source name for ``path`` from its suffix (a prefix with a ``.bed`` next to it is PLINK)."""
    name = str(path).lower()
    if name.endswith((".vcf", ".vcf.gz", ".vcf.bgz", ".bcf")):
        return "vcf"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith(".npy"):
        return "npy"
    if name.endswith((".bed", ".bim", ".fam")) or Path(f"{path}.bed").exists():
        return "plink"
    allowed = "; ".join(f"{source}: {what}" for source, what in FILE_SOURCES.items())
    raise DataError(f"cannot tell the genotype format of {path} from its name ({allowed})")


def open_source(source: str, path: str | os.PathLike | None, haplotype: bool = False, **options) -> GenotypeSource:
    """Open (and validate) a genotype file as ``source`` (one of ``FILE_SOURCES``).

    ``options``: ``snps_only`` (vcf: skip indels and other non-SNP sites, default True), ``haploid_calls`` (vcf:
    ``error``, ``homozygous`` or ``missing``, default ``error``), ``missing_code`` (parquet: the value that marks a
    missing call, default 9). ``haplotype``: rows are phased haplotypes (vcf, or an npy
    written from haplotypes).
    """
    if source not in FILE_SOURCES:
        raise ConfigError(f"data.source={source!r} is not a file source; allowed: {sorted(FILE_SOURCES)}")
    if path is None:
        raise ConfigError(f"data.path is required for data={source}: {FILE_SOURCES[source]}")
    for key in options:
        if source not in FORMAT_OPTIONS.get(key, ()):
            raise ConfigError(f"data.{key} is not an option of data={source}")
    if haplotype and source not in ("vcf", "npy"):
        raise ConfigError(
            f"data.haplotype=true needs phased genotypes: data=vcf, data=sim or a haplotype .npy, not data={source}"
        )
    if source == "plink":
        from snpdiff.data.sources.plink import PlinkSource

        return PlinkSource(path)
    if source == "vcf":
        from snpdiff.data.sources.vcf import VcfSource

        return VcfSource(path, haplotype=haplotype, **options)
    if source == "parquet":
        from snpdiff.data.sources.parquet import ParquetSource

        return ParquetSource(path, **options)
    from snpdiff.data.sources.npy import NpySource

    return NpySource(path, haplotype=haplotype)


__all__ = [
    "FILE_SOURCES",
    "FORMAT_OPTIONS",
    "HAPLOID_CALLS",
    "SOURCES",
    "GenotypeSource",
    "IndexedSource",
    "Region",
    "detect_format",
    "open_source",
]
