"""DDIM at 50 steps against DDPM over the full chain, on a trained checkpoint; or DDIM speed alone, untrained.

With ``--ckpt``, prints JSON: wall time of each sampler for ``--n`` individuals, their ratio (goal: DDIM at least
15x faster) and af_r2 / ld_corr of each against the training split, with the differences (goal: within 0.02 of
DDPM). Without it, prints the wall time of DDIM-``--ddim-steps`` for ``--n`` individuals of ``--seq-length`` SNPs
with the default UNet at its initial weights (speed does not depend on training; goal: 64 x 1,024 SNPs in < 8 s on
2 cores), through the same loop (``snpdiff.diffusion.sample``, inference mode) the quality callback and
generate.py use, next to the same loop with one whole-batch model call per step (``cpu_slice=None``), end to end
over ``--rounds`` ABBA rounds; and one model call at ``--batch-size``, whole against in slices of 32 over a thread
pool, over ``--calls`` alternating calls.

    python benchmarks/sampling.py --ckpt <run>/checkpoints/last.ckpt [--n 100] [--ddim-steps 50]
    python benchmarks/sampling.py [--n 64] [--seq-length 1024] [--ddim-steps 50] [--batch-size 64] [--rounds 3]
        [--calls 20]

``benchmarks/quality.py --output-dir DIR`` leaves such a checkpoint of the default config in ``DIR/checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf

from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.data import GenotypeSet
from snpdiff.diffusion import DDIMSampler, GaussianDiffusion, sample
from snpdiff.diffusion.sampling import CPU_SLICE, _sliced_calls
from snpdiff.generation import load_trained_model, sample_codes
from snpdiff.metrics import MetricSettings, evaluate_genotypes
from snpdiff.models import UNet1D

COMPARED = ("af_r2", "ld_corr", "aats_gap", "exact_copy_rate")


def speed_only(n: int, seq_length: int, steps: int, batch_size: int, rounds: int, calls: int) -> dict:
    """DDIM-`steps` of `n` individuals with the default UNet (initial weights), in batches of `batch_size`: the
    default path (`sample` as generate.py and the quality callback call it: on CPU, model calls in slices of 32 over a
    thread pool from two slices per thread up, else whole) against one whole-batch model call per step
    (`cpu_slice=None`); and one model call at `batch_size`, whole against in slices of 32.

    Seconds end to end: medians of `rounds` ABBA rounds; the two paths' samples are compared. Milliseconds per model
    call: medians of `calls` single calls of each way, alternating call by call, which the drift of a shared machine
    (several seconds long) cannot favour one way in.
    """
    torch.manual_seed(0)
    model = UNet1D(seq_length=seq_length).eval()
    diffusion = GaussianDiffusion()

    def run(size: int | None) -> tuple[float, torch.Tensor]:
        generator = torch.Generator().manual_seed(0)
        start = time.perf_counter()
        parts = []
        for first in range(0, n, batch_size):
            shape = (min(batch_size, n - first), 1, seq_length)
            parts.append(sample(model, diffusion, DDIMSampler(), shape, steps, generator=generator, cpu_slice=size))
        return time.perf_counter() - start, torch.cat(parts)

    paths = {"default": CPU_SLICE, "whole": None}
    for size in paths.values():  # untimed: oneDNN's primitive cache and malloc's heap are set up by the first calls
        sample(model, diffusion, DDIMSampler(), (batch_size, 1, seq_length), 2, cpu_slice=size)
    seconds: dict[str, list[float]] = {name: [] for name in paths}
    outputs = {}
    for round_ in range(rounds):
        for name in paths if round_ % 2 == 0 else reversed(paths):
            elapsed, outputs[name] = run(paths[name])
            seconds[name].append(elapsed)

    x, t = torch.randn(batch_size, 1, seq_length), torch.full((batch_size,), diffusion.timesteps // 2)
    call_ms: dict[str, list[float]] = {"slices": [], "whole": []}
    with torch.inference_mode(), _sliced_calls(model, CPU_SLICE) as sliced:
        ways = {"slices": sliced, "whole": model}
        for call in range(calls):
            for name in ways if call % 2 == 0 else reversed(ways):
                start = time.perf_counter()
                ways[name](x, t)
                call_ms[name].append(1000 * (time.perf_counter() - start))
    default, whole = statistics.median(seconds["default"]), statistics.median(seconds["whole"])
    per_call = {name: statistics.median(values) if values else float("nan") for name, values in call_ms.items()}
    slices_by_default = batch_size >= 2 * torch.get_num_threads() * CPU_SLICE
    return {
        "n": n,
        "seq_length": seq_length,
        "ddim_steps": steps,
        "batch_size": batch_size,
        "torch_threads": torch.get_num_threads(),
        "rounds": rounds,
        "default_model_call": f"slices of {CPU_SLICE}" if slices_by_default else "whole batch",
        "seconds": round(default, 2),
        "seconds_whole_batch_calls": round(whole, 2),
        "ms_per_model_call_slices": round(per_call["slices"], 1),
        "ms_per_model_call_whole_batch": round(per_call["whole"], 1),
        "call_speedup_of_slices": round(per_call["whole"] / per_call["slices"], 3),
        "max_abs_difference": float((outputs["default"] - outputs["whole"]).abs().max()),
        "load_average": round(os.getloadavg()[0], 2),
        "goal_under_8s_met": default < 8.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ckpt", help="a trained checkpoint; without it, DDIM speed alone")
    parser.add_argument("--n", type=int, default=None, help="individuals (100 with --ckpt, else 64)")
    parser.add_argument("--ddim-steps", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seq-length", type=int, default=1024, help="without --ckpt")
    parser.add_argument("--batch-size", type=int, default=64, help="without --ckpt")
    parser.add_argument("--rounds", type=int, default=3, help="without --ckpt: end-to-end rounds per path")
    parser.add_argument("--calls", type=int, default=20, help="without --ckpt: single model calls per path")
    parser.add_argument(
        "--malloc",
        choices=("keep", "default"),
        default="keep",
        help="keep: glibc malloc keeps freed memory, as train.py and generate.py set it (snpdiff.cli.allocator); "
        "default: glibc's own settings (benchmarks/allocator.py compares the two)",
    )
    args = parser.parse_args()
    if args.malloc == "keep":
        keep_freed_memory()
    if args.ckpt is None:
        result = speed_only(args.n or 64, args.seq_length, args.ddim_steps, args.batch_size, args.rounds, args.calls)
        print(json.dumps({**result, "malloc": args.malloc}, indent=2))
        return
    args.n = args.n or 100
    trained = load_trained_model(args.ckpt)
    data_cfg = OmegaConf.create(trained.config["data"])
    datamodule = instantiate(data_cfg, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    train = datamodule.train_codes

    results = {
        "malloc": args.malloc,
        "n": args.n,
        "timesteps": trained.diffusion.timesteps,
        "seq_length": trained.seq_length,
    }
    rows = {}
    for name, sampler, steps in (("ddim", "ddim", args.ddim_steps), ("ddpm", "ddpm", trained.diffusion.timesteps)):
        start = time.perf_counter()
        codes = sample_codes(
            trained, args.n, batch_size=args.n, sampler_name=sampler, sampling_steps=steps, seed=args.seed,
            progress=False,
        )  # fmt: skip
        seconds = time.perf_counter() - start
        metrics = evaluate_genotypes(
            GenotypeSet.from_codes(train), GenotypeSet.from_codes(codes), settings=MetricSettings(seed=args.seed)
        )
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
