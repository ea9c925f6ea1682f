"""Sampling synthetic genotypes from a trained checkpoint, batch by batch, each batch from its own seed."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from rich.progress import Progress, TaskID

from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.diffusion import DDPMSampler, Sampler, sample, sampler_from_config
from snpdiff.diffusion.guidance import GuidedModel
from snpdiff.errors import ConfigError
from snpdiff.generation.checkpoint import TrainedModel

log = logging.getLogger(__name__)


def batch_generator(seed: int, batch_index: int) -> torch.Generator:
    """The generator of batch ``batch_index`` of a run with ``seed``: seeded with numpy's
    ``SeedSequence((seed, batch_index))``, which mixes both numbers without hashing, so every batch has its own
    stream and a batch's individuals do not depend on which batches ran before it (a resumed run draws the same)."""
    if seed < 0:
        raise ConfigError(f"seed={seed} must be >= 0")
    state = np.random.SeedSequence((seed, batch_index)).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator(device="cpu").manual_seed(int(state))


def batch_labels(
    trained: TrainedModel, population: str | None, seed: int, batch_index: int, size: int
) -> np.ndarray | None:
    """The population labels (class indices, int64 ``[size]``) of batch ``batch_index`` for a conditioned model:
    every individual ``population``, or without it a mixture drawn at the training shares from
    ``SeedSequence((seed, batch_index, 1))`` (a stream of its own, so resumed batches draw the same labels). None for
    an unconditioned model; ConfigError for a label it does not know, or any label for a model without labels."""
    if population is not None:
        return np.full(size, trained.population_index(population), dtype=np.int64)
    if trained.populations is None:
        return None
    rng = np.random.default_rng(np.random.SeedSequence((seed, batch_index, 1)))
    shares = np.asarray(trained.population_shares, dtype=np.float64)
    per_individual = 2 if trained.encoding.haplotype else 1  # both haplotypes of an individual share its label
    drawn = rng.choice(len(shares), size=-(-size // per_individual), p=shares / shares.sum())
    return np.repeat(drawn, per_individual)[:size].astype(np.int64)


def resolve_sampler(trained: TrainedModel, sampler: str | None, sampling_steps: int | None) -> tuple[Sampler, str, int]:
    """The sampler (``sampler_from_config``: ConfigError listing the known names for any other) with its name and
    step count: ``sampler``/``sampling_steps`` default to the checkpoint's ``diffusion.*``, DDPM to the full chain.
    The step count is checked here, before any sampling."""
    diffusion = trained.diffusion
    clip = (float(trained.encoding.values.min()), float(trained.encoding.values.max()))
    chosen = sampler_from_config(diffusion, sampler, clip_denoised=clip)
    if sampling_steps is None:
        sampling_steps = diffusion.timesteps if isinstance(chosen, DDPMSampler) else diffusion.sampling_steps
    chosen.set_timesteps(diffusion, sampling_steps)
    return chosen, sampler or diffusion.sampler, int(sampling_steps)


def sample_batch(
    trained: TrainedModel,
    sampler: Sampler,
    sampling_steps: int,
    size: int,
    seed: int,
    batch_index: int,
    on_step: Callable[[int, int], None] | None = None,
    labels: np.ndarray | None = None,
    guidance_scale: float = 1.0,
) -> np.ndarray:
    """Batch ``batch_index`` of ``size`` individuals: float32 ``[size, channels, seq_length]`` in the encoding's values
    (``GenotypeEncoding.from_model`` decodes them).

    ``labels`` (``batch_labels``) condition a population-conditioned model, with classifier-free guidance at
    ``guidance_scale`` (1: plain conditional sampling; ``snpdiff.diffusion.guidance``)."""
    model, extra = trained.model, ()
    if labels is not None:
        model = GuidedModel(trained.model, trained.model.null_label, guidance_scale)
        extra = (torch.from_numpy(labels).to(next(trained.model.parameters()).device),)
    x0 = sample(
        model,
        trained.diffusion,
        sampler,
        (size, trained.encoding.channels, trained.seq_length),
        sampling_steps=sampling_steps,
        generator=batch_generator(seed, batch_index),
        device=next(trained.model.parameters()).device,
        on_step=on_step,
        extra=extra,
    )
    return x0.float().cpu().numpy()


def sample_codes(
    trained: TrainedModel,
    n: int,
    batch_size: int = 256,
    sampler: str | None = None,
    sampling_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    frequencies: np.ndarray | None = None,
    population: str | None = None,
    guidance_scale: float = 1.0,
) -> np.ndarray:
    """Sample ``n`` individuals in memory and map them to valid genotype codes: int8 ``[n, seq_length]``.

    Batch ``i`` holds individuals ``i * batch_size ...`` drawn from ``batch_generator(seed, i)``: generate.py with
    the same settings writes the same codes. ``progress`` shows one bar over every reverse step of every batch.
    Decoding: the nearest code, or with ``frequencies`` (``[seq_length, n_codes]`` training genotype shares) per-SNP
    thresholds over the whole set (``GenotypeEncoding.decode_by_frequencies``; it keeps float32 values of all ``n``).
    Batches start at even rows, so in haplotype mode both haplotypes of an individual share a batch and a label.
    A conditioned model samples members of ``population``, or without it a mixture at the training shares
    (``batch_labels``; ``sample_labels`` gives the labels drawn), with guidance at ``guidance_scale``.
    """
    if n < 1 or batch_size < 1:
        raise ConfigError(f"n={n} and batch_size={batch_size} must be >= 1")
    chosen, name, sampling_steps = resolve_sampler(trained, sampler, sampling_steps)
    described = f"{n} individuals x {trained.seq_length} SNPs: {name}, {sampling_steps} steps"
    log.info("sampling %s, batches of %d", described, batch_size)
    started = time.perf_counter()
    batches = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"sampling {n} individuals", total=n)
        for index, start in enumerate(range(0, n, batch_size)):
            size = min(batch_size, n - start)
            step = partial(advance_by_step, bar, task, size)
            labels = batch_labels(trained, population, seed, index, size)
            values = sample_batch(trained, chosen, sampling_steps, size, seed, index, step, labels, guidance_scale)
            encoding = trained.encoding
            batches.append(encoding.scores(values) if frequencies is not None else encoding.from_model(values))
    log.info("sampled %s in %.1f s", described, time.perf_counter() - started)
    if frequencies is not None:
        return trained.encoding.decode_by_frequencies(np.concatenate(batches), frequencies).astype(np.int8)
    return np.concatenate(batches)


def sample_labels(
    trained: TrainedModel, n: int, batch_size: int = 256, seed: int = 0, population: str | None = None
) -> np.ndarray | None:
    """The population names of the ``n`` individuals ``sample_codes`` draws with these settings (None for an
    unconditioned model): str ``[n]``."""
    if trained.populations is None and population is None:
        return None
    indices = [
        batch_labels(trained, population, seed, index, min(batch_size, n - start))
        for index, start in enumerate(range(0, n, batch_size))
    ]
    return np.asarray(trained.populations)[np.concatenate(indices)]


def advance_by_step(bar: Progress, task: TaskID, individuals: int, done: int, steps: int) -> None:
    """Move the bar by one step's share of a batch of ``individuals``, so long DDPM chains show steady progress."""
    bar.advance(task, individuals / steps)


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
