#!/usr/bin/env bash
# GPU check (issue 13), prints one JSON on stdout (progress on stderr):
#   - bf16 training throughput of the default UNet at 1,024 SNPs, batch 64..512, torch.compile off and on:
#     samples/s, achieved TFLOP/s (FlopCounterMode on one step), peak memory;
#   - DDIM-50, and DPM-Solver++(2M) (`dpmpp_2m`) at 10 and 20 steps, sampling of 1,024 individuals x 1,024 SNPs
#     (bf16 autocast, inference mode): wall time, and whether every sample is finite;
#   - a 2-epoch `python train.py trainer=gpu` smoke run (the shipped data and model): wall time and exit status.
# Usage: bash benchmarks/gpu_check.sh [--dry-run]
#   --dry-run: CPU, tiny sizes, no compile: a quick self-check of every part on a machine without CUDA.
# Installs nothing unless snpdiff itself is not importable (then `pip install -e .`, keeping the installed torch).
# Whole run on one GPU: a few minutes (compilation is most of it).
set -euo pipefail
cd "$(dirname "$0")/.."
DRY_RUN=0
[[ "${1:-}" == "--dry-run" ]] && DRY_RUN=1
python -c "import snpdiff" 2>/dev/null || pip install -q -e . >&2
if [[ $DRY_RUN == 0 ]] && ! python -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    echo "gpu_check: no CUDA device visible to torch; run with --dry-run for the CPU self-check" >&2
    exit 1
fi
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if [[ $DRY_RUN == 1 ]]; then
    SMOKE=(trainer=cpu debug=fast)
else
    SMOKE=(trainer=gpu trainer.max_epochs=2)
fi
echo "gpu_check: smoke run python train.py ${SMOKE[*]}" >&2
start=$(date +%s.%N)
status=0
python train.py "${SMOKE[@]}" logger=none callbacks.progress_bar=null "hydra.run.dir=$WORK/smoke" \
    >"$WORK/smoke.log" 2>&1 || status=$?
smoke_seconds=$(python -c "print(round($(date +%s.%N) - $start, 1))")
[[ $status == 0 ]] || tail -20 "$WORK/smoke.log" >&2

DRY_RUN=$DRY_RUN SMOKE_STATUS=$status SMOKE_SECONDS=$smoke_seconds SMOKE_ARGS="${SMOKE[*]}" python - <<'PY'
import json
import os
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from snpdiff.diffusion import GaussianDiffusion, sample, sampler_from_config
from snpdiff.models import UNet1D

dry = os.environ["DRY_RUN"] == "1"
device = torch.device("cpu" if dry else "cuda")
seq_length = 64 if dry else 1024
batches = [8] if dry else [64, 128, 256, 512]
compile_modes = [False] if dry else [False, True]
steps, warmup = (2, 1) if dry else (20, 5)


def sync() -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_case(batch: int, compiled: bool) -> dict:
    torch.manual_seed(0)
    model = UNet1D(seq_length=seq_length).to(device)
    diffusion = GaussianDiffusion().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01, fused=True)
    network = torch.compile(model) if compiled else model
    x0 = torch.randn(batch, 1, seq_length, device=device)

    def step() -> None:
        t = torch.randint(0, diffusion.timesteps, (batch,), device=device)
        noise = torch.randn_like(x0)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            output = network(diffusion.q_sample(x0, t, noise), t)
        loss = torch.nn.functional.mse_loss(output.float(), noise)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    first = time.perf_counter()
    for _ in range(warmup):
        step()
    sync()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    seconds = time.perf_counter() - start
    return {
        "batch_size": batch,
        "compile": compiled,
        "samples_per_s": round(steps * batch / seconds, 1),
        "tflops_per_s": round(flops * steps / seconds / 1e12, 3),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if device.type == "cuda" else None,
        "warmup_seconds": round(start - first, 2),
    }


def sampling_case(sampler_name: str, sampling_steps: int) -> dict:
    n = 16 if dry else 1024
    torch.manual_seed(0)
    model = UNet1D(seq_length=seq_length).to(device).eval()
    diffusion = GaussianDiffusion().to(device)
    sampler = sampler_from_config(diffusion, sampler_name)
    generator = torch.Generator().manual_seed(0)
    with torch.autocast(device.type, dtype=torch.bfloat16):
        sample(model, diffusion, sampler, (2, 1, seq_length), sampling_steps=3, generator=generator)
        sync()
        start = time.perf_counter()
        x = sample(model, diffusion, sampler, (n, 1, seq_length), sampling_steps=sampling_steps, generator=generator)
        sync()
    return {"individuals": n, "seq_length": seq_length, "sampler": sampler_name, "steps": sampling_steps,
            "seconds": round(time.perf_counter() - start, 2), "finite": bool(torch.isfinite(x).all())}


results = {
    "dry_run": dry,
    "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu",
    "torch": torch.__version__,
    "seq_length": seq_length,
    "train_bf16": [train_case(batch, compiled) for compiled in compile_modes for batch in batches],
    "sampling_ddim50": sampling_case("ddim", 50),
    "sampling_dpmpp_2m": [sampling_case("dpmpp_2m", steps) for steps in (10, 20)],
    "smoke_run": {
        "command": "python train.py " + os.environ["SMOKE_ARGS"],
        "exit_status": int(os.environ["SMOKE_STATUS"]),
        "seconds": float(os.environ["SMOKE_SECONDS"]),
    },
}
print(json.dumps(results, indent=2))
PY
