"""Data integrity (issue 22, items 4 and 5): a cache entry that does not pass its check is rebuilt from the source
with a warning naming the file, never blamed on the source; genotype files with haploid calls, unsorted positions, a
short .fam or .bim, non-integer Parquet values or a text file given as .npy fail with an error naming the file.

Files are written as other tools write them (bed-reader's ``to_bed``, bcftools-style VCF headers, pandas Parquet) or
byte by byte, and read through the real readers; the CLI cases run ``train.py`` as a user does."""

import gzip
import json
import os
import re

import numpy as np
import pandas as pd
import pytest
from bed_reader import to_bed

from snpdiff.data import GenotypeSet, read_genotypes, simulate_genotypes, write_plink
from snpdiff.data.cache import TEMP_PREFIX, list_entries
from snpdiff.data.selection import Selection, load_genotypes
from snpdiff.data.sources import open_source
from snpdiff.data.types import SnpInfo
from snpdiff.errors import DataError
from tests.helpers import run_dirs, run_train
from tests.reliability.campaign import check_row

CACHE_LOGGER = "snpdiff.data.cache"


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """30 individuals x 80 SNPs of random codes written as a PLINK fileset by the project's writer (its prefix)."""
    codes = np.random.default_rng(5).integers(0, 3, size=(30, 80), dtype=np.int8)
    genotypes = GenotypeSet(codes, SnpInfo.placeholder(80), [f"s{i}" for i in range(30)], None)
    return write_plink(tmp_path_factory.mktemp("cohort") / "cohort", genotypes)


def _load(prefix, cache_dir):
    return load_genotypes(open_source("plink", prefix), Selection(impute="keep"), cache_dir=cache_dir)


def _rebuilt_after(damage, prefix, cache_dir, caplog):
    """Build the entry, ``damage(entry)``, load again: (the second load's result, the warnings logged, the codes)."""
    first = _load(prefix, cache_dir)
    expected = np.array(first.genotypes.codes)
    del first  # its memory map must not see the damage done in place
    entry = list_entries(cache_dir)[0]
    damage(entry)
    with caplog.at_level("WARNING", logger=CACHE_LOGGER):
        again = _load(prefix, cache_dir)
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    return again, warnings, expected


def _reorder_rows(entry):
    codes = np.load(entry / "codes.npy", mmap_mode="r+")
    codes[:] = codes[::-1].copy()
    codes.flush()


def _zero_fill(entry):
    codes = np.load(entry / "codes.npy", mmap_mode="r+")
    codes[:] = 0
    codes.flush()


def _out_of_range(entry):
    codes = np.load(entry / "codes.npy", mmap_mode="r+")
    codes[0, 0] = 7
    codes.flush()


def _empty_file(entry):
    (entry / "codes.npy").write_bytes(b"")


def _truncate(entry):
    path = entry / "codes.npy"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garble_sidecar(entry):
    (entry / "meta.json").write_text('{"format": 1, "shape": [30')


def _drop_hash(entry):
    path = entry / "meta.json"
    meta = json.loads(path.read_text())
    del meta["codes_hash"]
    path.write_text(json.dumps(meta))


@pytest.mark.reliability_row("Data files and the cache", "cache entry changed after writing")
@pytest.mark.reliability_row("Data files and the cache", "cache codes empty")
@pytest.mark.reliability_row("Data files and the cache", "sidecar not JSON")
@pytest.mark.parametrize(
    "damage, file, reason",
    [
        (_reorder_rows, "codes.npy", "does not match the content hash"),
        (_zero_fill, "codes.npy", "does not match the content hash"),
        (_out_of_range, "codes.npy", "does not match the content hash"),
        (_empty_file, "codes.npy", "is unreadable (EOFError"),
        (_truncate, "codes.npy", "is unreadable"),
        (_garble_sidecar, "meta.json", "is unreadable"),
        (_drop_hash, "meta.json", "has no 'codes_hash'"),
    ],
)
def test_damaged_cache_entry_is_rebuilt_with_a_warning_naming_it(cohort, cache_dir, caplog, damage, file, reason):
    again, warnings, expected = _rebuilt_after(damage, cohort, cache_dir, caplog)
    assert again.built
    assert np.array_equal(again.genotypes.codes, expected)
    (warning,) = warnings
    assert f"{again.path / file} {reason}" in warning and "rebuilding it from the source" in warning
    # the rebuilt entry passes its check: a third load is a hit
    assert not _load(cohort, cache_dir).built


