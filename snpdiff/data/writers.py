"""Writers for genotype sets (real or generated): PLINK, VCF (plain, bgzipped, BCF), ``.npy`` + sidecar, Parquet.

Each writes the set's SNP metadata (chromosome, positions, SNP ids, alleles) and sample ids, so a synthetic cohort made
with ``synthetic_sample_ids`` and the training window's ``SnpInfo`` goes straight into PLINK, bcftools or a GWAS
pipeline, and the project's readers give back the same matrix and metadata.

One writer per format (``PlinkWriter``, ``VcfWriter``, ``NpyWriter``, listed in ``WRITERS``): rows arrive in batches
at any offset (generate.py streams a cohort larger than memory through them), and a whole set in memory is a stream
of one batch (``write_plink``, ``write_vcf``, ``write_npy``). ``MemoryWriter`` takes batches into an array, so the
sampling loop writes to memory and to files through the one ``write_rows`` call. Parquet (``write_parquet``, the old
tool's layout) is written whole only.

VCF compression: ``.vcf.gz`` is written as BGZF (the blocked gzip that htslib/tabix/bcftools index) with the standard
library's zlib, block by block, from text built with numpy for many SNPs at once rather than one cyvcf2 call per record
into htslib's writer; ``.bcf`` goes through cyvcf2's ``Writer`` (htslib), since BCF is binary. The optional ``.csi``
index is pysam's ``tabix_index(..., csi=True)``.
"""

from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from snpdiff import __version__
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.labels import (
    PLINK_ID_FORBIDDEN,
    TEXT_ID_FORBIDDEN,
    check_fields,
    encode_fam_label,
    encode_labels,
    encode_tsv_label,
)
from snpdiff.data.sources.npy import npy_sidecar
from snpdiff.data.sources.parquet import PARQUET_MISSING_CODE
from snpdiff.data.sources.plink import BED_MAGIC, plink_prefix
from snpdiff.data.types import SNP_FIELDS, GenotypeSet, SnpInfo, individual_ids_of_rows
from snpdiff.errors import DataError

# VCF text is built for at most this many SNPs and this many calls at once (memory: 4 bytes a call); even, so a
# piece of a line never splits a haplotype pair
_VCF_BLOCK_SNPS = 2048
_VCF_BLOCK_CALLS = 1 << 24
# BGZF: gzip members of at most 64 KiB with a 'BC' extra field holding the member size (SAM/BAM spec, section 4.1)
_BGZF_MAX_INPUT = 0xFF00
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
# sample ids formatted and written at once to a .fam, a VCF header or an npy sidecar
_ID_CHUNK = 1 << 16
# estimated bgzipped VCF size per call, for the free-space check: 4 bytes of text compress to well under 1 byte
_VCF_GZ_BYTES_PER_CALL = 0.5

# rows [start, stop) -> one string per row (sample ids, population labels), so a huge cohort's are made in chunks
RowStrings = Callable[[int, int], np.ndarray]


def synthetic_sample_ids(n_samples: int, prefix: str = "synthetic") -> np.ndarray:
    """Sample ids for generated genotypes: ``<prefix>_0``, ``<prefix>_1``, ..."""
    return synthetic_row_ids(0, n_samples, prefix)


def synthetic_row_ids(start: int, stop: int, prefix: str = "synthetic") -> np.ndarray:
    """``synthetic_sample_ids`` for rows ``[start, stop)`` only, so a huge cohort's ids are made a chunk at a time."""
    return np.char.add(f"{prefix}_", np.arange(start, stop).astype(np.str_))


class RowWriter(Protocol):
    """What the sampling loop writes batches into: in memory (``MemoryWriter``) or files (``GenotypeWriter``)."""

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        """Write ``rows`` ``[batch, snps]`` as rows ``start, start + 1, ...``."""


class MemoryWriter:
    """Rows ``[n_rows, n_snps]`` of ``dtype`` in memory, filled batch by batch (``rows``)."""

    def __init__(self, n_rows: int, n_snps: int, dtype: np.dtype | type = np.int8):
        self.rows = np.empty((n_rows, n_snps), dtype=dtype)

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        self.rows[start : start + len(rows)] = rows


