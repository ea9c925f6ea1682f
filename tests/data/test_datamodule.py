"""GenotypeDataModule: built from every conf/data/*.yaml, same data through every source, batches, splits."""

import inspect

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from snpdiff.config import CONF_DIR, compose_config
from snpdiff.data import GenotypeDataModule, check_data_config, simulate_genotypes, write_npy, write_plink, write_vcf
from snpdiff.data.datamodule import SPLITS

SIM = {"n_individuals": 60, "region_length": 300_000, "sim_seed": 3}


@pytest.fixture(scope="module")
def sim_files(tmp_path_factory):
    """The exact simulation ``data=sim`` makes with ``SIM``, written as PLINK, VCF, npy and a population TSV."""
    root = tmp_path_factory.mktemp("sim_files")
    genotypes = simulate_genotypes(
        SIM["n_individuals"], SIM["region_length"], SIM["sim_seed"], cache_dir=root / "cache"
    )
    table = root / "populations.tsv"
    table.write_text("".join(f"{s}\t{p}\n" for s, p in zip(genotypes.sample_ids, genotypes.populations, strict=True)))
    return {
        "plink": write_plink(root / "sim", genotypes),
        "vcf": write_vcf(root / "sim.vcf.gz", genotypes),
        "npy": write_npy(root / "sim.npy", genotypes),
        "populations": table,
    }


def values_of(batch) -> torch.Tensor:
    """A batch's encoded rows, also of a labelled batch ``(values, labels)``."""
    return batch[0] if isinstance(batch, tuple) else batch


def _setup(**data) -> GenotypeDataModule:
    datamodule = GenotypeDataModule(**data)
    datamodule.prepare_data()
    datamodule.setup("fit")
    return datamodule


def test_every_source_yields_the_same_splits_as_the_simulation(sim_files, tmp_path):
    common = {"seq_length": 100, "snp_offset": 20, "cache_dir": str(tmp_path / "cache"), "seed": 4}
    reference = _setup(source="sim", **SIM, **common)
    populations = {"plink": "fam", "vcf": str(sim_files["populations"]), "npy": None}
    for source, labels in populations.items():
        datamodule = _setup(source=source, path=str(sim_files[source]), population_file=labels, **common)
        assert datamodule.seq_length == 100
        assert datamodule.snps.equals(reference.snps)
        for split in SPLITS:
            assert np.array_equal(getattr(datamodule, f"{split}_codes"), getattr(reference, f"{split}_codes"))
            labels = getattr(datamodule, f"{split}_populations")
            assert np.array_equal(labels, getattr(reference, f"{split}_populations"))


@pytest.mark.parametrize("source", ["sim", "plink", "vcf", "parquet", "npy"])
def test_each_config_file_composes_instantiates_and_serves_batches(files, tmp_path, source):
    path = {
        "sim": None,
        "plink": files["plink"],
        "vcf": files["vcf.gz"],
        "parquet": files["parquet"],
        "npy": files["npy"],
    }[source]
    overrides = [f"data={source}", "data.seq_length=48", "data.batch_size=8", f"data.cache_dir={tmp_path}"]
    if source == "sim":
        overrides += ["data.n_individuals=30", "data.region_length=100000"]
    else:
        overrides.append(f"data.path={path}")
    cfg = compose_config(overrides)
    data = OmegaConf.to_container(cfg.data, resolve=True)
    assert check_data_config(data) == []
    datamodule = instantiate(cfg.data, _convert_="all")
    assert isinstance(datamodule, GenotypeDataModule)
    datamodule.prepare_data()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    if datamodule.population_names is not None:  # a source with labels: (values, labels) pairs
        batch, labels = batch
        assert labels.shape == (8,) and labels.dtype == torch.long
    assert isinstance(batch, torch.Tensor)
    assert batch.shape == (8, 1, 48) and batch.dtype == torch.float32
    assert set(batch.unique().tolist()) <= {-1.0, 0.0, 1.0}
    for split in SPLITS:
        codes = getattr(datamodule, f"{split}_codes")
        assert codes.dtype == np.int8 and codes.shape[1] == 48 and (codes >= 0).all()


def test_every_data_option_has_every_constructor_key():
    """conf/data/*.yaml start from GenotypeDataModule's defaults (snpdiff.config.schema), so every key is there."""
    keys = set(inspect.signature(GenotypeDataModule.__init__).parameters) - {"self"}
    wired = {key for key in OmegaConf.load(CONF_DIR / "data" / "_common.yaml") if key != "defaults"}
    assert wired == {"seed", "cache_dir"}
    for source in ("sim", "plink", "vcf", "parquet", "npy"):
        data = compose_config([f"data={source}"]).data
        assert set(data) == keys | {"_target_"}
        assert data.source == source


def test_batch_size_is_read_when_each_dataloader_is_made(tmp_path):
    datamodule = _setup(source="sim", **SIM, seq_length=32, batch_size=16, cache_dir=str(tmp_path))
    assert values_of(next(iter(datamodule.train_dataloader()))).shape[0] == 16
    datamodule.batch_size = 5  # what the out-of-memory back-off does between fits
    assert values_of(next(iter(datamodule.train_dataloader()))).shape[0] == 5
    assert values_of(next(iter(datamodule.val_dataloader()))).shape[0] == 5


