"""Every source gives the same matrix for the same data; selection, filters, imputation and haplotype mode."""

import gzip

import numpy as np
import pytest

from snpdiff.data import GenotypeSet, read_genotypes, simulate_genotypes, write_npy, write_vcf
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.selection import maf_and_missing
from snpdiff.data.sources import detect_format
from tests.data.conftest import MISSING_CALLS, N_INDIVIDUALS, N_SNPS


@pytest.mark.parametrize("name", ["plink", "vcf", "vcf.gz", "bcf", "parquet", "npy"])
def test_every_source_reads_the_same_matrix_and_metadata(files, with_missing, name):
    genotypes = read_genotypes(files[name])
    assert genotypes.codes.shape == (N_INDIVIDUALS, N_SNPS)
    assert np.array_equal(genotypes.codes, with_missing.codes)
    assert genotypes.missing_count == len(MISSING_CALLS)
    assert genotypes.snps.equals(with_missing.snps)
    assert np.array_equal(genotypes.sample_ids, with_missing.sample_ids)


def test_plink_prefix_and_bed_path_and_detection(files):
    prefix = files["plink"]
    assert detect_format(prefix) == "plink"
    assert detect_format(f"{prefix}.bed") == "plink"
    assert detect_format(files["vcf.gz"]) == "vcf"
    assert detect_format(files["bcf"]) == "vcf"
    assert np.array_equal(read_genotypes(f"{prefix}.bed").codes, read_genotypes(prefix).codes)


def test_populations_from_fam_tsv_and_npy_sidecar(files, with_missing, tmp_path):
    from_fam = read_genotypes(files["plink"], population_file="fam")
    assert np.array_equal(from_fam.populations, with_missing.populations)
    assert read_genotypes(files["plink"]).populations is None
    table = tmp_path / "pops.tsv"
    table.write_text("id\tpopulation\n" + "".join(f"{s}\tP{i % 2}\n" for i, s in enumerate(with_missing.sample_ids)))
    from_tsv = read_genotypes(files["vcf.gz"], population_file=str(table))
    assert from_tsv.populations.tolist() == [f"P{i % 2}" for i in range(N_INDIVIDUALS)]
    assert np.array_equal(read_genotypes(files["npy"]).populations, with_missing.populations)


def test_region_selects_by_chromosome_and_position(files, with_missing):
    positions = with_missing.snps.position
    start, end = int(positions[50]), int(positions[149])
    for name in ("plink", "vcf.gz", "parquet", "npy"):
        selected = read_genotypes(files[name], region=f"chr1:{start}-{end}")
        assert selected.n_snps == 100
        assert np.array_equal(selected.codes, with_missing.codes[:, 50:150])
        assert selected.snps.position[0] == start and selected.snps.position[-1] == end


def test_window_counts_snps_that_pass_the_filters(files, with_missing):
    maf, _ = maf_and_missing(np.asarray(with_missing.codes), ploidy=2)
    passing = np.flatnonzero(maf >= 0.1)
    assert 40 < len(passing) < N_SNPS  # the filter matters for this fixture
    for name in ("plink", "vcf", "parquet"):
        window = read_genotypes(files[name], min_maf=0.1, snp_offset=7, seq_length=20)
        assert np.array_equal(window.snps.snp_id, with_missing.snps.snp_id[passing[7:27]])
        assert np.array_equal(window.codes, with_missing.codes[:, passing[7:27]])


def test_maf_filter_keeps_exactly_the_snps_at_or_above_the_threshold(files):
    kept = read_genotypes(files["plink"], min_maf=0.2)
    maf, _ = maf_and_missing(kept.codes, ploidy=2)
    assert (maf >= 0.2).all()
    everything = read_genotypes(files["plink"])
    all_maf, _ = maf_and_missing(np.asarray(everything.codes), ploidy=2)
    assert kept.n_snps == int((all_maf >= 0.2).sum())


def test_max_missing_drops_snps_with_missing_calls(files):
    complete = read_genotypes(files["plink"], max_missing=0.0)
    assert complete.n_snps == N_SNPS - len({snp for _, snp in MISSING_CALLS})
    assert complete.missing_count == 0


