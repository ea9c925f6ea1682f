"""The old tool's width on CPU: train.py for a few steps and generate.py for a few individuals at ``--snps`` SNPs
(default 160,858, the old tool's chromosome), with their peak memory (RSS; goal under 24 GiB) and time per step.
Prints JSON.

    python benchmarks/chromosome_scale.py [--snps 160858] [--individuals 2067] [--batch-size 8] [--steps 3]
                                          [--generate 4] [--sampling-steps 10] [--threads 2] [--work-dir DIR]
                                          [train.py overrides ...]

The training file is ``--individuals`` x ``--snps`` dosages from ``evaluate_scale.structured_codes`` (three
populations, LD from a Markov chain along the SNPs), written by a child process as ``.npy`` with its sidecar. Then,
each in its own process with ``--threads`` torch/BLAS threads:

- ``python train.py data=npy data.path=... data.seq_length=<snps> data.min_maf=0`` with the default model
  (``model=unet``: 3 levels, width 16, no attention; any ``seq_length`` works, the SNP axis is padded to a
  multiple of 4), one epoch of ``--steps`` batches of ``--batch-size``, one validation batch, no quality
  evaluation, no logger; ``StepTimer`` records the wall time of every training step (forward, backward, optimizer,
  EMA). ``data.seq_length`` is the whole file, so a wrong width fails instead of training on a window.
- ``python generate.py ckpt=<run>/checkpoints/last.ckpt n=<generate> sampler=ddim sampling_steps=<n>``, to ``.npy``.

Peak RSS of each process alone comes from ``os.wait4``; times are wall seconds including start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
from evaluate_scale import population_frequencies, run_measured, write_set

OLD_TOOL_SNPS = 160_858
GOAL_RSS_GIB = 24


class StepTimer(pl.Callback):
    """Writes the wall seconds of every training step (batch start to batch end) to ``path`` as a JSON list when
    training ends (added to train.py as ``+callbacks.step_timer``)."""

    def __init__(self, path: str):
        self.path = Path(path)
        self.seconds: list[float] = []
        self.started = 0.0

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch, batch_idx: int) -> None:
        self.started = time.perf_counter()

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx) -> None:
        self.seconds.append(time.perf_counter() - self.started)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.path.write_text(json.dumps(self.seconds))


def thread_env(threads: int) -> dict[str, str]:
    """This environment with ``threads`` OpenMP/BLAS threads, and this folder importable (for ``StepTimer``)."""
    names = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    path = os.pathsep.join(filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")]))
    return {**os.environ, **dict.fromkeys(names, str(threads)), "PYTHONPATH": path}


def train_command(args: argparse.Namespace, data: Path, run: Path, overrides: list[str]) -> list[str]:
    return [
        sys.executable,
        "train.py",
        "data=npy",
        f"data.path={data}",
        f"data.seq_length={args.snps}",
        "data.min_maf=0",
        f"data.batch_size={args.batch_size}",
        "data.num_workers=0",
        "data.cache_dir=null",
        "trainer.max_epochs=1",
        f"trainer.limit_train_batches={args.steps}",
        "trainer.limit_val_batches=1",
        "trainer.max_time=null",
        "quality.enabled=false",
        "logger=none",
        "callbacks.progress_bar=null",
        f"+callbacks.step_timer={{_target_: chromosome_scale.StepTimer, path: {run / 'step_seconds.json'}}}",
        f"hydra.run.dir={run}",
        "overwrite=true",  # a --work-dir used again replaces its earlier run
        *overrides,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snps", type=int, default=OLD_TOOL_SNPS)
    parser.add_argument("--individuals", type=int, default=2067, help="rows of the training file (the old tool's)")
    # training memory grows with batch x SNPs: at 40,000 SNPs batch 16 peaked at 5.7 GiB, which scales to about
    # 22 GiB at 160,858, too close to a 24 GiB machine; batch 8 halves the activations
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3, help="training steps (batches of one epoch)")
    parser.add_argument("--generate", type=int, default=4, help="individuals generate.py samples")
    parser.add_argument("--sampling-steps", type=int, default=10, help="DDIM steps of generate.py")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the files and runs here (default: temp)")
    parser.add_argument("--write-only", type=Path, default=None, help=argparse.SUPPRESS)  # the writer child
    args, overrides = parser.parse_known_args()

    if args.write_only is not None:
        rng = np.random.default_rng(args.seed)
        write_set(args.write_only, args.individuals, population_frequencies(args.snps, rng), 0.1, rng, labelled=True)
        return
    with tempfile.TemporaryDirectory() as temporary:
        work = args.work_dir or Path(temporary)
        work.mkdir(parents=True, exist_ok=True)
        data, run = work / "genotypes.npy", work / "run"
        writer = [sys.executable, __file__, "--write-only", str(data), *sys.argv[1:]]
        status, write_seconds, _, output = run_measured(writer, dict(os.environ))
        if status != 0:
            raise SystemExit(f"writing {data} failed:\n{output}")

        load_before = os.getloadavg()[0]
        env = thread_env(args.threads)
        status, train_seconds, train_gib, output = run_measured(train_command(args, data, run, overrides), env)
        if status != 0:
            raise SystemExit(f"train.py exited {status}:\n{output[-4000:]}")
        steps = json.loads((run / "step_seconds.json").read_text())

        synthetic = work / "synthetic"
        generate = [
            sys.executable,
            "generate.py",
            f"ckpt={run / 'checkpoints' / 'last.ckpt'}",
            f"n={args.generate}",
            f"out={synthetic}",
            "format=npy",
            "sampler=ddim",
            f"sampling_steps={args.sampling_steps}",
            f"hydra.run.dir={work / 'generate'}",
        ]
        status, generate_seconds, generate_gib, output = run_measured(generate, env)
        if status != 0:
            raise SystemExit(f"generate.py exited {status}:\n{output[-4000:]}")
        samples = np.load(synthetic.with_suffix(".npy"), mmap_mode="r")
        if samples.shape != (args.generate, args.snps) or samples.min() < 0 or samples.max() > 2:
            raise SystemExit(
                f"generate.py wrote codes of shape {samples.shape}, range {samples.min()}..{samples.max()}"
            )
    print(
        json.dumps(
            {
                "benchmark": "chromosome_scale",
                "snps": args.snps,
                "individuals": args.individuals,
                "batch_size": args.batch_size,
                "threads": args.threads,
                "model": "unet (conf/model/unet.yaml defaults)",
                "train_overrides": overrides,
                "train": {
                    "seconds": round(train_seconds, 1),
                    "peak_rss_gib": round(train_gib, 2),
                    "step_seconds": [round(seconds, 2) for seconds in steps],
                    # the first step also pays for allocating every buffer
                    "median_step_s": round(statistics.median(steps), 2),
                },
                "generate": {
                    "individuals": args.generate,
                    "sampling_steps": args.sampling_steps,
                    "seconds": round(generate_seconds, 1),
                    "peak_rss_gib": round(generate_gib, 2),
                },
                "write_seconds": round(write_seconds, 1),
                "goal_peak_rss_gib": GOAL_RSS_GIB,
                "meets_goal": max(train_gib, generate_gib) < GOAL_RSS_GIB,
                "load_average_before": round(load_before, 2),
                "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
