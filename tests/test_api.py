"""The Python API (``snpdiff.load``, ``Generator``, ``Samples``, ``snpdiff.generate``, ``snpdiff.evaluate``): shapes,
labels and seeds, the codes and bytes generate.py writes (one path, not two), files readable back, the metric dict,
and bad arguments as the project's errors with the command line's messages."""

from __future__ import annotations

import inspect
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import snpdiff
from snpdiff.config import PROJECT_ROOT
from snpdiff.data import read_genotypes
from snpdiff.errors import ConfigError, DataError
from snpdiff.metrics.goals import METRICS
from snpdiff.training.run import run_training
from tests.conftest import FAST
from tests.helpers import run_generate

STEPS = 3  # reverse steps: enough to exercise the sampler, cheap on 2 cores


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A debug=fast training run on the simulation's three labelled populations (CEU, CHB, YRI)."""
    from snpdiff.config import compose_config

    output_dir = tmp_path_factory.mktemp("run")
    run_training(compose_config([*FAST, f"paths.output_dir={output_dir}"]))
    return output_dir


@pytest.fixture(scope="module")
def generator(run_dir) -> snpdiff.Generator:
    return snpdiff.load(run_dir)


def test_importing_snpdiff_loads_no_heavy_library_until_the_api_is_used():
    code = "import json, sys, snpdiff; print(json.dumps([n for n in ('torch', 'snpdiff.api') if n in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []
    from snpdiff import api

    assert (snpdiff.load, snpdiff.Generator, snpdiff.evaluate) == (api.load, api.Generator, api.evaluate)


def test_a_run_folder_and_its_checkpoint_load_the_same_model(run_dir, generator):
    assert generator.checkpoint == run_dir / "checkpoints" / "last.ckpt"
    assert generator.population_names == ("CEU", "CHB", "YRI")
    assert len(generator.snps) == generator.trained.seq_length == 64
    assert snpdiff.load(generator.checkpoint).population_names == generator.population_names


def test_sample_gives_codes_and_labels_of_the_population_reproducibly_by_seed(generator):
    first = generator.sample(6, "CHB", seed=1, sampling_steps=STEPS)
    assert first.codes.shape == (6, 64) and first.codes.dtype == np.int8
    assert set(np.unique(first.codes)) <= {0, 1, 2}
    assert first.labels.tolist() == ["CHB"] * 6
    assert first.genotypes.snps.equals(generator.snps)
    again = generator.sample(6, "CHB", seed=1, sampling_steps=STEPS)
    other = generator.sample(6, "CHB", seed=2, sampling_steps=STEPS)
    assert np.array_equal(first.codes, again.codes)
    assert not np.array_equal(first.codes, other.codes)
    mixture = generator.sample(12, seed=1, sampling_steps=STEPS)
    assert set(mixture.labels) <= set(generator.population_names) and len(set(mixture.labels)) > 1