class GenotypeWriter:
    """A genotype file set of ``n_rows`` x ``len(snps)`` written batch by batch: rows at any offset, in any order.

    Everything is built inside ``work``, a folder beside the output that the caller owns, and moved to the final
    names only by ``finish`` (the main file last), so a file under a final name is always a finished one. ``open``
    keeps the data file an earlier process left in ``work`` when its size is right, so a killed run can go on; rows
    written again get the same bytes. Writes go through ``os.pwrite`` rather than a memory map, so the process's
    resident memory stays bounded by a batch whatever the file's size. ``sample_ids`` and ``populations`` give rows'
    ids and labels a chunk at a time; ids default to ``synthetic_row_ids``. Ids and labels the format's files cannot
    hold are refused when the writer opens, before anything is written (``snpdiff.data.labels``).
    """

    format = ""
    row_alignment = 1  # a batch must start at a multiple of this row

    def __init__(
        self,
        out: Path,
        work: Path,
        snps: SnpInfo,
        n_rows: int,
        haplotype: bool = False,
        sample_ids: RowStrings = synthetic_row_ids,
        populations: RowStrings | None = None,
    ):
        self.out, self.work, self.snps = Path(out), Path(work), snps
        self.n_rows, self.haplotype = int(n_rows), bool(haplotype)
        self.sample_ids, self.populations = sample_ids, populations
        self._fd: int | None = None

    @property
    def n_snps(self) -> int:
        return len(self.snps)

    def final_paths(self) -> list[Path]:
        """The finished files, in the order ``finish`` moves them into place (the main file last)."""
        raise NotImplementedError

    def bytes_needed(self) -> int:
        """Bytes on the output's file system for the work files and the finished output (an estimate for VCF)."""
        raise NotImplementedError

    def _data_file(self) -> tuple[Path, int, bytes]:
        """The work file rows are written into, its full size in bytes and its header."""
        raise NotImplementedError

    def _check_names(self) -> None:
        """DataError when a sample id or label cannot be written in this format's files (a JSON sidecar holds
        any text, so the base class accepts all)."""

    def _finished_files(self) -> list[tuple[Path, Path]]:
        """Write what remains (metadata, text built from the data) into ``work``; returns (work file, final name)
        pairs in the order they are moved into place, main file last."""
        raise NotImplementedError

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        """Write codes int8 ``[batch, snps]`` as rows ``start, start + 1, ...``."""
        raise NotImplementedError

    def open(self) -> None:
        """Create the data file at its final size (sparse) or reopen the one a killed run left; ids and labels the
        format cannot hold are refused first (after the caller's free-space check: a check of every id of an output
        too large for the disk would outlast it)."""
        self._check_names()
        path, size, header = self._data_file()
        self.work.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.stat().st_size != size:
            with open(path, "wb") as handle:
                handle.write(header)
                handle.truncate(size)
        self._fd = os.open(path, os.O_RDWR)

    def sync(self) -> None:
        """Make every row written so far durable (before a progress file records them)."""
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def finish(self) -> list[Path]:
        """Write the remaining files and move everything to the final names, main file last; returns those names.

        An older output under the same names is removed first (main file first), so a process killed while moving
        leaves no main file rather than a mixed set."""
        self.sync()
        moves = self._finished_files()
        self.close()
        for final in reversed(self.final_paths()):
            final.unlink(missing_ok=True)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        for work, final in moves:
            os.replace(work, final)
        return self.final_paths()

    def _check_rows(self, start: int, codes: np.ndarray) -> None:
        if codes.dtype != np.int8 or codes.ndim != 2 or codes.shape[1] != self.n_snps:
            raise ValueError(f"codes must be int8 [rows, {self.n_snps}]; got {codes.dtype} {codes.shape}")
        if start % self.row_alignment or start < 0 or start + len(codes) > self.n_rows:
            raise ValueError(f"rows {start}..{start + len(codes)} outside 0..{self.n_rows} or not aligned")

    def _id_bytes(self) -> int:
        """The length of the longest row id (the last one's, for synthetic ids), for the free-space estimates."""
        return len(str(self.sample_ids(self.n_rows - 1, self.n_rows)[0])) if self.n_rows else 0

    def _id_chunks(self, individuals: bool = False) -> Iterator[np.ndarray]:
        """Row ids in chunks; ``individuals``: one per individual (a haplotype pair's first row, as VCF columns)."""
        for start in range(0, self.n_rows, _ID_CHUNK):
            ids = self.sample_ids(start, min(self.n_rows, start + _ID_CHUNK))
            yield individual_ids_of_rows(ids) if individuals and self.haplotype else ids

    def _label_chunks(self, individuals: bool = False) -> Iterator[np.ndarray]:
        """The rows' population labels in the chunks of ``_id_chunks`` (``populations`` must be set)."""
        for start in range(0, self.n_rows, _ID_CHUNK):
            labels = self.populations(start, min(self.n_rows, start + _ID_CHUNK))
            yield labels[::2] if individuals and self.haplotype else labels

    def _population_table(self) -> list[tuple[Path, Path]]:
        """``<out>.populations.tsv`` (sample id, population; what ``data.population_file`` reads, labels escaped by
        ``encode_tsv_label``) in ``work``, for formats whose own files have no place for a label; nothing without
        labels."""
        if self.populations is None:
            return []
        table = self.work / "populations.tsv"
        with open(table, "w", encoding="utf-8") as handle:
            for ids, labels in zip(self._id_chunks(True), self._label_chunks(True), strict=True):
                lines = zip(ids.tolist(), encode_labels(labels, encode_tsv_label).tolist(), strict=True)
                handle.write("".join(f"{i}\t{label}\n" for i, label in lines))
        return [(table, self._population_table_path())]

    def _population_table_path(self) -> Path:
        stem = str(self.out).removesuffix(".gz").removesuffix(".vcf").removesuffix(".bcf")
        return Path(f"{stem}.populations.tsv")


