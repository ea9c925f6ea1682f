"""``read_genotypes``: any supported genotype file into a ``GenotypeSet``, with the shared selection keys."""

from __future__ import annotations

import os
from typing import Any

from snpdiff.data.selection import KEEP_MISSING, load_genotypes, split_selection
from snpdiff.data.sources import detect_format, open_source
from snpdiff.data.types import GenotypeSet


def read_genotypes(
    path: str | os.PathLike,
    *,
    format: str | None = None,
    haplotype: bool = False,
    cache_dir: str | os.PathLike | None = None,
    impute: str = KEEP_MISSING,
    **keys: Any,
) -> GenotypeSet:
    """Read a PLINK prefix (or its ``.bed``), ``.vcf``/``.vcf.gz``/``.bcf``, ``.parquet`` or ``.npy`` file.

    ``format`` overrides detection from the path's suffix. ``keys``: the selection keys of ``conf/data/*.yaml``
    (``region``, ``snp_offset``, ``seq_length``, ``min_maf``, ``max_missing``, ``samples``, ``population_file``,
    ``n_individuals``; see ``snpdiff.data.selection.Selection``) and the format options ``snps_only`` (vcf) and
    ``missing_code`` (parquet). By default every SNP and sample is returned and missing calls stay
    ``MISSING_CODE``. ``cache_dir`` caches the decoded selection (None: no cache).
    """
    selection, options = split_selection({"impute": impute, **keys})
    source = open_source(format or detect_format(path), path, haplotype=haplotype, **options)
    return load_genotypes(source, selection, cache_dir=cache_dir).genotypes
