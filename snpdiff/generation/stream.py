"""Streamed, resumable generation to PLINK, VCF or npy files: generate.py's work.

Memory is bounded by a batch, not by ``n``: each batch is sampled, decoded to int8 codes and written into the
output's place at once (a ``snpdiff.data.writers.GenotypeWriter``, through the one batch loop
``snpdiff.generation.sampling.sample_batches``). Batch ``i`` draws from its own seed
(``batch_generator(seed, i)``), so batches do not depend on each other.

Resume: everything is built in ``<output>.partial/`` beside the output, with ``progress.json`` holding the run's
settings (the checkpoint by its content hash) and how many batches are written (each batch's rows are made durable
before it is counted). generate.py started again with the same arguments goes on after the last counted batch and
writes the same bytes as an uninterrupted run; with different arguments it stops with a ConfigError naming the
setting. One run at a time holds the folder (an OS lock on ``.snpdiff.lock`` inside it); a folder that is a symbolic
link or not a partial run of generate.py is refused, never written into or deleted.

Population labels (a population-conditioned checkpoint): ``population=X`` samples members of X, without it a
mixture at the training shares (``PopulationLabels``); the files carry each individual's label: the PLINK ``.fam``
family id, the npy sidecar's ``populations``, a ``<out>.populations.tsv`` beside a VCF. The files get their
final names only when all is written (``GenotypeWriter.finish``), so a name in use is always a finished output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import json
import logging
import math
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import filelock
import numpy as np

from snpdiff.data.cache import HASH_ALGORITHM, codes_hash
from snpdiff.data.types import GenotypeSet
from snpdiff.data.writers import WRITERS, GenotypeWriter, PlinkWriter, set_writer, write_one_batch
from snpdiff.errors import ConfigError
from snpdiff.files import NO_SPACE_ERRNOS, atomic_write
from snpdiff.generation.checkpoint import TrainedModel, load_trained_model, torch_device
from snpdiff.generation.sampling import BatchPlan, SamplingPipeline, sample_batches, trained_pipeline, training_snps
from snpdiff.run_folder import LOCK_FILE, lock_path

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

    Every user error is a ConfigError raised before sampling starts: format, counts, device, checkpoint (in that
    order: the cheap checks before the checkpoint is read), then those of ``write_trained``.
    """
    fmt = check_format(cfg.format)
    plan = batch_plan(int(cfg.n), int(cfg.batch_size), int(cfg.seed))
    trained = load_trained_model(cfg.ckpt, device=torch_device(str(cfg.device)))
    return write_trained(
        trained,
        cfg.ckpt,
        str(cfg.device),
        cfg.out,
        fmt,
        plan,
        population=None if cfg.get("population") is None else str(cfg.population),
        sampler_name=cfg.sampler,
        sampling_steps=cfg.sampling_steps,
        guidance_scale=float(cfg.get("guidance_scale", 1.0)),
        overwrite=bool(cfg.get("overwrite", False)),
    )


def write_trained(
    trained: TrainedModel,
    ckpt: str | Path,
    device: str,
    out: str | Path,
    fmt: str,
    plan: BatchPlan,
    *,
    population: str | None = None,
    sampler_name: str | None = None,
    sampling_steps: int | None = None,
    guidance_scale: float = 1.0,
    overwrite: bool = False,
) -> list[Path]:
    """Sample ``plan`` from the loaded checkpoint ``trained`` (read from ``ckpt`` onto ``device``: both recorded in
    ``progress.json``, so a resume must match them) and write it as ``fmt`` to ``out``; generate.py's work once the
    checkpoint is loaded, and ``snpdiff.api.Generator.write``'s. Returns the files written.

    ConfigErrors before sampling: sampler and steps, population and guidance, an odd haplotype count for VCF, a
    ``<out>.partial`` that is not a partial run of generate.py or that another run holds, an existing output without
    ``overwrite``, a partial run with other settings, too little free disk space. A write the disk refuses while
    sampling is a ConfigError too, with the partial run kept.
    """
    pipeline = trained_pipeline(trained, sampler_name, sampling_steps, population, guidance_scale)
    if trained.encoding.haplotype and fmt == "vcf" and plan.n % 2:
        raise ConfigError(
            f"n={plan.n} must be even for format=vcf: this checkpoint samples haplotypes, two an individual"
        )
    writer = _writer(fmt, output_path(out, fmt), trained, pipeline, plan)
    settings = _settings(ckpt, device, plan, pipeline, fmt, population)
    with _claimed(writer.work):
        _check_existing(writer, overwrite)
        done = _batches_done(writer.work, settings, overwrite)
        _check_free_space(writer)
        return _sample_to_files(pipeline, plan, writer, settings, done)


