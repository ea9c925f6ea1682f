"""DDIM at 50 steps against DDPM over the full chain, on a trained checkpoint.

Prints JSON: wall time of each sampler for ``--n`` individuals, their ratio (goal: DDIM at least 15x faster) and
af_r2 / ld_corr of each against the training split, with the differences (goal: within 0.02 of DDPM).

    python benchmarks/sampling.py --ckpt <run>/checkpoints/last.ckpt [--n 100] [--ddim-steps 50]

``benchmarks/quality.py --output-dir DIR`` leaves such a checkpoint of the default config in ``DIR/checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import time

from hydra.utils import instantiate
from omegaconf import OmegaConf

from snpdiff.generation import load_trained_model, sample_codes
from snpdiff.metrics import evaluate_genotypes

COMPARED = ("af_r2", "ld_corr", "aats_gap", "exact_copy_rate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    trained = load_trained_model(args.ckpt)
    data_cfg = OmegaConf.create(trained.config["data"])
    datamodule = instantiate(data_cfg, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.train_codes

    results = {"n": args.n, "timesteps": trained.diffusion.timesteps, "seq_length": trained.seq_length}
    rows = {}
    for name, sampler, steps in (("ddim", "ddim", args.ddim_steps), ("ddpm", "ddpm", trained.diffusion.timesteps)):
        start = time.perf_counter()
        codes = sample_codes(
            trained, args.n, batch_size=args.n, sampler=sampler, sampling_steps=steps, seed=args.seed, progress=False
        )
        seconds = time.perf_counter() - start
        metrics = evaluate_genotypes(train, codes, seed=args.seed)
        rows[name] = {"steps": steps, "seconds": round(seconds, 2), **{k: round(metrics[k], 4) for k in COMPARED}}
    results.update(rows)
    results["speedup_ddim_over_ddpm"] = round(rows["ddpm"]["seconds"] / rows["ddim"]["seconds"], 1)
    results["difference_ddim_minus_ddpm"] = {k: round(rows["ddim"][k] - rows["ddpm"][k], 4) for k in COMPARED}
    results["goals_met"] = {
        "speedup_at_least_15x": results["speedup_ddim_over_ddpm"] >= 15,
        "af_r2_within_0.02": abs(results["difference_ddim_minus_ddpm"]["af_r2"]) <= 0.02,
        "ld_corr_within_0.02": abs(results["difference_ddim_minus_ddpm"]["ld_corr"]) <= 0.02,
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