@pytest.mark.reliability_row("Data files and the cache", "cache build killed mid-write")
def test_a_cache_build_killed_mid_write_leaves_a_temporary_folder_that_is_never_read(cohort, cache_dir):
    """A killed writer leaves only its ``.tmp-`` folder (the entry is renamed into place whole): never read, the next
    load builds the entry."""
    reference = _load(cohort, cache_dir)
    expected = np.array(reference.genotypes.codes)
    entry = reference.path
    del reference
    os.rename(entry, entry.parent / "moved-away")  # as if the build had been killed before its rename
    leftover = entry.parent / f"{TEMP_PREFIX}{entry.name}-killed"
    leftover.mkdir()
    (leftover / "codes.npy").write_bytes(b"\x93NUMPY half")
    (leftover / "meta.json").write_text('{"format": 1')
    rebuilt = _load(cohort, cache_dir)
    assert rebuilt.built and rebuilt.path == entry
    assert np.array_equal(rebuilt.genotypes.codes, expected)


def test_reordered_cache_rows_give_the_source_codes_again(cohort, cache_dir, caplog):
    """The issue's case: rows permuted in the cache file used to train on other data with exit 0."""
    source_codes = read_genotypes(cohort).codes
    again, warnings, _ = _rebuilt_after(_reorder_rows, cohort, cache_dir, caplog)
    assert np.array_equal(again.genotypes.codes, source_codes)
    assert str(again.path / "codes.npy") in warnings[0]


def test_zero_filled_simulation_cache_is_rebuilt_not_blamed_on_the_simulation(tmp_path, caplog):
    """Zeroed codes used to fail as '0 SNPs are left after filtering' of the simulation."""
    original = np.array(simulate_genotypes(30, 50_000, seed=2, cache_dir=tmp_path).codes)
    (entry,) = list_entries(tmp_path)
    _zero_fill(entry)
    with caplog.at_level("WARNING", logger=CACHE_LOGGER):
        again = simulate_genotypes(30, 50_000, seed=2, cache_dir=tmp_path)
    assert np.array_equal(again.codes, original) and again.codes.any()
    assert f"{entry / 'codes.npy'} does not match the content hash" in caplog.text


@pytest.mark.reliability_row("Data files and the cache", "cache entry changed after writing")
@pytest.mark.slow
def test_train_cli_rebuilds_a_zeroed_cache_and_trains(tmp_path):
    """train.py on a zeroed simulation cache entry: exit 0, a warning naming the entry, the simulation rebuilt."""
    cache = tmp_path / "cache"
    # debug=fast simulates 60 individuals x 200 kb with the default seed: build that entry here, then zero it
    original = np.array(simulate_genotypes(60, 200_000, cache_dir=cache).codes)
    (entry,) = list_entries(cache)
    _zero_fill(entry)
    result = run_train("debug=fast", "logger=none", f"data.cache_dir={cache}", root=tmp_path / "run")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{entry / 'codes.npy'} does not match the content hash" in result.stderr + result.stdout
    assert "SNPs are left after filtering" not in result.stderr
    assert len(run_dirs(tmp_path / "run")) == 1
    assert np.array_equal(np.load(entry / "codes.npy"), original)


# --- VCF --------------------------------------------------------------------------------------------------------

VCF_HEADER = """##fileformat=VCFv4.2
##FILTER=<ID=PASS,Description="All filters passed">
##contig=<ID=chr1,length=248956422>
##contig=<ID=chrX,length=156040895>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##bcftools_viewVersion=1.17+htslib-1.17
##bcftools_viewCommand=view -s a,b,c,d cohort.bcf; Date=Tue Dec  5 10:00:00 2026
#CHROM	POS	ID	REF	ALT	QUAL	FILTER	INFO	FORMAT	a	b	c	d
"""


def _vcf(path, *records: str):
    """A VCF with ``records`` (tab-separated lines, GT only); gzipped when the name ends in .gz."""
    text = VCF_HEADER + "".join(f"{record}\n" for record in records)
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt") as handle:
        handle.write(text)
    return path


def _record(chrom, position, *calls):
    return "\t".join([chrom, str(position), f"rs{position}", "A", "G", ".", "PASS", ".", "GT", *calls])


