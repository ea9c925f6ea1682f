"""Sample quality and time of each sampler at a few step counts, on one trained checkpoint.

For every configuration (``sampler:steps``; by default DDIM-50, then DPM-Solver++(2M) and DDIM at 10, 15, 20 and
25 steps) samples ``--n`` individuals from the checkpoint exactly as ``generate.py`` does (``sample_codes``: the
encoding's clip, nearest-code decoding), ``--repeats`` times with start-noise seeds 0, 1, ... (the same seeds for
every configuration, so the rows are paired), and scores each set with the in-training quality scorer
(``SampleQualityCallback.score``, as ``benchmarks/metric_noise.py`` does): fidelity against the run's validation
split (real individuals the model never trained on), privacy against as many training individuals with the
validation split as held-out.

    python benchmarks/sampler_quality.py [--ckpt RUN/checkpoints/last.ckpt] [--config RUN/config.yaml]
        [--n 500] [--repeats 3] [--configs ddim:50 dpmpp_2m:10 ...] [--metrics af_r2 ld_corr ...]

Prints JSON lines: first the setup, then one row per configuration: ``sampler``, ``steps``, ``seconds`` (mean wall
time of one sampling of ``--n`` individuals, decoding included), the mean of each metric over the repeats and its
standard error ``se_<metric>`` (standard deviation over repeats / sqrt(repeats); null with one repeat).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from snpdiff.diffusion import SAMPLER_NAMES
from snpdiff.generation import load_trained_model, sample_codes
from snpdiff.metrics import METRICS as KNOWN_METRICS
from snpdiff.training.quality import SampleQualityCallback

RUN = Path("/work/artifacts/default_run")  # README command 1: the default config on the built-in simulation
METRICS = ("af_r2", "ld_corr", "aa_t", "aa_s", "pca_w1", "het_sd_ratio")
CONFIGS = ("ddim:50", *(f"{name}:{steps}" for steps in (10, 15, 20, 25) for name in ("dpmpp_2m", "ddim")))


def parse_config(text: str) -> tuple[str, int]:
    """``sampler:steps`` -> (sampler, steps); argparse turns the ValueError into a usage error."""
    name, _, steps = text.partition(":")
    if name not in SAMPLER_NAMES or not steps.isdigit() or int(steps) < 1:
        raise ValueError(text)
    return name, int(steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", type=Path, default=RUN / "checkpoints" / "last.ckpt")
    parser.add_argument("--config", type=Path, default=RUN / "config.yaml", help="the run's config.yaml (its data)")
    parser.add_argument("--n", type=int, default=500, help="synthetic individuals per set")
    parser.add_argument("--repeats", type=int, default=3, help="sets per configuration (start-noise seeds 0..)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument(
        "--configs",
        nargs="+",
        type=parse_config,
        default=[parse_config(text) for text in CONFIGS],
        metavar="SAMPLER:STEPS",
        help=f"sampler one of {', '.join(SAMPLER_NAMES)} (default: {' '.join(CONFIGS)})",
    )
    parser.add_argument("--metrics", nargs="+", default=list(METRICS))
    args = parser.parse_args()
    for path, flag in ((args.ckpt, "--ckpt"), (args.config, "--config")):
        if not path.is_file():
            parser.error(f"{flag}={path}: no such file")
    if min(args.n, args.repeats, args.batch_size) < 1:
        parser.error("--n, --repeats and --batch-size must be >= 1")
    unknown = [metric for metric in args.metrics if metric not in KNOWN_METRICS]
    if unknown:
        parser.error(f"--metrics: unknown {unknown}; allowed: {', '.join(KNOWN_METRICS)}")

    cfg = OmegaConf.load(args.config)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    trained = load_trained_model(args.ckpt)
    ld_window = int(OmegaConf.select(cfg, "quality.ld_window", default=50))
    print(
        json.dumps(
            {
                "ckpt": str(args.ckpt),
                "seq_length": int(trained.seq_length),
                "n": args.n,
                "repeats": args.repeats,
                "reference": f"validation split ({len(datamodule.val_codes)} individuals)",
                "torch_threads": torch.get_num_threads(),
            }
        ),
        flush=True,
    )
    for name, steps in args.configs:
        seconds, values = [], {metric: [] for metric in args.metrics}
        for seed in range(args.repeats):
            start = time.perf_counter()
            codes = sample_codes(
                trained,
                args.n,
                batch_size=args.batch_size,
                sampler_name=name,
                sampling_steps=steps,
                seed=seed,
                progress=False,
            )
            seconds.append(time.perf_counter() - start)
            scores = SampleQualityCallback(ld_window=ld_window, seed=seed).score(codes, datamodule)
            for metric in args.metrics:
                values[metric].append(float(scores[metric]))
        row = {"sampler": name, "steps": steps, "seconds": round(statistics.fmean(seconds), 2)}
        row.update({metric: round(statistics.fmean(v), 4) for metric, v in values.items()})
        row.update(
            {
                f"se_{metric}": round(statistics.stdev(v) / math.sqrt(len(v)), 4) if len(v) > 1 else None
                for metric, v in values.items()
            }
        )
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
