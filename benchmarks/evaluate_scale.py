"""evaluate.py at chromosome scale: wall time and peak memory (RSS) of one run on real, synthetic and held-out
``.npy`` files of ``--individuals`` x ``--snps`` (goal at 2,000 x 160,858: under 10 minutes and 24 GiB on 2 cores).
Prints JSON.

    python benchmarks/evaluate_scale.py [--individuals 2000] [--snps 160858] [--threads 2] [--work-dir DIR]
                                        [evaluate.py overrides ...]

The files are random but structured, fast to make (``structured_codes``): three populations with Balding-Nichols
allele frequencies (Fst 0.1), and haplotypes drawn as a Markov chain along the SNPs (at each SNP a fresh allele with
probability ``--switch``, else the previous SNP's), so r^2 decays with distance and PCA sees population structure.
Real and held-out follow that process; synthetic restarts twice as often (weaker LD), so the LD metrics have a gap
to show. They are written with the project's writer (``write_npy``, populations of real in its sidecar, so pop_tv is
computed) by a child process, then ``python evaluate.py real=... synthetic=... holdout=...`` runs in another, with
``--threads`` BLAS/OpenMP threads. Its peak RSS comes from ``os.wait4`` on that child alone (this process stays
small, so nothing large is inherited); its wall time includes Python start-up, reading, metrics, plots and report.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
POPULATIONS = ("A", "B", "C")
FST = 0.1
# haplotype rows generated at once: bounds the float32 temporaries to ~ROWS x snps x 12 bytes
ROWS_PER_CHUNK = 128
GOAL_SECONDS = 600
GOAL_RSS_GIB = 24


def population_frequencies(snps: int, rng: np.random.Generator) -> np.ndarray:
    """Balding-Nichols allele frequencies float32 [populations, snps] around uniform(0.05, 0.95) ancestral ones."""
    ancestral = rng.uniform(0.05, 0.95, snps)
    scale = (1 - FST) / FST
    frequencies = rng.beta(ancestral * scale, (1 - ancestral) * scale, (len(POPULATIONS), snps))
    return np.clip(frequencies, 0.01, 0.99).astype(np.float32)


def markov_haplotypes(frequencies: np.ndarray, switch: float, rng: np.random.Generator) -> np.ndarray:
    """0/1 haplotypes int8 [rows, snps]: at SNP j a fresh allele ~ Bernoulli(frequencies[row, j]) with probability
    ``switch`` (always at SNP 0), else the allele of SNP j - 1."""
    rows, snps = frequencies.shape
    fresh = rng.random((rows, snps), dtype=np.float32) < frequencies
    restart = rng.random((rows, snps), dtype=np.float32) < switch
    restart[:, 0] = True
    # index of the last restart at or before each SNP: the allele there is copied forward
    source = np.where(restart, np.arange(snps, dtype=np.int32), np.int32(0))
    np.maximum.accumulate(source, axis=1, out=source)
    return np.take_along_axis(fresh, source, axis=1).astype(np.int8)


def structured_codes(
    individuals: int, frequencies: np.ndarray, switch: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Diploid dosages int8 [individuals, snps] (sum of two ``markov_haplotypes``) and population labels
    [individuals] (cycling through ``POPULATIONS``)."""
    labels = np.arange(individuals) % len(POPULATIONS)
    codes = np.empty((individuals, frequencies.shape[1]), dtype=np.int8)
    for start in range(0, individuals, ROWS_PER_CHUNK // 2):
        rows = labels[start : start + ROWS_PER_CHUNK // 2]
        haplotypes = markov_haplotypes(frequencies[np.repeat(rows, 2)], switch, rng)
        codes[start : start + len(rows)] = haplotypes[0::2] + haplotypes[1::2]
    return codes, np.array(POPULATIONS)[labels]


def write_set(
    path: Path, individuals: int, frequencies: np.ndarray, switch: float, rng: np.random.Generator, labelled: bool
) -> Path:
    """One ``structured_codes`` set as ``path`` (.npy + .json sidecar, ``write_npy``); populations in the sidecar
    when ``labelled``."""
    from snpdiff.data import GenotypeSet, SnpInfo, write_npy

    codes, labels = structured_codes(individuals, frequencies, switch, rng)
    ids = [f"{path.stem}{i}" for i in range(individuals)]
    genotypes = GenotypeSet(
        codes, SnpInfo.placeholder(codes.shape[1]), ids, populations=labels if labelled else None, source=path.stem
    )
    return write_npy(path, genotypes)


def write_sets(work: Path, individuals: int, snps: int, switch: float, seed: int) -> dict[str, Path]:
    """Write real.npy, synthetic.npy and holdout.npy (+ .json sidecars) into ``work``; return their paths."""
    rng = np.random.default_rng(seed)
    frequencies = population_frequencies(snps, rng)
    roles = {"real": switch, "synthetic": 2 * switch, "holdout": switch}
    return {
        role: write_set(work / f"{role}.npy", individuals, frequencies, role_switch, rng, labelled=role == "real")
        for role, role_switch in roles.items()
    }


def run_measured(command: list[str], env: dict[str, str]) -> tuple[int, float, float, str]:
    """Run ``command``; ``(exit status, wall seconds, peak RSS in GiB of that process alone, its output)``."""
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read()
    return process.returncode, seconds, usage.ru_maxrss / 1024**2, text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=2000, help="rows of each of real, synthetic, held-out")
    parser.add_argument("--snps", type=int, default=160_858)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads of evaluate.py")
    parser.add_argument("--switch", type=float, default=0.1, help="Markov restart probability per SNP (real)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the files and output here (default: temp)")
    parser.add_argument("--write-only", type=Path, default=None, help=argparse.SUPPRESS)  # the writer child
    args, overrides = parser.parse_known_args()

    if args.write_only is not None:
        write_sets(args.write_only, args.individuals, args.snps, args.switch, args.seed)
        return
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        writer = [sys.executable, __file__, "--write-only", str(work), *sys.argv[1:]]
        write_status, write_seconds, _, write_output = run_measured(writer, dict(os.environ))
        if write_status != 0:
            raise SystemExit(f"writing the files failed:\n{write_output}")
        threads = str(args.threads)
        env = {**os.environ, **dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), threads)}
        command = [
            sys.executable,
            "evaluate.py",
            f"real={work / 'real.npy'}",
            f"synthetic={work / 'synthetic.npy'}",
            f"holdout={work / 'holdout.npy'}",
            f"out={work / 'evaluate'}",
            *overrides,
        ]
        load_before = os.getloadavg()[0]
        status, seconds, peak_gib, output = run_measured(command, env)
        if status != 0:
            raise SystemExit(f"evaluate.py exited {status}:\n{output[-4000:]}")
        metrics = json.loads((work / "evaluate" / "metrics.json").read_text())
    print(
        json.dumps(
            {
                "benchmark": "evaluate_scale",
                "individuals_per_set": args.individuals,
                "snps": args.snps,
                "threads": args.threads,
                "evaluate_overrides": overrides,
                "seconds": round(seconds, 1),
                "peak_rss_gib": round(peak_gib, 2),
                "goal": {"seconds": GOAL_SECONDS, "peak_rss_gib": GOAL_RSS_GIB},
                "meets_goal": seconds < GOAL_SECONDS and peak_gib < GOAL_RSS_GIB,
                "write_seconds": round(write_seconds, 1),
                # other processes on the machine stretch wall times: 1-minute load average before evaluate.py
                "load_average_before": round(load_before, 2),
                "metrics": {name: None if value is None else round(value, 4) for name, value in metrics.items()},
                "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
