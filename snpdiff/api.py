"""snpdiff from Python: load a trained model, sample synthetic genotypes, write them, evaluate them.

The entry points are thin users of these functions, so a notebook and the command line take one path:
``generate.py`` is ``generate`` (checked as its config is, then ``snpdiff.generation.write_synthetic``) and
``evaluate.py`` is ``evaluate``. ``load`` gives a ``Generator`` whose ``sample`` runs the same sampling pipeline and
batch plan as generate.py (``snpdiff.generation.sampling``): the same seed and batch size give the same codes.
Every bad argument is a ``snpdiff.errors.SnpdiffError`` (``ConfigError``, ``DataError``) with the command line's
message. docs/python.md shows it all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from snpdiff.config import check_composed
from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.generation import (
    TrainedModel,
    batch_plan,
    check_format,
    load_trained_model,
    sample_codes,
    sample_labels,
    synthetic_set,
    write_synthetic,
    write_trained,
    write_whole_set,
)
from snpdiff.generation.checkpoint import torch_device
from snpdiff.generation.sampling import training_snps
from snpdiff.metrics.evaluation import GenotypeInput, evaluate_sets, gather_inputs
from snpdiff.metrics.settings import MetricSettings
from snpdiff.run_folder import last_checkpoint

__all__ = ["Generator", "Samples", "evaluate", "generate", "load"]


@dataclass(frozen=True)
class Samples:
    """Sampled individuals with the training window's SNPs: ``genotypes`` is a ``GenotypeSet`` (codes, SNP metadata,
    synthetic ids ``synthetic<i>``, population labels), what ``evaluate`` and the writers take."""

    genotypes: GenotypeSet

    @property
    def codes(self) -> np.ndarray:
        """int8 ``[n, snps]``: copies of the alternate allele (0/1/2; 0/1 for a haplotype model's rows)."""
        return self.genotypes.codes

    @property
    def labels(self) -> np.ndarray | None:
        """str ``[n]``: each row's population label (a conditioned model), None for an unconditioned one."""
        return self.genotypes.populations

    def write(self, out: str | os.PathLike, format: str = "plink", overwrite: bool = False) -> list[Path]:
        """Write the set as ``format`` (``plink``, ``vcf`` or ``npy``) under the names generate.py gives ``out`` (a
        path prefix: ``out.bed/.bim/.fam``, ``out.vcf.gz`` (+ ``out.populations.tsv`` for labels), ``out.npy`` +
        ``out.json``), through its writers: the same codes give the same bytes. Returns the files written;
        ConfigError for an unknown format, or an existing output without ``overwrite``."""
        return write_whole_set(self.genotypes, out, format, overwrite)


class Generator:
    """A trained model loaded for sampling (``load``): ``sample`` in memory, ``write`` streamed to files."""

    def __init__(self, trained: TrainedModel, checkpoint: Path, device: str = "cpu"):
        self.trained, self.checkpoint, self.device = trained, checkpoint, device

    @property
    def population_names(self) -> tuple[str, ...] | None:
        """The population labels a conditioned model knows (what ``population=`` takes); None without labels."""
        return self.trained.population_names

    @property
    def snps(self) -> SnpInfo:
        """The training window's SNPs (placeholders for a checkpoint stored without them): ``[snps]`` columns."""
        return training_snps(self.trained)

    def __repr__(self) -> str:
        labels = ", ".join(self.population_names) if self.population_names else "none"
        return f"Generator({str(self.checkpoint)!r}, snps={self.trained.seq_length}, populations: {labels})"

    def sample(
        self,
        n: int,
        population: str | None = None,
        *,
        guidance_scale: float = 1.0,
        sampler: str | None = None,
        sampling_steps: int | None = None,
        seed: int = 0,
        batch_size: int = 256,
        progress: bool = False,
    ) -> Samples:
        """Sample ``n`` individuals in memory: ``Samples`` with codes int8 ``[n, snps]`` and labels str ``[n]``.

        ``population``: members of that label (one of ``population_names``); None: a mixture at the training
        shares. ``guidance_scale``, ``sampler`` (``ddpm``, ``ddim``, ``dpmpp_2m``; None: the checkpoint's),
        ``sampling_steps``, ``seed`` and ``batch_size`` (rounded up to a multiple of 4) mean what generate.py's keys
        do, and the same values give generate.py's codes. Every argument is checked before sampling starts.
        """
        plan = batch_plan(n, batch_size, seed)
        trained = self.trained
        codes = sample_codes(
            trained, plan.n, plan.batch_size, sampler, sampling_steps, plan.seed, progress,
            population=population, guidance_scale=guidance_scale,
        )  # fmt: skip
        labels = sample_labels(trained, plan.n, plan.batch_size, plan.seed, population)
        return Samples(synthetic_set(trained, codes, labels))

    def write(
        self,
        out: str | os.PathLike,
        n: int,
        format: str = "plink",
        population: str | None = None,
        *,
        guidance_scale: float = 1.0,
        sampler: str | None = None,
        sampling_steps: int | None = None,
        seed: int = 0,
        batch_size: int = 256,
        overwrite: bool = False,
    ) -> list[Path]:
        """Sample ``n`` individuals streamed to files, as generate.py does (memory bounded by a batch, resumable by
        the same call after a kill: ``snpdiff.generation.stream``). ``out`` is a path prefix, ``format`` ``plink``,
        ``vcf`` or ``npy``; the other arguments as in ``sample``. Returns the files written."""
        fmt = check_format(format)
        plan = batch_plan(n, batch_size, seed)
        return write_trained(
            self.trained, self.checkpoint, self.device, out, fmt, plan, population=population,
            sampler_name=sampler, sampling_steps=sampling_steps, guidance_scale=guidance_scale, overwrite=overwrite,
        )  # fmt: skip


def load(path: str | os.PathLike, device: str = "cpu") -> Generator:
    """The trained model of a checkpoint file, or of a training run folder (its ``checkpoints/last.ckpt``), on
    ``device`` (``cpu``, ``cuda``, ``cuda:<index>``).

    Loaded as generate.py loads it (``load_trained_model``: weights-only, an allow-list of classes with plain
    values): a file that is no snpdiff checkpoint, a corrupt one or one from a diverged run is a ConfigError
    ``ckpt=<path> ...`` saying what is wrong.
    """
    checkpoint = Path(path)
    if checkpoint.is_dir() and last_checkpoint(checkpoint).is_file():
        checkpoint = last_checkpoint(checkpoint)
    trained = load_trained_model(checkpoint, device=torch_device(str(device)))
    return Generator(trained, checkpoint, str(device))


def generate(
    ckpt: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    format: str = "plink",
    population: str | None = None,
    *,
    guidance_scale: float = 1.0,
    sampler: str | None = None,
    sampling_steps: int | None = None,
    batch_size: int = 256,
    seed: int = 0,
    device: str = "cpu",
    overwrite: bool = False,
) -> list[Path]:
    """generate.py as a function (its keys, ``conf/generate.yaml``, as arguments): sample ``n`` individuals from the
    checkpoint file ``ckpt`` and stream them as ``format`` to ``out``, resumable. Returns the files written.

    The arguments are checked as generate.py's config is (``snpdiff.config.check_composed``: the same messages),
    then the format, the device and the checkpoint, all before any sampling.
    """
    values = {
        "ckpt": str(ckpt), "n": n, "out": str(out), "format": format, "overwrite": overwrite,
        "population": population, "guidance_scale": guidance_scale, "sampler": sampler,
        "sampling_steps": sampling_steps, "batch_size": batch_size, "seed": seed, "device": device,
    }  # fmt: skip
    cfg = OmegaConf.create(_plain(values))
    check_composed(cfg, "generate")
    return write_synthetic(cfg)


def _plain(values: dict[str, Any]) -> dict[str, Any]:
    """numpy scalars as Python ones, so a config holds them (a wrong type stays wrong: the schema names it)."""
    return {key: value.item() if isinstance(value, np.generic) else value for key, value in values.items()}


def evaluate(
    *,
    real: GenotypeInput | Samples,
    synthetic: GenotypeInput | Samples,
    holdout: GenotypeInput | Samples | None = None,
    out: str | os.PathLike | None = None,
    plots: bool = True,
    synthetic_populations: str | None = None,
    holdout_populations: str | None = None,
    haplotype: bool = False,
    select: dict[str, Any] | None = None,
    min_snp_overlap: float = 0.9,
    ld_window: int = 50,
    n_pcs: int = 2,
    max_snps_ld: int | None = None,
    seed: int = 0,
) -> dict[str, float]:
    """The fidelity, privacy and utility metrics of ``synthetic`` (S) against ``real`` (T, the training set) and
    ``holdout`` (H, real people the model never saw): ``{metric name: value}`` (``snpdiff.metrics.goals.METRICS``
    says what each means and which way is better). evaluate.py's keys (``conf/evaluate.yaml``) as arguments.

    Each input is a ``GenotypeSet``, a ``Samples``, an integer array ``[rows, snps]`` (codes 0..2, 0..1 with
    ``haplotype``; no SNP metadata, so compared column by column) or a path (a PLINK prefix or ``.bed``, VCF/BCF,
    Parquet, ``.npy``, or a run folder holding ``real.*``, ``synthetic.*``, ``holdout.*``). ``select`` cuts a real
    file (``read_genotypes`` keywords; missing calls take the SNP's most frequent code unless it sets ``impute``, as
    in evaluate.py), ``*_populations`` label the rows of synthetic and held-out files. Keyword-only: T and
    S swapped would silently turn the privacy metrics around. With ``out``, also writes ``metrics.json``,
    ``report.md`` and (``plots``) ``plots/*.png`` there. DataError for unreadable or mismatched inputs.
    """
    sets = gather_inputs(
        _genotypes(real), _genotypes(synthetic), _genotypes(holdout),
        haplotype=haplotype, select={"impute": "mode", **(select or {})},
        populations={"synthetic": synthetic_populations, "holdout": holdout_populations},
        min_snp_overlap=min_snp_overlap,
    )  # fmt: skip
    settings = MetricSettings(ld_window=ld_window, n_pcs=n_pcs, max_snps_ld=max_snps_ld, seed=seed)
    return evaluate_sets(sets, settings, out, plots).metrics


def _genotypes(value: GenotypeInput | Samples | None) -> GenotypeInput | None:
    return value.genotypes if isinstance(value, Samples) else value
