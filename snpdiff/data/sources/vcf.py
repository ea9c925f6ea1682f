"""VCF and BCF files (plain or bgzipped) read with cyvcf2.

Why cyvcf2 rather than pysam: its wheels bundle htslib (nothing to compile, one dependency for VCF, VCF.gz and BCF
alike), and it hands out each record's genotypes as numpy arrays (``gt_types``, ``genotype.array()``) decoded in C,
which is what a SNP matrix needs; pysam hands out a Python object per sample instead.

GT to codes: diploid dosage = copies of the ALT allele (0/1/2); a call with any missing allele (``./.``, ``0/.``,
``.``) is missing. In haplotype mode (``haplotype=True``) each individual gives two rows, its phased alleles (0/1) in
GT order; an unphased heterozygous call is an error. Skipped and counted (``self.skipped``, logged): multi-allelic
sites, sites with no ALT allele, records without a GT field and, with ``snps_only`` (default), indels and other
non-SNP sites. ``data.region`` uses the index (``.tbi``/``.csi``) when there is one, else it filters while streaming.

Haploid calls (``1`` on a male chrX, chrY, MT) follow ``haploid_calls``: ``error`` (default: a DataError naming the
file, the first haploid call's chrom:pos and sample, and the option), ``homozygous`` (a haploid allele counts as two
copies, as PLINK 1.9 codes haploid genotypes: ``1`` -> dosage 2, a haplotype row pair 1/1) or ``missing``. Silently
reading ``1`` as dosage 2 (cyvcf2's ``gt_types``) would mix one-copy and two-copy people in one column, hence the
explicit choice. Calls of ploidy above 2 are an error. Positions must not decrease within a chromosome and a
chromosome's records must be contiguous (the region filter stops at the region's end): an unsorted file is refused
naming the first out-of-order record (``bcftools sort`` fixes it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from cyvcf2 import VCF

from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.sources.base import (
    HAPLOID_CALLS,
    GenotypeSource,
    Region,
    chrom_key,
    next_chunk_size,
    require_file,
)
from snpdiff.data.types import SnpInfo
from snpdiff.errors import ConfigError, DataError

_BASES = frozenset("ACGTacgt")
# htslib's allele index padding of a call shorter than the record's ploidy (the second allele of a haploid call)
_VECTOR_END = -2


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

    def __init__(
        self, path: str | os.PathLike, haplotype: bool = False, snps_only: bool = True, haploid_calls: str = "error"
    ):
        if haploid_calls not in HAPLOID_CALLS:
            raise ConfigError(f"data.haploid_calls={haploid_calls!r} is not allowed; allowed: {list(HAPLOID_CALLS)}")
        self.vcf_path = require_file(path, "VCF file")
        super().__init__(str(self.vcf_path))
        self.haplotype = bool(haplotype)
        self.snps_only = bool(snps_only)
        self.haploid_calls = haploid_calls
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
        return {"snps_only": self.snps_only, "haploid_calls": self.haploid_calls}

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

    def _alleles(self, variant, calls: np.ndarray, samples: np.ndarray) -> np.ndarray:
        """Allele indices ``[individuals, 2]`` of one record (< 0: missing), haploid calls resolved by the policy.

        ``calls``: cyvcf2's ``genotype.array()``, ``[individuals, ploidy + 1]`` (allele indices, then the phased flag).
        """
        ploidy = calls.shape[1] - 1
        if ploidy > 2 and (calls[:, 2:ploidy] != _VECTOR_END).any():
            sample = samples[np.flatnonzero((calls[:, 2:ploidy] != _VECTOR_END).any(axis=1))[0]]
            raise DataError(
                f"{self.vcf_path}: {variant.CHROM}:{variant.POS} has a call of ploidy {ploidy} (sample {sample}); "
                "snpdiff reads diploid (and haploid) genotypes only"
            )
        alleles = np.full((len(calls), 2), _VECTOR_END, dtype=np.int32)
        alleles[:, : min(ploidy, 2)] = calls[:, : min(ploidy, 2)]
        haploid = (alleles[:, 1] == _VECTOR_END) & (alleles[:, 0] >= 0)  # a lone '.' is a missing call
        if haploid.any():
            if self.haploid_calls == "error":
                first = np.flatnonzero(haploid)[0]
                raise DataError(
                    f"{self.vcf_path}: {variant.CHROM}:{variant.POS} has a haploid call "
                    f"(GT {alleles[first, 0]}) for sample {samples[first]} ({int(haploid.sum())} haploid calls in "
                    "this record); snpdiff reads diploid genotypes. Set data.haploid_calls=homozygous to count a "
                    "haploid allele as two copies (as PLINK 1.9 does), data.haploid_calls=missing to treat haploid "
                    "calls as missing, or leave the haploid chromosome out with data.region"
                )
            if self.haploid_calls == "homozygous":
                alleles[haploid, 1] = alleles[haploid, 0]
            else:
                alleles[haploid] = -1
        return alleles

    def _codes(self, variant, samples: np.ndarray) -> np.ndarray:
        """Codes of one record: ``[individuals]`` dosages, or ``[2 * individuals]`` haplotype alleles."""
        calls = variant.genotype.array()
        alleles = self._alleles(variant, calls, samples)
        missing = (alleles < 0).any(axis=1)
        if not self.haplotype:
            return np.where(missing, MISSING_CODE, alleles.sum(axis=1)).astype(np.int8)
        phased = calls[:, -1] == 1
        unphased_het = ~phased & (alleles[:, 0] != alleles[:, 1]) & ~missing
        if unphased_het.any():
            raise DataError(
                f"{self.vcf_path}: data.haplotype=true needs phased genotypes, but {variant.CHROM}:{variant.POS} has "
                f"{int(unphased_het.sum())} unphased heterozygous calls"
            )
        return np.where(alleles < 0, MISSING_CODE, alleles).astype(np.int8).reshape(-1)

    def _check_order(self, variant, previous: tuple[str, int] | None, finished: set[str]) -> None:
        """DataError unless ``variant`` follows ``previous`` in a sorted file (``finished``: chromosomes left)."""
        if previous is None:
            return
        chrom, position = previous
        if variant.CHROM == chrom and variant.POS < position:
            raise DataError(
                f"{self.vcf_path} is not sorted: {variant.CHROM}:{variant.POS} comes after {chrom}:{position}; "
                "sort it first (bcftools sort)"
            )
        if variant.CHROM != chrom and variant.CHROM in finished:
            raise DataError(
                f"{self.vcf_path} is not sorted: chromosome {variant.CHROM} starts again at "
                f"{variant.CHROM}:{variant.POS} after records of {chrom}; sort it first (bcftools sort)"
            )

    def iter_chunks(
        self, individuals: np.ndarray, region: Region | None, chunk_snps: int
    ) -> Iterator[tuple[SnpInfo, np.ndarray]]:
        self.skipped = {}
        subset = None if len(individuals) == len(self._sample_ids) else self._sample_ids[individuals].tolist()
        vcf = self._open(subset)
        if subset is not None and list(vcf.samples) != subset:
            # cyvcf2 keeps file order; individuals are in file order, so this only guards against duplicate ids
            raise DataError(f"{self.vcf_path}: sample selection is ambiguous (duplicate sample ids?)")
        samples = np.asarray(vcf.samples)
        indexed = region is not None and _has_index(self.vcf_path)
        if indexed:
            query = _region_query(vcf, region)
            records = vcf(query) if query is not None else iter(())
        else:
            records = vcf
        in_region = 0
        columns: list[np.ndarray] = []
        fields: dict[str, list] = {"chrom": [], "position": [], "snp_id": [], "ref": [], "alt": []}
        previous: tuple[str, int] | None = None
        finished: set[str] = set()
        try:
            for variant in records:
                self._check_order(variant, previous, finished)
                if previous is not None and variant.CHROM != previous[0]:
                    finished.add(previous[0])
                previous = (variant.CHROM, variant.POS)
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
                columns.append(self._codes(variant, samples))
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
