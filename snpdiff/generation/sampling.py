"""The one assembly of sampling and the one batch loop, shared by the in-training quality check
(``snpdiff.training.quality``), in-memory generation (``sample_codes``) and generate.py (``snpdiff.generation.stream``).

``SamplingPipeline`` (diffusers' pipeline seam) holds a denoiser, its diffusion process, a sampler and the population
labels with their guidance; ``values(seed, batch_index, size)`` turns them into one batch, its noise from the batch's
own seed. ``sample_batches`` runs the batches of a ``BatchPlan`` through it and writes each, decoded, into a
``snpdiff.data.writers.RowWriter``: an array in memory or a PLINK, VCF or npy file. The same settings therefore give
the same individuals wherever they are sampled.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from functools import partial
from numbers import Integral, Real

import numpy as np
import torch
from rich.progress import Progress, TaskID

from snpdiff.data.encoding import GenotypeEncoding
from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.data.writers import MemoryWriter, RowWriter
from snpdiff.diffusion import DDPMSampler, GaussianDiffusion, Sampler, sample, sampler_from_config
from snpdiff.diffusion.guidance import GuidedModel
from snpdiff.errors import ConfigError
from snpdiff.generation.checkpoint import TrainedModel

log = logging.getLogger(__name__)
LOG_EVERY_S = 30.0  # seconds between progress lines in the log


def batch_generator(seed: int, batch_index: int) -> torch.Generator:
    """The generator of batch ``batch_index`` of a run with ``seed``: seeded with numpy's
    ``SeedSequence((seed, batch_index))``, which mixes both numbers without hashing, so every batch has its own
    stream and a batch's individuals do not depend on which batches ran before it (a resumed run draws the same)."""
    if seed < 0:
        raise ConfigError(f"seed={seed} must be >= 0")
    state = np.random.SeedSequence((seed, batch_index)).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device="cpu").manual_seed(int(state))


