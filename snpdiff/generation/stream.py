"""Streamed, resumable generation to PLINK, VCF or npy files: generate.py's work.

Memory is bounded by a batch, not by ``n``: each batch is sampled, decoded to int8 codes and written into the
output's place at once (``snpdiff.data.writers.StreamWriter``). Batch ``i`` draws from its own seed
(``batch_generator(seed, i)``), so batches do not depend on each other.

Resume: everything is built in ``<output>.partial/`` beside the output, with ``progress.json`` holding the run's
settings and how many batches are written (each batch's rows are made durable before it is counted). generate.py
started again with the same arguments goes on after the last counted batch and writes the same bytes as an
uninterrupted run; with different arguments it stops with a ConfigError naming the setting.

Population labels (a population-conditioned checkpoint): ``population=X`` samples members of X, without it a
mixture at the training shares (``batch_labels``); the files carry each individual's label: the PLINK ``.fam``
family id, the npy sidecar's ``populations``, a ``<out>.populations.tsv`` beside a VCF. The files get their
final names only when all is written (``StreamWriter.finish``), so a name in use is always a finished output.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from rich.progress import Progress, TaskID

from snpdiff.data.writers import STREAM_WRITERS, PlinkStreamWriter, StreamWriter
from snpdiff.errors import ConfigError
from snpdiff.files import atomic_write
from snpdiff.generation.checkpoint import load_trained_model
from snpdiff.generation.sampling import (
    advance_by_step,
    batch_labels,
    resolve_sampler,
    sample_batch,
    training_snps,
)

log = logging.getLogger(__name__)

# format -> suffix appended to ``out`` (PLINK takes the bare prefix)
OUTPUT_FORMATS = {"plink": "", "vcf": ".vcf.gz", "npy": ".npy"}
PROGRESS_FILE = "progress.json"
# batches start at multiples of 4 rows in every format: PLINK packs 4 individuals a byte, and the same seed and
# batch_size then give the same individuals whatever the format
BATCH_ALIGNMENT = PlinkStreamWriter.row_alignment
LOG_EVERY_S = 30.0


def partial_folder(out: Path) -> Path:
    """Where a run writing ``out`` (the output file, or the PLINK prefix) keeps its work files and progress."""
    return Path(f"{out}.partial")


def write_synthetic(cfg: Any) -> list[Path]:
    """generate.py: sample ``cfg.n`` individuals from ``cfg.ckpt`` and write them as ``cfg.format`` to ``cfg.out``,
    batch by batch, resuming a killed run with the same settings. Returns the files written.

    Every user error is a ConfigError raised before sampling starts: format, counts, checkpoint, sampler and steps,
    an existing output without ``overwrite=true``, a partial run with other settings, too little free disk space.
    """
    fmt, n, seed = str(cfg.format), int(cfg.n), int(cfg.seed)
    if fmt not in OUTPUT_FORMATS:
        raise ConfigError(f"format={fmt!r}; allowed: {', '.join(OUTPUT_FORMATS)}")
    if n < 1 or int(cfg.batch_size) < 1 or seed < 0:
        raise ConfigError(f"n={n} and batch_size={cfg.batch_size} must be >= 1, seed={seed} >= 0")
    batch_size = -(-int(cfg.batch_size) // BATCH_ALIGNMENT) * BATCH_ALIGNMENT
    if batch_size != int(cfg.batch_size):
        log.info("batch_size=%d rounded up to %d (a multiple of %d)", cfg.batch_size, batch_size, BATCH_ALIGNMENT)
    overwrite = bool(cfg.get("overwrite", False))
    out = Path(f"{cfg.out}{OUTPUT_FORMATS[fmt]}").absolute()
    work = partial_folder(out)
    trained = load_trained_model(cfg.ckpt, device=cfg.device)
    chosen, sampler_name, steps = resolve_sampler(trained, cfg.sampler, cfg.sampling_steps)
    haplotype = trained.encoding.haplotype
    if haplotype and fmt == "vcf" and n % 2:
        raise ConfigError(f"n={n} must be even for format=vcf: this checkpoint samples haplotypes, two an individual")
    population = None if cfg.get("population") is None else str(cfg.population)
    guidance_scale = float(cfg.get("guidance_scale", 1.0))
    if population is not None:
        trained.population_index(population)  # an unknown label: ConfigError naming the known ones
    if guidance_scale < 0:
        raise ConfigError(f"guidance_scale={guidance_scale:g} must be >= 0 (1: plain conditional sampling)")

    def labels_of(index: int, size: int):
        return batch_labels(trained, population, seed, index, size)

    def populations_of(start: int, stop: int):
        """Rows' labels, recomputed from the batches they fall in (each batch's labels come from its own seed)."""
        first, last = start // batch_size, (stop - 1) // batch_size
        rows = [labels_of(i, min(batch_size, n - i * batch_size)) for i in range(first, last + 1)]
        offset = start - first * batch_size
        return np.asarray(trained.populations)[np.concatenate(rows)[offset : offset + stop - start]]

    labelled = trained.populations is not None
    writer = STREAM_WRITERS[fmt](
        out, work, training_snps(trained), n, haplotype=haplotype, populations=populations_of if labelled else None
    )
    existing = [path for path in writer.final_paths() if path.exists()]
    if existing and not overwrite:
        raise ConfigError(f"{existing[-1]} exists; add overwrite=true to replace it, or choose another out=")
    ckpt = Path(cfg.ckpt).resolve()
    settings = {
        "ckpt": str(ckpt),
        "ckpt_size": ckpt.stat().st_size,
        "ckpt_mtime_ns": ckpt.stat().st_mtime_ns,
        "n": n,
        "batch_size": batch_size,
        "seed": seed,
        "sampler": sampler_name,
        "sampling_steps": steps,
        "format": fmt,
        "device": str(cfg.device),
        "population": population,
        "guidance_scale": guidance_scale,
    }
    done = _batches_done(work, settings, overwrite)
    _check_free_space(writer, work)
    n_batches = -(-n // batch_size)
    if done:
        log.info("resuming %s: %d of %d batches written", work, done, n_batches)
    work.mkdir(parents=True, exist_ok=True)
    _save_progress(work, settings, done)
    writer.open()
    try:
        log.info(
            "sampling %d individuals x %d SNPs (%s, %d steps) in batches of %d -> %s (work files in %s)",
            n, trained.seq_length, sampler_name, steps, batch_size, out, work,
        )  # fmt: skip
        rate = _RateLog(n, min(done * batch_size, n))
        with Progress(transient=True) as bar:
            task = bar.add_task(f"sampling {n} individuals", total=n, completed=rate.first)
            for index in range(done, n_batches):
                start = index * batch_size
                size = min(batch_size, n - start)
                on_step = partial(_on_step, bar, task, rate, start, size)
                labels = labels_of(index, size)
                values = sample_batch(trained, chosen, steps, size, seed, index, on_step, labels, guidance_scale)
                writer.write_rows(start, trained.encoding.from_model(values).astype("int8"))
                writer.sync()
                _save_progress(work, settings, index + 1)
        rate.log(n)
        log.info("writing the final %s files", fmt)
        paths = writer.finish()
    finally:
        writer.close()
    shutil.rmtree(work)
    return paths


def _on_step(bar: Progress, task: TaskID, rate: _RateLog, start: int, size: int, step: int, steps: int) -> None:
    """After reverse step ``step`` of ``steps`` of the batch of rows ``start .. start + size``."""
    advance_by_step(bar, task, size, step, steps)
    rate.maybe_log(start + size * step / steps)


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
    atomic_write(work / PROGRESS_FILE, json.dumps({"settings": settings, "batches_done": batches_done}, indent=1),
                 ConfigError)


def _check_free_space(writer: StreamWriter, work: Path) -> None:
    """ConfigError when the output's file system lacks the bytes the output needs (less what a partial run has
    already allocated), naming both."""
    folder = writer.out.parent
    while not folder.exists():
        folder = folder.parent
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
