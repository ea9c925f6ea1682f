"""KING-robust kinship against plink2's ``--make-king-table``, the kinship figures on planted relatives, evaluate.py's
report of them, and two outside tools (plink2 ``--freq``, ``bcftools stats``) reading files our writers wrote."""

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from snpdiff.data import GenotypeSet, simulate_genotypes, write_npy, write_plink, write_vcf
from snpdiff.data.encoding import MISSING_CODE
from snpdiff.data.types import individual_ids_of_rows
from snpdiff.metrics.genotype import allele_frequencies
from snpdiff.metrics.goals import KINSHIP_CUTOFFS, METRICS
from snpdiff.metrics.kinship import closest_kinship, diploid_dosages, king_robust, kinship_metrics, relative_counts

REPO = Path(__file__).resolve().parents[2]
PLINK2, BCFTOOLS = shutil.which("plink2"), shutil.which("bcftools")
needs_plink2 = pytest.mark.skipif(PLINK2 is None, reason="plink2 is not installed (.ci/run installs Debian's plink2)")
needs_bcftools = pytest.mark.skipif(BCFTOOLS is None, reason="bcftools is not installed (apt-get install bcftools)")
FOUNDERS = 80  # simulated people; the relatives below are built from their haplotypes


@dataclass
class Family:
    """Founders' dosages ``[80, snps]`` and planted relatives of founders 0 and 1 (the parents), each ``[snps]``."""

    founders: GenotypeSet  # dosages, real SNP metadata
    child: np.ndarray  # one haplotype of each parent, whole: first degree of both
    sibling: np.ndarray  # the other haplotype of parent 0 and the same of parent 1: full sibling of the child
    grandchild: np.ndarray  # the child's two haplotypes half and half, with founder 2's: second degree of parent 0


@pytest.fixture(scope="module")
def family(tmp_path_factory) -> Family:
    # 80 people x 1 Mb (about 3,600 SNPs with MAF >= 1%), phased so relatives can be built by transmission
    phased = simulate_genotypes(
        FOUNDERS, region_length=1_000_000, seed=3, cache_dir=tmp_path_factory.mktemp("sim"), haplotype=True
    )
    haplotypes = phased.codes
    snps = haplotypes.shape[1]
    half = np.arange(snps) < snps // 2
    child_haplotypes = haplotypes[0], haplotypes[3]  # parent 0's first, parent 1's second
    recombined = np.where(half, child_haplotypes[0], child_haplotypes[1])
    founders = GenotypeSet(
        diploid_dosages(haplotypes, ploidy=1), phased.snps, individual_ids_of_rows(phased.sample_ids), source="sim"
    )
    return Family(
        founders=founders,
        child=child_haplotypes[0] + child_haplotypes[1],
        sibling=haplotypes[1] + haplotypes[3],
        grandchild=recombined + haplotypes[4],
    )


def _cohort(family: Family, missing_share: float = 0.02) -> GenotypeSet:
    """The founders, a duplicate of founder 5, the child, the sibling and the grandchild, with ``missing_share`` of
    calls missing at random (the duplicate's missing calls differ from founder 5's)."""
    founders = family.founders
    codes = np.concatenate(
        [founders.codes, founders.codes[5:6], np.stack([family.child, family.sibling, family.grandchild])]
    ).astype(np.int8)
    codes[np.random.default_rng(1).random(codes.shape) < missing_share] = MISSING_CODE
    ids = [*founders.sample_ids, "duplicate", "child", "sibling", "grandchild"]
    return GenotypeSet(codes, founders.snps, ids, source="planted family")