def test_mode_imputation_fills_each_missing_call_with_the_snp_mode(files, with_missing):
    imputed = read_genotypes(files["vcf.gz"], impute="mode")
    assert imputed.missing_count == 0
    for row, snp in MISSING_CALLS:
        column = np.asarray(with_missing.codes[:, snp])
        called = column[column != MISSING_CODE]
        assert imputed.codes[row, snp] == np.bincount(called, minlength=3).argmax()
    untouched = np.ones(imputed.codes.shape, dtype=bool)
    untouched[tuple(np.array(MISSING_CALLS).T)] = False
    assert np.array_equal(imputed.codes[untouched], np.asarray(with_missing.codes)[untouched])


def test_imputation_count_is_reported(files, caplog, cache_dir):
    from snpdiff.data.selection import Selection, load_genotypes
    from snpdiff.data.sources import open_source

    with caplog.at_level("INFO"):
        result = load_genotypes(open_source("plink", files["plink"]), Selection(impute="mean"), cache_dir=cache_dir)
    assert result.info["imputed_calls"] == len(MISSING_CALLS)
    assert result.info["imputed_snps"] == len({snp for _, snp in MISSING_CALLS})
    assert f"imputed {len(MISSING_CALLS)} missing calls in 3 SNPs" in caplog.text


def test_sample_selection_by_list_and_file_keeps_file_order(files, with_missing, tmp_path):
    wanted = [with_missing.sample_ids[i] for i in (30, 2, 17)]
    by_list = read_genotypes(files["vcf.gz"], samples=wanted)
    assert by_list.sample_ids.tolist() == [with_missing.sample_ids[i] for i in (2, 17, 30)]
    assert np.array_equal(by_list.codes, with_missing.codes[[2, 17, 30]])
    keep = tmp_path / "keep.txt"
    keep.write_text("".join(f"FAM {sample}\n" for sample in wanted))  # PLINK --keep layout
    assert np.array_equal(read_genotypes(files["plink"], samples=str(keep)).codes, by_list.codes)
    first = read_genotypes(files["parquet"], n_individuals=5)
    assert first.sample_ids.tolist() == with_missing.sample_ids[:5].tolist()


def test_parquet_missing_code_and_old_layout(files, with_missing):
    import pyarrow.parquet as pq

    table = pq.read_table(files["parquet"])
    assert table.num_rows == N_SNPS  # markers x samples
    row, snp = MISSING_CALLS[0]
    assert table.column(with_missing.sample_ids[row])[snp].as_py() == 9
    read = read_genotypes(files["parquet"])
    assert read.codes[row, snp] == MISSING_CODE


def test_npy_without_sidecar_gets_placeholder_metadata(simulated, tmp_path):
    path = tmp_path / "bare.npy"
    np.save(path, np.asarray(simulated.codes))
    bare = read_genotypes(path)
    assert np.array_equal(bare.codes, simulated.codes)
    assert bare.snps.snp_id[:2].tolist() == ["snp0", "snp1"] and bare.snps.position[0] == 1
    assert bare.sample_ids[0] == "sample0" and bare.populations is None


def test_haplotype_mode_reads_phased_alleles_as_two_rows(tmp_path):
    haplotypes = simulate_genotypes(20, 100_000, seed=5, cache_dir=tmp_path / "cache", haplotype=True)
    path = write_vcf(tmp_path / "phased.vcf.gz", haplotypes)
    read = read_genotypes(path, haplotype=True)
    assert read.haplotype and read.codes.shape == (40, haplotypes.n_snps)
    assert np.array_equal(read.codes, haplotypes.codes)
    assert set(np.unique(read.codes)) == {0, 1}
    individual = haplotypes.sample_ids[0][: -len("_h1")]
    assert read.sample_ids[:2].tolist() == [f"{individual}_h1", f"{individual}_h2"]
    # the same file as dosages is the sum of each individual's two haplotypes
    dosages = read_genotypes(path)
    assert np.array_equal(dosages.codes, haplotypes.codes[0::2] + haplotypes.codes[1::2])
    # npy keeps the haplotype flag in its sidecar
    npy = write_npy(tmp_path / "phased.npy", haplotypes)
    assert np.array_equal(read_genotypes(npy, haplotype=True).codes, haplotypes.codes)


