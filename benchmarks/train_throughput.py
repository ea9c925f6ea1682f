"""Training throughput of the default UNet: train.py's Lightning path against a plain PyTorch loop.

Prints JSON: samples/s of each path at seq_length 1024 and 4096 (batch 32, fp32, CPU) and the framework's
overhead ``1 - lightning / plain``. Both paths train the same model on the same batches (an int8 npy matrix this
script writes); the first ``--warmup`` steps of each are not timed. Goal: overhead under 5%.

    python benchmarks/train_throughput.py [--steps 12] [--warmup 3] [--seq-lengths 1024 4096]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate

from snpdiff.config import compose_config
from snpdiff.data import GenotypeSet, SnpInfo, write_npy
from snpdiff.training import build_module, run_training

BATCH_SIZE = 32


class StepTimer(pl.Callback):
    """Wall time of the training steps after the first ``warmup`` ones."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.start = None
        self.timed_steps = 0
        self.elapsed = 0.0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.start is not None:
            self.timed_steps += 1
            self.elapsed = time.perf_counter() - self.start


def write_matrix(folder: Path, individuals: int, seq_length: int) -> Path:
    codes = np.random.default_rng(0).integers(0, 3, size=(individuals, seq_length), dtype=np.int8)
    sample_ids = [f"ind{i}" for i in range(individuals)]
    gset = GenotypeSet(codes=codes, snps=SnpInfo.placeholder(seq_length), sample_ids=sample_ids)
    path = folder / f"bench_{seq_length}.npy"
    write_npy(path, gset)
    return path


def overrides(path: Path, folder: Path, seq_length: int, steps: int) -> list[str]:
    return [
        "data=npy",
        f"data.path={path}",
        f"data.seq_length={seq_length}",
        "data.min_maf=0",
        f"data.batch_size={BATCH_SIZE}",
        "data.val_fraction=0.05",
        "data.test_fraction=0",
        "data.cache_dir=null",
        "logger=none",
        "quality.enabled=false",
        "callbacks.progress_bar=null",
        "+trainer.enable_model_summary=false",
        "trainer.max_epochs=1",
        f"+trainer.limit_train_batches={steps}",
        "+trainer.limit_val_batches=0",
        "+trainer.num_sanity_val_steps=0",
        "callbacks.model_checkpoint.save_top_k=0",
        f"paths.output_dir={folder / f'run_{seq_length}'}",
    ]


def lightning_path(cfg, warmup: int) -> float:
    timer = StepTimer(warmup)
    run_training(cfg, extra_callbacks=[timer])
    return timer.timed_steps * BATCH_SIZE / timer.elapsed


def plain_loop(cfg, steps: int, warmup: int) -> float:
    pl.seed_everything(cfg.seed, verbose=False)
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    module = build_module(cfg, datamodule)
    optimizer = instantiate(cfg.optimizer)(params=module.parameters())
    module.train()
    start, done = None, 0
    for step, batch in enumerate(datamodule.train_dataloader()):
        if step == steps:
            break
        if step == warmup:
            start = time.perf_counter()
        t = torch.randint(0, module.diffusion.timesteps, (batch.shape[0],))
        loss, _ = module._loss(batch, t, torch.randn_like(batch))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.trainer.gradient_clip_val)
        optimizer.step()
        done += step >= warmup
    return done * BATCH_SIZE / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seq-lengths", type=int, nargs="+", default=[1024, 4096])
    args = parser.parse_args()
    results = {
        "batch_size": BATCH_SIZE,
        "torch_threads": torch.get_num_threads(),
        "timed_steps": args.steps - args.warmup,
    }
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for seq_length in args.seq_lengths:
            path = write_matrix(folder, BATCH_SIZE * args.steps + 64, seq_length)
            cfg = compose_config(overrides(path, folder, seq_length, args.steps))
            # alternate the two paths and keep each one's best, so a burst of load elsewhere hits neither alone
            # the first round of each length only warms the process up (allocator, oneDNN kernels): not kept
            plain, lightning = 0.0, 0.0
            for round_ in range(args.repeats + 1):
                plain_rate = plain_loop(cfg, args.steps, args.warmup)
                lightning_rate = lightning_path(cfg, args.warmup)
                if round_ > 0:
                    plain, lightning = max(plain, plain_rate), max(lightning, lightning_rate)
            results[str(seq_length)] = {
                "plain_samples_per_s": round(plain, 2),
                "lightning_samples_per_s": round(lightning, 2),
                "ratio": round(lightning / plain, 4),
                "overhead": round(1 - lightning / plain, 4),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