def write_whole_set(genotypes: GenotypeSet, out: str | Path, fmt: str, overwrite: bool = False) -> list[Path]:
    """Write a set held in memory (codes int8 ``[rows, snps]``, SNPs, ids, labels) as ``fmt`` under the names
    generate.py gives ``out`` (``output_path``), through the same writer as one batch: the same codes give the same
    bytes, labels included (the ``.fam``, the npy sidecar, ``<out>.populations.tsv`` beside a VCF). The same
    refusals as generate.py: an existing output without ``overwrite``, a work folder that is not ours or in use."""
    fmt = check_format(fmt)
    if genotypes.haplotype and fmt == "vcf" and genotypes.n_rows % 2:
        raise ConfigError(f"n={genotypes.n_rows} haplotype rows must be even for format=vcf: two an individual")
    path = output_path(out, fmt)
    writer = set_writer(WRITERS[fmt], path, partial_folder(path), genotypes)
    with _claimed(writer.work):  # no progress file: the work folder goes when this ends, however it ends
        _check_existing(writer, overwrite)
        try:
            return write_one_batch(writer, genotypes.codes)
        except OSError as exc:
            raise ConfigError(_write_failure(exc, writer.out)) from None


def check_format(fmt: object) -> str:
    """``fmt`` when it is an output format (``OUTPUT_FORMATS``); a ConfigError listing them otherwise."""
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"format={fmt!r}; allowed: {', '.join(OUTPUT_FORMATS)}")
    return str(fmt)


def output_path(out: str | Path, fmt: str) -> Path:
    """The output file of ``out`` (a path prefix) as ``fmt``: PLINK's prefix itself, ``out.vcf.gz``, ``out.npy``."""
    return Path(f"{out}{OUTPUT_FORMATS[fmt]}").absolute()


def _check_existing(writer: GenotypeWriter, overwrite: bool) -> None:
    """ConfigError for a finished output under a final name without ``overwrite``, or a folder under one."""
    existing = [path for path in writer.final_paths() if path.exists() or path.is_symlink()]
    folders = [path for path in existing if path.is_dir() and not path.is_symlink()]
    if folders:
        raise ConfigError(f"{folders[-1]} is a folder, where generate.py would write a file; choose another out=")
    if existing and not overwrite:
        raise ConfigError(f"{existing[-1]} exists; add overwrite=true to replace it, or choose another out=")


