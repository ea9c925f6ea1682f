"""Standard errors of the in-training quality metrics at a given evaluation size.

The in-training evaluation (``quality.eval_samples`` synthetic individuals, scored by
``SampleQualityCallback.score`` against the validation split V and as many training individuals) is itself a
sample: a second evaluation of the same model with other noise reads another value. This measures that spread
without a model: "synthetic" sets of real individuals drawn from a pool the model never sees (the test split of
a larger simulation), ``--repeats`` sets per size, each scored exactly as the callback scores samples, with a new
training subset each time (the callback's ``seed``). The standard deviation over repeats is the standard error of
one evaluation; a model's samples, farther from T, spread about as much or less in the nearest-neighbour metrics.

    python benchmarks/metric_noise.py [--sizes 128 256 500] [--repeats 10] [--seq-length 1024]

Prints JSON: per size, mean and standard error (sd over repeats) of each metric in ``--metrics``.
"""

from __future__ import annotations

import argparse
import json
import statistics

import numpy as np
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.training.quality import SampleQualityCallback

METRICS = ("af_r2", "ld_corr", "pca_w1", "aa_t", "aa_s", "aats_gap", "nn_st_median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 500])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seq-length", type=int, default=1024)
    parser.add_argument("--metrics", nargs="+", default=list(METRICS))
    args = parser.parse_args()
    # T 1,000 and V 500 as in the CPU-budget study; a pool of 1,500 unseen real individuals to draw "synthetic" sets
    cfg = compose_config(
        [
            f"data.seq_length={args.seq_length}",
            "data.n_individuals=3000",
            "data.val_fraction=0.1667",
            "data.test_fraction=0.5",
        ]
    )
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    pool = datamodule.test_codes
    if max(args.sizes) > len(pool):
        parser.error(f"--sizes: at most {len(pool)} (the unseen pool)")
    report = {
        "seq_length": args.seq_length,
        "train/val/pool": [len(datamodule.train_codes), len(datamodule.val_codes), len(pool)],
        "repeats": args.repeats,
    }
    for size in args.sizes:
        values: dict[str, list[float]] = {name: [] for name in args.metrics}
        for repeat in range(args.repeats):
            rows = np.random.default_rng(1000 + repeat).choice(len(pool), size, replace=False)
            scores = SampleQualityCallback(eval_samples=size, seed=repeat).score(pool[rows], datamodule)
            for name in args.metrics:
                values[name].append(float(scores[name]))
        report[str(size)] = {
            name: {"mean": round(statistics.fmean(v), 4), "se": round(statistics.stdev(v), 4)}
            for name, v in values.items()
        }
        print(json.dumps({size: report[str(size)]}), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
