"""Every bad input of the data issue: one DataError naming the file, raised in prepare_data/setup (before training),
and no cache entry left behind."""

import gzip
import re
import shutil

import numpy as np
import pytest

from snpdiff.data import GenotypeDataModule, GenotypeSet, write_npy, write_plink
from snpdiff.data.cache import list_entries
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.selection import maf_and_missing
from snpdiff.errors import ConfigError, DataError


def _setup(cache_dir, **data):
    """Build the data module as training does: prepare_data (cache build), then setup."""
    datamodule = GenotypeDataModule(**{"cache_dir": str(cache_dir), "seq_length": 32, **data})
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def _expect(cache_dir, pattern, **data):
    with pytest.raises(DataError, match=pattern) as raised:
        _setup(cache_dir, **data)
    assert list_entries(cache_dir) == []
    return str(raised.value)


def _copy_plink(prefix, destination):
    for suffix in (".bed", ".bim", ".fam"):
        shutil.copy(f"{prefix}{suffix}", f"{destination}{suffix}")
    return destination


@pytest.mark.parametrize("source, name", [("plink", "absent"), ("vcf", "absent.vcf.gz"), ("parquet", "absent.pq")])
def test_missing_path(cache_dir, tmp_path, source, name):
    path = tmp_path / name
    message = _expect(cache_dir, re.escape(str(path)), source=source, path=str(path))
    assert "does not exist" in message


def test_truncated_bed(files, cache_dir, tmp_path):
    prefix = _copy_plink(files["plink"], tmp_path / "cut")
    bed = tmp_path / "cut.bed"
    bed.write_bytes(bed.read_bytes()[:-7])  # ends in the middle of the last SNP row
    message = _expect(cache_dir, re.escape(str(bed)), source="plink", path=str(prefix))
    assert "truncated" in message


@pytest.mark.parametrize("extra", [".bim", ".fam"])
def test_bim_or_fam_counts_disagree_with_bed_size(files, cache_dir, tmp_path, extra):
    prefix = _copy_plink(files["plink"], tmp_path / "mismatch")
    with open(f"{prefix}{extra}", "a") as handle:
        handle.write("1\tsnp_extra\t0\t999999\tA\tG\n" if extra == ".bim" else "FAM extra 0 0 0 -9\n")
    message = _expect(cache_dir, re.escape(f"{prefix}.bed"), source="plink", path=str(prefix))
    assert f"{prefix}.bim" in message and f"{prefix}.fam" in message


def test_vcf_without_gt_field(cache_dir, tmp_path):
    path = tmp_path / "no_gt.vcf.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(
            "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
            '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\n"
            "1\t100\t.\tA\tG\t.\tPASS\t.\tDP\t3\t4\n"
        )
    message = _expect(cache_dir, re.escape(str(path)), source="vcf", path=str(path))
    assert "no GT field" in message


@pytest.mark.parametrize("source, key", [("plink", "plink"), ("vcf", "vcf.gz"), ("npy", "npy")])
@pytest.mark.parametrize("region", ["2:1-1000000", "1:1-2"])
def test_region_with_no_snps(files, cache_dir, source, key, region):
    message = _expect(cache_dir, re.escape(str(files[key])), source=source, path=str(files[key]), region=region)
    assert "holds no" in message and f"data.region={region.split('-')[0]}" in message


def test_seq_length_larger_than_snps_left_says_how_many(files, with_missing, cache_dir):
    maf, _ = maf_and_missing(np.asarray(with_missing.codes), ploidy=2)
    left = int((maf >= 0.05).sum())
    message = _expect(
        cache_dir,
        re.escape(str(files["vcf.gz"])),
        source="vcf",
        path=str(files["vcf.gz"]),
        min_maf=0.05,
        seq_length=left + 1,
    )
    assert f"larger than the {left} SNPs left" in message
    # with an offset, fewer are left for the window
    message = _expect(
        cache_dir, "SNPs left", source="plink", path=str(files["plink"]), snp_offset=10, seq_length=left, min_maf=0.05
    )
    assert f"larger than the {left - 10} SNPs left" in message


def test_population_file_matching_no_sample(files, cache_dir, tmp_path):
    table = tmp_path / "labels.tsv"
    table.write_text("NA0001\tYRI\nNA0002\tCEU\n")
    message = _expect(
        cache_dir, re.escape(str(table)), source="plink", path=str(files["plink"]), population_file=str(table)
    )
    assert "none of its 2 ids match" in message


def test_all_missing_snp_with_imputation_off(simulated, cache_dir, tmp_path):
    codes = np.array(simulated.codes)
    codes[:, 4] = MISSING_CODE
    broken = GenotypeSet(codes, simulated.snps, simulated.sample_ids, simulated.populations)
    for path, source in (
        (write_npy(tmp_path / "hole.npy", broken), "npy"),
        (write_plink(tmp_path / "hole", broken), "plink"),
    ):
        message = _expect(cache_dir, re.escape(str(path)), source=source, path=str(path), impute="none", min_maf=0.0)
        assert f"SNP {simulated.snps.snp_id[4]}" in message and "no called genotype" in message


def test_missing_calls_with_imputation_off(files, cache_dir):
    message = _expect(
        cache_dir,
        re.escape(str(files["plink"])),
        source="plink",
        path=str(files["plink"]),
        impute="none",
        seq_length=200,
    )
    assert "data.impute=none" in message


def test_bad_keys_fail_at_construction_naming_the_key(files):
    with pytest.raises(ConfigError, match="data.path is required for data=plink"):
        GenotypeDataModule(source="plink")
    with pytest.raises(ConfigError, match=r"data.val_fraction \+ data.test_fraction"):
        GenotypeDataModule(val_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ConfigError, match="data.haplotype=true needs phased"):
        GenotypeDataModule(source="plink", path=str(files["plink"]), haplotype=True)


def test_unphased_vcf_in_haplotype_mode(files, cache_dir):
    message = _expect(
        cache_dir, re.escape(str(files["vcf.gz"])), source="vcf", path=str(files["vcf.gz"]), haplotype=True
    )
    assert "needs phased genotypes" in message


def test_malformed_bim_line_names_the_file_and_line(files, cache_dir, tmp_path):
    prefix = _copy_plink(files["plink"], tmp_path / "malformed")
    bim = tmp_path / "malformed.bim"
    lines = bim.read_text().splitlines()
    lines[2] = "1 snp_without_alleles 0 500"
    bim.write_text("\n".join(lines) + "\n")
    message = _expect(cache_dir, re.escape(f"{bim} line 3"), source="plink", path=str(prefix))
    assert "snp_without_alleles" in message
