"""Streamed, resumable generation: files written batch by batch match the whole-set writers byte for byte, a killed
generate.py resumes to the bytes of an uninterrupted run, partial output never carries a final name, memory does
not grow with n, and every refusal (other settings, existing output, unknown sampler, too little disk) comes first.
"""

import json
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from bed_reader import open_bed
from omegaconf import OmegaConf

from snpdiff.config import PROJECT_ROOT
from snpdiff.data import GenotypeSet, SnpInfo, synthetic_sample_ids, write_npy, write_plink, write_vcf, writers
from snpdiff.data.writers import WRITERS
from snpdiff.errors import ConfigError
from snpdiff.generation import (
    load_trained_model,
    partial_folder,
    sample_codes,
    sample_labels,
    sampling,
    synthetic_set,
    write_synthetic,
)
from snpdiff.training.run import run_training
from tests.reliability.campaign import check_row

FINAL_NAMES = {"plink": ["{}.bim", "{}.fam", "{}.bed"], "vcf": ["{}.vcf.gz"], "npy": ["{}.json", "{}.npy"]}
WHOLE_SET_WRITERS = {"plink": (write_plink, ""), "vcf": (write_vcf, ".vcf.gz"), "npy": (write_npy, ".npy")}


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(["debug=fast", "logger=none", "callbacks.progress_bar=null", f"paths.output_dir={output_dir}"])
    return Path(run_training(cfg)["checkpoints"]["last"])


def generate_cfg(ckpt: Path, out: Path, **overrides):
    """The config generate.py composes (conf/generate.yaml) with these values."""
    cfg = OmegaConf.load(PROJECT_ROOT / "conf" / "generate.yaml")
    del cfg["hydra"]
    return OmegaConf.merge(cfg, {"ckpt": str(ckpt), "out": str(out), "sampling_steps": 3, **overrides})


def run_generate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "generate.py"), *args],
        cwd=cwd,
        env={**os.environ, "SNPDIFF_ROOT": str(cwd), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )


def final_paths(fmt: str, out: Path) -> list[Path]:
    return [Path(name.format(out)) for name in FINAL_NAMES[fmt]]


@pytest.mark.parametrize("haplotype", [False, True])
@pytest.mark.parametrize("fmt", ["plink", "vcf", "npy"])
def test_stream_writer_writes_the_bytes_of_the_whole_set_writer(fmt, haplotype, tmp_path):
    """Batches written out of order, the last one short, a missing call: the same files as the in-memory writer."""
    rng = np.random.default_rng(0)
    n, snps = 22, 37
    codes = rng.integers(0, 2 if haplotype else 3, (n, snps)).astype(np.int8)
    codes[5, 3] = -1
    genotypes = GenotypeSet(
        codes=codes, snps=SnpInfo.placeholder(snps), sample_ids=synthetic_sample_ids(n), haplotype=haplotype
    )
    whole, suffix = WHOLE_SET_WRITERS[fmt]
    whole(tmp_path / f"whole{suffix}", genotypes)
    writer = WRITERS[fmt](tmp_path / f"streamed{suffix}", tmp_path / "work", genotypes.snps, n, haplotype)
    writer.open()
    for start in reversed(range(0, n, 8)):
        writer.write_rows(start, codes[start : start + 8])
    written = writer.finish()
    expected = final_paths(fmt, tmp_path / "whole")
    assert [path.name.replace("streamed", "whole") for path in written] == [path.name for path in expected]
    for path, reference in zip(written, expected, strict=True):
        assert path.read_bytes() == reference.read_bytes(), path.name
    if fmt == "plink":
        with open_bed(written[-1]) as bed:
            assert np.array_equal(bed.read(dtype="int8"), np.where(codes < 0, -127, codes))


def test_vcf_lines_longer_than_a_block_are_built_in_pieces(tmp_path, monkeypatch):
    """A line with more calls than a block holds (a huge n) is built a piece of samples at a time, same bytes."""
    codes = np.random.default_rng(1).integers(0, 3, (10, 6)).astype(np.int8)
    genotypes = GenotypeSet(codes=codes, snps=SnpInfo.placeholder(6), sample_ids=synthetic_sample_ids(10))
    whole = write_vcf(tmp_path / "whole.vcf.gz", genotypes).read_bytes()
    monkeypatch.setattr(writers, "_VCF_BLOCK_CALLS", 4)
    assert write_vcf(tmp_path / "pieces.vcf.gz", genotypes).read_bytes() == whole


def test_generate_writes_what_sample_codes_samples(ckpt, tmp_path):
    """Batch i is drawn from its own seed: the streamed file holds sample_codes' individuals, read back exactly."""
    paths = write_synthetic(generate_cfg(ckpt, tmp_path / "syn", n=10, batch_size=4, seed=3))
    trained = load_trained_model(ckpt)
    codes = sample_codes(trained, n=10, batch_size=4, sampling_steps=3, seed=3, progress=False)
    labels = sample_labels(trained, n=10, batch_size=4, seed=3)  # a conditioned model: the .fam holds them
    write_plink(tmp_path / "whole", synthetic_set(trained, codes, labels))
    assert [path.read_bytes() for path in paths] == [
        path.read_bytes() for path in final_paths("plink", tmp_path / "whole")
    ]
    assert not partial_folder(tmp_path / "syn").exists()


