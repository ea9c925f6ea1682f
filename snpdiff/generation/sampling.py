"""Sampling synthetic genotypes from a trained checkpoint and writing them (the work behind generate.py)."""

from __future__ import annotations

import logging
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.progress import Progress, TaskID

from snpdiff.data.types import GenotypeSet, SnpInfo
from snpdiff.diffusion import DDPMSampler, sample, sampler_from_config
from snpdiff.errors import ConfigError
from snpdiff.generation.checkpoint import TrainedModel, load_trained_model

log = logging.getLogger(__name__)


def sample_codes(
    trained: TrainedModel,
    n: int,
    batch_size: int = 256,
    sampler: str | None = None,
    sampling_steps: int | None = None,
    seed: int = 0,
    progress: bool = True,
    frequencies: np.ndarray | None = None,
) -> np.ndarray:
    """Sample ``n`` individuals and map them to valid genotype codes: int8 ``[n, seq_length]``.

    ``sampler`` (``ddpm`` | ``ddim``) and ``sampling_steps`` default to the checkpoint's ``diffusion.*``; DDPM means
    the full chain unless steps are given. ``progress`` shows one bar over every reverse step of every batch.
    Decoding: the nearest code, or with ``frequencies`` (``[seq_length, n_codes]`` training genotype shares) per-SNP
    thresholds over the whole set (``GenotypeEncoding.decode_by_frequencies``).
    """
    if n < 1 or batch_size < 1:
        raise ConfigError(f"n={n} and batch_size={batch_size} must be >= 1")
    diffusion = trained.diffusion
    clip = (float(trained.encoding.values.min()), float(trained.encoding.values.max()))
    chosen = sampler_from_config(diffusion, sampler, clip_denoised=clip)
    if sampling_steps is None:
        sampling_steps = diffusion.timesteps if isinstance(chosen, DDPMSampler) else diffusion.sampling_steps
    described = f"{n} individuals x {trained.seq_length} SNPs: {sampler or diffusion.sampler}, {sampling_steps} steps"
    log.info("sampling %s, batches of %d", described, batch_size)
    started = time.perf_counter()
    device = next(trained.model.parameters()).device
    generator = torch.Generator(device="cpu").manual_seed(seed)
    batches = []
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task(f"sampling {n} individuals", total=n)
        for start in range(0, n, batch_size):
            size = min(batch_size, n - start)
            x0 = sample(
                trained.model,
                diffusion,
                chosen,
                (size, 1, trained.seq_length),
                sampling_steps=sampling_steps,
                generator=generator,
                device=device,
                on_step=partial(_advance_by_step, bar, task, size),
            )
            batches.append(x0[:, 0].float().cpu().numpy())
    values = np.concatenate(batches)
    log.info("sampled %s in %.1f s", described, time.perf_counter() - started)
    if frequencies is not None:
        return trained.encoding.decode_by_frequencies(values, frequencies).astype(np.int8)
    return trained.encoding.decode(values).astype(np.int8)


def _advance_by_step(bar: Progress, task: TaskID, individuals: int, done: int, steps: int) -> None:
    """Move the bar by one step's share of a batch of ``individuals``, so long DDPM chains show steady progress."""
    bar.advance(task, individuals / steps)


def synthetic_set(trained: TrainedModel, codes: np.ndarray) -> GenotypeSet:
    """Wrap sampled codes with the training source's SNP metadata and synthetic sample ids."""
    from snpdiff.data import synthetic_sample_ids

    snps = trained.snps if trained.snps is not None else SnpInfo.placeholder(codes.shape[1])
    return GenotypeSet(
        codes=codes,
        snps=snps,
        sample_ids=synthetic_sample_ids(codes.shape[0]),
        haplotype=trained.encoding.haplotype,
        source="snpdiff generate",
    )


# format -> (writer name in snpdiff.data, file suffix appended to ``out``; PLINK takes the bare prefix)
OUTPUT_FORMATS = {"plink": ("write_plink", ""), "vcf": ("write_vcf", ".vcf.gz"), "npy": ("write_npy", ".npy")}


def write_synthetic(cfg: Any) -> list[Path]:
    """generate.py: load ``cfg.ckpt``, sample ``cfg.n`` individuals, write them as ``cfg.format`` to ``cfg.out``.

    Returns the files written.
    """
    import snpdiff.data

    if cfg.format not in OUTPUT_FORMATS:
        raise ConfigError(f"format={cfg.format!r}; allowed: {', '.join(OUTPUT_FORMATS)}")
    writer_name, suffix = OUTPUT_FORMATS[cfg.format]
    trained = load_trained_model(cfg.ckpt, device=cfg.device)
    codes = sample_codes(
        trained, int(cfg.n), int(cfg.batch_size), cfg.sampler, cfg.sampling_steps, int(cfg.seed), progress=True
    )
    out = Path(str(cfg.out) + suffix)
    out.parent.mkdir(parents=True, exist_ok=True)
    getattr(snpdiff.data, writer_name)(out, synthetic_set(trained, codes))
    if cfg.format == "plink":
        return [out.with_name(out.name + ext) for ext in (".bed", ".bim", ".fam")]
    return [out]
