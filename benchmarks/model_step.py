"""Train step of the UNet alone (no data pipeline, no framework): samples/s and achieved GFLOP/s per variant.

One train step = q_sample + forward + MSE on eps + backward + gradient clipping + AdamW step, batch `--batch`,
fp32, on pre-made tensors. Variants, measured interleaved over `--rounds` rounds (medians):

- `3level`: the default UNet (`model=unet`, dim_mults 1-2-4, width 16), AdamW as in conf/optimizer/adamw.yaml;
- `4level`: dim_mults 1-2-4-8, width 16;
- `global` (only when `--models` names it): the default UNet with its window-wide MLP path (`model=unet_global`,
  `global_context=mlp`);
- `onehot`, `global_onehot` (only when named): `3level` and `global` with three input and output channels, as
  `data.encoding=onehot` builds them (one channel per genotype code);
- `<name>+fused`: the same with AdamW's fused kernel (`fused=True`: the same update, one kernel per parameter
  instead of a dozen ops; torch's CPU default without it is the single-tensor loop);
- `<name>+compile`: the model under `torch.compile` (`--compile`; the first steps pay the compilation).

FLOPs of forward + backward come from `torch.utils.flop_counter.FlopCounterMode` on one step. `--profile` prints
the `torch.profiler` table of the default model's step instead (top ops by self CPU time).

    python benchmarks/model_step.py [--seq-length 1024] [--batch 32] [--rounds 5] [--steps 4] [--compile] [--profile]
        [--models 3level 4level global onehot global_onehot]  (default: 3level 4level)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.diffusion import GaussianDiffusion
from snpdiff.models import UNet1D

# model name -> UNet1D keywords beside seq_length
MODELS = {
    "3level": {"dim_mults": (1, 2, 4)},
    "4level": {"dim_mults": (1, 2, 4, 8)},
    "global": {"dim_mults": (1, 2, 4), "global_context": "mlp"},
    "onehot": {"dim_mults": (1, 2, 4), "in_channels": 3},
    "global_onehot": {"dim_mults": (1, 2, 4), "global_context": "mlp", "in_channels": 3},
}


def make_step(
    model_keys: dict, seq_length: int, batch: int, fused: bool, compile_model: bool
) -> tuple[Callable[[], float], torch.nn.Module]:
    """A closure running one train step on fixed tensors x0 [batch, in_channels, seq_length]; returns it and the
    model."""
    torch.manual_seed(0)
    model = UNet1D(seq_length=seq_length, **model_keys)
    diffusion = GaussianDiffusion()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, fused=fused or None)
    network = torch.compile(model) if compile_model else model
    x0 = torch.randn(batch, model_keys.get("in_channels", 1), seq_length)
    t = torch.randint(0, diffusion.timesteps, (batch,))
    noise = torch.randn_like(x0)

    def step() -> float:
        loss = torch.nn.functional.mse_loss(network(diffusion.q_sample(x0, t, noise), t), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())

    return step, model


def step_flops(model_keys: dict, seq_length: int, batch: int) -> int:
    step, _ = make_step(model_keys, seq_length, batch, fused=False, compile_model=False)
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops()


def profile(seq_length: int, batch: int) -> None:
    step, _ = make_step(MODELS["3level"], seq_length, batch, fused=False, compile_model=False)
    step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--compile", action="store_true", help="add torch.compile variants")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=["3level", "4level"], help="models to compare"
    )
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
    torch.set_num_threads(args.threads)
    if args.profile:
        profile(args.seq_length, args.batch)
        return
    variants = {}
    for name in args.models:
        variants[name] = (MODELS[name], False, False)
        variants[f"{name}+fused"] = (MODELS[name], True, False)
        if args.compile:
            variants[f"{name}+compile"] = (MODELS[name], False, True)
    steps = {}
    params = {}
    for name, (model_keys, fused, compile_model) in variants.items():
        steps[name], model = make_step(model_keys, args.seq_length, args.batch, fused, compile_model)
        params[name] = sum(p.numel() for p in model.parameters())
        for _ in range(args.warmup + (2 if compile_model else 0)):
            steps[name]()
    rates: dict[str, list[float]] = {name: [] for name in variants}
    load_before = os.getloadavg()[0]
    for round_ in range(args.rounds):
        names = list(variants) if round_ % 2 == 0 else list(reversed(variants))
        for name in names:
            start = time.perf_counter()
            for _ in range(args.steps):
                steps[name]()
            rates[name].append(args.steps * args.batch / (time.perf_counter() - start))
    flops = {name: step_flops(MODELS[name], args.seq_length, args.batch) for name in args.models}
    results: dict = {
        "seq_length": args.seq_length,
        "batch_size": args.batch,
        "torch_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "malloc": args.malloc,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    for name in variants:
        rate = statistics.median(rates[name])
        level = name.split("+")[0]
        results[name] = {
            "parameters": params[name],
            "samples_per_s": round(rate, 2),
            "gflop_per_step": round(flops[level] / 1e9, 3),
            "gflops_per_s": round(flops[level] / 1e9 * rate / args.batch, 2),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