def _kill_after_first_batch(args: list[str], progress: Path, cwd: Path) -> int:
    """Start generate.py, SIGKILL it once progress.json counts a batch; the batches it had counted."""
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "generate.py"), *args],
        cwd=cwd,
        env={**os.environ, "SNPDIFF_ROOT": str(cwd), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline and process.poll() is None:
            if progress.is_file() and json.loads(progress.read_text())["batches_done"] >= 1:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL, "generate.py ended before it could be killed mid-run"
    return json.loads(progress.read_text())["batches_done"]


@pytest.mark.reliability_row("generate.py outputs", "killed mid-run")
@pytest.mark.reliability_row("generate.py outputs", "the same command again")
@pytest.mark.parametrize(
    "fmt", ["plink", pytest.param("vcf", marks=pytest.mark.slow), pytest.param("npy", marks=pytest.mark.slow)]
)
def test_killed_generate_resumes_to_the_bytes_of_an_uninterrupted_run(ckpt, fmt, tmp_path):
    """A real generate.py killed with SIGKILL mid-run leaves no final name; other arguments are refused; the same
    ones resume it to the bytes of an uninterrupted run (made in this process, one torch thread as the children)."""
    settings = {"n": 126, "batch_size": 4, "format": fmt, "sampling_steps": 10, "seed": 5}
    write_synthetic(generate_cfg(ckpt, tmp_path / "reference", **settings))

    out = tmp_path / "syn"
    args = [f"ckpt={ckpt}", f"out={out}", *(f"{key}={value}" for key, value in settings.items())]
    work = partial_folder(out if fmt == "plink" else final_paths(fmt, out)[-1])
    done = _kill_after_first_batch(args, work / "progress.json", tmp_path)
    assert 1 <= done < 32, f"killed after {done} of 32 batches"
    assert not any(path.exists() for path in final_paths(fmt, out)), "a partial output under a final name"

    with pytest.raises(ConfigError, match="partial run with seed=5, this run has seed=6; .* add overwrite=true"):
        write_synthetic(generate_cfg(ckpt, out, **{**settings, "seed": 6}))
    other = run_generate(*args[:-1], "seed=6", cwd=tmp_path)  # the same refusal through the CLI
    assert "partial run with seed=5, this run has seed=6; " in check_row(other, "generate.py outputs", "other arg")
    assert json.loads((work / "progress.json").read_text())["batches_done"] == done  # the partial run kept

    resumed = run_generate(*args, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"resuming {work}: {done} of 32 batches written" in resumed.stdout + resumed.stderr
    for path, expected in zip(final_paths(fmt, out), final_paths(fmt, tmp_path / "reference"), strict=True):
        assert path.read_bytes() == expected.read_bytes(), path.name
    assert not work.exists()


@pytest.mark.reliability_row("generate.py outputs", "`n=1000000000000`")  # memory bounded whatever n
def test_memory_is_bounded_by_the_batch_not_by_n(ckpt, tmp_path, monkeypatch):
    """Peak numpy memory (tracemalloc; torch's own buffers are not traced, and are the batch's anyway) of 24 batches
    is that of 4: collecting all rows would add at least their int8 codes, 20 x 16 x 64 bytes."""
    monkeypatch.setattr(writers, "_ID_CHUNK", 64)  # sample ids written 64 at a time, as 65,536 would be for huge n
    # both runs take the same code paths: a progress line after every step (on a loaded machine only the longer run
    # would reach the 30-s line, and the first line's one-time setup would count as growth), after a warm-up run
    monkeypatch.setattr(sampling, "LOG_EVERY_S", 0.0)
    write_synthetic(generate_cfg(ckpt, tmp_path / "warm_up", n=16, batch_size=16, sampling_steps=1))
    peaks = []
    for batches in (4, 24):
        tracemalloc.start()
        write_synthetic(generate_cfg(ckpt, tmp_path / f"n{batches}", n=16 * batches, batch_size=16, sampling_steps=1))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    extra_rows = 20 * 16
    assert peaks[1] - peaks[0] < extra_rows * 64 / 4, peaks


def test_finished_output_is_kept_unless_overwrite(ckpt, tmp_path):
    out = tmp_path / "syn"
    write_synthetic(generate_cfg(ckpt, out, n=4, format="npy"))
    before = (tmp_path / "syn.npy").read_bytes()
    with pytest.raises(ConfigError, match=r"syn\.npy exists; add overwrite=true"):
        write_synthetic(generate_cfg(ckpt, out, n=4, format="npy", seed=1))
    refused = run_generate(f"ckpt={ckpt}", f"out={out}", "n=4", "format=npy", "seed=1", cwd=tmp_path)
    assert "syn.npy exists; add overwrite=true" in check_row(refused, "generate.py outputs", "a finished output")
    assert (tmp_path / "syn.npy").read_bytes() == before
    write_synthetic(generate_cfg(ckpt, out, n=4, format="npy", seed=1, overwrite=True))
    assert (tmp_path / "syn.npy").read_bytes() != before


def test_too_little_disk_space_is_refused_before_anything_is_written(ckpt, tmp_path):
    """n=10^12 of the checkpoint's 64 SNPs needs 16 TB for the .bed alone: refused, nothing created."""
    with pytest.raises(ConfigError, match=r"n=1000000000000 x 64 SNPs as plink needs about .* TB on .* free"):
        write_synthetic(generate_cfg(ckpt, tmp_path / "huge", n=10**12))
    assert list(tmp_path.iterdir()) == []
    result = run_generate(f"ckpt={ckpt}", "n=1000000000000", f"out={tmp_path / 'out' / 'huge'}", cwd=tmp_path)
    check_row(result, "generate.py outputs", "`n=1000000000000`")
    assert not (tmp_path / "out").exists()


def test_unknown_sampler_is_a_user_error_listing_the_samplers(ckpt, tmp_path):
    result = run_generate(f"ckpt={ckpt}", "sampler=euler", f"out={tmp_path / 'syn'}", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "error: " in result.stderr and "'euler'" in result.stderr and "ddim" in result.stderr
    check_row(result, "generate.py outputs", "an unknown sampler")
    assert not partial_folder(tmp_path / "syn").exists()
