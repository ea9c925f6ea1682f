"""The old tool's Parquet layout: one row per marker (SNP), one column per sample, values 0/1/2, missing = 9.

Columns named like SNP metadata (case-insensitive: ``chrom``/``chromosome``/``chr``, ``pos``/``position``/``bp``,
``snp_id``/``snp``/``id``/``rsid``/``marker``, ``ref``/``a2``, ``alt``/``a1``) or stored as the pandas index are
metadata; every other column is a sample. Missing metadata gets placeholders (``SnpInfo.placeholder``). Only the row
groups that hold the selected markers and only the selected sample columns are read. The old tool's encodings stay
reachable through the shared keys: ``data.encoding=unit`` maps 0/1/2 to 0/0.5/1 and ``data.scale=0.5`` halves it.
Any other value (a dosage such as 0.5, a 3) is refused naming the column and row, never truncated to an integer.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.sources.base import IndexedSource, require_file
from snpdiff.data.types import SnpInfo
from snpdiff.errors import DataError

PARQUET_MISSING_CODE = 9
METADATA_COLUMNS = {
    "chrom": ("chrom", "chromosome", "chr"),
    "position": ("pos", "position", "bp", "bp_position"),
    "snp_id": ("snp_id", "snp", "id", "rsid", "marker", "marker_id", "variant_id"),
    "ref": ("ref", "a2", "allele_2"),
    "alt": ("alt", "a1", "allele_1"),
}


def _pandas_index_columns(schema: pa.Schema) -> list[str]:
    metadata = schema.metadata or {}
    if b"pandas" not in metadata:
        return []
    return [name for name in json.loads(metadata[b"pandas"]).get("index_columns", []) if isinstance(name, str)]


class ParquetSource(IndexedSource):
    format = "parquet"

    def __init__(self, path: str | os.PathLike, missing_code: int = PARQUET_MISSING_CODE):
        self.parquet_path = require_file(path, "Parquet genotype table")
        super().__init__(str(self.parquet_path))
        self.missing_code = int(missing_code)
        try:
            self._file = pq.ParquetFile(self.parquet_path)
        except (pa.ArrowException, OSError) as error:
            raise DataError(f"{self.parquet_path} is not a readable Parquet file: {error}") from error
        schema = self._file.schema_arrow
        index_columns = _pandas_index_columns(schema)
        lower = {name.lower(): name for name in schema.names}
        self._metadata_columns: dict[str, str] = {}
        for field, aliases in METADATA_COLUMNS.items():
            found = next((lower[alias] for alias in aliases if alias in lower), None)
            if found is None and field == "snp_id" and len(index_columns) == 1:
                found = index_columns[0]
            if found is not None:
                self._metadata_columns[field] = found
        skip = set(self._metadata_columns.values()) | set(index_columns)
        self._sample_columns = [name for name in schema.names if name not in skip]
        if not self._sample_columns:
            raise DataError(f"{self.parquet_path} has no sample columns (columns: {schema.names})")
        for name in self._sample_columns:
            kind = schema.field(name).type
            if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
                raise DataError(f"{self.parquet_path}: sample column {name!r} is {kind}; expected 0/1/2 integers")
        self._row_group_starts = np.cumsum(
            [0] + [self._file.metadata.row_group(i).num_rows for i in range(self._file.num_row_groups)]
        )
        self._snps = self._read_snps()

    def _read_snps(self) -> SnpInfo:
        n_markers = self._file.metadata.num_rows
        placeholder = SnpInfo.placeholder(n_markers)
        if not self._metadata_columns:
            return placeholder
        table = self._file.read(columns=list(self._metadata_columns.values()))
        fields = {field: getattr(placeholder, field) for field in METADATA_COLUMNS}
        for field, column in self._metadata_columns.items():
            fields[field] = table.column(column).to_numpy(zero_copy_only=False)
        if "snp_id" not in self._metadata_columns and "position" in self._metadata_columns:
            fields["snp_id"] = [
                f"{chrom}:{position}" for chrom, position in zip(fields["chrom"], fields["position"], strict=True)
            ]
        return SnpInfo(**fields)

    def options(self) -> dict:
        return {"missing_code": self.missing_code}

    @property
    def sample_ids(self) -> np.ndarray:
        return np.asarray(self._sample_columns, dtype=np.str_)

    @property
    def snps(self) -> SnpInfo:
        return self._snps

    def read(self, individuals: np.ndarray, snp_index: np.ndarray) -> np.ndarray:
        groups = np.unique(np.searchsorted(self._row_group_starts, snp_index, side="right") - 1)
        columns = [self._sample_columns[i] for i in individuals]
        table = self._file.read_row_groups(groups.tolist(), columns=columns)
        local = snp_index - self._row_group_starts[groups[0]]
        # groups are contiguous in the file, so rows of the read table follow the global row order
        if groups[-1] - groups[0] + 1 != len(groups):
            local = np.concatenate(
                [np.arange(self._row_group_starts[g], self._row_group_starts[g + 1]) for g in groups]
            ).searchsorted(snp_index)
        markers = np.stack([table.column(name).to_numpy(zero_copy_only=False)[local] for name in columns], axis=0)
        missing = markers == self.missing_code
        if np.issubdtype(markers.dtype, np.floating):
            missing |= np.isnan(markers)
        bad = ~missing & ~np.isin(markers, (0, 1, 2))
        if bad.any():
            row, column = np.argwhere(bad.T)[0]  # the first in file order
            marker, value = snp_index[row], markers[column, row].item()
            raise DataError(
                f"{self.parquet_path}: sample column {columns[column]!r}, row {marker} (0-based; marker "
                f"{self._snps.snp_id[marker]}) holds {value!r} ({int(bad.sum())} such values in the rows read); "
                f"genotype values must be 0, 1, 2, {self.missing_code} (data.missing_code) or empty"
            )
        return np.where(missing, MISSING_CODE, markers).astype(np.int8)
