"""Time to first batch from PLINK and VCF, cold and warm, and peak memory for a window of a large fileset. Prints JSON.

    python benchmarks/data_load.py [--individuals 2000] [--snps 100000] [--window 1024] [--repeats 3]
                                   [--rss-individuals 2067] [--rss-snps 160858]

Inputs are random genotypes (per-SNP allele frequency uniform in [0.05, 0.5], so every SNP passes ``min_maf``)
written into a temporary folder with the project's own writers (``write_plink``; ``write_vcf`` to ``.vcf.gz``,
zlib level 1 to keep generation short). "Cold" is ``prepare_data`` + ``setup`` + the first training batch of a
``GenotypeDataModule`` (``seq_length=window``) with an empty ``cache_dir``; "warm" is the same with the cache built
(median of ``--repeats`` each). The floor is bed-reader opening the fileset and reading the same window as int8.
Peak RSS is measured in a fresh process (``resource.getrusage``, cross-checked with ``VmHWM``) that opens a
``--rss-individuals`` x ``--rss-snps`` PLINK fileset and serves the first batch of a ``window``-SNP window; the RSS
after importing snpdiff (torch, Lightning) is reported next to it. Linux carries ``ru_maxrss`` over ``fork`` +
``exec``, so that child is started before this process imports anything large, and the fileset is written by
another child.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHUNK_SNPS = 10_000


def random_genotypes(individuals: int, snps: int, seed: int):
    """A ``GenotypeSet`` of dosages ``[individuals, snps]`` drawn SNP block by SNP block (bounded float memory)."""
    import numpy as np

    from snpdiff.data import GenotypeSet, SnpInfo

    rng = np.random.default_rng(seed)
    codes = np.empty((individuals, snps), dtype=np.int8)
    for start in range(0, snps, CHUNK_SNPS):
        width = min(CHUNK_SNPS, snps - start)
        frequency = rng.uniform(0.05, 0.5, size=width)
        codes[:, start : start + width] = (rng.random((2, individuals, width)) < frequency).sum(axis=0)
    positions = np.arange(1, snps + 1) * 10
    snp_info = SnpInfo(
        chrom=np.full(snps, "1"),
        position=positions,
        snp_id=[f"rs{position}" for position in positions],
        ref=np.full(snps, "A"),
        alt=np.full(snps, "G"),
    )
    return GenotypeSet(codes, snp_info, [f"ind{i}" for i in range(individuals)])


def first_batch_seconds(source: str, path: Path, window: int, cache_dir: Path) -> float:
    from snpdiff.data import GenotypeDataModule

    started = time.perf_counter()
    datamodule = GenotypeDataModule(
        source=source, path=str(path), seq_length=window, cache_dir=str(cache_dir), batch_size=64, stratify=False
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    elapsed = time.perf_counter() - started
    assert tuple(batch.shape) == (64, 1, window)
    return elapsed


def bed_reader_window_seconds(prefix: Path, window: int) -> float:
    import numpy as np
    from bed_reader import open_bed

    started = time.perf_counter()
    with open_bed(f"{prefix}.bed") as bed:
        values = bed.read(index=np.s_[:, :window], dtype="int8")
    elapsed = time.perf_counter() - started
    assert values.shape[1] == window
    return elapsed


def time_source(source: str, path: Path, window: int, repeats: int, work: Path) -> dict:
    cold, warm = [], []
    for repeat in range(repeats):
        cache_dir = work / f"cache-{source}-{repeat}"
        cold.append(first_batch_seconds(source, path, window, cache_dir))
        warm.append(first_batch_seconds(source, path, window, cache_dir))
        shutil.rmtree(cache_dir)
    return {
        "cold_first_batch_s": round(statistics.median(cold), 4),
        "warm_first_batch_s": round(statistics.median(warm), 4),
    }


def _vm_hwm_mb() -> float | None:
    """Peak resident set of this process image from ``/proc/self/status`` (Linux), MiB."""
    try:
        with open("/proc/self/status") as status:
            line = next(line for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return None
    return round(int(line.split()[1]) / 1024, 1)


def write_large_child(prefix: str, individuals: int, snps: int, seed: int) -> None:
    from snpdiff.data import write_plink

    write_plink(prefix, random_genotypes(individuals, snps, seed))


def peak_rss_child(prefix: str, window: int, cache_dir: str) -> None:
    """Run in a fresh process: print JSON with RSS after imports and peak RSS after the first batch (MiB)."""
    import snpdiff.data  # noqa: F401  (torch, Lightning: the baseline)

    after_imports = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    seconds = first_batch_seconds("plink", Path(prefix), window, Path(cache_dir))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rss_after_imports_mb": round(after_imports, 1),
                "peak_rss_mb": round(peak, 1),
                "first_batch_s": round(seconds, 3),
                "vm_hwm_mb": _vm_hwm_mb(),
            }
        )
    )


def _run_self(*arguments: str) -> str:
    """Run this script in a fresh process; its stdout."""
    command = [sys.executable, __file__, *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def measure_peak_rss(args: argparse.Namespace, work: Path) -> dict:
    prefix = work / "large"
    _run_self(
        "--write-large",
        str(prefix),
        "--rss-individuals",
        str(args.rss_individuals),
        "--rss-snps",
        str(args.rss_snps),
        "--seed",
        str(args.seed + 1),
    )
    output = _run_self("--window", str(args.window), "--rss-child", str(prefix), str(work / "cache-rss"))
    rss = json.loads(output.strip().splitlines()[-1])
    for suffix in (".bed", ".bim", ".fam"):
        (work / f"large{suffix}").unlink()
    return {
        "fileset": [args.rss_individuals, args.rss_snps],
        "window_snps": args.window,
        **rss,
        "rss_increase_over_imports_mb": round(rss["peak_rss_mb"] - rss["rss_after_imports_mb"], 1),
    }


def time_first_batches(args: argparse.Namespace, work: Path) -> dict:
    from snpdiff.data import write_plink, write_vcf

    started = time.perf_counter()
    genotypes = random_genotypes(args.individuals, args.snps, args.seed)
    prefix = write_plink(work / "cohort", genotypes)
    plink_written = time.perf_counter()
    vcf = write_vcf(work / "cohort.vcf.gz", genotypes, compresslevel=1)
    result = {
        "generation_s": {
            "plink_write": round(plink_written - started, 1),
            "vcf_gz_write": round(time.perf_counter() - plink_written, 1),
        },
        "file_mb": {
            "bed": round((work / "cohort.bed").stat().st_size / 2**20, 1),
            "vcf_gz": round(vcf.stat().st_size / 2**20, 1),
        },
    }
    del genotypes
    raw = [bed_reader_window_seconds(prefix, args.window) for _ in range(args.repeats)]
    result["plink"] = {
        **time_source("plink", prefix, args.window, args.repeats, work),
        "bed_reader_raw_window_s": round(statistics.median(raw), 4),
    }
    result["vcf"] = time_source("vcf", vcf, args.window, args.repeats, work)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--individuals", type=int, default=2000)
    parser.add_argument("--snps", type=int, default=100_000)
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rss-individuals", type=int, default=2067)
    parser.add_argument("--rss-snps", type=int, default=160_858)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rss-child", nargs=2, metavar=("PREFIX", "CACHE_DIR"), help=argparse.SUPPRESS)
    parser.add_argument("--write-large", metavar="PREFIX", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        peak_rss_child(args.rss_child[0], args.window, args.rss_child[1])
        return
    if args.write_large:
        write_large_child(args.write_large, args.rss_individuals, args.rss_snps, args.seed)
        return

    result: dict = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "inputs": {
            "individuals": args.individuals,
            "snps": args.snps,
            "window_snps": args.window,
            "repeats": args.repeats,
            "data": "random dosages, allele frequency U(0.05, 0.5)",
        },
    }
    with tempfile.TemporaryDirectory(prefix="snpdiff-bench-") as temp:
        # memory first, while this process is still small (see the module docstring)
        peak_rss = measure_peak_rss(args, Path(temp))
        result.update(time_first_batches(args, Path(temp)))
        result["peak_rss_plink_window"] = peak_rss
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
