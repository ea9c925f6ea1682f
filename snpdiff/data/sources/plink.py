"""PLINK 1 binary filesets (``.bed/.bim/.fam``); genotypes are read with bed-reader.

Reads are sliced: only the requested individuals x SNP columns are decoded, as int8 (never the whole file, never
float). The ``.bim`` is parsed in step with the genotype chunks, so a window near the start of a 160,000-SNP file
reads neither the rest of the ``.bed`` nor the rest of the ``.bim``. Codes count allele 1 of the ``.bim``
(column 5, bed-reader's ``count_A1``), which is reported as ``alt``; allele 2 (column 6) is ``ref``. The project's
PLINK writer stores ``alt`` as allele 1, so files round-trip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

import numpy as np
from bed_reader import open_bed

from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.sources.base import IndexedSource, Region, next_chunk_size, require_file
from snpdiff.data.types import SnpInfo
from snpdiff.errors import DataError

BED_MAGIC = bytes([0x6C, 0x1B, 0x01])  # SNP-major .bed
BED_MISSING = -127  # bed-reader's int8 missing value


def plink_prefix(path: str | os.PathLike) -> Path:
    """``PREFIX`` of a fileset given as the prefix or as any of its three files."""
    path = Path(path)
    return path.with_suffix("") if path.suffix.lower() in (".bed", ".bim", ".fam") else path


def _count_lines(path: Path) -> int:
    lines, last = 0, b"\n"
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")  # a last line without its newline still counts


def _parse_bim(lines: list[str], first_line: int, path: Path) -> SnpInfo:
    """SNP metadata from ``.bim`` lines (chrom, id, cM, position, allele 1, allele 2; whitespace-separated)."""
    fields = [line.split() for line in lines]
    for number, row in enumerate(fields):
        if len(row) != 6 or not row[3].lstrip("-").isdigit():
            raise DataError(
                f"{path} line {first_line + number + 1}: expected 'chrom id cM position allele1 allele2', "
                f"got {lines[number].strip()!r}"
            )
    columns = list(zip(*fields, strict=True)) if fields else [()] * 6
    return SnpInfo(
        chrom=np.array(columns[0], dtype=np.str_),
        position=np.array(columns[3], dtype=np.int64),
        snp_id=np.array(columns[1], dtype=np.str_),
        ref=np.array(columns[5], dtype=np.str_),
        alt=np.array(columns[4], dtype=np.str_),
    )


def _parse_fam(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Family ids and sample ids (first two columns) of a ``.fam``.

    More than six fields is an error rather than a shifted line: an older snpdiff wrote a label with a space as two
    fields (``Han Chinese synthetic_0 0 0 0 0``), which would read as family ``Han``, sample ``Chinese``."""
    lines = path.read_text().splitlines()
    rows = [line.split() for line in lines]
    for number, row in enumerate(rows):
        if len(row) < 2:
            raise DataError(f"{path} line {number + 1}: expected 'family_id sample_id ...', got {' '.join(row)!r}")
        if len(row) > 6:
            raise DataError(
                f"{path} line {number + 1} has {len(row)} fields, not the 6 of a .fam line (family id, sample id, "
                f"father, mother, sex, phenotype; no field holds whitespace): {lines[number]!r}"
            )
    return np.array([row[0] for row in rows], dtype=np.str_), np.array([row[1] for row in rows], dtype=np.str_)