def test_train_order_is_shuffled_and_seeded_validation_is_not_shuffled(tmp_path):
    datamodule = _setup(source="sim", **SIM, seq_length=32, batch_size=64, cache_dir=str(tmp_path), seed=11)
    train_values = torch.from_numpy(datamodule.encoding.encode(datamodule.train_codes)).unsqueeze(1)
    first = torch.cat([values_of(batch) for batch in datamodule.train_dataloader()])
    again = torch.cat([values_of(batch) for batch in datamodule.train_dataloader()])
    assert torch.equal(first, again)  # the seeded generator gives the same order every time
    assert not torch.equal(first, train_values)  # but not the stored order
    assert torch.equal(first.sum(0), train_values.sum(0))  # the same rows
    validation = torch.cat([values_of(batch) for batch in datamodule.val_dataloader()])
    assert torch.equal(validation, torch.from_numpy(datamodule.encoding.encode(datamodule.val_codes)).unsqueeze(1))


def test_stratified_split_keeps_population_proportions(tmp_path):
    datamodule = _setup(
        source="sim",
        n_individuals=90,
        region_length=100_000,
        sim_seed=2,
        seq_length=32,
        val_fraction=0.2,
        test_fraction=0.1,
        stratify=True,
        cache_dir=str(tmp_path),
    )
    for split, per_population in (("train", 21), ("val", 6), ("test", 3)):
        labels, counts = np.unique(getattr(datamodule, f"{split}_populations"), return_counts=True)
        assert labels.tolist() == ["CEU", "CHB", "YRI"] and counts.tolist() == [per_population] * 3
    ids = [set(getattr(datamodule, f"{split}_sample_ids")) for split in SPLITS]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])
    assert len(ids[0] | ids[1] | ids[2]) == 90
    other_seed = _setup(
        source="sim",
        n_individuals=90,
        region_length=100_000,
        sim_seed=2,
        seq_length=32,
        val_fraction=0.2,
        test_fraction=0.1,
        seed=99,
        cache_dir=str(tmp_path),
    )
    assert set(other_seed.val_sample_ids) != ids[1]


def test_haplotype_mode_keeps_both_haplotypes_of_an_individual_in_one_split(tmp_path):
    datamodule = _setup(source="sim", **SIM, seq_length=40, haplotype=True, encoding="unit", cache_dir=str(tmp_path))
    assert set(np.unique(datamodule.train_codes)) == {0, 1}
    rows = sum(len(getattr(datamodule, f"{split}_codes")) for split in SPLITS)
    assert rows == 2 * SIM["n_individuals"]
    for split in SPLITS:
        individuals = [sample[:-3] for sample in getattr(datamodule, f"{split}_sample_ids")]
        assert all(individuals.count(individual) == 2 for individual in individuals)
    values, labels = next(iter(datamodule.train_dataloader()))
    assert set(values.unique().tolist()) == {0.0, 1.0}


def test_old_tool_encoding_unit_with_half_scale(files, tmp_path):
    datamodule = _setup(
        source="parquet", path=str(files["parquet"]), seq_length=64, encoding="unit", scale=0.5, cache_dir=str(tmp_path)
    )
    assert set(torch.cat(list(datamodule.train_dataloader())).unique().tolist()) == {0.0, 0.25, 0.5}


def test_seq_length_null_takes_every_snp_left(files, with_missing, tmp_path):
    datamodule = _setup(source="plink", path=str(files["plink"]), seq_length=None, min_maf=0.0, cache_dir=str(tmp_path))
    assert datamodule.seq_length == with_missing.n_snps
    assert datamodule.load_info["imputed_calls"] == with_missing.missing_count


def test_check_data_config_names_each_bad_key():
    problems = check_data_config(
        {
            "source": "plink",
            "path": None,
            "val_fraction": 0.7,
            "test_fraction": 0.4,
            "batch_size": 0,
            "seq_length": 0,
            "encoding": "binary",
            "impute": "zero",
            "min_maf": 0.7,
            "region": "chr1:9-3",
            "missing_code": 9,
            "snp_offset": -1,
            "population_file": "fam",
        }
    )
    text = "\n".join(problems)
    for expected in (
        "data.path is required",
        "data.val_fraction + data.test_fraction",
        "data.batch_size=0",
        "data.seq_length=0",
        "data.encoding='binary'",
        "data.impute='zero'",
        "data.min_maf=0.7",
        "data.region='chr1:9-3'",
        "data.missing_code only applies to data=parquet",
        "data.snp_offset=-1",
    ):
        assert expected in text
    assert check_data_config({"source": "vcf", "path": "x.vcf", "population_file": "fam"}) == [
        "data.population_file=fam reads the PLINK .fam family column; data=vcf has none"
    ]
    assert check_data_config({"source": "sim", "seq_length": None}) == []
    assert check_data_config({"source": "csv"}) == [
        "data.source='csv' is not a source; allowed: ['sim', 'plink', 'vcf', 'parquet', 'npy']"
    ]


def test_population_labels_travel_with_their_rows(sim_files, tmp_path):
    """With population labels on, each batch row carries the index of its own population; with them off, batches
    stay plain tensors."""
    labelled = _setup(
        source="npy",
        path=str(sim_files["npy"]),
        population_file=str(sim_files["populations"]),
        population_labels=True,
        seq_length=64,
        batch_size=7,
        cache_dir=str(tmp_path / "cache"),
    )
    assert labelled.population_names == ("CEU", "CHB", "YRI")
    assert sum(labelled.population_shares) == pytest.approx(1.0)
    values, labels = next(iter(labelled.train_dataloader()))
    assert values.shape == (7, 1, 64) and labels.dtype == torch.long
    rows = {
        tuple(labelled.encoding.encode(codes).tolist()): name
        for codes, name in zip(labelled.train_codes, labelled.train_populations, strict=True)
    }
    for row, label in zip(values[:, 0], labels, strict=True):
        assert rows[tuple(row.tolist())] == labelled.population_names[label]
    plain = _setup(source="npy", path=str(sim_files["npy"]), population_labels=False, seq_length=64, batch_size=7)
    assert plain.population_names is None and isinstance(next(iter(plain.train_dataloader())), torch.Tensor)
