"""A ``.npy`` genotype matrix: integer codes ``[individuals, snps]`` (0/1/2, ``MISSING_CODE`` = -1 for missing).

Optional sidecar ``<name>.json`` next to ``<name>.npy`` (written by ``write_npy``) with SNP metadata (``chrom``,
``position``, ``snp_id``, ``ref``, ``alt``: one entry per SNP), ``sample_ids``, ``populations`` (or null) and
``haplotype`` (rows are phased haplotypes, codes 0/1). Without one, SNPs get placeholder metadata
(``SnpInfo.placeholder``) and samples the ids ``sample<i>``. The matrix is memory-mapped: only the selected window
is read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from snpdiff.data.sources.base import IndexedSource, require_file
from snpdiff.data.types import SNP_FIELDS, SnpInfo, individual_ids_of_rows
from snpdiff.errors import DataError

NPY_MAGIC = b"\x93NUMPY"


def npy_sidecar(path: str | os.PathLike) -> Path:
    """Where the metadata of ``path`` (a ``.npy``) lives: the same name with ``.json``."""
    return Path(path).with_suffix(".json")


class NpySource(IndexedSource):
    format = "npy"

    def __init__(self, path: str | os.PathLike, haplotype: bool = False):
        self.npy_path = require_file(path, "genotype matrix")
        super().__init__(str(self.npy_path))
        with open(self.npy_path, "rb") as handle:
            start = handle.read(len(NPY_MAGIC))
        if start != NPY_MAGIC:
            raise DataError(
                f"{self.npy_path} is not a .npy file (it does not start with the NPY magic bytes, but {start!r}); "
                "data=npy needs a matrix saved with numpy.save (snpdiff.data.write_npy)"
            )
        try:
            self._codes = np.load(self.npy_path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError) as error:
            raise DataError(f"{self.npy_path} is not a readable .npy matrix: {error}") from error
        if self._codes.ndim != 2 or not np.issubdtype(self._codes.dtype, np.integer):
            raise DataError(
                f"{self.npy_path} holds a {self._codes.dtype} array of shape {self._codes.shape}; expected an integer "
                f"(int8) matrix [individuals, snps]"
            )
        n_rows, n_snps = self._codes.shape
        self.sidecar = npy_sidecar(self.npy_path)
        meta = self._read_sidecar(n_rows, n_snps) if self.sidecar.is_file() else {}
        self.haplotype = bool(meta.get("haplotype", False))
        if haplotype != self.haplotype:
            raise DataError(
                f"data.haplotype={str(haplotype).lower()} but {self.npy_path} holds "
                f"{'haplotypes' if self.haplotype else 'diploid dosages'} (sidecar {self.sidecar})"
            )
        self._snps = SnpInfo.from_dict(meta["snps"]) if "snps" in meta else SnpInfo.placeholder(n_snps)
        row_ids = np.asarray(meta.get("sample_ids") or [f"sample{i}" for i in range(n_rows)], dtype=np.str_)
        self._sample_ids = individual_ids_of_rows(row_ids) if self.haplotype else row_ids
        labels = meta.get("populations")
        self._populations = None if labels is None else np.asarray(labels, dtype=np.str_)[:: 2 if self.haplotype else 1]

    def _read_sidecar(self, n_rows: int, n_snps: int) -> dict:
        try:
            meta = json.loads(self.sidecar.read_text())
        except ValueError as error:
            raise DataError(f"sidecar {self.sidecar} of {self.npy_path} is not valid JSON: {error}") from error
        if "snps" in meta:
            lengths = {field: len(meta["snps"].get(field, [])) for field in SNP_FIELDS}
            if set(lengths.values()) != {n_snps}:
                raise DataError(f"sidecar {self.sidecar}: SNP fields {lengths} must each list the {n_snps} SNP columns")
        for key in ("sample_ids", "populations"):
            if meta.get(key) is not None and len(meta[key]) != n_rows:
                raise DataError(f"sidecar {self.sidecar}: {key} has {len(meta[key])} entries for {n_rows} matrix rows")
        if meta.get("haplotype") and n_rows % 2:
            raise DataError(f"sidecar {self.sidecar} says haplotype rows, but {self.npy_path} has an odd row count")
        return meta

    def files(self) -> list[Path]:
        return [self.npy_path, self.sidecar] if self.sidecar.is_file() else [self.npy_path]

    @property
    def sample_ids(self) -> np.ndarray:
        return self._sample_ids

    @property
    def populations(self) -> np.ndarray | None:
        return self._populations

    @property
    def snps(self) -> SnpInfo:
        return self._snps

    def read(self, individuals: np.ndarray, snp_index: np.ndarray) -> np.ndarray:
        rows = np.stack([2 * individuals, 2 * individuals + 1], axis=1).reshape(-1) if self.haplotype else individuals
        block = np.asarray(self._codes[np.ix_(rows, snp_index)])
        if block.dtype != np.int8 and block.size and (block.min() < -128 or block.max() > 127):
            raise DataError(f"{self.npy_path}: values {block.min()}..{block.max()} are not genotype codes")
        return block.astype(np.int8)
