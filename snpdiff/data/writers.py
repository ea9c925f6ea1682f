"""Writers for genotype sets (real or generated): PLINK, VCF (plain, bgzipped, BCF), ``.npy`` + sidecar, Parquet.

Each writes the set's SNP metadata (chromosome, positions, SNP ids, alleles) and sample ids, so a synthetic cohort made
with ``synthetic_sample_ids`` and the training window's ``SnpInfo`` goes straight into PLINK, bcftools or a GWAS
pipeline, and the project's readers give back the same matrix and metadata.

VCF compression: ``.vcf.gz`` is written as BGZF (the blocked gzip that htslib/tabix/bcftools index) with the standard
library's zlib, block by block, from text built with numpy for many SNPs at once rather than one cyvcf2 call per record
into htslib's writer; ``.bcf`` goes through cyvcf2's ``Writer`` (htslib), since BCF is binary. ``index_vcf`` adds a
``.csi`` index with htslib's ``bcf_index_build``, which cyvcf2's extension module carries (cyvcf2 has no Python call for
it).
"""

from __future__ import annotations

import ctypes
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from bed_reader import to_bed

from snpdiff import __version__
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.sources.npy import npy_sidecar
from snpdiff.data.sources.parquet import PARQUET_MISSING_CODE
from snpdiff.data.sources.plink import BED_MISSING, plink_prefix
from snpdiff.data.types import SNP_FIELDS, GenotypeSet, individual_ids_of_rows
from snpdiff.errors import DataError

# SNPs per block of VCF text built at once (bounds memory: block SNPs x samples x 4 bytes)
_VCF_BLOCK_SNPS = 2048
# BGZF: gzip members of at most 64 KiB with a 'BC' extra field holding the member size (SAM/BAM spec, section 4.1)
_BGZF_MAX_INPUT = 0xFF00
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def synthetic_sample_ids(n_samples: int, prefix: str = "synthetic") -> np.ndarray:
    """Sample ids for generated genotypes: ``<prefix>_0``, ``<prefix>_1``, ..."""
    return np.asarray([f"{prefix}_{i}" for i in range(n_samples)], dtype=np.str_)