def test_sample_and_write_give_the_codes_and_bytes_generate_py_writes(generator, tmp_path):
    """One path: generate.py (a process) and the API, same settings -> the same codes; a sampled set written by
    ``Samples.write`` and one streamed by ``Generator.write`` -> generate.py's bytes."""
    settings = {"n": 10, "population": "YRI", "seed": 3, "sampling_steps": STEPS, "batch_size": 4}
    cli = tmp_path / "cli"
    result = run_generate(
        f"ckpt={generator.checkpoint}", f"out={cli}", "format=npy", *(f"{k}={v}" for k, v in settings.items()),
        root=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    n = settings.pop("n")
    population = settings.pop("population")
    samples = generator.sample(n, population, **settings)
    assert np.array_equal(np.load(f"{cli}.npy"), samples.codes)
    samples.write(tmp_path / "memory", "npy")
    generator.write(tmp_path / "streamed", n, "npy", population, **settings)
    for name in ("memory", "streamed"):
        for suffix in (".npy", ".json"):
            assert (tmp_path / f"{name}{suffix}").read_bytes() == Path(f"{cli}{suffix}").read_bytes(), name + suffix


@pytest.mark.parametrize(
    ("fmt", "labels"),
    [("plink", {"population_file": "fam"}), ("vcf", {"population_file": "{out}.populations.tsv"}), ("npy", {})],
)
def test_a_sampled_set_is_written_in_every_format_and_read_back(generator, fmt, labels, tmp_path):
    samples = generator.sample(8, "CEU", seed=0, sampling_steps=STEPS)
    out = tmp_path / "syn"
    paths = samples.write(out, fmt)
    assert all(path.is_file() for path in paths)
    main = {"plink": out, "vcf": Path(f"{out}.vcf.gz"), "npy": Path(f"{out}.npy")}[fmt]
    back = read_genotypes(main, **{key: value.format(out=out) for key, value in labels.items()})
    assert np.array_equal(back.codes, samples.codes)
    assert back.snps.position.tolist() == generator.snps.position.tolist()
    assert back.populations.tolist() == ["CEU"] * 8
    with pytest.raises(ConfigError, match="exists; add overwrite=true"):
        samples.write(out, fmt)


def test_evaluate_takes_arrays_sets_samples_and_files_alike_and_returns_plain_metrics(generator, tmp_path):
    real = generator.sample(16, seed=10, sampling_steps=STEPS)
    synthetic = generator.sample(16, seed=11, sampling_steps=STEPS)
    holdout = generator.sample(16, seed=12, sampling_steps=STEPS)
    metrics = snpdiff.evaluate(real=real.codes, synthetic=synthetic.codes, holdout=holdout.codes)
    assert isinstance(metrics, dict) and {"af_r2", "ld_corr", "pca_w1", "aats", "privacy_loss"} <= set(metrics)
    assert set(metrics) <= set(METRICS)
    assert all(isinstance(value, float) for value in metrics.values())
    real.write(tmp_path / "real", "npy")
    mixed = snpdiff.evaluate(
        real=tmp_path / "real.npy", synthetic=synthetic, holdout=holdout.genotypes, out=tmp_path / "eval", plots=False
    )
    assert mixed.keys() >= metrics.keys() | {"pop_tv", "recovery_rate"}  # labelled sets add these
    unlabelled = ("af_r2", "het_diff", "ld_corr", "aats", "privacy_loss", "exact_copy_rate")  # labels change the PCA
    assert [mixed[name] for name in unlabelled] == pytest.approx([metrics[name] for name in unlabelled])
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["af_r2"] == pytest.approx(mixed["af_r2"])
    assert (tmp_path / "eval" / "report.md").is_file() and not (tmp_path / "eval" / "plots").exists()


KNOWN = "allowed: CEU, CHB, YRI"
BAD_ARGUMENTS = {
    "n 0": (lambda g: g.sample(0), ConfigError, "n=0 must be an integer >= 1"),
    "n not an integer": (lambda g: g.sample(2.5), ConfigError, "n=2.5 must be an integer >= 1"),
    "negative seed": (lambda g: g.sample(4, seed=-1), ConfigError, "seed=-1 must be an integer >= 0"),
    "unknown population": (
        lambda g: g.sample(4, "MXL"),
        ConfigError,
        f"'MXL' is not a label this checkpoint knows; {KNOWN}",
    ),
    "nan guidance": (
        lambda g: g.sample(4, guidance_scale=math.nan),
        ConfigError,
        "guidance_scale=nan must be a finite",
    ),
    "unknown sampler": (
        lambda g: g.sample(4, sampler="euler"),
        ConfigError,
        "'euler' is not a known sampler; allowed: ddpm",
    ),
    "unknown format": (
        lambda g: g.sample(4).write("x", "xlsx"),
        ConfigError,
        "format='xlsx'; allowed: plink, vcf, npy",
    ),
    "no checkpoint": (lambda g: snpdiff.load("missing.ckpt"), ConfigError, "ckpt='missing.ckpt' is not a file"),
    "unknown device": (lambda g: snpdiff.load(g.checkpoint, device="gpu"), ConfigError, "device='gpu' is not a device"),
    "generate n 0": (lambda g: snpdiff.generate(g.checkpoint, 0, "syn"), ConfigError, "n=0 must be an integer >= 1"),
    "generate to a folder": (
        lambda g: snpdiff.generate(g.checkpoint, 4, "dir/"),
        ConfigError,
        "out='dir/' must name a file",
    ),
    "not genotypes": (
        lambda g: snpdiff.evaluate(real=[[0]], synthetic=[[0]]),
        DataError,
        "real: a list is not a genotype",
    ),
    "other widths": (
        lambda g: snpdiff.evaluate(real=np.eye(3, dtype=int), synthetic=np.eye(4, dtype=int)),
        DataError,
        "has 4 SNPs but real",
    ),
    "not codes": (
        lambda g: snpdiff.evaluate(real=np.eye(3), synthetic=np.eye(3)),
        DataError,
        "real: expected integer genotype",
    ),
    "overlap": (
        lambda g: snpdiff.evaluate(real="r", synthetic="s", min_snp_overlap=0),
        ConfigError,
        "min_snp_overlap=0 must be a share",
    ),
}


@pytest.mark.parametrize(("call", "error", "message"), list(BAD_ARGUMENTS.values()), ids=list(BAD_ARGUMENTS))
def test_bad_arguments_are_the_projects_errors_with_the_command_lines_messages(generator, call, error, message):
    with pytest.raises(error, match=re.escape(message)):
        call(generator)


def test_generate_writes_what_generate_py_writes(generator, tmp_path):
    paths = snpdiff.generate(generator.checkpoint, 8, tmp_path / "syn", "npy", "CEU", sampling_steps=STEPS)
    assert [path.name for path in paths] == ["syn.json", "syn.npy"]
    expected = generator.sample(8, "CEU", sampling_steps=STEPS).codes
    assert np.array_equal(np.load(tmp_path / "syn.npy"), expected)


@pytest.mark.parametrize(("function", "config"), [(snpdiff.generate, "generate"), (snpdiff.evaluate, "evaluate")])
def test_the_functions_take_their_entry_points_keys_with_the_same_defaults(function, config):
    """generate.py and evaluate.py pass their composed config as keywords: the keys are the arguments."""
    keys = yaml.safe_load((PROJECT_ROOT / "conf" / f"{config}.yaml").read_text())
    del keys["hydra"]
    parameters = inspect.signature(function).parameters
    assert set(parameters) == set(keys)
    for name, parameter in parameters.items():
        default = keys[name]
        if name == "select":  # None: evaluate.py's selection, every SNP with missing calls imputed by the mode
            assert parameter.default is None
            assert {key: value for key, value in default.items() if value not in (None, 0)} == {"impute": "mode"}
        elif parameter.default is not inspect.Parameter.empty and "${" not in str(default):  # not out's ${now:...}
            assert parameter.default == default, name