HOM_REF = ["0/0"] * 4
DIPLOID = _record("chr1", 100, "0|1", "1/1", "./.", "0/0")
HAPLOID = _record("chrX", 2_000, "1", "0/1", "0", ".")  # a male's '1' and '0', a diploid call and a missing '.'


@pytest.mark.parametrize("name", ["calls.vcf", "calls.vcf.gz"])
def test_phased_unphased_and_missing_calls_are_read_as_dosages(tmp_path, name):
    path = _vcf(tmp_path / name, DIPLOID, _record("chr1", 200, "1|0", "0/1", ".", "1|1"))
    codes = read_genotypes(path).codes
    assert codes.T.tolist() == [[1, 2, -1, 0], [1, 1, -1, 2]]


@pytest.mark.reliability_row("Data files and the cache", "VCF haploid call")
@pytest.mark.parametrize("name", ["male_x.vcf", "male_x.vcf.gz"])
def test_haploid_call_is_an_error_naming_file_site_sample_and_option(tmp_path, name):
    path = _vcf(tmp_path / name, DIPLOID, HAPLOID)
    with pytest.raises(DataError) as raised:
        read_genotypes(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: chrX:2000 has a haploid call (GT 1) for sample a (2 haploid calls")
    assert "data.haploid_calls=homozygous" in message and "data.haploid_calls=missing" in message


@pytest.mark.reliability_row("Data files and the cache", "`data.haploid_calls=homozygous`")
@pytest.mark.parametrize(
    "policy, dosages, haplotype_rows",
    [
        # PLINK 1.9: a haploid genotype is coded homozygous
        ("homozygous", [2, 1, 0, -1], [[1, 1], [0, 1], [0, 0], [-1, -1]]),
        ("missing", [-1, 1, -1, -1], [[-1, -1], [0, 1], [-1, -1], [-1, -1]]),
    ],
)
def test_haploid_calls_option(tmp_path, policy, dosages, haplotype_rows):
    path = _vcf(tmp_path / "male_x.vcf.gz", _record("chrX", 2_000, "1", "0|1", "0", "."))
    assert read_genotypes(path, haploid_calls=policy).codes[:, 0].tolist() == dosages
    phased = read_genotypes(path, haploid_calls=policy, haplotype=True).codes[:, 0]
    assert phased.reshape(4, 2).tolist() == haplotype_rows


def test_all_haploid_record_is_not_misread(tmp_path):
    """A record where every call is haploid (ploidy 1 in htslib): the phased flag is not taken for an allele."""
    path = _vcf(tmp_path / "chrY.vcf", _record("chrX", 3_000, "1", "0", "1", "."))
    with pytest.raises(DataError, match=r"chrX:3000 has a haploid call \(GT 1\) for sample a \(3 haploid"):
        read_genotypes(path)
    assert read_genotypes(path, haploid_calls="homozygous").codes[:, 0].tolist() == [2, 0, 2, -1]


@pytest.mark.reliability_row("Data files and the cache", "VCF call of ploidy 3")
def test_polyploid_call_is_an_error(tmp_path):
    path = _vcf(tmp_path / "triploid.vcf", _record("chr1", 100, "0/0", "0/1/1", "1/1", "0/0"))
    with pytest.raises(DataError, match=re.escape(f"{path}: chr1:100 has a call of ploidy 3 (sample b)")):
        read_genotypes(path)


@pytest.mark.parametrize(
    "records, expected",
    [
        pytest.param(
            [_record("chr1", 300, *HOM_REF), _record("chr1", 100, *HOM_REF)],
            "chr1:100 comes after chr1:300",
            marks=pytest.mark.reliability_row("Data files and the cache", "VCF positions out of order"),
        ),
        pytest.param(
            [_record("chr1", 100, *HOM_REF), _record("chrX", 50, *HOM_REF), _record("chr1", 200, *HOM_REF)],
            "chromosome chr1 starts again at chr1:200 after records of chrX",
            marks=pytest.mark.reliability_row("Data files and the cache", "VCF chromosome in two blocks"),
        ),
    ],
)
def test_unsorted_vcf_is_refused_naming_the_first_out_of_order_record(tmp_path, records, expected):
    path = _vcf(tmp_path / "unsorted.vcf.gz", *records)
    with pytest.raises(DataError, match=re.escape(f"{path} is not sorted: {expected}; sort it first")):
        read_genotypes(path)


def test_repeated_position_is_sorted(tmp_path):
    """Two records at one position (a split multi-allelic site, as bcftools norm -m- writes) are in order."""
    path = _vcf(tmp_path / "split.vcf", _record("chr1", 100, *["0/1"] * 4), _record("chr1", 100, *["1/1"] * 4))
    assert read_genotypes(path).n_snps == 2


@pytest.mark.slow
@pytest.mark.parametrize("case", ["haploid", "unsorted"])
def test_train_cli_refuses_bad_vcf_with_exit_2(tmp_path, case):
    if case == "haploid":
        path = _vcf(tmp_path / "male_x.vcf.gz", DIPLOID, HAPLOID)
        expected = f"error: {path}: chrX:2000 has a haploid call (GT 1) for sample a"
    else:
        path = _vcf(tmp_path / "unsorted.vcf.gz", _record("chr1", 300, *HOM_REF), DIPLOID)
        expected = f"error: {path} is not sorted: chr1:100 comes after chr1:300"
    result = run_train("data=vcf", f"data.path={path}", "data.min_maf=0", "debug=fast", "logger=none", root=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    if case == "haploid":
        check_row(result, "Data files and the cache", "VCF haploid call")
    else:
        check_row(result, "Data files and the cache", "VCF positions out of order")


# --- PLINK ------------------------------------------------------------------------------------------------------


def _bed_reader_fileset(folder, n_samples=40, n_snps=50):
    """A fileset written by bed-reader's ``to_bed``; every SNP has some homozygous-A1 calls (bits 00) and others."""
    values = np.random.default_rng(1).integers(0, 3, size=(n_samples, n_snps)).astype(np.float32)
    values[-1] = 0  # the last sample: 2 copies of allele 1 (bits 00 at its slot), different bits from the rest
    values[-2] = 1
    to_bed(folder / "panel.bed", values, properties={"iid": [f"s{i}" for i in range(n_samples)]})
    return folder / "panel"


def _keep_lines(path, count):
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:count]) + "\n")