class PlinkWriter(GenotypeWriter):
    """``PREFIX.bed/.bim/.fam`` (``out`` is the prefix). The ``.bed`` is SNP-major, 4 individuals a byte, so a batch
    of rows is one run of bytes in each SNP's line: batches start at multiples of 4 rows. ``alt`` is PLINK allele 1
    (the counted allele), ``ref`` allele 2; the family id is the population label when there is one, whitespace,
    ``%``, control characters and a leading ``#`` percent-encoded (``encode_fam_label``: ``Han%20Chinese``;
    ``data.population_file=fam`` decodes it), else the sample id, encoded the same way. Sample ids with whitespace
    are refused (a .fam field cannot hold them). Haplotype rows are written as rows of 0/1."""

    format = "plink"
    row_alignment = 4

    @property
    def _row_bytes(self) -> int:
        return -(-self.n_rows // 4)

    def final_paths(self) -> list[Path]:
        return [Path(f"{self.out}{ext}") for ext in (".bim", ".fam", ".bed")]

    def _family_chunks(self) -> Iterator[np.ndarray]:
        families = self._id_chunks() if self.populations is None else self._label_chunks()
        return (encode_labels(chunk, encode_fam_label) for chunk in families)

    def _check_names(self) -> None:
        fam = Path(f"{self.out}.fam")
        check_fields(self._id_chunks(), PLINK_ID_FORBIDDEN, "sample id", str(fam))
        if self.populations is not None:
            check_fields(self._label_chunks(), None, "population label", str(fam))

    def bytes_needed(self) -> int:
        fam_line = 2 * self._id_bytes() + 11
        return len(BED_MAGIC) + self.n_snps * self._row_bytes + self.n_rows * fam_line + self.n_snps * 64

    def _data_file(self) -> tuple[Path, int, bytes]:
        return self.work / "genotypes.bed", len(BED_MAGIC) + self.n_snps * self._row_bytes, BED_MAGIC

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        self._check_rows(start, rows)
        # PLINK's 2-bit codes with allele 1 counted: 0 -> 0b11, 1 -> 0b10, 2 -> 0b00, missing -> 0b01
        bits = np.array([0b11, 0b10, 0b00, 0b01], dtype=np.uint8)[np.where(rows == MISSING_CODE, 3, rows).T]
        padded = np.zeros((self.n_snps, -(-len(rows) // 4) * 4), dtype=np.uint8)  # the last byte's spare pairs: 0
        padded[:, : len(rows)] = bits
        packed = padded[:, 0::4] | padded[:, 1::4] << 2 | padded[:, 2::4] << 4 | padded[:, 3::4] << 6
        offset = len(BED_MAGIC) + start // 4
        for snp, line in enumerate(packed):
            os.pwrite(self._fd, line, offset + snp * self._row_bytes)

    def _finished_files(self) -> list[tuple[Path, Path]]:
        bim, fam = self.work / "genotypes.bim", self.work / "genotypes.fam"
        columns = (self.snps.chrom, self.snps.snp_id, self.snps.position, self.snps.alt, self.snps.ref)
        with open(bim, "w") as handle:  # chrom, id, cM 0.0, position, allele 1 (alt), allele 2 (ref)
            for chrom, snp_id, position, alt, ref in zip(*(column.tolist() for column in columns), strict=True):
                handle.write(f"{chrom}\t{snp_id}\t0.0\t{position}\t{alt}\t{ref}\n")
        with open(fam, "w") as handle:
            for ids, families in zip(self._id_chunks(), self._family_chunks(), strict=True):
                lines = zip(families.tolist(), ids.tolist(), strict=True)
                handle.write("".join(f"{family} {sample} 0 0 0 0\n" for family, sample in lines))
        return list(zip([bim, fam, self._data_file()[0]], self.final_paths(), strict=True))


class VcfWriter(GenotypeWriter):
    """A VCF 4.2 with GT only (``out`` is the file): ``.vcf`` plain text, ``.vcf.gz``/``.vcf.bgz`` BGZF at zlib's
    ``compresslevel``, ``.bcf`` binary; with ``index`` also its ``.csi`` (bgzipped VCF and BCF only), so region reads
    seek instead of scanning.

    Diploid rows give unphased ``a/b`` calls (dosage 0/1/2 -> 0/0, 0/1, 1/1); haplotype rows give one phased ``a|b``
    call per individual from rows ``2i``, ``2i+1``. Missing calls are ``./.``. VCF lines hold every sample of one
    SNP, so batches go into an int8 scratch file ``[snps, rows]`` in ``work`` (SNP-major: the final pass reads whole
    lines' codes contiguously), and ``finish`` writes the VCF from it in blocks (``_vcf_records``)."""

    format = "vcf"

    def __init__(self, *args, compresslevel: int = 6, index: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        name = self.out.name.lower()
        self.bcf, self.compressed = name.endswith(".bcf"), name.endswith((".gz", ".bgz"))
        self.compresslevel, self.index = compresslevel, index
        if index and not (self.bcf or self.compressed):
            raise DataError(f"cannot index {self.out}: plain-text VCF; write .vcf.gz or .bcf")

    def _check_names(self) -> None:
        check_fields(self._id_chunks(individuals=True), TEXT_ID_FORBIDDEN, "sample id", str(self.out))
        if self.populations is not None:
            table = str(self._population_table_path())
            check_fields(self._label_chunks(individuals=True), None, "population label", table)

    def final_paths(self) -> list[Path]:
        table = [self._population_table_path()] if self.populations is not None else []
        return table + ([Path(f"{self.out}.csi")] if self.index else []) + [self.out]

    def bytes_needed(self) -> int:
        calls = self.n_snps * self.n_rows
        return calls + int(calls * _VCF_GZ_BYTES_PER_CALL) + self.n_rows * (self._id_bytes() + 2)

    def _data_file(self) -> tuple[Path, int, bytes]:
        return self.work / "codes.snp_major.int8", self.n_snps * self.n_rows, b""

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        self._check_rows(start, rows)
        for snp, line in enumerate(np.ascontiguousarray(rows.T)):
            os.pwrite(self._fd, line, snp * self.n_rows + start)

    def _read(self, start: int, stop: int, row_start: int, row_stop: int) -> np.ndarray:
        width = row_stop - row_start
        block = np.empty((stop - start, width), dtype=np.int8)
        for k, snp in enumerate(range(start, stop)):
            block[k] = np.frombuffer(os.pread(self._fd, width, snp * self.n_rows + row_start), dtype=np.int8)
        return block

    def _finished_files(self) -> list[tuple[Path, Path]]:
        main = self.work / self.out.name
        text = self.work / "records.vcf" if self.bcf else main
        handle = _BgzfFile(text, self.compresslevel) if self.compressed else open(text, "wb")
        try:
            handle.write(_vcf_header(self.snps, self._id_chunks(individuals=True)))
            for chunk in _vcf_records(self.snps, self.n_rows, self.haplotype, self._read):
                handle.write(chunk)
        finally:
            handle.close()
        if self.bcf:
            _vcf_to_bcf(text, main)
            text.unlink()
        index = [(self._index(main), Path(f"{self.out}.csi"))] if self.index else []
        return [*self._population_table(), *index, (main, self.out)]

    def _index(self, path: Path) -> Path:
        """Build ``<path>.csi`` (what ``bcftools index`` makes: CSI, bins of 2^14 bp) with pysam; returns it."""
        import pysam

        try:
            pysam.tabix_index(str(path), preset="vcf", csi=True, force=True)
        except OSError as exc:
            raise DataError(f"cannot index {self.out}: it must be a sorted bgzipped VCF or a BCF ({exc})") from None
        return Path(f"{path}.csi")


class NpyWriter(GenotypeWriter):
    """An int8 ``.npy`` ``[rows, snps]`` (``out`` is the file) and its ``.json`` sidecar with the SNP metadata, sample
    ids, labels and the haplotype flag; a batch is one run of bytes."""

    format = "npy"

    def final_paths(self) -> list[Path]:
        return [npy_sidecar(self.out), self.out]

    def bytes_needed(self) -> int:
        return self._data_file()[1] + self.n_rows * (self._id_bytes() + 5) + self.n_snps * 64

    def _data_file(self) -> tuple[Path, int, bytes]:
        header = io.BytesIO()
        fields = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int8)), "fortran_order": False}
        np.lib.format.write_array_header_1_0(header, {**fields, "shape": (self.n_rows, self.n_snps)})
        return self.work / "genotypes.npy", header.tell() + self.n_rows * self.n_snps, header.getvalue()

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        self._check_rows(start, rows)
        header_bytes = len(self._data_file()[2])
        os.pwrite(self._fd, np.ascontiguousarray(rows), header_bytes + start * self.n_snps)

    def _finished_files(self) -> list[tuple[Path, Path]]:
        sidecar = self.work / "genotypes.json"
        with open(sidecar, "w") as handle:  # the bytes of json.dumps(meta), with the ids written a chunk at a time
            handle.write(f'{{"snps": {json.dumps(self.snps.to_dict())}, "sample_ids": {_json_list(self._id_chunks())}')
            labels = "null" if self.populations is None else _json_list(self._label_chunks())
            handle.write(f', "populations": {labels}, "haplotype": {json.dumps(self.haplotype)}}}')
        return list(zip([sidecar, self._data_file()[0]], self.final_paths(), strict=True))


def _json_list(chunks: Iterable[np.ndarray]) -> str:
    """``json.dumps`` of the concatenated chunks' values, one chunk in memory at a time."""
    return "[" + ", ".join(json.dumps(chunk.tolist())[1:-1] for chunk in chunks) + "]"


# format -> writer (generate.py's ``format``)
WRITERS: dict[str, type[GenotypeWriter]] = {writer.format: writer for writer in (PlinkWriter, VcfWriter, NpyWriter)}


def set_writer(
    writer: type[GenotypeWriter], out: Path, work: Path, genotypes: GenotypeSet, labelled: bool = True, **options
) -> GenotypeWriter:
    """A ``writer`` of a whole set held in memory (its SNPs, rows, ids and, when ``labelled``, population labels),
    with its work files in ``work``."""
    ids, populations = genotypes.sample_ids, genotypes.populations if labelled else None
    return writer(
        out,
        work,
        genotypes.snps,
        genotypes.n_rows,
        genotypes.haplotype,
        sample_ids=lambda start, stop: ids[start:stop],
        populations=None if populations is None else lambda start, stop: populations[start:stop],
        **options,
    )


def write_one_batch(sink: GenotypeWriter, codes: np.ndarray) -> list[Path]:
    """Open ``sink``, write ``codes`` (int8 ``[rows, snps]``, every row of the output) as its one batch, finish and
    close it. Returns the files written."""
    sink.open()
    try:
        sink.write_rows(0, np.asarray(codes, dtype=np.int8))
        return sink.finish()
    finally:
        sink.close()


def _write_whole(
    writer: type[GenotypeWriter], out: Path, genotypes: GenotypeSet, labelled: bool = True, **options
) -> list[Path]:
    """Write a whole set as one batch through ``writer``, with its work files in a temporary folder beside ``out``;
    ``labelled``: pass the set's population labels. Returns the files written."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as work:
        return write_one_batch(set_writer(writer, out, Path(work), genotypes, labelled, **options), genotypes.codes)


def write_plink(prefix: str | os.PathLike, genotypes: GenotypeSet) -> Path:
    """Write ``PREFIX.bed/.bim/.fam`` (``PlinkWriter``, one batch); returns the prefix."""
    prefix = plink_prefix(prefix)
    _write_whole(PlinkWriter, prefix, genotypes)
    return prefix


def write_vcf(path: str | os.PathLike, genotypes: GenotypeSet, compresslevel: int = 6, index: bool = False) -> Path:
    """Write a VCF (``VcfWriter``, one batch: ``.vcf``, ``.vcf.gz``/``.vcf.bgz``, ``.bcf``; ``index``: and its
    ``.csi``); returns the path. The set's population labels are not written: a VCF has no place for them."""
    path = Path(path)
    _write_whole(VcfWriter, path, genotypes, labelled=False, compresslevel=compresslevel, index=index)
    return path


def write_npy(path: str | os.PathLike, genotypes: GenotypeSet) -> Path:
    """Write the int8 matrix ``[rows, snps]`` as ``.npy`` and its metadata as the ``.json`` sidecar next to it
    (``NpyWriter``, one batch); returns the ``.npy`` path."""
    path = Path(path)
    _write_whole(NpyWriter, path, genotypes)
    return path


def _vcf_to_bcf(text: Path, bcf: Path) -> None:
    """Encode the plain VCF ``text`` as BCF (binary: htslib, through cyvcf2's ``Writer``)."""
    from cyvcf2 import VCF, Writer

    reader = VCF(str(text))
    writer = Writer(str(bcf), reader, mode="wb")
    for record in reader:
        writer.write_record(record)
    writer.close()
    reader.close()


def _bgzf_block(data: bytes, level: int) -> bytes:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    payload = compressor.compress(data) + compressor.flush()
    header = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(payload) + 25)
    return header + payload + struct.pack("<II", zlib.crc32(data), len(data))


class _BgzfFile:
    """A write-only BGZF stream: buffered text is cut into <= 64 KiB blocks, each its own gzip member."""

    def __init__(self, path: Path, level: int):
        self._handle = open(path, "wb")
        self._level = level
        self._buffer = bytearray()

    def write(self, data: bytes) -> None:
        self._buffer += data
        while len(self._buffer) >= _BGZF_MAX_INPUT:
            self._handle.write(_bgzf_block(bytes(self._buffer[:_BGZF_MAX_INPUT]), self._level))
            del self._buffer[:_BGZF_MAX_INPUT]

    def close(self) -> None:
        if self._buffer:
            self._handle.write(_bgzf_block(bytes(self._buffer), self._level))
        self._handle.write(_BGZF_EOF)
        self._handle.close()


def _vcf_header(snps: SnpInfo, column_chunks: Iterable[np.ndarray]) -> bytes:
    """The meta lines and the ``#CHROM`` line with the sample columns, given in chunks (one chunk for a set in
    memory; a streamed cohort gives them chunk by chunk)."""
    lines = ["##fileformat=VCFv4.2", f"##source=snpdiff {__version__}"]
    for chrom in dict.fromkeys(snps.chrom.tolist()):
        lines.append(f"##contig=<ID={chrom},length={int(snps.position[snps.chrom == chrom].max())}>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]))
    header = "\n".join(lines) + "".join("\t" + "\t".join(chunk.tolist()) for chunk in column_chunks if len(chunk))
    return (header + "\n").encode()


def _vcf_records(
    snps: SnpInfo, n_rows: int, haplotype: bool, read: Callable[[int, int, int, int], np.ndarray]
) -> Iterator[bytes]:
    """Yield the VCF body in pieces, genotype fields built with numpy (4 bytes per call: ``a/b`` + tab).

    ``read(snp_start, snp_stop, row_start, row_stop)`` gives those codes SNP-major ``[snps, rows]``. Whole lines are
    built for as many SNPs as fit in ``_VCF_BLOCK_CALLS`` calls (at most ``_VCF_BLOCK_SNPS``); when one line holds
    more calls than that, it is built in pieces of rows, so memory stays bounded by the block, not by ``n_rows``.
    """
    if haplotype:
        # haplotype rows 2i and 2i+1 -> one phased call "a|b"; allele codes 0/1, missing '.'
        alleles = np.frombuffer(b"01.", dtype=np.uint8)
        table = np.empty((3, 3, 4), dtype=np.uint8)
        for first in range(3):
            for second in range(3):
                table[first, second] = [alleles[first], ord("|"), alleles[second], ord("\t")]
    else:
        table = np.frombuffer(b"0/0\t0/1\t1/1\t./.\t", dtype=np.uint8).reshape(4, 4)
    block_snps = max(1, min(_VCF_BLOCK_SNPS, _VCF_BLOCK_CALLS // max(n_rows, 1)))
    piece_rows = n_rows if block_snps > 1 else _VCF_BLOCK_CALLS  # even: a haplotype pair never splits
    for start in range(0, len(snps), block_snps):
        stop = min(len(snps), start + block_snps)
        for row_start in range(0, n_rows, piece_rows):
            row_stop = min(n_rows, row_start + piece_rows)
            block = read(start, stop, row_start, row_stop)
            if haplotype:
                index = np.where(block == MISSING_CODE, 2, block)
                calls = table[index[:, 0::2], index[:, 1::2]]  # [snps, individuals, 4]
            else:
                calls = table[np.where(block == MISSING_CODE, 3, block)]
            if row_stop == n_rows:
                calls[:, -1, 3] = ord("\n")
            calls = calls.reshape(len(block), -1)
            out = bytearray()
            for offset, row in enumerate(calls):
                if row_start == 0:
                    j = start + offset
                    fixed = (snps.chrom[j], snps.position[j], snps.snp_id[j], snps.ref[j], snps.alt[j])
                    out += ("\t".join(map(str, fixed)) + "\t.\tPASS\t.\tGT\t").encode()
                out += row.tobytes()
            yield bytes(out)


def write_parquet(path: str | os.PathLike, genotypes: GenotypeSet, row_group_size: int = 4096) -> Path:
    """Write the old tool's layout: one row per SNP (metadata columns ``chrom``, ``position``, ``snp_id``, ``ref``,
    ``alt``), one int8 column per sample, missing = 9."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    codes = np.asarray(genotypes.codes, dtype=np.int8)
    columns = {field: pa.array(getattr(genotypes.snps, field)) for field in SNP_FIELDS}
    for row, sample in enumerate(genotypes.sample_ids):
        values = codes[row].copy()
        values[values == MISSING_CODE] = PARQUET_MISSING_CODE
        columns[str(sample)] = pa.array(values)
    pq.write_table(pa.table(columns), path, row_group_size=row_group_size)
    return path
