"""Wall time of ``evaluate_genotypes`` for 2,000 x 10,000 SNPs on 2 threads (goal: under 30 s). Prints JSON.

    python benchmarks/evaluate_speed.py [--individuals 2000] [--snps 10000] [--threads 2] [--source sim|random]

``sim`` (default): OutOfAfrica_3G09 genotypes (``snpdiff.data.simulate_genotypes``, cached) split into T, S and H
of ``--individuals`` each, so the metrics see real LD and structure; ``random``: uniform codes 0/1/2 (no
simulation cost). Times ``evaluate_genotypes`` without and with the held-out set, and ``make_plots``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

from snpdiff.data import GenotypeSet, simulate_genotypes
from snpdiff.metrics import evaluate_genotypes
from snpdiff.metrics.plots import make_plots

# base pairs per SNP kept (MAF >= 1%) in the simulation, with some margin
SIM_BP_PER_SNP = 300


def make_sets(individuals: int, snps: int, source: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """T, S, H: int8 [individuals, snps] each."""
    if source == "random":
        codes = np.random.default_rng(seed).integers(0, 3, (3 * individuals, snps)).astype(np.int8)
    else:
        genotypes = simulate_genotypes(3 * individuals, region_length=snps * SIM_BP_PER_SNP, seed=seed)
        if genotypes.n_snps < snps:
            raise SystemExit(f"the simulation gave {genotypes.n_snps} SNPs < {snps}; raise SIM_BP_PER_SNP")
        order = np.random.default_rng(seed).permutation(genotypes.n_rows)
        codes = genotypes.codes[order][:, :snps]
    return codes[:individuals], codes[individuals : 2 * individuals], codes[2 * individuals :]


def timed(function, *args, **kwargs) -> tuple[dict, object]:
    """``({"wall_s", "cpu_s"}, result)``: CPU seconds (all threads) say how much work was done even when other
    processes share the cores and stretch the wall time."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = function(*args, **kwargs)
    return {
        "wall_s": round(time.perf_counter() - started, 2),
        "cpu_s": round(time.process_time() - started_cpu, 2),
    }, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--individuals", type=int, default=2000, help="rows of each of T, S and H")
    parser.add_argument("--snps", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads")
    parser.add_argument("--source", choices=["sim", "random"], default="sim")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    real, synthetic, holdout = (
        GenotypeSet.from_codes(codes) for codes in make_sets(args.individuals, args.snps, args.source, args.seed)
    )
    load_before = os.getloadavg()[0]
    with threadpool_limits(args.threads):
        seconds, _ = timed(evaluate_genotypes, real, synthetic)
        seconds_holdout, metrics = timed(evaluate_genotypes, real, synthetic, holdout)
        with tempfile.TemporaryDirectory() as out_dir:
            seconds_plots, _ = timed(make_plots, real, synthetic, holdout, out_dir)
    print(
        json.dumps(
            {
                "benchmark": "evaluate_speed",
                "individuals_per_set": args.individuals,
                "snps": args.snps,
                "source": args.source,
                "threads": args.threads,
                "evaluate": seconds,
                "evaluate_with_holdout": seconds_holdout,
                "make_plots": seconds_plots,
                "goal_wall_s": 30,
                "meets_goal": max(seconds["wall_s"], seconds_holdout["wall_s"]) < 30,
                # other processes on the machine stretch wall times: 1-minute load average before timing
                "load_average_before": round(load_before, 2),
                "metrics": {name: round(value, 4) for name, value in metrics.items()},
                "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