@dataclasses.dataclass(frozen=True)
class PopulationLabels:
    """How a population-conditioned model's labels are drawn: every individual class ``population``, or without it
    a mixture at ``shares`` (each class's share of the training rows). ``ploidy`` is the encoding's: with haplotype
    rows (ploidy 1) both haplotypes of an individual share its label."""

    shares: Sequence[float]
    ploidy: int
    population: int | None = None

    def draw(self, seed: int, batch_index: int, size: int) -> np.ndarray:
        """The class indices (int64 ``[size]``) of batch ``batch_index``; a mixture is drawn from
        ``SeedSequence((seed, batch_index, 1))``, a stream of its own, so resumed batches draw the same labels."""
        if self.population is not None:
            return np.full(size, self.population, dtype=np.int64)
        rng = np.random.default_rng(np.random.SeedSequence((seed, batch_index, 1)))
        shares = np.asarray(self.shares, dtype=np.float64)
        rows_per_individual = 2 // self.ploidy
        drawn = rng.choice(len(shares), size=-(-size // rows_per_individual), p=shares / shares.sum())
        return np.repeat(drawn, rows_per_individual)[:size].astype(np.int64)


@dataclasses.dataclass
class SamplingPipeline:
    """A denoiser ``model`` (``[batch, channels, seq_length]`` in, its ``diffusion``'s prediction out), the process,
    and the sampler named ``sampler_name`` (default the diffusion's ``sampler``) at ``sampling_steps`` (default the
    diffusion's, DDPM the full chain), clipping to the ``encoding``'s value range. A conditioned model gets
    ``labels`` with classifier-free guidance at ``guidance_scale`` (1: plain conditional sampling;
    ``snpdiff.diffusion.guidance``). Every user error (sampler, steps, guidance) is a ConfigError raised here, before
    any sampling."""

    model: torch.nn.Module
    diffusion: GaussianDiffusion
    encoding: GenotypeEncoding
    seq_length: int
    sampler_name: str | None = None
    sampling_steps: int | None = None
    labels: PopulationLabels | None = None
    guidance_scale: float = 1.0
    sampler: Sampler = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        clip = self.encoding.clip_range
        self.sampler = sampler_from_config(self.diffusion, self.sampler_name, clip_denoised=clip)
        self.sampler_name = self.diffusion.sampler if self.sampler_name is None else self.sampler_name
        if self.sampling_steps is None:
            full_chain = isinstance(self.sampler, DDPMSampler)
            self.sampling_steps = self.diffusion.timesteps if full_chain else self.diffusion.sampling_steps
        self.sampling_steps = int(self.sampling_steps)
        self.sampler.set_timesteps(self.diffusion, self.sampling_steps)  # checks the step count
        scale = self.guidance_scale
        is_number = isinstance(scale, Real) and not isinstance(scale, bool)
        if not (is_number and math.isfinite(scale) and scale >= 0):
            shown = f"{scale:g}" if is_number else repr(scale)
            raise ConfigError(f"guidance_scale={shown} must be a finite number >= 0 (1: plain conditional sampling)")

    def values(
        self, seed: int, batch_index: int, size: int, on_step: Callable[[int, int], None] | None = None
    ) -> np.ndarray:
        """Batch ``batch_index`` of ``size`` individuals: float32 ``[size, channels, seq_length]`` in the encoding's
        values (``GenotypeEncoding.from_model`` decodes them), its noise from ``batch_generator(seed, batch_index)``
        and its labels from ``labels.draw``. ``on_step(done, steps)`` runs after every reverse step."""
        device = next(self.model.parameters()).device
        model, extra = self.model, ()
        if self.labels is not None:
            model = GuidedModel(self.model, self.model.null_label, self.guidance_scale)
            extra = (torch.from_numpy(self.labels.draw(seed, batch_index, size)).to(device),)
        x0 = sample(
            model,
            self.diffusion,
            self.sampler,
            (size, self.encoding.channels, self.seq_length),
            sampling_steps=self.sampling_steps,
            generator=batch_generator(seed, batch_index),
            device=device,
            on_step=on_step,
            extra=extra,
        )
        return x0.float().cpu().numpy()


def trained_pipeline(
    trained: TrainedModel,
    sampler_name: str | None = None,
    sampling_steps: int | None = None,
    population: str | None = None,
    guidance_scale: float = 1.0,
) -> SamplingPipeline:
    """The pipeline of a checkpoint, labelled as ``population_labels`` says."""
    labels = population_labels(trained, population)
    return SamplingPipeline(
        trained.model, trained.diffusion, trained.encoding, trained.seq_length, sampler_name, sampling_steps,
        labels, guidance_scale,
    )  # fmt: skip


def population_labels(trained: TrainedModel, population: str | None = None) -> PopulationLabels | None:
    """A conditioned checkpoint's labels: members of ``population``, or without it a mixture at the training shares;
    None for an unconditioned one. ConfigError for a label it does not know, or any label for a model without
    labels."""
    if population is None and trained.population_names is None:
        return None
    index = None if population is None else trained.population_index(population)
    return PopulationLabels(trained.population_shares, trained.encoding.ploidy, index)


@dataclasses.dataclass(frozen=True)
class BatchPlan:
    """``n`` individuals in batches of ``batch_size``: batch ``i`` holds rows ``i * batch_size ...`` and draws from
    ``(seed, i)``. A ConfigError worded as generate.py's for a count that is not an integer >= 1 or a seed that is
    not one >= 0 (Python callers, such as ``snpdiff.api``, reach here without generate.py's config check)."""

    n: int
    batch_size: int
    seed: int = 0

    def __post_init__(self) -> None:
        for key, low in (("n", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, key)
            if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{key}={value!r} must be an integer >= {low}")
            object.__setattr__(self, key, int(value))  # a numpy integer becomes a plain int

    @property
    def count(self) -> int:
        return -(-self.n // self.batch_size)

    def rows(self, batch_index: int) -> tuple[int, int]:
        """The first row and the size of batch ``batch_index``."""
        start = batch_index * self.batch_size
        return start, min(self.batch_size, self.n - start)

    def labels(self, labels: PopulationLabels, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The class indices (int64 ``[stop - start]``) of rows ``[start, stop)`` (default all), recomputed from the
        batches they fall in (each batch's labels come from its own seed)."""
        stop = self.n if stop is None else stop
        first, last = start // self.batch_size, (stop - 1) // self.batch_size
        drawn = np.concatenate([labels.draw(self.seed, i, self.rows(i)[1]) for i in range(first, last + 1)])
        offset = start - first * self.batch_size
        return drawn[offset : offset + stop - start]


def sample_batches(
    pipeline: SamplingPipeline,
    plan: BatchPlan,
    writer: RowWriter,
    decode: Callable[[np.ndarray], np.ndarray] | None = None,
    first_batch: int = 0,
    progress: bool = True,
    after_batch: Callable[[int], None] | None = None,
) -> None:
    """The one batch loop: sample batches ``first_batch ..`` of ``plan`` and write each, ``decode``d (default the
    nearest code: int8 ``[size, seq_length]``), as its rows of ``writer``; ``after_batch(index)`` after each.

    ``progress`` shows one bar over every reverse step of every batch; the log gets a line about every
    ``LOG_EVERY_S`` seconds (individuals done, rate, time left) and one at the end."""
    decode = pipeline.encoding.from_model if decode is None else decode
    log.info(
        "sampling %d individuals x %d SNPs (%s, %d steps) in batches of %d",
        plan.n, pipeline.seq_length, pipeline.sampler_name, pipeline.sampling_steps, plan.batch_size,
    )  # fmt: skip
    rate = _RateLog(plan.n, min(first_batch * plan.batch_size, plan.n))
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"sampling {plan.n} individuals", total=plan.n, completed=rate.first)
        for index in range(first_batch, plan.count):
            start, size = plan.rows(index)
            on_step = partial(_on_step, bar, task, rate, start, size)
            writer.write_rows(start, decode(pipeline.values(plan.seed, index, size, on_step)))
            if after_batch is not None:
                after_batch(index)
    rate.log(plan.n)


def _on_step(bar: Progress, task: TaskID, rate: _RateLog, start: int, size: int, step: int, steps: int) -> None:
    """After reverse step ``step`` of ``steps`` of the batch of rows ``start .. start + size``: the bar moves by the
    step's share of the batch, so long DDPM chains show steady progress."""
    bar.advance(task, size / steps)
    rate.maybe_log(start + size * step / steps)


def sample_codes(
    trained: TrainedModel,
    n: int,
    batch_size: int = 256,
    sampler_name: str | None = None,
    sampling_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    frequencies: np.ndarray | None = None,
    population: str | None = None,
    guidance_scale: float = 1.0,
) -> np.ndarray:
    """Sample ``n`` individuals in memory and map them to valid genotype codes: int8 ``[n, seq_length]``.

    Batch ``i`` holds individuals ``i * batch_size ...`` drawn from ``batch_generator(seed, i)``: generate.py with
    the same settings writes the same codes. Decoding: the nearest code, or with ``frequencies`` (``[seq_length,
    n_codes]`` training genotype shares) per-SNP thresholds over the whole set
    (``GenotypeEncoding.decode_by_frequencies``; it keeps a float32 score of all ``n``). A conditioned model samples
    members of ``population``, or without it a mixture at the training shares (``sample_labels`` gives the labels
    drawn), with guidance at ``guidance_scale``. With an even ``batch_size``, both haplotypes of an individual share
    a batch and a label in haplotype mode.
    """
    plan = BatchPlan(n, batch_size, seed)
    pipeline = trained_pipeline(trained, sampler_name, sampling_steps, population, guidance_scale)
    encoding = trained.encoding
    if frequencies is None:
        memory = MemoryWriter(n, trained.seq_length)
        sample_batches(pipeline, plan, memory, progress=progress)
        return memory.rows
    memory = MemoryWriter(n, trained.seq_length, np.float32)
    sample_batches(pipeline, plan, memory, decode=encoding.scores, progress=progress)
    return encoding.decode_by_frequencies(memory.rows, frequencies).astype(np.int8)


def sample_labels(
    trained: TrainedModel, n: int, batch_size: int = 256, seed: int = 0, population: str | None = None
) -> np.ndarray | None:
    """The population names of the ``n`` individuals ``sample_codes`` draws with these settings (None for an
    unconditioned model): str ``[n]``."""
    labels = population_labels(trained, population)
    if labels is None:
        return None
    return np.asarray(trained.population_names)[BatchPlan(n, batch_size, seed).labels(labels)]


def synthetic_set(trained: TrainedModel, codes: np.ndarray, populations: np.ndarray | None = None) -> GenotypeSet:
    """Wrap sampled codes with the training source's SNP metadata, synthetic sample ids and, for a conditioned
    model, each individual's population (``sample_labels``)."""
    from snpdiff.data import synthetic_sample_ids

    return GenotypeSet(
        codes=codes,
        snps=training_snps(trained),
        sample_ids=synthetic_sample_ids(codes.shape[0]),
        populations=populations,
        haplotype=trained.encoding.haplotype,
        source="snpdiff generate",
    )


def training_snps(trained: TrainedModel) -> SnpInfo:
    """The training window's SNP metadata, or placeholders for a checkpoint without it."""
    return trained.snps if trained.snps is not None else SnpInfo.placeholder(trained.seq_length)


class _RateLog:
    """A log line at most every ``LOG_EVERY_S`` seconds: individuals done of ``n``, rate and time since this process
    started, estimated time left."""

    def __init__(self, n: int, first: float):
        self.n, self.first = n, first
        self.started = self.last = time.monotonic()

    def maybe_log(self, done: float) -> None:
        if time.monotonic() - self.last >= LOG_EVERY_S:
            self.log(done)

    def log(self, done: float) -> None:
        self.last = time.monotonic()
        elapsed = self.last - self.started
        rate = (done - self.first) / max(elapsed, 1e-9)
        left = f"{_duration((self.n - done) / rate)} left" if rate > 0 and done < self.n else "done"
        log.info(
            "%d / %d individuals (%.1f%%), %.1f individuals/s, %s elapsed, %s",
            done, self.n, 100 * done / self.n, rate, _duration(elapsed), left,
        )  # fmt: skip


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
