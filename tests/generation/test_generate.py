"""generate.py: checkpoint -> sampler -> valid genotype codes -> PLINK / VCF / npy with the source's SNP metadata."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from bed_reader import open_bed

from snpdiff.config import PROJECT_ROOT
from snpdiff.data import read_genotypes
from snpdiff.errors import ConfigError
from snpdiff.generation import load_trained_model, sample_codes
from snpdiff.training.run import run_training
from tests.helpers import run_generate


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    cfg = compose_config(["debug=fast", "logger=none", "callbacks.progress_bar=null", f"paths.output_dir={output_dir}"])
    metrics = run_training(cfg)
    return Path(metrics["checkpoints"]["last"]), cfg


def test_checkpoint_rebuilds_model_and_samples_valid_codes_reproducibly(trained_run):
    ckpt, cfg = trained_run
    trained = load_trained_model(ckpt)
    assert trained.seq_length == cfg.data.seq_length
    assert trained.encoding.mode == cfg.data.encoding
    first = sample_codes(trained, n=10, batch_size=4, sampling_steps=3, seed=1, progress=False)
    again = sample_codes(trained, n=10, batch_size=4, sampling_steps=3, seed=1, progress=False)
    other = sample_codes(trained, n=10, batch_size=4, sampling_steps=3, seed=2, progress=False)
    assert first.shape == (10, cfg.data.seq_length) and first.dtype == np.int8
    assert set(np.unique(first)) <= {0, 1, 2}
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("fmt", ["plink", "vcf", "npy"])
@pytest.mark.slow
def test_generate_cli_writes_readable_files_with_source_snp_metadata(trained_run, fmt, tmp_path):
    ckpt, _ = trained_run
    out = tmp_path / "synthetic"
    result = run_generate(
        f"ckpt={ckpt}", "n=12", f"out={out}", f"format={fmt}", "sampling_steps=3", "batch_size=5", root=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    path = {"plink": out, "vcf": Path(f"{out}.vcf.gz"), "npy": Path(f"{out}.npy")}[fmt]
    synthetic = read_genotypes(path)
    source = load_trained_model(ckpt).snps
    assert synthetic.codes.shape == (12, len(source))
    assert synthetic.snps.equals(source)
    assert synthetic.sample_ids[0] == "synthetic_0"
    if fmt == "plink":
        with open_bed(f"{out}.bed") as bed:
            assert bed.shape == (12, len(source))
            np.testing.assert_array_equal(bed.bp_position, source.position)


def test_sampler_ddpm_uses_full_chain_by_default(trained_run):
    ckpt, cfg = trained_run
    trained = load_trained_model(ckpt)
    calls = []
    original = trained.model.forward
    trained.model.forward = lambda *inputs: calls.append(1) or original(*inputs)
    sample_codes(trained, n=2, sampler_name="ddpm", progress=False)
    assert len(calls) == cfg.diffusion.timesteps


def test_checkpoint_with_arbitrary_objects_is_refused(trained_run, tmp_path):
    ckpt, _ = trained_run
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["payload"] = Path("/etc/passwd")  # any non-allow-listed object
    bad = tmp_path / "bad.ckpt"
    torch.save(checkpoint, bad)
    with pytest.raises(ConfigError, match="refusing to unpickle"):
        load_trained_model(bad)


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="is not a file"):
        load_trained_model(tmp_path / "nope.ckpt")


def test_generate_cli_bad_argument_exits_2_naming_the_key(tmp_path):
    """A user error ends through snpdiff.cli: `error: <message>` on stderr, exit status 2, no traceback."""
    result = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "generate.py"), f"ckpt={tmp_path / 'run.ckpt'}", "format=xlsx"],
        cwd=tmp_path,
        env={**os.environ, "SNPDIFF_ROOT": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert "error: format='xlsx'; allowed: plink, vcf, npy" in result.stderr
    assert "Traceback" not in result.stderr


def test_onehot_model_trains_scores_and_generates_codes_through_the_cli(tmp_path):
    """data.encoding=onehot (the categorical lever): one input channel per code, through training with the quality
    callback, the checkpoint, in-memory sampling (nearest and frequency decoding) and generate.py's PLINK writer."""
    from snpdiff.config import compose_config

    cfg = compose_config(
        [
            "debug=fast",
            "logger=none",
            "callbacks.progress_bar=null",
            f"paths.output_dir={tmp_path / 'run'}",
            "data.encoding=onehot",
            "quality.enabled=true",
            "quality.eval_samples=16",
            "quality.sampling_steps=3",
            "quality.log_plots=false",
            "quality.ld_window=10",
        ]
    )
    metrics = run_training(cfg)
    last = metrics["history"][-1]
    assert 0.0 <= last["val/af_r2"] <= 1.0 and last["val/ld_corr"] == last["val/ld_corr"]
    ckpt = Path(metrics["checkpoints"]["last"])
    trained = load_trained_model(ckpt)
    assert trained.encoding.mode == "onehot" and trained.encoding.channels == 3
    assert trained.model.init_conv.weight.shape[1] == 3 and trained.model.final_conv.weight.shape[0] == 3
    codes = sample_codes(trained, n=9, batch_size=4, sampling_steps=3, seed=1, progress=False)
    assert codes.shape == (9, cfg.data.seq_length) and set(np.unique(codes)) <= {0, 1, 2}
    frequencies = np.tile([0.5, 0.3, 0.2], (cfg.data.seq_length, 1))
    ranked = sample_codes(
        trained, n=10, batch_size=4, sampling_steps=3, seed=1, progress=False, frequencies=frequencies
    )
    assert [(ranked == code).sum(axis=0).tolist() for code in (0, 1, 2)] == [[5] * 64, [3] * 64, [2] * 64]
    out = tmp_path / "synthetic"
    result = run_generate(f"ckpt={ckpt}", "n=9", f"out={out}", "sampling_steps=3", root=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    written = read_genotypes(out).codes
    in_memory = sample_codes(trained, n=9, batch_size=256, sampling_steps=3, seed=0, progress=False)
    np.testing.assert_array_equal(written, in_memory)
