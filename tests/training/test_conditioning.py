"""Population conditioning end to end, as a user runs it: train.py on a PLINK fileset with a population file,
generate.py population=X (with guidance), the labels in the written files, evaluate.py's recovery rate."""

import json
import subprocess
import sys

import numpy as np
import pytest

from snpdiff.data import read_genotypes, simulate_genotypes, write_plink
from snpdiff.generation import load_trained_model
from snpdiff.metrics.utility import ancestry_accuracy
from tests.helpers import REPO, run_dirs, run_train
from tests.reliability.campaign import check_row

pytestmark = pytest.mark.slow
# a short window and a small, quickly trained model: enough for three populations to come apart
TRAIN = (
    "debug=fast",
    "logger=none",
    "data.n_individuals=null",
    "data.seq_length=128",
    "data.batch_size=32",
    "trainer.max_epochs=1000",
    "trainer.limit_train_batches=null",
    "trainer.limit_val_batches=1",
    "+trainer.max_steps=500",
    "model.channels=8",
    "diffusion.timesteps=200",
    "diffusion.sampling_steps=20",
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A conditioned model trained through train.py on a PLINK fileset whose labels come from a TSV."""
    root = tmp_path_factory.mktemp("conditioned")
    genotypes = simulate_genotypes(300, region_length=2_000_000, seed=11, cache_dir=root / "sim")
    table = root / "populations.tsv"
    table.write_text("".join(f"{s}\t{p}\n" for s, p in zip(genotypes.sample_ids, genotypes.populations, strict=True)))
    genotypes.populations = None  # the labels reach training through the population file only
    prefix = write_plink(root / "cohort", genotypes)
    result = run_train("data=plink", f"data.path={prefix}", f"data.population_file={table}", *TRAIN, root=root)
    assert result.returncode == 0, result.stderr[-3000:]
    (run_dir,) = run_dirs(root)
    return {"root": root, "ckpt": run_dir / "checkpoints" / "last.ckpt", "plink": prefix, "table": table}


def generate(trained, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "generate.py"), f"ckpt={trained['ckpt']}", *args],
        cwd=trained["root"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_checkpoint_knows_the_labels_and_their_shares(trained):
    model = load_trained_model(trained["ckpt"])
    assert model.population_names == ("CEU", "CHB", "YRI")
    assert sum(model.population_shares) == pytest.approx(1.0) and min(model.population_shares) > 0.25


def test_generated_members_of_a_population_are_classified_as_it(trained):
    """A classifier trained on the real people assigns each population's generated individuals to that population
    far above chance (1/3), and the .fam family ids carry the label."""
    real = read_genotypes(str(trained["plink"]) + ".bed", population_file=str(trained["table"]), seq_length=128)
    shares = {}
    for population in ("CEU", "CHB", "YRI"):
        out = trained["root"] / f"members_{population}"
        result = generate(trained, "n=40", f"out={out}", f"population={population}", "guidance_scale=3")
        assert result.returncode == 0, result.stderr[-3000:]
        families = {line.split()[0] for line in (out.parent / f"{out.name}.fam").read_text().splitlines()}
        assert families == {population}
        synthetic = read_genotypes(f"{out}.bed")
        shares[population] = ancestry_accuracy(real.codes, real.populations, synthetic.codes, [population] * 40)
    assert min(shares.values()) > 0.5 and np.mean(list(shares.values())) > 0.75, shares


def test_an_unknown_label_is_an_error_naming_the_known_ones(trained):
    result = generate(trained, "n=8", f"out={trained['root'] / 'nobody'}", "population=MXL")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "population='MXL' is not a label this checkpoint knows; allowed: CEU, CHB, YRI" in result.stderr
    check_row(result, "generate.py outputs", "an unknown population label")
    assert not list(trained["root"].glob("nobody*"))


def test_a_mixture_carries_each_label_in_every_format(trained):
    out = trained["root"] / "mixture"
    assert generate(trained, "n=60", f"out={out}", "format=vcf").returncode == 0
    table = dict(line.split("\t") for line in (trained["root"] / "mixture.populations.tsv").read_text().splitlines())
    assert len(table) == 60 and set(table.values()) == {"CEU", "CHB", "YRI"}
    assert generate(trained, "n=60", f"out={out}", "format=npy").returncode == 0
    sidecar = json.loads((trained["root"] / "mixture.json").read_text())
    assert sidecar["populations"] == [table[sample] for sample in sidecar["sample_ids"]]  # same seed, same labels


def test_evaluate_reports_the_recovery_rate_of_labelled_synthetic_people(trained):
    out = trained["root"] / "evaluated"
    assert generate(trained, "n=60", f"out={trained['root'] / 'labelled'}").returncode == 0
    result = subprocess.run(
        [sys.executable, str(REPO / "evaluate.py"), f"real={trained['plink']}",
         f"synthetic={trained['root'] / 'labelled'}", f"holdout={trained['plink']}",
         f"select.population_file={trained['table']}", "select.seq_length=128",
         "synthetic_populations=fam", f"holdout_populations={trained['table']}", f"out={out}", "plots=false"],
        cwd=trained["root"], capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert 0.5 < metrics["recovery_rate"] <= 1.1 and metrics["trtr_accuracy"] > 0.7