class PlinkSource(IndexedSource):
    format = "plink"

    def __init__(self, path: str | os.PathLike):
        prefix = plink_prefix(path)
        super().__init__(str(prefix))
        self.bed_path = require_file(f"{prefix}.bed", "PLINK .bed file")
        self.bim_path = require_file(f"{prefix}.bim", "PLINK .bim file")
        self.fam_path = require_file(f"{prefix}.fam", "PLINK .fam file")
        n_samples, n_snps = _count_lines(self.fam_path), _count_lines(self.bim_path)
        self._check_bed_size(n_samples, n_snps)
        self._family_ids, self._sample_ids = _parse_fam(self.fam_path)
        self._snp_count = n_snps
        try:
            # counts given: bed-reader only reads genotypes; the .bim/.fam are parsed here (the .bim lazily)
            self._bed = open_bed(
                self.bed_path,
                iid_count=n_samples,
                sid_count=n_snps,
                count_A1=True,
                fam_location=self.fam_path,
                bim_location=self.bim_path,
            )
        except Exception as error:  # bed-reader raises plain ValueError/OSError on unreadable files
            raise DataError(f"PLINK fileset {prefix} cannot be opened: {error}") from error
        self._snps: SnpInfo | None = None

    def _check_bed_size(self, n_samples: int, n_snps: int) -> None:
        """The .bed must hold exactly n_snps rows of ceil(n_samples / 4) bytes after its 3-byte header.

        When it does not, the message blames the file that disagrees: the .bim if the .bed is whole rows for the
        .fam's samples, the .fam if it is whole rows for the .bim's SNPs, the .bed if neither (truncated).
        """
        with open(self.bed_path, "rb") as handle:
            magic = handle.read(3)
        if magic != BED_MAGIC:
            raise DataError(f"{self.bed_path} is not a SNP-major PLINK .bed file (first bytes {magic.hex()})")
        bytes_per_snp = (n_samples + 3) // 4
        actual = self.bed_path.stat().st_size
        expected = 3 + bytes_per_snp * n_snps
        if actual == expected:
            return
        body = actual - 3
        sizes = (
            f"{self.bed_path} is {actual} bytes; {self.bim_path} lists {n_snps} SNPs and {self.fam_path} {n_samples} "
            f"samples, which make {expected} bytes (3 + {n_snps} x {bytes_per_snp})"
        )
        rows_fit_fam = bytes_per_snp > 0 and body % bytes_per_snp == 0
        row_bytes_fit_bim = n_snps > 0 and body % n_snps == 0 and body > 0
        if rows_fit_fam and row_bytes_fit_bim:
            bed_snps, bed_bytes = body // bytes_per_snp, body // n_snps
            raise DataError(
                f"{sizes}: either the .bim is wrong ({bed_snps} SNPs would fit the .bed) or the .fam is "
                f"({4 * bed_bytes - 3}-{4 * bed_bytes} samples would fit); the three files do not belong together"
            )
        if rows_fit_fam:
            bed_snps = body // bytes_per_snp
            what = (
                "is missing SNP lines"
                if bed_snps > n_snps
                else "has more lines than the .bed has rows (or the .bed is cut short)"
            )
            raise DataError(f"{sizes}: the .bed holds {bed_snps} SNP rows, so {self.bim_path} {what}")
        if row_bytes_fit_bim:
            bed_bytes = body // n_snps
            raise DataError(
                f"{sizes}: the .bed has {bed_bytes} bytes per SNP ({4 * bed_bytes - 3}-{4 * bed_bytes} samples), so "
                f"{self.fam_path} does not list the samples the .bed was written for"
            )
        raise DataError(
            f"{sizes}: {actual - 3} bytes is not a whole number of SNP rows for either, so the .bed is truncated or "
            "corrupt"
        )

    def _check_padding(self, snp_index: np.ndarray) -> None:
        """DataError when the .fam is shorter than the sample count the .bed was written for.

        A .bed packs 4 samples per byte; past the last sample, the last byte of each SNP row is padding that PLINK
        writes as zero bits. Set bits there mean samples the .fam does not list (a 37-row .fam for a 40-sample .bed
        has the same bytes per SNP, so the file size cannot tell). Checked on the SNP rows being read.
        """
        n_samples = self._bed.iid_count
        if n_samples % 4 == 0 or len(snp_index) == 0:
            return
        bytes_per_snp = (n_samples + 3) // 4
        last_bytes = np.memmap(self.bed_path, dtype=np.uint8, mode="r")[
            3 + np.asarray(snp_index, dtype=np.int64) * bytes_per_snp + bytes_per_snp - 1
        ]
        padded = np.flatnonzero(last_bytes >> (2 * (n_samples % 4)))
        if len(padded):
            first = int(snp_index[padded[0]])
            raise DataError(
                f"{self.fam_path} lists {n_samples} samples, but {self.bed_path} was written for more: SNP row "
                f"{first + 1} (line {first + 1} of {self.bim_path}) has genotypes in the padding bits after sample "
                f"{n_samples}, which PLINK writes as zero ({len(padded)} of {len(snp_index)} SNP rows read); its "
                f"{bytes_per_snp} bytes per SNP hold up to {4 * bytes_per_snp} samples"
            )

    def files(self) -> list[Path]:
        return [self.bed_path, self.bim_path, self.fam_path]

    @property
    def sample_ids(self) -> np.ndarray:
        return self._sample_ids

    @property
    def family_ids(self) -> np.ndarray:
        return self._family_ids

    @property
    def snps(self) -> SnpInfo:
        """Metadata of every SNP (parses the whole .bim; only region selections need it)."""
        if self._snps is None:
            with open(self.bim_path) as bim:
                self._snps = _parse_bim(bim.readlines(), 0, self.bim_path)
        return self._snps

    @property
    def snp_count(self) -> int:
        return self._snp_count

    def iter_chunks(
        self, individuals: np.ndarray, region: Region | None, chunk_snps: int
    ) -> Iterator[tuple[SnpInfo, np.ndarray]]:
        if region is not None:
            yield from super().iter_chunks(individuals, region, chunk_snps)
            return
        # no region: read the .bim in step with the genotypes, so a window at the start never parses the rest
        start = 0
        with open(self.bim_path) as bim:
            while start < self._snp_count:
                lines = list(islice(bim, chunk_snps))
                yield (
                    _parse_bim(lines, start, self.bim_path),
                    self.read(individuals, np.arange(start, start + len(lines))),
                )
                start += len(lines)
                chunk_snps = next_chunk_size(chunk_snps)

    def read(self, individuals: np.ndarray, snp_index: np.ndarray) -> np.ndarray:
        self._check_padding(snp_index)
        # a contiguous column range is one slice (bed-reader reads it sequentially)
        if len(snp_index) and snp_index[-1] - snp_index[0] + 1 == len(snp_index):
            columns = slice(int(snp_index[0]), int(snp_index[-1]) + 1)
        else:
            columns = snp_index
        all_rows = len(individuals) == self._bed.iid_count and np.array_equal(individuals, np.arange(len(individuals)))
        rows = slice(None) if all_rows else individuals
        codes = self._bed.read(index=np.s_[rows, columns], dtype="int8", order="C")
        codes[codes == BED_MISSING] = MISSING_CODE
        return codes