def _plink2(*args: str) -> None:
    result = subprocess.run([PLINK2, "--threads", "1", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_plink2
def test_king_robust_matches_plink2_make_king_table(family, tmp_path):
    cohort = _cohort(family)
    prefix = write_plink(tmp_path / "cohort", cohort)
    _plink2("--bfile", str(prefix), "--make-king-table", "--out", str(tmp_path / "king"))
    table = pd.read_csv(tmp_path / "king.kin0", sep="\t")
    assert len(table) == cohort.n_rows * (cohort.n_rows - 1) // 2  # no --king-table-filter: every pair
    row = {sample: index for index, sample in enumerate(cohort.sample_ids)}
    first, second = table["IID1"].map(row).to_numpy(), table["IID2"].map(row).to_numpy()
    ours = king_robust(cohort.codes, cohort.codes, block_rows=17, block_snps=1000)  # ragged blocks on purpose
    assert np.max(np.abs(ours[first, second] - table["KINSHIP"].to_numpy())) < 1e-4
    by_name = dict(zip(zip(table["IID1"], table["IID2"], strict=True), table["KINSHIP"], strict=True))
    founder_5 = cohort.sample_ids[5]
    assert by_name[("duplicate", founder_5)] > KINSHIP_CUTOFFS["dup"]
    for relative, parent in (("child", 0), ("sibling", 1), ("sibling", 0)):
        assert KINSHIP_CUTOFFS["first"] < by_name[(relative, cohort.sample_ids[parent])] < KINSHIP_CUTOFFS["dup"]
    assert KINSHIP_CUTOFFS["first"] < by_name[("sibling", "child")] < KINSHIP_CUTOFFS["dup"]
    assert KINSHIP_CUTOFFS["second"] < by_name[("grandchild", cohort.sample_ids[0])] < KINSHIP_CUTOFFS["first"]


def test_kinship_figures_on_planted_people(family):
    founders = family.founders.codes
    train, holdout = founders[:50], founders[50:]
    # S: a copy of training person 7, the child and sibling of training people 0 and 1, the grandchild, 6 strangers
    synthetic = np.concatenate(
        [train[7:8], np.stack([family.child, family.sibling, family.grandchild]), holdout[:6]]
    ).astype(np.int8)
    metrics = kinship_metrics(train, synthetic, holdout)
    assert set(metrics) == {name for name in METRICS if name.startswith("kinship_")}
    closest = closest_kinship(synthetic, train)
    assert closest[0] == 0.5 and metrics["kinship_max_s"] == 0.5
    assert metrics["kinship_dup_s"] == 1 and metrics["kinship_dup_share_s"] == pytest.approx(1 / 10)
    assert metrics["kinship_first_s"] >= 3 and metrics["kinship_second_s"] >= 4
    # H against T: its own figures, whatever S holds
    expected = relative_counts(closest_kinship(holdout, train), "h")
    assert {name: metrics[name] for name in expected} == expected
    assert metrics["kinship_dup_h"] == 0 and metrics["kinship_max_h"] < 0.5
    assert kinship_metrics(train, holdout[:6], holdout)["kinship_dup_h"] == metrics["kinship_dup_h"]


def test_haplotype_rows_are_paired_into_people(family):
    haplotypes = np.stack([family.child - family.child // 2, family.child // 2]).astype(np.int8)  # one person
    assert np.array_equal(diploid_dosages(haplotypes, ploidy=1), family.child[None].astype(np.int8))
    train = family.founders.codes[:20]
    train_haplotypes = np.repeat(train, 2, axis=0)
    train_haplotypes[0::2] = train // 2
    train_haplotypes[1::2] = train - train // 2
    assert kinship_metrics(train_haplotypes, haplotypes, ploidy=1) == kinship_metrics(train, family.child[None])
    assert kinship_metrics(train_haplotypes, haplotypes[:1], ploidy=1) == {}  # an odd haplotype count: left out


@needs_plink2
def test_plink2_freq_reads_our_plink_fileset(family, tmp_path):
    founders = family.founders
    prefix = write_plink(tmp_path / "founders", founders)
    _plink2("--bfile", str(prefix), "--freq", "--out", str(tmp_path / "freq"))
    table = pd.read_csv(tmp_path / "freq.afreq", sep="\t")
    assert table["ID"].tolist() == founders.snps.snp_id.tolist()
    assert np.max(np.abs(table["ALT_FREQS"].to_numpy() - allele_frequencies(founders.codes))) < 1e-6
    assert (table["OBS_CT"] == 2 * founders.n_rows).all()


@needs_bcftools
def test_bcftools_stats_reads_our_vcf(family, tmp_path):
    cohort = _cohort(family)
    path = write_vcf(tmp_path / "cohort.vcf.gz", cohort, index=True)
    result = subprocess.run([BCFTOOLS, "stats", str(path)], check=True, capture_output=True, text=True)
    summary = {
        line.split("\t")[2]: int(line.split("\t")[3]) for line in result.stdout.splitlines() if line.startswith("SN\t")
    }
    assert summary["number of samples:"] == cohort.n_rows
    assert summary["number of records:"] == summary["number of SNPs:"] == cohort.n_snps


@pytest.mark.slow
def test_evaluate_cli_reports_kinship(family, tmp_path):
    founders = family.founders
    train, holdout = founders.select_samples(slice(0, 40)), founders.select_samples(slice(40, 80))
    synthetic = np.concatenate([train.codes[:3], holdout.codes[:17]])  # three copies of training people
    real = write_plink(tmp_path / "train", train)
    write_npy(tmp_path / "run" / "synthetic.npy", GenotypeSet(synthetic, founders.snps, [f"s{i}" for i in range(20)]))
    held = write_npy(tmp_path / "holdout.npy", holdout)
    out = tmp_path / "out"
    overrides = [f"real={real}", f"synthetic={tmp_path / 'run'}", f"holdout={held}", f"out={out}", "plots=false"]
    result = subprocess.run(
        [sys.executable, "evaluate.py", *overrides], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["kinship_dup_s"] == 3 and metrics["kinship_dup_share_s"] == pytest.approx(3 / 20)
    assert metrics["kinship_max_s"] == pytest.approx(0.5)
    assert metrics["kinship_dup_h"] == 0 and "kinship_second_h" in metrics
    report = (out / "report.md").read_text()
    assert "| `kinship_dup_s` | 3 | minimize |" in report and "`kinship_max_h`" in report