def _vcf_with_odd_sites(path):
    """Four SNPs plus a multi-allelic site, an indel, a record without GT and a symbolic ALT."""
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=2,length=1000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ta\tb\tc\n"
    )
    records = [
        "2\t10\trs1\tA\tG\t.\tPASS\t.\tGT\t0/0\t0/1\t1/1",
        "2\t20\trs2\tA\tC,T\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1",
        "2\t30\trs3\tAT\tA\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0",
        "2\t40\trs4\tC\tT\t.\tPASS\t.\tGT\t1/1\t./.\t0/1",
        "2\t50\trs5\tG\tA\t.\tPASS\t.\tDP\t3\t4\t5",
        "2\t60\trs6\tG\t<DEL>\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0",
        "2\t70\trs7\tT\tC\t.\tPASS\t.\tGT\t0|1\t1|0\t0|0",
        "2\t80\t.\tG\tA\t.\tPASS\t.\tGT\t0/1\t0/.\t1/1",
    ]
    with gzip.open(path, "wt") as handle:
        handle.write(header + "\n".join(records) + "\n")
    return path


def test_vcf_skips_and_counts_multiallelic_indel_and_no_gt_sites(tmp_path, caplog):
    path = _vcf_with_odd_sites(tmp_path / "odd.vcf.gz")
    with caplog.at_level("INFO"):
        read = read_genotypes(path)
    assert read.snps.snp_id.tolist() == ["rs1", "rs4", "rs7", "2:80"]
    assert read.codes.T.tolist() == [[0, 1, 2], [2, MISSING_CODE, 1], [1, 1, 0], [1, MISSING_CODE, 2]]
    assert "'multi_allelic': 1" in caplog.text and "'not_snp': 2" in caplog.text and "'no_gt': 1" in caplog.text
    with_indels = read_genotypes(path, snps_only=False)
    assert with_indels.snps.snp_id.tolist() == ["rs1", "rs3", "rs4", "rs6", "rs7", "2:80"]


def test_genotype_set_selections_keep_metadata_aligned(simulated):
    picked = simulated.select_snps([3, 1]).select_samples(np.array([5, 0]))
    assert picked.codes.tolist() == np.asarray(simulated.codes)[[5, 0]][:, [3, 1]].tolist()
    assert picked.snps.snp_id.tolist() == simulated.snps.snp_id[[3, 1]].tolist()
    assert picked.populations.tolist() == simulated.populations[[5, 0]].tolist()
    with pytest.raises(ValueError, match="sample ids"):
        GenotypeSet(np.zeros((2, 3), np.int8), simulated.snps.select(slice(0, 3)), ["a"])


@pytest.mark.parametrize("suffix", [".vcf.gz", ".bcf"])
def test_indexed_vcf_region_read_seeks_and_matches_the_scan(with_missing, tmp_path, suffix, monkeypatch):
    import snpdiff.data.sources.vcf as vcf_module

    queries = []
    region_query = vcf_module._region_query
    monkeypatch.setattr(vcf_module, "_region_query", lambda *args: queries.append(region_query(*args)) or queries[-1])
    path = write_vcf(tmp_path / f"indexed{suffix}", with_missing, index=True)
    assert path.with_name(f"{path.name}.csi").is_file()
    positions = with_missing.snps.position
    region = f"chr1:{positions[100]}-{positions[179]}"  # 'chr1' also finds the file's contig '1'
    indexed = read_genotypes(path, region=region)
    assert np.array_equal(indexed.codes, with_missing.codes[:, 100:180])
    assert indexed.snps.equals(with_missing.snps.select(slice(100, 180)))
    open_ended = read_genotypes(path, region=f"1:{positions[390]}-")
    assert open_ended.n_snps == N_SNPS - 390
    assert queries == [f"1:{positions[100]}-{positions[179]}", f"1:{positions[390]}"]  # htslib seeks via the index


def test_plink_bim_and_fam_without_final_newline(files, with_missing, tmp_path):
    for suffix in (".bed", ".bim", ".fam"):
        data = files["plink"].with_name(f"cohort{suffix}").read_bytes()
        (tmp_path / f"cut{suffix}").write_bytes(data if suffix == ".bed" else data.rstrip(b"\n"))
    read = read_genotypes(tmp_path / "cut")
    assert np.array_equal(read.codes, with_missing.codes)
    assert read.snps.equals(with_missing.snps) and read.sample_ids[-1] == with_missing.sample_ids[-1]