def batch_plan(n: int, batch_size: int, seed: int) -> BatchPlan:
    """The checked ``BatchPlan`` of ``n`` individuals, ``batch_size`` rounded up to a multiple of
    ``BATCH_ALIGNMENT``: generate.py's and ``snpdiff.api``'s, so both draw the same individuals."""
    requested = BatchPlan(n, batch_size, seed)
    rounded = -(-requested.batch_size // BATCH_ALIGNMENT) * BATCH_ALIGNMENT
    if rounded != requested.batch_size:
        log.info("batch_size=%d rounded up to %d (a multiple of %d)", requested.batch_size, rounded, BATCH_ALIGNMENT)
    return dataclasses.replace(requested, batch_size=rounded)


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


def _settings(
    ckpt_path: str | Path, device: str, plan: BatchPlan, pipeline: SamplingPipeline, fmt: str, population: str | None
) -> dict:
    """What a partial run must share with this one to be resumed by it (``progress.json``). The checkpoint counts by
    its content (``ckpt_hash``): a file replaced by another model, even of the same size and time, is another run."""
    ckpt = Path(ckpt_path).resolve()
    return {
        "ckpt": str(ckpt),
        "ckpt_hash": f"{HASH_ALGORITHM}:{codes_hash(np.memmap(ckpt, dtype=np.uint8, mode='r'))}",
        "n": plan.n,
        "batch_size": plan.batch_size,
        "seed": plan.seed,
        "sampler": pipeline.sampler_name,
        "sampling_steps": pipeline.sampling_steps,
        "format": fmt,
        "device": str(device),
        "population": population,
        "guidance_scale": pipeline.guidance_scale,
    }


@contextmanager
def _claimed(work: Path) -> Iterator[None]:
    """Hold ``work`` (``<out>.partial``) while this run writes it: refused when it is not a partial run of generate.py
    (``_check_ours``) or when another generate.py holds it (an OS lock through ``filelock``, as the run folder's
    ``RunLock``: a killed run's lock dies with it). On leaving, the folder and the folders created for it are deleted
    unless it keeps counted batches (``_sample_to_files`` deletes it once the output is whole)."""
    _check_ours(work)
    created = list(itertools.takewhile(lambda folder: not folder.exists(), (work, *work.parents)))
    lock = filelock.UnixFileLock(lock_path(work), timeout=0)
    try:
        work.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except filelock.Timeout:
        raise ConfigError(
            f"{work} is in use by another generate.py writing the same output; wait for it to end, or choose another "
            "out="
        ) from None
    except OSError as exc:
        raise ConfigError(_write_failure(exc, work)) from None
    try:
        yield
    finally:
        if _saved_batches(work) == 0:
            shutil.rmtree(work, ignore_errors=True)
            for folder in created[1:]:
                with contextlib.suppress(OSError):
                    folder.rmdir()  # only while empty
        lock.release()


def _check_ours(work: Path) -> None:
    """ConfigError unless ``work`` is absent or a partial run of generate.py: a real folder (never a symbolic link,
    which would send the work and its deletion elsewhere) holding no link, and a progress file or nothing but the lock
    and temporary files (a run killed before it wrote its first)."""
    if not (work.exists() or work.is_symlink()):
        return
    if work.is_symlink() or not work.is_dir():
        problem = "is a symbolic link" if work.is_symlink() else "is not a folder"
    else:
        entries = list(work.iterdir())
        foreign = [e.name for e in entries if e.name != LOCK_FILE and not e.name.endswith(".tmp")]
        if any(entry.is_symlink() for entry in entries):
            problem = "holds a symbolic link"
        elif foreign and not (work / PROGRESS_FILE).is_file():
            problem = f"holds {', '.join(sorted(foreign)[:3])} but no {PROGRESS_FILE}"
        else:
            return
    raise ConfigError(
        f"{work} {problem}, so it is not a partial run of generate.py, which keeps its work there; generate.py "
        "neither writes into it nor deletes it: move it away, or choose another out="
    )


def _sample_to_files(
    pipeline: SamplingPipeline, plan: BatchPlan, writer: GenotypeWriter, settings: dict, done: int
) -> list[Path]:
    """Sample batches ``done ..`` into ``writer``, each made durable and counted in ``progress.json`` before the
    next, then move the files to their final names and delete the work folder. A write the disk refuses (full,
    read-only) is a ConfigError naming it; the batches counted so far stay in the work folder to resume."""
    work = writer.work
    if done:
        log.info("resuming %s: %d of %d batches written", work, done, plan.count)

    def after_batch(index: int) -> None:
        writer.sync()
        _save_progress(work, settings, index + 1)

    try:
        _save_progress(work, settings, done)
        writer.open()
        try:
            log.info("writing %s (work files in %s)", writer.out, work)
            sample_batches(pipeline, plan, writer, first_batch=done, after_batch=after_batch)
            log.info("writing the final %s files", writer.format)
            paths = writer.finish()
        finally:
            writer.close()
    except OSError as exc:
        kept = _saved_batches(work)
        resume = f"{work} keeps {kept} of {plan.count} batches: run the same command again to resume once it can"
        raise ConfigError(f"{_write_failure(exc, writer.out)}; {resume if kept else 'nothing was kept'}") from None
    shutil.rmtree(work)
    return paths


def _write_failure(exc: OSError, path: Path) -> str:
    """``no space left on device writing <path>`` (a full disk or quota), else ``cannot write <path>: <reason>``."""
    if exc.errno in NO_SPACE_ERRNOS:
        return f"no space left on device writing {path}"
    return f"cannot write {path}: {exc.strerror or exc}"


def _read_progress(work: Path) -> dict | None:
    """The progress file in ``work`` (None when there is none); a ConfigError naming it when it cannot be read."""
    progress = work / PROGRESS_FILE
    if not progress.is_file():
        return None
    try:
        saved = json.loads(progress.read_text())
        int(saved["batches_done"]), dict(saved["settings"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{progress} is unreadable ({exc!r}); delete {work} to start over") from None
    return saved


def _saved_batches(work: Path) -> int | None:
    """The batches ``work``'s progress file counts: 0 without one, None when it cannot be read."""
    try:
        saved = _read_progress(work)
    except ConfigError:
        return None
    return 0 if saved is None else int(saved["batches_done"])


def _batches_done(work: Path, settings: dict, overwrite: bool) -> int:
    """Batches a partial run in ``work`` has written with these ``settings`` (0 when there is none); a partial run
    with other settings is a ConfigError naming the first difference, or with ``overwrite`` is deleted."""
    saved = _read_progress(work)
    if saved is None:
        return 0
    if saved["settings"] == settings:
        return int(saved["batches_done"])
    if overwrite:
        log.info("deleting %s, a partial run with other settings (overwrite=true)", work)
        for entry in work.iterdir():
            if entry.name != LOCK_FILE:  # the lock this run holds stays
                entry.unlink()
        return 0
    key = next(key for key in settings if saved["settings"].get(key) != settings[key])
    changed = " (the checkpoint file's content changed since)" if key == "ckpt_hash" else ""
    raise ConfigError(
        f"{work} holds a partial run with {key}={saved['settings'].get(key)!r}, this run has {key}={settings[key]!r}"
        f"{changed}; run generate.py with the same arguments to resume it, or add overwrite=true to delete it and "
        "start over"
    )


def _save_progress(work: Path, settings: dict, batches_done: int) -> None:
    """Write ``progress.json`` atomically (``snpdiff.files.atomic_write``: a refused write leaves the previous one)."""
    atomic_write(work / PROGRESS_FILE, json.dumps({"settings": settings, "batches_done": batches_done}, indent=1))


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