@pytest.mark.reliability_row("Data files and the cache", "37-row `.fam`")
def test_fam_shorter_than_the_bed_was_written_for(tmp_path):
    """37 .fam rows for a 40-sample .bed: same 10 bytes per SNP, so only the padding bits can tell."""
    prefix = _bed_reader_fileset(tmp_path)
    _keep_lines(tmp_path / "panel.fam", 37)
    with pytest.raises(DataError) as raised:
        read_genotypes(prefix)
    message = str(raised.value)
    assert message.startswith(f"{prefix}.fam lists 37 samples, but {prefix}.bed was written for more")
    assert "hold up to 40 samples" in message and f"line 1 of {prefix}.bim" in message


def test_bed_reader_fileset_with_padding_reads(tmp_path):
    """A 37-sample fileset as bed-reader writes it (zero padding) is fine: the check has no false alarm."""
    prefix = _bed_reader_fileset(tmp_path, n_samples=37)
    assert read_genotypes(prefix).codes.shape == (37, 50)


def test_hand_made_bed_with_set_padding_bits_names_the_snp(tmp_path):
    """5 samples, 2 SNPs (2 bytes each): SNP 2's last byte has bits past sample 5 set."""
    prefix = tmp_path / "hand"
    (tmp_path / "hand.fam").write_text("".join(f"f{i} s{i} 0 0 0 -9\n" for i in range(5)))
    (tmp_path / "hand.bim").write_text("1 rs1 0 100 A G\n1 rs2 0 200 A G\n")
    # sample 5 occupies bits 0-1 of the second byte; 0b10 = heterozygous there, 0b11 << 2 = a 6th sample
    (tmp_path / "hand.bed").write_bytes(bytes([0x6C, 0x1B, 0x01, 0xFF, 0b10, 0xFF, 0b1110]))
    with pytest.raises(DataError, match=re.escape(f"SNP row 2 (line 2 of {prefix}.bim)")):
        read_genotypes(prefix)
    (tmp_path / "hand.bed").write_bytes(bytes([0x6C, 0x1B, 0x01, 0xFF, 0b10, 0xFF, 0b10]))
    assert read_genotypes(prefix).codes.shape == (5, 2)


