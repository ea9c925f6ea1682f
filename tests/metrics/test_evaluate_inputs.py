"""evaluate.py checks its keys before Hydra creates out= (its run folder), and compares SNPs matched by chromosome and
position, through the real CLI: another chromosome, shifted positions or too small an overlap is one `error:` line
with the counts, exit status 2 and no output; what is compared is logged. Files without SNP metadata (bare .npy) are
compared column by column when their widths agree."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snpdiff.data import GenotypeSet, SnpInfo, write_npy, write_plink
from tests.helpers import REPO, one_error_line, small_tmpfs
from tests.reliability.campaign import check_row

SNPS = 200
mark = pytest.mark  # mark.reliability_row(section, case): the docs/reliability.md row a case checks


def genotype_set(codes: np.ndarray, prefix: str, chrom: str = "1", positions: np.ndarray | None = None) -> GenotypeSet:
    count = codes.shape[1]
    positions = np.arange(1, count + 1) * 100 if positions is None else positions
    snps = SnpInfo([chrom] * count, positions, [f"rs{p}" for p in positions], ["A"] * count, ["G"] * count)
    return GenotypeSet(codes, snps, [f"{prefix}{i}" for i in range(len(codes))], source=prefix)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Real as PLINK (chromosome 1, positions 100, 200, ...) and synthetic sets as npy: the same SNPs, another
    chromosome, every position shifted by 1, 170 of real's 200 SNPs (85%), and bare matrices without a sidecar."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    real, synthetic = (rng.integers(0, 3, (60, SNPS)).astype(np.int8) for _ in range(2))
    positions = np.arange(1, SNPS + 1) * 100
    paths = {
        "real": write_plink(root / "real", genotype_set(real, "r")),
        "same": write_npy(root / "same.npy", genotype_set(synthetic, "s")),
        "chrom2": write_npy(root / "chrom2.npy", genotype_set(synthetic, "s", chrom="2")),
        "shifted": write_npy(root / "shifted.npy", genotype_set(synthetic, "s", positions=positions + 1)),
        "part": write_npy(root / "part.npy", genotype_set(synthetic[:, 30:], "s", positions=positions[30:])),
        "bare": root / "bare.npy",
        "bare_narrow": root / "bare_narrow.npy",
    }
    np.save(paths["bare"], synthetic)
    np.save(paths["bare_narrow"], synthetic[:, :150])
    return paths


def run_evaluate(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO / "evaluate.py"), *overrides, "plots=false", "ld_window=10"],
                          cwd=cwd, capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["synthetic=s.npy"], "error: real is required (???); give real=<value>",
                     marks=mark.reliability_row("generate.py and", "`evaluate.py` without `real=`")),
        pytest.param(["real=", "synthetic=s.npy"], "error: real='' must name a genotype file or run folder; give "
                     "real=<path>", marks=mark.reliability_row("generate.py and", "`evaluate.py` without `real=`")),
        pytest.param(["real=r", "synthetic=s", "min_snp_overlap=0"], "error: min_snp_overlap=0 must be a share in "
                     "(0, 1]", marks=mark.reliability_row("generate.py and", "`evaluate.py min_snp_overlap=1.5`")),
        pytest.param(["real=r", "synthetic=s", "min_snp_overlap=1.5"], "error: min_snp_overlap=1.5 must be a share "
                     "in (0, 1]", marks=mark.reliability_row("generate.py and", "`evaluate.py min_snp_overlap=1.5`")),
    ],
)  # fmt: skip
def test_a_bad_key_is_one_error_line_before_out_is_created(args, expected, request, tmp_path):
    out = tmp_path / "out"
    result = run_evaluate(*args, f"out={out}", cwd=tmp_path)
    line = one_error_line(result)
    assert line.startswith(expected), line
    check_row(result, *request.node.get_closest_marker("reliability_row").args)
    assert not out.exists()


def test_an_out_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "out").write_text("mine")
    result = run_evaluate("real=r", "synthetic=s", f"out={tmp_path / 'out'}", cwd=tmp_path)
    line = one_error_line(result)
    check_row(result, "generate.py and", "`evaluate.py out=` on a read-only file system, or a file")
    assert line == f"error: out='{tmp_path / 'out'}': {tmp_path / 'out'} is a file, not a folder"
    assert (tmp_path / "out").read_text() == "mine"


@pytest.fixture
def read_only(tmp_path):
    """A tmpfs mounted read-only at ``tmp_path / "ro"`` (skipped where mounting is not allowed)."""
    for mount in small_tmpfs(tmp_path / "ro", "1m"):
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount


def test_an_out_on_a_read_only_file_system_is_refused(files, read_only, tmp_path):
    out = read_only / "eval"
    result = run_evaluate(f"real={files['real']}", f"synthetic={files['same']}", f"out={out}", cwd=tmp_path)
    line = one_error_line(result)
    check_row(result, "generate.py and", "`evaluate.py out=` on a read-only file system, or a file")
    assert line == f"error: out='{out}' is on a read-only file system ({read_only}); choose an out= on a writable one"
    assert list(read_only.iterdir()) == []


@pytest.mark.parametrize(
    ("synthetic", "expected"),
    [
        pytest.param(
            "chrom2",
            [
                "have 200 SNPs each, and 200 of real's SNPs (chrom:position) are not in synthetic, first 1:100: 0 "
                "match (0.0%), min_snp_overlap is 0.9; real is on chromosome 1, synthetic on 2. Give sets with the same"
            ],
            marks=mark.reliability_row("generate.py and", "synthetic SNPs on another chromosome"),
        ),
        pytest.param(
            "shifted",
            ["have 200 SNPs each, and 200 of real's SNPs (chrom:position) are not in synthetic, first 1:100"],
            marks=mark.reliability_row("generate.py and", "synthetic SNPs on another chromosome"),
        ),
        pytest.param(
            "part",
            [
                "has 170 SNPs but real (",
                "has 200, and 30 of real's SNPs (chrom:position) are not in synthetic, first 1:100: 170 match (85.0%), "
                "min_snp_overlap is 0.9; ",
            ],
            marks=mark.reliability_row("generate.py and", "synthetic with 85% of real's SNPs"),
        ),
        pytest.param(
            "bare_narrow",
            ["has 150 SNPs but real (", "has 200, and without SNP metadata (chromosome, positions) they"],
            marks=mark.reliability_row("generate.py and", "a bare `.npy`"),
        ),
    ],
)
def test_snps_that_do_not_match_by_chromosome_and_position_are_refused_with_the_counts(
    files, synthetic, expected, request, tmp_path
):
    out = tmp_path / "out"
    result = run_evaluate(f"real={files['real']}", f"synthetic={files[synthetic]}", f"out={out}", cwd=tmp_path)
    line = one_error_line(result)
    check_row(result, *request.node.get_closest_marker("reliability_row").args)
    assert line.startswith(f"error: synthetic ({files[synthetic]}) "), line
    assert all(fragment in line for fragment in expected), line
    assert not (out / "metrics.json").exists()


@pytest.mark.parametrize(
    ("synthetic", "args", "logged"),
    [
        ("same", [], "comparing 200 SNPs matched by chromosome:position (of 200 real, 200 synthetic)"),
        pytest.param("part", ["min_snp_overlap=0.8"], "comparing 170 SNPs matched by chromosome:position (of 200 "
                     "real, 170", marks=mark.reliability_row("generate.py and", "synthetic with 85% of real's SNPs")),
        pytest.param("bare", [], "synthetic has no SNP metadata (chromosome:position): comparing synthetic's 200 SNPs "
                     "with real's", marks=mark.reliability_row("generate.py and", "a bare `.npy`")),
    ],
)
def test_what_is_compared_is_logged(files, synthetic, args, logged, tmp_path):
    out = tmp_path / "out"
    result = run_evaluate(f"real={files['real']}", f"synthetic={files[synthetic]}", f"out={out}", *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert logged in result.stdout + result.stderr
    assert (out / "metrics.json").is_file()
