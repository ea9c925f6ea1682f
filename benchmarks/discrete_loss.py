"""``loss=mse`` against ``loss=discrete`` at equal training steps: sample quality and how close raw outputs sit to
valid codes.

Trains the same small config (same seed, data, steps) once per loss, samples ``--n`` individuals with the config's
DDIM sampler and prints JSON per loss: ``val_mse`` (comparable across losses), ``af_r2`` and ``ld_corr`` against the
validation split, and ``near_code_share``, the share of raw sampled values (before rounding to codes) within 0.1 of
a valid code value.

    python benchmarks/discrete_loss.py [--epochs 6] [--n 200] [overrides ...]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.data import GenotypeSet
from snpdiff.diffusion import sample, sampler_from_config
from snpdiff.generation import load_trained_model
from snpdiff.metrics import MetricSettings, evaluate_genotypes
from snpdiff.training.run import run_training

NEAR = 0.1  # "near a valid code": within this distance of one (in encoded units; codes 1 apart when centered)


def score(ckpt: str, val_codes, n: int, seed: int, ld_window: int) -> dict[str, float]:
    """Sample ``n`` individuals from ``ckpt`` and score them against ``val_codes`` ``[individuals, snps]``."""
    trained = load_trained_model(ckpt)
    values = trained.encoding.values_tensor()
    clip = (float(values.min()), float(values.max()))
    raw = sample(
        trained.model,
        trained.diffusion,
        sampler_from_config(trained.diffusion, None, clip_denoised=clip),
        (n, 1, trained.seq_length),
        sampling_steps=trained.diffusion.sampling_steps,
        generator=torch.Generator().manual_seed(seed),
    )[:, 0]
    distance = (raw.unsqueeze(-1) - values).abs().min(dim=-1).values
    metrics = evaluate_genotypes(
        GenotypeSet.from_codes(val_codes), GenotypeSet.from_codes(trained.encoding.decode(raw)),
        settings=MetricSettings(ld_window=ld_window, seed=seed),
    )
    return {
        "af_r2": round(metrics["af_r2"], 4),
        "ld_corr": round(metrics["ld_corr"], 4),
        "near_code_share": round(float((distance <= NEAR).float().mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--n", type=int, default=200, help="individuals sampled per loss")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for both runs")
    args = parser.parse_args()
    common = [
        "debug=fast",
        "logger=none",
        "callbacks.progress_bar=null",
        "data.n_individuals=300",
        "trainer.limit_train_batches=12",
        f"trainer.max_epochs={args.epochs}",
        "diffusion.timesteps=200",
        "diffusion.sampling_steps=20",
        *args.overrides,
    ]
    rows = {}
    for loss in ("mse", "discrete"):
        cfg = compose_config([*common, f"loss={loss}", f"paths.output_dir={tempfile.mkdtemp(prefix='snpdiff-')}"])
        start = time.perf_counter()
        metrics = run_training(cfg)
        seconds = time.perf_counter() - start
        datamodule = instantiate(cfg.data, _convert_="all")
        datamodule.prepare_data()
        datamodule.setup("fit")
        rows[loss] = {
            "steps": metrics["history"][-1]["step"],
            "train_seconds": round(seconds, 1),
            "val_loss": round(metrics["val_loss"], 4),
            "val_mse": round(metrics["val_mse"], 4),
            "val_discrete_penalty": round(metrics.get("val_discrete_penalty", 0.0), 6),  # 0: loss=mse
            **score(metrics["checkpoints"]["last"], datamodule.val_codes, args.n, int(cfg.seed), 20),
        }
    config = {"overrides": common[3:], "n": args.n, "near": NEAR}
    print(json.dumps({"config": config, **rows}, indent=2))


if __name__ == "__main__":
    main()
