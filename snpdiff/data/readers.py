"""``read_genotypes``: any supported genotype file into a ``GenotypeSet``, with the shared selection keys."""

from __future__ import annotations

import os

from snpdiff.data.selection import KEEP_MISSING, Selection, load_genotypes
from snpdiff.data.sources import detect_format, open_source
from snpdiff.data.types import GenotypeSet


def read_genotypes(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    haplotype: bool = False,
    cache_dir: str | os.PathLike | None = None,
    region: str | None = None,
    snp_offset: int = 0,
    seq_length: int | None = None,
    min_maf: float = 0.0,
    max_missing: float | None = None,
    samples: list[str] | str | None = None,
    population_file: str | None = None,
    n_individuals: int | None = None,
    impute: str = KEEP_MISSING,
    **options,
) -> GenotypeSet:
    """Read a PLINK prefix (or its ``.bed``), ``.vcf``/``.vcf.gz``/``.bcf``, ``.parquet`` or ``.npy`` file.

    ``format`` overrides detection from the path's suffix. The selection keys mean what they mean in
    ``conf/data/*.yaml`` (``snpdiff.data.selection.Selection``); by default every SNP and sample is returned and
    missing calls stay ``MISSING_CODE``. ``options``: ``snps_only`` (vcf), ``missing_code`` (parquet).
    ``cache_dir`` caches the decoded selection (None: no cache).
    """
    source = open_source(format or detect_format(path), path, haplotype=haplotype, **options)
    selection = Selection(
        region=region,
        snp_offset=snp_offset,
        seq_length=seq_length,
        min_maf=min_maf,
        max_missing=max_missing,
        samples=samples,
        population_file=population_file,
        n_individuals=n_individuals,
        impute=impute,
    )
    return load_genotypes(source, selection, cache_dir=cache_dir).genotypes
