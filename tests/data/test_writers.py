"""Writers: read, write, read again gives the same matrix and metadata; outputs are valid for other tools."""

import gzip
import json
import struct

import numpy as np
import pytest
from bed_reader import open_bed, to_bed
from cyvcf2 import VCF

from snpdiff.data import GenotypeSet, SnpInfo, read_genotypes, synthetic_sample_ids, write_npy, write_plink, write_vcf
from snpdiff.data.writers import _BGZF_EOF
from snpdiff.errors import DataError


@pytest.mark.parametrize("suffix", ["", ".vcf", ".vcf.gz", ".bcf", ".npy"])
def test_read_write_read_round_trip(files, tmp_path, suffix):
    original = read_genotypes(files["plink"], population_file="fam")
    writer = {"": write_plink, ".npy": write_npy}.get(suffix, write_vcf)
    path = writer(tmp_path / f"copy{suffix}", original)
    again = read_genotypes(path, population_file="fam" if suffix == "" else None)
    assert np.array_equal(again.codes, original.codes)
    assert again.missing_count == original.missing_count > 0
    assert again.snps.equals(original.snps)
    assert np.array_equal(again.sample_ids, original.sample_ids)
    if suffix in ("", ".npy"):
        assert np.array_equal(again.populations, original.populations)


def test_plink_output_reads_in_bed_reader_with_alt_as_counted_allele(with_missing, tmp_path):
    prefix = write_plink(tmp_path / "out", with_missing)
    with open_bed(f"{prefix}.bed") as bed:
        values = bed.read(dtype="float32")
        assert bed.allele_1.tolist() == with_missing.snps.alt.tolist()
        assert bed.bp_position.tolist() == with_missing.snps.position.tolist()
        assert bed.fid.tolist() == with_missing.populations.tolist()
    expected = np.asarray(with_missing.codes, dtype=np.float32)
    expected[expected < 0] = np.nan
    assert np.array_equal(values, expected, equal_nan=True)


def test_bgzipped_vcf_is_valid_bgzf_and_gzip(with_missing, tmp_path):
    plain = write_vcf(tmp_path / "out.vcf", with_missing)
    packed = write_vcf(tmp_path / "out.vcf.gz", with_missing)
    data = packed.read_bytes()
    assert gzip.decompress(data) == plain.read_bytes()
    assert data.endswith(_BGZF_EOF)
    offset, blocks = 0, 0
    while offset < len(data):  # every member carries the BGZF 'BC' field with its own size
        extra_id, extra_length, block_size = struct.unpack("<2sHH", data[offset + 12 : offset + 18])
        assert data[offset : offset + 4] == b"\x1f\x8b\x08\x04" and extra_id == b"BC" and extra_length == 2
        offset += block_size + 1
        blocks += 1
    assert offset == len(data) and blocks > 2
    records = list(VCF(str(packed)))
    assert len(records) == with_missing.n_snps and records[0].POS == with_missing.snps.position[0]


def test_synthetic_cohort_carries_the_source_snps(simulated, tmp_path):
    rng = np.random.default_rng(0)
    generated = GenotypeSet(
        codes=rng.integers(0, 3, size=(7, simulated.n_snps)).astype(np.int8),
        snps=simulated.snps,
        sample_ids=synthetic_sample_ids(7),
    )
    for path in (write_plink(tmp_path / "synthetic", generated), write_vcf(tmp_path / "synthetic.vcf.gz", generated)):
        again = read_genotypes(path)
        assert again.sample_ids.tolist() == [f"synthetic_{i}" for i in range(7)]
        assert again.snps.equals(simulated.snps)
        assert np.array_equal(again.codes, generated.codes)


def test_haplotype_set_is_written_as_phased_calls(tmp_path):
    haplotypes = GenotypeSet(
        codes=np.array([[0, 1], [1, 1], [1, -1], [0, -1]], dtype=np.int8),
        snps=SnpInfo(chrom=["1", "1"], position=[10, 20], snp_id=["x", "y"], ref=["A", "C"], alt=["G", "T"]),
        sample_ids=["a_h1", "a_h2", "b_h1", "b_h2"],
        haplotype=True,
    )
    path = write_vcf(tmp_path / "phased.vcf", haplotypes)
    body = [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("##")]
    assert body[0][9:] == ["a", "b"]
    assert [row[9:] for row in body[1:]] == [["0|1", "1|0"], ["1|1", ".|."]]
    again = read_genotypes(path, haplotype=True)
    assert np.array_equal(again.codes, haplotypes.codes)
    assert again.sample_ids.tolist() == haplotypes.sample_ids.tolist()


def test_plink_and_npy_are_the_bytes_of_bed_reader_and_numpy(with_missing, tmp_path):
    """The one PLINK writer packs the .bed itself: bed-reader's ``to_bed`` of the same set gives the same three files;
    the npy writer gives ``np.save``'s file and ``json.dumps`` of the metadata."""
    codes = np.where(np.asarray(with_missing.codes) < 0, -127, with_missing.codes).astype(np.int8)
    snps = with_missing.snps
    properties = {
        "fid": with_missing.populations.tolist(),
        "iid": with_missing.sample_ids.tolist(),
        "chromosome": snps.chrom.tolist(),
        "sid": snps.snp_id.tolist(),
        "bp_position": snps.position.tolist(),
        "allele_1": snps.alt.tolist(),
        "allele_2": snps.ref.tolist(),
        "cm_position": [0.0] * len(snps),
    }
    to_bed(tmp_path / "reference.bed", codes, properties=properties, count_A1=True, num_threads=1)
    written = write_plink(tmp_path / "ours", with_missing)
    for suffix in (".bed", ".bim", ".fam"):
        assert (tmp_path / f"ours{suffix}").read_bytes() == (tmp_path / f"reference{suffix}").read_bytes(), suffix
    assert written == tmp_path / "ours" and sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{stem}{suffix}" for stem in ("ours", "reference") for suffix in (".bed", ".bim", ".fam")
    )  # no work files left behind
    np.save(tmp_path / "reference.npy", np.asarray(with_missing.codes))
    assert write_npy(tmp_path / "ours.npy", with_missing).read_bytes() == (tmp_path / "reference.npy").read_bytes()
    meta = {
        "snps": snps.to_dict(),
        "sample_ids": with_missing.sample_ids.tolist(),
        "populations": with_missing.populations.tolist(),
        "haplotype": False,
    }
    assert (tmp_path / "ours.json").read_text() == json.dumps(meta)


def test_only_a_compressed_sorted_vcf_is_indexed(with_missing, tmp_path):
    with pytest.raises(DataError, match=r"cannot index .*plain\.vcf: plain-text VCF; write \.vcf\.gz or \.bcf"):
        write_vcf(tmp_path / "plain.vcf", with_missing, index=True)
    unsorted = with_missing.select_snps([3, 1, 2])
    with pytest.raises(DataError, match=r"cannot index .*unsorted\.vcf\.gz: it must be a sorted bgzipped VCF"):
        write_vcf(tmp_path / "unsorted.vcf.gz", unsorted, index=True)
    assert not any(path.name.startswith(("plain", "unsorted")) for path in tmp_path.iterdir())
