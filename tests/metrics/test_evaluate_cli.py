"""evaluate.py as a user runs it, on small files written with the project's writers; run-folder resolution."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf

from snpdiff.data import GenotypeSet, SnpInfo, read_genotypes, write_npy, write_plink, write_vcf
from snpdiff.errors import DataError
from snpdiff.metrics import evaluate_genotypes
from snpdiff.metrics.evaluation import evaluate_files, resolve_genotype_path
from snpdiff.metrics.settings import EvaluationSettings, MetricSettings

REPO = Path(__file__).resolve().parents[2]
SNPS = 300


def genotype_set(codes, prefix, populations=None):
    snps_count = codes.shape[1]
    # real alleles: the VCF reader keeps SNPs only (placeholder 'N' alleles would be skipped)
    snps = SnpInfo(
        ["1"] * snps_count,
        np.arange(1, snps_count + 1),
        [f"rs{j}" for j in range(snps_count)],
        ["A"] * snps_count,
        ["G"] * snps_count,
    )
    ids = [f"{prefix}{i}" for i in range(len(codes))]
    return GenotypeSet(np.ascontiguousarray(codes), snps, ids, populations=populations, source=prefix)


@pytest.fixture(scope="module")
def files(real_split, tmp_path_factory):
    """T as PLINK, H as bgzipped VCF with 100 SNPs more than T, S as ``<run>/synthetic.npy`` (a run folder), and a
    short S (200 of T's 300 SNPs) as npy."""
    root = tmp_path_factory.mktemp("cli")
    train, holdout = real_split.train[:120, :SNPS], real_split.holdout[:120, : SNPS + 100]
    synthetic = real_split.holdout[120:240, :SNPS]
    run = root / "run"
    paths = {
        "real": write_plink(root / "train", genotype_set(train, "t", real_split.train_populations[:120])),
        "holdout": write_vcf(root / "holdout.vcf.gz", genotype_set(holdout, "h")),
        "synthetic": write_npy(run / "synthetic.npy", genotype_set(synthetic, "s")),
        "short": write_npy(root / "short.npy", genotype_set(synthetic[:, :200], "s")),
    }
    return {"paths": paths, "run": run, "codes": (train, synthetic, holdout), "root": root}


def run_evaluate(*overrides):
    return subprocess.run(
        [sys.executable, "evaluate.py", *overrides], cwd=REPO, capture_output=True, text=True, timeout=300
    )


@pytest.mark.slow
def test_evaluate_writes_metrics_report_and_plots(files):
    out = files["root"] / "out"
    paths = files["paths"]
    result = run_evaluate(
        f"real={paths['real']}",
        f"synthetic={files['run']}",
        f"holdout={paths['holdout']}",
        f"out={out}",
        "select.population_file=fam",
        "ld_window=20",
    )
    assert result.returncode == 0, result.stderr
    assert f"metrics: {out / 'metrics.json'}" in result.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    train, synthetic, holdout = files["codes"]
    populations = read_genotypes(paths["real"], population_file="fam").populations
    sets = GenotypeSet.from_codes(train, populations), GenotypeSet.from_codes(synthetic)
    expected = evaluate_genotypes(*sets, GenotypeSet.from_codes(holdout[:, :SNPS]), MetricSettings(ld_window=20))
    # the files carried the matrices and T's population labels; H was cut to T's 300 SNPs
    assert metrics == pytest.approx(expected)
    assert "pop_tv" in metrics and "privacy_loss" in metrics
    report = (out / "report.md").read_text()
    for name in ("af_scatter", "ld_heatmap", "ld_decay", "pca", "distances"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert f"(plots/{name}.png)" in report
    assert "120 individuals x 300 SNPs" in report
    assert (out / ".hydra" / "config.yaml").is_file()  # the run records its own config


@pytest.mark.slow
def test_evaluate_rejects_sets_with_different_snps(files):
    paths = files["paths"]
    result = run_evaluate(f"real={paths['real']}", f"synthetic={paths['short']}", f"out={files['root'] / 'bad'}")
    assert result.returncode == 2
    assert "synthetic" in result.stderr and "has 200 SNPs but real" in result.stderr
    assert "100 of real's SNPs (chrom:position) are not in synthetic, first 1:201" in result.stderr
    assert not (files["root"] / "bad" / "metrics.json").exists()


def test_evaluate_bad_argument_exits_2_naming_the_key(tmp_path):
    """A user error ends through snpdiff.cli: `error: <message>` on stderr, exit status 2, no traceback, no metrics."""
    missing = tmp_path / "nowhere.bed"
    result = run_evaluate(f"real={missing}", f"synthetic={missing}", f"out={tmp_path / 'out'}")
    assert result.returncode == 2
    assert f"error: real={missing}: " in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_run_folder_resolution(tmp_path):
    (tmp_path / "synthetic.bed").write_bytes(b"")
    assert resolve_genotype_path(tmp_path, "synthetic") == str(tmp_path / "synthetic")
    with pytest.raises(DataError, match=r"real=.*none of the files evaluate looks for: real\.bed, real\.vcf\.gz"):
        resolve_genotype_path(tmp_path, "real")
    (tmp_path / "synthetic.npy").write_bytes(b"")
    with pytest.raises(DataError, match=r"more than one of \(synthetic\.bed, synthetic\.npy\)"):
        resolve_genotype_path(tmp_path, "synthetic")
    assert resolve_genotype_path(tmp_path / "x.vcf.gz", "real") == str(tmp_path / "x.vcf.gz")


def test_missing_input_is_named_before_any_output(files, tmp_path):
    missing = tmp_path / "nowhere.bed"
    with pytest.raises(DataError, match="nowhere"):
        evaluate_files(EvaluationSettings(real=files["paths"]["real"], synthetic=missing, out=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_evaluation_settings_have_the_keys_and_defaults_of_conf_evaluate():
    """EvaluationSettings is conf/evaluate.yaml typed: the same keys, and the same value wherever both give one."""
    config = OmegaConf.load(REPO / "conf" / "evaluate.yaml")
    keys = {key for key in config if key != "hydra"}
    assert keys == {field.name for field in dataclasses.fields(EvaluationSettings)}
    for field in dataclasses.fields(EvaluationSettings):
        if field.default is not dataclasses.MISSING:
            assert config[field.name] == field.default, field.name
