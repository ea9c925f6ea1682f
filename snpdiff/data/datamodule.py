"""The Lightning data module every ``conf/data/<source>.yaml`` instantiates.

``prepare_data`` decodes the source once into the cache (rank 0); ``setup`` loads the selection (a cache hit),
splits it and encodes it. Batches are float32 tensors ``[batch, channels, seq_length]`` (``encoding.to_model``:
one channel, or one per code for ``onehot``), or with population labels
(``population_labels`` and a source that has them) pairs ``(values, labels)`` with labels long ``[batch]``, the
index of each row's population in ``population_names``.
All config validation and every bad-input check happens in ``__init__``/``setup``, before training starts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset, RandomSampler

from snpdiff.data.cache import CacheResult
from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.data.rules import check_data_config
from snpdiff.data.selection import load_genotypes, split_selection
from snpdiff.data.sim import simulate_genotypes
from snpdiff.data.sources import FORMAT_OPTIONS, open_source
from snpdiff.data.sources.memory import MemorySource
from snpdiff.data.split import split_rows
from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.errors import ConfigError
from snpdiff.models.registry import ModelInputs

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
# keys that only data=sim reads (other sources log that they ignore them)
SIM_ONLY_KEYS = ("region_length", "sim_seed")


class EncodedRows(Dataset):
    """Encoded genotype rows ``[rows, 1, snps]`` float32 and, when given, their labels long ``[rows]``; batched
    reads return one stacked tensor, or a ``(values, labels)`` pair."""

    def __init__(self, values: torch.Tensor, labels: torch.Tensor | None = None):
        self.values = values
        self.labels = labels

    def __len__(self) -> int:
        return len(self.values)

    def __getitem__(self, index: int) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        return self.__getitems__([index])

    def __getitems__(self, indices: list[int]) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.labels is None:
            return self.values[indices]
        return self.values[indices], self.labels[indices]


def derived_seed(*keys: int) -> int:
    """A 32-bit seed from several integers (e.g. ``(seed, epoch)``); distinct keys give unrelated streams."""
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


class EpochShuffle(RandomSampler):
    """A fresh permutation of the rows each epoch, drawn from ``(seed, epoch)`` alone.

    Lightning calls ``set_epoch`` before every training epoch, so a run resumed after epoch k sees the order the
    uninterrupted run saw in epoch k + 1, not epoch 0's again. The order does not depend on the batch size, so an
    out-of-memory back-off that splits batches keeps the rows of every effective batch. A ``RandomSampler``, so under
    DDP Lightning replaces it with its ``DistributedSampler`` (also seeded by seed and epoch).
    """

    def __init__(self, data_source: Dataset, seed: int):
        super().__init__(data_source)
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        # a generator function: the order is drawn at the first batch, after Lightning's set_epoch (the first
        # iterator of a fit is created before it)
        generator = torch.Generator().manual_seed(derived_seed(self.seed, self.epoch))
        yield from torch.randperm(len(self.data_source), generator=generator).tolist()


def _already_batched(batch: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor | tuple:
    return batch


def _note_ignored_simulation_keys(config: dict) -> None:
    """Log the simulation-only keys a file source was given (they do nothing there)."""
    ignored = [key for key in SIM_ONLY_KEYS if config[key] is not None] if config["source"] != "sim" else []
    if ignored:
        log.info(
            "data=%s ignores the simulation keys %s", config["source"], ", ".join(f"data.{key}" for key in ignored)
        )


class GenotypeDataModule(LightningDataModule):
    """Genotype windows from any source, split and encoded for a diffusion model.

    Keys (all from ``conf/data/<source>.yaml``): ``source`` (sim | plink | vcf | parquet | npy), ``path``;
    ``n_individuals`` (sim: individuals to simulate; files: keep the first n; null: sim's default 1000 / all),
    ``region_length`` (bp) and ``sim_seed`` (sim only; null: ``simulate_genotypes``' defaults); selection
    ``region``, ``snp_offset``, ``seq_length`` (null: every SNP left), ``min_maf``, ``max_missing``, ``samples``,
    ``population_file``, ``impute`` (see ``snpdiff.data.selection``); ``population_labels`` (label batches with
    each row's population when the source has labels, for a population-conditioned model); format options ``snps_only``,
    ``haploid_calls`` (vcf) and ``missing_code`` (parquet); ``encoding``, ``scale``, ``haplotype`` (see
    ``GenotypeEncoding``);
    ``val_fraction``, ``test_fraction``, ``stratify``, ``seed`` (the split); ``batch_size`` (mutable: read each
    time a dataloader is made), ``num_workers``; ``cache_dir`` (null: file selections are not cached, and the
    simulation uses ``$SNPDIFF_CACHE`` or ``~/.cache/snpdiff``).

    After ``setup()``: ``seq_length`` (int), ``snps`` (``SnpInfo`` of the window), ``genotypes`` (the selected
    ``GenotypeSet``), ``train_codes``/``val_codes``/``test_codes`` (int8 ``[rows, seq_length]``, no missing),
    ``train_populations``/... (or None), ``train_sample_ids``/..., ``sample_ids`` (all selected rows),
    ``population_names`` (sorted labels the batches index, or None: unlabelled batches), ``population_shares``
    (each label's share of the training rows) and ``load_info`` (imputed calls, scanned/skipped SNPs).
    """

    def __init__(
        self,
        source: str = "sim",
        path: str | None = None,
        n_individuals: int | None = None,
        region_length: int | None = None,
        sim_seed: int | None = None,
        region: str | None = None,
        snp_offset: int = 0,
        seq_length: int | None = 1024,
        min_maf: float = 0.01,
        max_missing: float | None = None,
        samples: list[str] | str | None = None,
        population_file: str | None = None,
        population_labels: bool = True,
        impute: str = "mode",
        snps_only: bool | None = None,
        haploid_calls: str | None = None,
        missing_code: int | None = None,
        encoding: str = "centered",
        scale: float = 1.0,
        haplotype: bool = False,
        val_fraction: float = 0.1,
        test_fraction: float = 0.1,
        stratify: bool = True,
        seed: int = 0,
        batch_size: int = 16,
        num_workers: int = 0,
        cache_dir: str | None = None,
    ):
        super().__init__()
        if samples is not None and not isinstance(samples, str):
            samples = [str(sample) for sample in samples]  # a Hydra ListConfig
        config = {name: value for name, value in locals().items() if name not in ("self", "__class__")}
        problems = check_data_config(config)
        if problems:
            raise ConfigError("; ".join(problems))
        self.config = config
        self.source = source
        self.path = path
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.seq_length = seq_length
        self.encoding = GenotypeEncoding(encoding, scale, haplotype)
        # data=sim reads n_individuals as the number to simulate, not as a slice of them
        self.selection, _ = split_selection({**config, "n_individuals": None if source == "sim" else n_individuals})
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        self.genotypes: GenotypeSet | None = None
        self.snps: SnpInfo | None = None
        self.load_info: dict = {}
        self._values: dict[str, torch.Tensor] = {}
        self._labels: dict[str, torch.Tensor] = {}
        self.population_names: tuple[str, ...] | None = None
        self.population_shares: tuple[float, ...] | None = None
        for name in SPLITS:
            setattr(self, f"{name}_codes", None)
            setattr(self, f"{name}_sample_ids", None)
            setattr(self, f"{name}_populations", None)
        _note_ignored_simulation_keys(config)

    def _simulate(self) -> GenotypeSet:
        # null keys take simulate_genotypes' defaults
        keys = {"n_individuals": "n_individuals", "region_length": "region_length", "sim_seed": "seed"}
        given = {argument: self.config[key] for key, argument in keys.items() if self.config[key] is not None}
        return simulate_genotypes(**given, cache_dir=self.cache_dir, haplotype=self.config["haplotype"])

    def _load(self) -> CacheResult:
        """Open the source and select from it, through the cache (raises DataError/ConfigError on bad input)."""
        config = self.config
        if self.source == "sim":
            simulated = self._simulate()
            # the simulation is cached itself; selecting from it in memory is faster than a second cache entry
            source = MemorySource(simulated, identity={"sim": simulated.source}, format="sim")
            return load_genotypes(source, self.selection, cache_dir=None)
        options = {
            key: config[key]
            for key, sources in FORMAT_OPTIONS.items()
            if self.source in sources and config[key] is not None
        }
        source = open_source(self.source, self.path, haplotype=config["haplotype"], **options)
        return load_genotypes(source, self.selection, cache_dir=self.cache_dir)

    def prepare_data(self) -> None:
        """Decode the source into the cache once (Lightning calls this on one process per node)."""
        if self.genotypes is not None:
            return  # already set up in this process (Trainer.fit calls prepare_data again)
        if self.source == "sim":
            self._simulate()
        elif self.cache_dir is not None:
            self._load()

    def setup(self, stage: str | None = None) -> None:
        if self.genotypes is not None:
            return
        result = self._load()
        genotypes = result.genotypes
        self.load_info = result.info
        splits = split_rows(
            genotypes.individual_of_row(),
            genotypes.populations,
            self.config["val_fraction"],
            self.config["test_fraction"],
            seed=self.seed,
            stratify=self.config["stratify"],
            source=genotypes.source,
            population_origins=result.info.get("population_origins"),
        )
        labelled = self.config["population_labels"] and genotypes.populations is not None
        if labelled:
            names, indices = np.unique(np.asarray(genotypes.populations).astype(str), return_inverse=True)
            self.population_names = tuple(names.tolist())
            train_indices = indices[splits["train"]]
            self.population_shares = tuple(float(np.mean(train_indices == i)) for i in range(len(names)))
        for name in SPLITS:
            rows = splits[name]
            if labelled:
                self._labels[name] = torch.from_numpy(indices[rows].astype(np.int64))
            codes = np.asarray(genotypes.codes[rows], dtype=np.int8)
            setattr(self, f"{name}_codes", codes)
            setattr(self, f"{name}_sample_ids", genotypes.sample_ids[rows])
            setattr(self, f"{name}_populations", None if genotypes.populations is None else genotypes.populations[rows])
            self._values[name] = torch.from_numpy(self.encoding.to_model(codes))
        self.genotypes = genotypes
        self.snps = genotypes.snps
        self.seq_length = genotypes.n_snps
        log.info(
            "data split (seed %d%s): %s rows",
            self.seed,
            ", stratified by population" if self.config["stratify"] and genotypes.populations is not None else "",
            " / ".join(f"{name} {len(splits[name])}" for name in SPLITS),
        )

    @property
    def model_inputs(self) -> ModelInputs:
        """What the model is built from that the data decide (after ``setup()``): the window, the encoding's
        channels and the population labels the batches index (None: unlabelled batches)."""
        return ModelInputs(int(self.seq_length), self.encoding.channels, self.population_names)

    @property
    def sample_ids(self) -> np.ndarray | None:
        return None if self.genotypes is None else self.genotypes.sample_ids

    @property
    def populations(self) -> dict[str, np.ndarray | None]:
        """Population labels per split (``{"train": ..., "val": ..., "test": ...}``), after ``setup()``."""
        return {name: getattr(self, f"{name}_populations", None) for name in SPLITS}

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self._values:
            raise RuntimeError("GenotypeDataModule.setup() must run before its dataloaders are used")
        rows = EncodedRows(self._values[split], self._labels.get(split))
        return DataLoader(
            rows,
            batch_size=self.batch_size,
            sampler=EpochShuffle(rows, self.seed) if shuffle else None,
            # the loader draws its workers' base seed from this, not from the global RNG the training noise uses
            generator=torch.Generator().manual_seed(self.seed),
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            collate_fn=_already_batched,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