def write_plink(prefix: str | os.PathLike, genotypes: GenotypeSet) -> Path:
    """Write ``PREFIX.bed/.bim/.fam`` with bed-reader; returns the prefix.

    ``alt`` is PLINK allele 1 (the counted allele), ``ref`` allele 2; the family id is the population label when
    there is one (``data.population_file=fam`` reads it back), else the sample id. Haplotype sets are written as
    rows of 0/1 codes.
    """
    prefix = plink_prefix(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    codes = np.array(genotypes.codes, dtype=np.int8)
    codes[codes == MISSING_CODE] = BED_MISSING
    snps = genotypes.snps
    families = genotypes.populations if genotypes.populations is not None else genotypes.sample_ids
    properties = {
        "fid": families.tolist(),
        "iid": genotypes.sample_ids.tolist(),
        "chromosome": snps.chrom.tolist(),
        "sid": snps.snp_id.tolist(),
        "bp_position": snps.position.tolist(),
        "allele_1": snps.alt.tolist(),
        "allele_2": snps.ref.tolist(),
        "cm_position": [0.0] * len(snps),
    }
    to_bed(f"{prefix}.bed", codes, properties=properties, count_A1=True, num_threads=1)
    return prefix


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


def _vcf_header(genotypes: GenotypeSet, columns: np.ndarray) -> bytes:
    snps = genotypes.snps
    lines = ["##fileformat=VCFv4.2", f"##source=snpdiff {__version__}"]
    for chrom in dict.fromkeys(snps.chrom.tolist()):
        lines.append(f"##contig=<ID={chrom},length={int(snps.position[snps.chrom == chrom].max())}>")
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT", *columns]))
    return ("\n".join(lines) + "\n").encode()


def _vcf_records(genotypes: GenotypeSet) -> Iterator[bytes]:
    """Yield the VCF body in blocks of SNPs, genotype fields built with numpy (4 bytes per call: ``a/b`` + tab)."""
    snps = genotypes.snps
    if genotypes.haplotype:
        # haplotype rows 2i and 2i+1 -> one phased call "a|b"; allele codes 0/1, missing '.'
        alleles = np.frombuffer(b"01.", dtype=np.uint8)
        table = np.empty((3, 3, 4), dtype=np.uint8)
        for first in range(3):
            for second in range(3):
                table[first, second] = [alleles[first], ord("|"), alleles[second], ord("\t")]
    else:
        table = np.frombuffer(b"0/0\t0/1\t1/1\t./.\t", dtype=np.uint8).reshape(4, 4)
    for start in range(0, genotypes.n_snps, _VCF_BLOCK_SNPS):
        block = np.asarray(genotypes.codes[:, start : start + _VCF_BLOCK_SNPS]).T  # [snps, rows]
        if genotypes.haplotype:
            index = np.where(block == MISSING_CODE, 2, block)
            calls = table[index[:, 0::2], index[:, 1::2]]  # [snps, individuals, 4]
        else:
            calls = table[np.where(block == MISSING_CODE, 3, block)]
        calls[:, -1, 3] = ord("\n")
        calls = calls.reshape(len(block), -1)
        out = bytearray()
        for offset, row in enumerate(calls):
            j = start + offset
            fixed = (snps.chrom[j], snps.position[j], snps.snp_id[j], snps.ref[j], snps.alt[j], ".", "PASS", ".", "GT")
            out += ("\t".join(map(str, fixed)) + "\t").encode()
            out += row.tobytes()
        yield bytes(out)


def index_vcf(path: str | os.PathLike) -> Path:
    """Build the CSI index ``<path>.csi`` of a bgzipped VCF or a BCF (what ``bcftools index`` makes); returns it."""
    from cyvcf2 import cyvcf2 as htslib_module

    build = ctypes.CDLL(htslib_module.__file__).bcf_index_build
    build.argtypes = [ctypes.c_char_p, ctypes.c_int]
    # 14: CSI bins of 2^14 bp, htslib's default
    if build(str(path).encode(), 14) != 0:
        raise DataError(f"cannot index {path}: it must be a sorted bgzipped VCF or a BCF")
    return Path(f"{path}.csi")


def write_vcf(path: str | os.PathLike, genotypes: GenotypeSet, compresslevel: int = 6, index: bool = False) -> Path:
    """Write a VCF 4.2 with GT only: ``.vcf`` plain text, ``.vcf.gz``/``.vcf.bgz`` BGZF, ``.bcf`` binary.

    Diploid rows give unphased ``a/b`` calls (dosage 0/1/2 -> 0/0, 0/1, 1/1); haplotype sets give one phased
    ``a|b`` call per individual from rows ``2i``, ``2i+1``. Missing calls are ``./.``. ``compresslevel`` is zlib's.
    ``index``: also write the ``.csi`` index (bgzipped VCF and BCF only), so region reads seek instead of scanning.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = individual_ids_of_rows(genotypes.sample_ids) if genotypes.haplotype else genotypes.sample_ids
    name = path.name.lower()
    if name.endswith(".bcf"):
        with tempfile.TemporaryDirectory(dir=path.parent) as temp:
            # BCF is binary: write the text, then let htslib (cyvcf2's Writer) encode it
            text = write_vcf(Path(temp) / "records.vcf", genotypes)
            from cyvcf2 import VCF, Writer

            reader = VCF(str(text))
            writer = Writer(str(path), reader, mode="wb")
            for record in reader:
                writer.write_record(record)
            writer.close()
            reader.close()
    else:
        compressed = name.endswith((".gz", ".bgz"))
        if index and not compressed:
            raise DataError(f"cannot index {path}: plain-text VCF; write .vcf.gz or .bcf")
        handle = _BgzfFile(path, compresslevel) if compressed else open(path, "wb")
        try:
            handle.write(_vcf_header(genotypes, columns))
            for chunk in _vcf_records(genotypes):
                handle.write(chunk)
        finally:
            handle.close()
    if index:
        index_vcf(path)
    return path


def write_npy(path: str | os.PathLike, genotypes: GenotypeSet) -> Path:
    """Write the int8 matrix ``[rows, snps]`` as ``.npy`` and its metadata as the ``.json`` sidecar next to it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(genotypes.codes, dtype=np.int8))
    meta = {
        "snps": genotypes.snps.to_dict(),
        "sample_ids": genotypes.sample_ids.tolist(),
        "populations": None if genotypes.populations is None else genotypes.populations.tolist(),
        "haplotype": genotypes.haplotype,
    }
    npy_sidecar(path).write_text(json.dumps(meta))
    return path


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