@pytest.mark.reliability_row("Data files and the cache", "short `.bim`")
def test_short_bim_is_blamed_not_the_bed(tmp_path):
    prefix = _bed_reader_fileset(tmp_path)
    _keep_lines(tmp_path / "panel.bim", 45)
    with pytest.raises(DataError) as raised:
        read_genotypes(prefix)
    message = str(raised.value)
    assert f"the .bed holds 50 SNP rows, so {prefix}.bim is missing SNP lines" in message
    assert "truncated" not in message


@pytest.mark.reliability_row("Data files and the cache", "a `.fam` that changes the bytes per SNP")
def test_fam_with_fewer_bytes_per_snp_is_blamed(tmp_path):
    prefix = _bed_reader_fileset(tmp_path)
    _keep_lines(tmp_path / "panel.fam", 35)  # 9 bytes per SNP instead of 10
    with pytest.raises(DataError) as raised:
        read_genotypes(prefix)
    message = str(raised.value)
    assert f"the .bed has 10 bytes per SNP (37-40 samples), so {prefix}.fam does not list" in message


@pytest.mark.reliability_row("Data files and the cache", "`.bed` cut mid-row")
def test_bed_cut_mid_row_is_truncated_or_corrupt(tmp_path):
    prefix = _bed_reader_fileset(tmp_path)
    bed = tmp_path / "panel.bed"
    bed.write_bytes(bed.read_bytes()[:-7])  # 50 rows of 10 bytes: ends inside the last row
    with pytest.raises(DataError) as raised:
        read_genotypes(prefix)
    message = str(raised.value)
    assert message.endswith(": 493 bytes is not a whole number of SNP rows for either, so the .bed is truncated or "
                            "corrupt")  # fmt: skip
    assert str(bed) in message


@pytest.mark.reliability_row("Data files and the cache", "known gap")
def test_known_gap_a_fam_longer_than_the_beds_samples_in_the_same_bytes_reads_phantom_samples(tmp_path):
    """40 .fam rows for a 37-sample .bed (10 bytes per SNP either way): the zero padding reads as three samples
    homozygous for allele 1 at every SNP. The format cannot tell; this documents what is read."""
    prefix = _bed_reader_fileset(tmp_path, n_samples=37)
    fam = tmp_path / "panel.fam"
    fam.write_text(fam.read_text() + "".join(f"p{i} p{i} 0 0 0 -9\n" for i in range(3)))
    codes = read_genotypes(prefix).codes
    assert codes.shape == (40, 50)
    assert len({tuple(row) for row in codes[37:].tolist()}) == 1 and len(set(codes[37].tolist())) == 1


# --- Parquet and npy --------------------------------------------------------------------------------------------


@pytest.mark.reliability_row("Data files and the cache", "Parquet value 0.5")
@pytest.mark.parametrize(
    "values, shown",
    [([0.0, 0.5, 2.0], "0.5"), ([0.0, 0.25, 1.0], "0.25"), ([0, 1, 3], "3"), ([0, 300, 1], "300")],
)
def test_parquet_values_other_than_genotypes_are_refused(tmp_path, values, shown):
    path = tmp_path / "dosages.parquet"
    pd.DataFrame({"snp_id": ["rs1", "rs2", "rs3"], "s1": [0, 1, 2], "s2": values}).to_parquet(path)
    row = next(index for index, value in enumerate(values) if value not in (0, 1, 2))
    with pytest.raises(DataError) as raised:
        read_genotypes(path)
    assert str(raised.value).startswith(
        f"{path}: sample column 's2', row {row} (0-based; marker rs{row + 1}) holds {shown}"
    )


def test_parquet_missing_values_still_read(tmp_path):
    path = tmp_path / "gaps.parquet"
    pd.DataFrame({"s1": [0, 9, 2], "s2": [1.0, None, 2.0]}).to_parquet(path)
    assert read_genotypes(path).codes.tolist() == [[0, -1, 2], [1, -1, 2]]


@pytest.mark.reliability_row("Data files and the cache", "a text file given as `.npy`")
def test_text_file_given_as_npy(tmp_path):
    path = tmp_path / "matrix.npy"
    path.write_text("0 1 2\n2 1 0\n")
    with pytest.raises(DataError, match=re.escape(f"{path} is not a .npy file (it does not start with the NPY")):
        read_genotypes(path)
