"""Sample quality of the default config within a CPU budget, next to the held-out-real calibration row.

Trains ``python train.py`` 's default config on the embedded simulation until ``--budget-min`` minutes have passed
(``trainer.max_time``; ``--max-epochs`` caps it), samples as many individuals as the held-out (test) split with the
config's sampler, and prints JSON with two rows of metrics against the training split T:
``model`` (S = samples, H = test split) and ``held_out_real`` (S = test split, H = validation split), with T
subsampled to the size of S so the adversarial accuracies are balanced, plus the
targets of issue 4 and whether the model meets them.

    python benchmarks/quality.py [--budget-min 15] [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.data import GenotypeSet
from snpdiff.generation import load_trained_model, sample_codes
from snpdiff.metrics import MetricSettings, evaluate_genotypes
from snpdiff.training.run import run_training

TARGETS = {
    "af_r2": (">=", 0.98),
    "ld_corr": (">=", 0.9),
    "aa_t": ("within", (0.4, 0.6)),
    "aa_s": ("within", (0.4, 0.6)),
    "exact_copy_rate": ("<=", 0.0),
}
SHOWN = (
    "af_r2",
    "af_mae",
    "geno_freq_r",
    "het_diff",
    "ld_corr",
    "ld_mae",
    "ld_decay_l2",
    "pca_w1",
    "fst_hudson",
    "aa_t",
    "aa_s",
    "aats",
    "aats_gap",
    "exact_copy_rate",
    "privacy_loss",
    "nn_distance_ratio",
)


def meets(metrics: dict[str, float]) -> dict[str, bool]:
    result = {}
    for name, (kind, bound) in TARGETS.items():
        value = metrics[name]
        result[name] = (
            value >= bound if kind == ">=" else value <= bound if kind == "<=" else bound[0] <= value <= bound[1]
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget-min", type=float, default=15.0)
    parser.add_argument("--max-epochs", type=int, default=10_000)
    parser.add_argument("--output-dir", default=None, help="keep the run here (default: a temporary folder)")
    parser.add_argument("--score-only", action="store_true", help="reuse --output-dir's checkpoint, skip training")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides (default: none, the default config)")
    args = parser.parse_args()
    output_dir = Path(args.output_dir or tempfile.mkdtemp(prefix="snpdiff-quality-"))
    minutes = int(args.budget_min)
    seconds = round((args.budget_min - minutes) * 60)
    cfg = compose_config(
        [
            "logger=csv",
            "callbacks.progress_bar=null",
            "trainer.enable_model_summary=false",
            f"trainer.max_epochs={args.max_epochs}",
            f"trainer.max_time=00:00:{minutes:02d}:{seconds:02d}",
            f"paths.output_dir={output_dir}",
            *args.overrides,
        ]
    )
    start = time.perf_counter()
    if args.score_only:
        metrics = json.loads((output_dir / "metrics.json").read_text())
    else:
        metrics = run_training(cfg)
    train_s = time.perf_counter() - start

    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    train, val, test = datamodule.train_codes, datamodule.val_codes, datamodule.test_codes
    trained = load_trained_model(metrics["checkpoints"]["last"])
    start = time.perf_counter()
    synthetic = sample_codes(trained, n=len(test), seed=cfg.seed, progress=False)
    sample_s = time.perf_counter() - start
    # adversarial accuracies need sets of one size: T is a random subset of the training split as large as S and H
    train = train[np.random.default_rng(cfg.seed).permutation(len(train))[: len(test)]]
    sets = (train, test, synthetic, val[: len(test)])
    train, test, synthetic, val = (GenotypeSet.from_codes(codes) for codes in sets)
    model_row = evaluate_genotypes(train, synthetic, test, MetricSettings(seed=cfg.seed))
    real_row = evaluate_genotypes(train, test, val, MetricSettings(seed=cfg.seed))
    print(
        json.dumps(
            {
                "config": {
                    "overrides": list(args.overrides),
                    "budget_min": args.budget_min,
                    "seq_length": int(datamodule.seq_length),
                    "train/val/test": [len(train), len(val), len(test)],
                },
                "training": {
                    "seconds": None if args.score_only else round(train_s, 1),
                    "epochs": metrics["epochs_completed"],
                    "steps": metrics["history"][-1]["step"],
                    "final/val_loss": metrics["final/val_loss"],
                },
                "sampling": {
                    "n": len(test),
                    "sampler": cfg.diffusion.sampler,
                    "steps": cfg.diffusion.sampling_steps,
                    "seconds": round(sample_s, 1),
                },
                "model": {k: round(model_row[k], 4) for k in SHOWN if k in model_row},
                "held_out_real": {k: round(real_row[k], 4) for k in SHOWN if k in real_row},
                "targets": {k: f"{kind} {bound}" for k, (kind, bound) in TARGETS.items()},
                "model_meets_targets": meets(model_row),
                "output_dir": str(output_dir),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
