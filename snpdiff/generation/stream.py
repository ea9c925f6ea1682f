"""Streamed, resumable generation to PLINK, VCF or npy files: generate.py's work.

Memory is bounded by a batch, not by ``n``: each batch is sampled, decoded to int8 codes and written into the
output's place at once (a ``snpdiff.data.writers.GenotypeWriter``, through the one batch loop
``snpdiff.generation.sampling.sample_batches``). Batch ``i`` draws from its own seed
(``batch_generator(seed, i)``), so batches do not depend on each other.

Resume: everything is built in ``<output>.partial/`` beside the output, with ``progress.json`` holding the run's
settings and how many batches are written (each batch's rows are made durable before it is counted). generate.py
started again with the same arguments goes on after the last counted batch and writes the same bytes as an
uninterrupted run; with different arguments it stops with a ConfigError naming the setting.

Population labels (a population-conditioned checkpoint): ``population=X`` samples members of X, without it a
mixture at the training shares (``PopulationLabels``); the files carry each individual's label: the PLINK ``.fam``
family id, the npy sidecar's ``populations``, a ``<out>.populations.tsv`` beside a VCF. The files get their
final names only when all is written (``GenotypeWriter.finish``), so a name in use is always a finished output.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from snpdiff.data.writers import WRITERS, GenotypeWriter, PlinkWriter
from snpdiff.errors import ConfigError
from snpdiff.files import atomic_write
from snpdiff.generation.checkpoint import TrainedModel, load_trained_model
from snpdiff.generation.sampling import BatchPlan, SamplingPipeline, sample_batches, trained_pipeline, training_snps

log = logging.getLogger(__name__)

# format -> suffix appended to ``out`` (PLINK takes the bare prefix)
OUTPUT_FORMATS = {"plink": "", "vcf": ".vcf.gz", "npy": ".npy"}
PROGRESS_FILE = "progress.json"
# batches start at multiples of 4 rows in every format: PLINK packs 4 individuals a byte, and the same seed and
# batch_size then give the same individuals whatever the format
BATCH_ALIGNMENT = PlinkWriter.row_alignment


def partial_folder(out: Path) -> Path:
    """Where a run writing ``out`` (the output file, or the PLINK prefix) keeps its work files and progress."""
    return Path(f"{out}.partial")


def write_synthetic(cfg: Any) -> list[Path]:
    """generate.py: sample ``cfg.n`` individuals from ``cfg.ckpt`` and write them as ``cfg.format`` to ``cfg.out``,
    batch by batch, resuming a killed run with the same settings. Returns the files written.

    Every user error is a ConfigError raised before sampling starts: format, counts, checkpoint, sampler and steps,
    population and guidance, an existing output without ``overwrite=true``, a partial run with other settings, too
    little free disk space.
    """
    fmt = str(cfg.format)
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"format={fmt!r}; allowed: {', '.join(OUTPUT_FORMATS)}")
    plan = _batch_plan(cfg)
    trained = load_trained_model(cfg.ckpt, device=cfg.device)
    population = None if cfg.get("population") is None else str(cfg.population)
    pipeline = trained_pipeline(
        trained, cfg.sampler, cfg.sampling_steps, population, float(cfg.get("guidance_scale", 1.0))
    )
    if trained.encoding.haplotype and fmt == "vcf" and plan.n % 2:
        raise ConfigError(
            f"n={plan.n} must be even for format=vcf: this checkpoint samples haplotypes, two an individual"
        )
    writer = _writer(fmt, Path(f"{cfg.out}{OUTPUT_FORMATS[fmt]}").absolute(), trained, pipeline, plan)
    overwrite = bool(cfg.get("overwrite", False))
    existing = [path for path in writer.final_paths() if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[-1]} exists; add overwrite=true to replace it, or choose another out=")
    settings = _settings(cfg, plan, pipeline, fmt, population)
    done = _batches_done(writer.work, settings, overwrite)
    _check_free_space(writer)
    return _sample_to_files(pipeline, plan, writer, settings, done)


def _batch_plan(cfg: Any) -> BatchPlan:
    """``cfg``'s counts and seed (checked), ``batch_size`` rounded up to a multiple of ``BATCH_ALIGNMENT``."""
    requested = BatchPlan(int(cfg.n), int(cfg.batch_size), int(cfg.seed))
    batch_size = -(-requested.batch_size // BATCH_ALIGNMENT) * BATCH_ALIGNMENT
    if batch_size != requested.batch_size:
        log.info("batch_size=%d rounded up to %d (a multiple of %d)", requested.batch_size, batch_size, BATCH_ALIGNMENT)
    return dataclasses.replace(requested, batch_size=batch_size)


def _writer(fmt: str, out: Path, trained: TrainedModel, pipeline: SamplingPipeline, plan: BatchPlan) -> GenotypeWriter:
    """The ``fmt`` writer of ``plan.n`` rows to ``out``, building in ``partial_folder(out)``; a conditioned model's
    rows carry their population names, recomputed from the batches they fall in."""
    labels, names = pipeline.labels, np.asarray(trained.population_names)

    def populations(start: int, stop: int) -> np.ndarray:
        return names[plan.labels(labels, start, stop)]

    return WRITERS[fmt](
        out,
        partial_folder(out),
        training_snps(trained),
        plan.n,
        haplotype=trained.encoding.haplotype,
        populations=None if labels is None else populations,
    )


def _settings(cfg: Any, plan: BatchPlan, pipeline: SamplingPipeline, fmt: str, population: str | None) -> dict:
    """What a partial run must share with this one to be resumed by it (``progress.json``)."""
    ckpt = Path(cfg.ckpt).resolve()
    return {
        "ckpt": str(ckpt),
        "ckpt_size": ckpt.stat().st_size,
        "ckpt_mtime_ns": ckpt.stat().st_mtime_ns,
        "n": plan.n,
        "batch_size": plan.batch_size,
        "seed": plan.seed,
        "sampler": pipeline.sampler_name,
        "sampling_steps": pipeline.sampling_steps,
        "format": fmt,
        "device": str(cfg.device),
        "population": population,
        "guidance_scale": pipeline.guidance_scale,
    }


def _sample_to_files(
    pipeline: SamplingPipeline, plan: BatchPlan, writer: GenotypeWriter, settings: dict, done: int
) -> list[Path]:
    """Sample batches ``done ..`` into ``writer``, each made durable and counted in ``progress.json`` before the
    next, then move the files to their final names and delete the work folder."""
    work = writer.work
    if done:
        log.info("resuming %s: %d of %d batches written", work, done, plan.count)
    work.mkdir(parents=True, exist_ok=True)
    _save_progress(work, settings, done)

    def after_batch(index: int) -> None:
        writer.sync()
        _save_progress(work, settings, index + 1)

    writer.open()
    try:
        log.info("writing %s (work files in %s)", writer.out, work)
        sample_batches(pipeline, plan, writer, first_batch=done, after_batch=after_batch)
        log.info("writing the final %s files", writer.format)
        paths = writer.finish()
    finally:
        writer.close()
    shutil.rmtree(work)
    return paths


def _batches_done(work: Path, settings: dict, overwrite: bool) -> int:
    """Batches a partial run in ``work`` has written with these ``settings`` (0 when there is none); a partial run
    with other settings is a ConfigError naming the first difference, or with ``overwrite`` is deleted."""
    progress = work / PROGRESS_FILE
    if not progress.is_file():
        shutil.rmtree(work, ignore_errors=True)  # killed before its first progress file: nothing to keep
        return 0
    saved = json.loads(progress.read_text())
    if saved["settings"] == settings:
        return int(saved["batches_done"])
    if overwrite:
        log.info("deleting %s, a partial run with other settings (overwrite=true)", work)
        shutil.rmtree(work)
        return 0
    key = next(key for key in settings if saved["settings"].get(key) != settings[key])
    raise ConfigError(
        f"{work} holds a partial run with {key}={saved['settings'].get(key)!r}, this run has {key}={settings[key]!r}; "
        "run generate.py with the same arguments to resume it, or add overwrite=true to delete it and start over"
    )


def _save_progress(work: Path, settings: dict, batches_done: int) -> None:
    """Write ``progress.json`` atomically (``snpdiff.files.atomic_write``; ConfigError naming it when the disk
    refuses)."""
    atomic_write(
        work / PROGRESS_FILE, json.dumps({"settings": settings, "batches_done": batches_done}, indent=1), ConfigError
    )


def _check_free_space(writer: GenotypeWriter) -> None:
    """ConfigError when the output's file system lacks the bytes the output needs (less what a partial run has
    already allocated), naming both."""
    folder = writer.out.parent
    while not folder.exists():
        folder = folder.parent
    work = writer.work
    allocated = sum(path.stat().st_blocks * 512 for path in work.glob("*")) if work.is_dir() else 0
    needed, free = writer.bytes_needed() - allocated, shutil.disk_usage(folder).free
    if needed > free:
        raise ConfigError(
            f"n={writer.n_rows} x {writer.n_snps} SNPs as {writer.format} needs about {_size(needed)} on {folder}, "
            f"which has {_size(free)} free; lower n, or choose an out= on a larger file system"
        )


def _size(size: float) -> str:
    exponent = min(int(math.log10(max(size, 1)) // 3), 5)
    return f"{size / 1000**exponent:.1f} {('B', 'kB', 'MB', 'GB', 'TB', 'PB')[exponent]}"
