"""VCF and BCF files (plain or bgzipped) read with cyvcf2.

Why cyvcf2 rather than pysam: its wheels bundle htslib (nothing to compile, one dependency for VCF, VCF.gz and BCF
alike), and it hands out each record's genotypes as numpy arrays (``gt_types``, ``genotype.array()``) decoded in C,
which is what a SNP matrix needs; pysam hands out a Python object per sample instead.

GT to codes: diploid dosage = copies of the ALT allele (0/1/2); a call with any missing allele (``./.``, ``0/.``) is
missing. In haplotype mode (``haplotype=True``) each individual gives two rows, its phased alleles (0/1) in GT order;
an unphased heterozygous call is an error. Skipped and counted (``self.skipped``, logged): multi-allelic sites,
sites with no ALT allele, records without a GT field and, with ``snps_only`` (default), indels and other non-SNP
sites. ``data.region`` uses the index (``.tbi``/``.csi``) when there is one, else it filters while streaming.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from cyvcf2 import VCF

from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.sources.base import GenotypeSource, Region, chrom_key, next_chunk_size, require_file
from snpdiff.data.types import SnpInfo
from snpdiff.errors import DataError

_BASES = frozenset("ACGTacgt")
# cyvcf2 gt_types with gts012=True: 0 hom-ref, 1 het, 2 hom-alt, 3 unknown -> dosage codes
_GT_TYPE_TO_CODE = np.array([0, 1, 2, MISSING_CODE], dtype=np.int8)


def _has_index(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in (".tbi", ".csi"))


def _region_query(vcf: VCF, region: Region) -> str | None:
    """htslib region string with the file's own contig name (``chr1`` and ``1`` match), None if it has none."""
    contig = next((name for name in vcf.seqnames if chrom_key(name) == chrom_key(region.chrom)), None)
    if contig is None:
        return None
    return f"{contig}:{region.start}-{region.end}" if region.end is not None else f"{contig}:{region.start}"


class VcfSource(GenotypeSource):
    format = "vcf"

    def __init__(self, path: str | os.PathLike, haplotype: bool = False, snps_only: bool = True):
        self.vcf_path = require_file(path, "VCF file")
        super().__init__(str(self.vcf_path))
        self.haplotype = bool(haplotype)
        self.snps_only = bool(snps_only)
        vcf = self._open()
        try:
            self._sample_ids = np.asarray(vcf.samples, dtype=np.str_)
            vcf.get_header_type("GT")
        except KeyError:
            raise DataError(
                f"{self.vcf_path} has no GT field (no '##FORMAT=<ID=GT' header line): snpdiff needs genotype calls"
            ) from None
        finally:
            vcf.close()
        if len(self._sample_ids) == 0:
            raise DataError(f"{self.vcf_path} has no sample columns")

    def _open(self, samples: list[str] | None = None) -> VCF:
        try:
            return VCF(str(self.vcf_path), gts012=True, strict_gt=True, samples=samples)
        except Exception as error:  # cyvcf2 raises bare Exception (or OSError) on htslib failures
            raise DataError(f"{self.vcf_path} is not a readable VCF/BCF file: {error}") from error

    def options(self) -> dict:
        return {"snps_only": self.snps_only}

    @property
    def sample_ids(self) -> np.ndarray:
        return self._sample_ids

    def _skip_reason(self, variant) -> str | None:
        alts = variant.ALT
        if not alts:
            return "no_alt"
        if len(alts) > 1:
            return "multi_allelic"
        if self.snps_only and not (len(variant.REF) == 1 and len(alts[0]) == 1 and alts[0] in _BASES):
            return "not_snp"
        if "GT" not in variant.FORMAT:
            return "no_gt"
        return None

    def _codes(self, variant) -> np.ndarray:
        """Codes of one record: ``[individuals]`` dosages, or ``[2 * individuals]`` haplotype alleles."""
        if not self.haplotype:
            return _GT_TYPE_TO_CODE[variant.gt_types]
        calls = variant.genotype.array()  # [individuals, ploidy + 1]: allele indices (< 0 missing), phased flag
        alleles = calls[:, :2]
        unphased_het = (calls[:, 2] == 0) & (alleles[:, 0] != alleles[:, 1]) & (alleles >= 0).all(axis=1)
        if unphased_het.any():
            raise DataError(
                f"{self.vcf_path}: data.haplotype=true needs phased genotypes, but {variant.CHROM}:{variant.POS} has "
                f"{int(unphased_het.sum())} unphased heterozygous calls"
            )
        return np.where(alleles < 0, MISSING_CODE, alleles).astype(np.int8).reshape(-1)

    def iter_chunks(
        self, individuals: np.ndarray, region: Region | None, chunk_snps: int
    ) -> Iterator[tuple[SnpInfo, np.ndarray]]:
        self.skipped = {}
        subset = None if len(individuals) == len(self._sample_ids) else self._sample_ids[individuals].tolist()
        vcf = self._open(subset)
        if subset is not None and list(vcf.samples) != subset:
            # cyvcf2 keeps file order; individuals are in file order, so this only guards against duplicate ids
            raise DataError(f"{self.vcf_path}: sample selection is ambiguous (duplicate sample ids?)")
        indexed = region is not None and _has_index(self.vcf_path)
        if indexed:
            query = _region_query(vcf, region)
            records = vcf(query) if query is not None else iter(())
        else:
            records = vcf
        in_region = 0
        columns: list[np.ndarray] = []
        fields: dict[str, list] = {"chrom": [], "position": [], "snp_id": [], "ref": [], "alt": []}
        try:
            for variant in records:
                if region is not None and not indexed:
                    where = region.locate(variant.CHROM, variant.POS)
                    if where > 0:
                        break  # VCFs are sorted: nothing after the region's end belongs to it
                    if where < 0:
                        continue
                in_region += 1
                reason = self._skip_reason(variant)
                if reason is not None:
                    self.skipped[reason] = self.skipped.get(reason, 0) + 1
                    continue
                columns.append(self._codes(variant))
                fields["chrom"].append(variant.CHROM)
                fields["position"].append(variant.POS)
                fields["snp_id"].append(variant.ID or f"{variant.CHROM}:{variant.POS}")
                fields["ref"].append(variant.REF)
                fields["alt"].append(variant.ALT[0])
                if len(columns) == chunk_snps:
                    yield SnpInfo(**fields), np.stack(columns, axis=1)
                    columns = []
                    fields = {name: [] for name in fields}
                    chunk_snps = next_chunk_size(chunk_snps)
        finally:
            vcf.close()
        if columns:
            yield SnpInfo(**fields), np.stack(columns, axis=1)
        if region is not None and in_region == 0:
            raise DataError(f"data.region={region} holds no records in {self.vcf_path}")
