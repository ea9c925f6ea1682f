"""Training throughput of the default UNet: train.py's Lightning path against a plain PyTorch loop.

Both paths train the same model (same seed, same initial weights) on the same pre-materialised batches (a list of
tensors ``[32, 1, seq_length]`` built once per length), with the same optimizer, LR scheduler, gradient clipping,
timesteps and noise (the RNG is re-seeded before each path's first step), in the same process and thread count.
Neither path does per-step set-up: the plain loop is ``randint, randn_like, loss, backward, clip, step, zero_grad``,
then the EMA update of the weights when the config has the EMA callback (on by default: torch's ``AveragedModel``
with the same foreach EMA function), and ``scheduler.step`` per epoch; the Lightning path is ``Trainer.fit`` with
train.py's trainer config and callbacks. Only steps after ``--warmup`` are timed (perf_counter, the same boundaries
in both). The paths alternate ABBA over ``--rounds`` rounds; each round builds both afresh (outside the timing).
Printed JSON, per length:

- ``plain_samples_per_s``, ``lightning_samples_per_s``: medians over rounds;
- ``ratio``: median over rounds of lightning / plain of the same round (goal >= 0.95);
- ``gflop_per_step``: forward + backward FLOPs of one batch (``FlopCounterMode``), ``gflops_per_s`` the achieved
  rate of the plain loop (median);
- ``final_loss_difference``: largest |plain - lightning| loss over the timed steps of the first round (0: both
  paths computed the same thing).

    python benchmarks/train_throughput.py [--seq-lengths 1024 4096] [--rounds 5] [--steps 6] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import lightning.pytorch as pl
import numpy as np
import torch
from hydra.utils import instantiate
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.config import compose_config
from snpdiff.data import GenotypeSet, SnpInfo, write_npy
from snpdiff.training.lr_schedulers import lr_scheduler_factory
from snpdiff.training.module import SNPDiffusionModule
from snpdiff.training.run import build_module, instantiate_nodes

BATCH_SIZE = 32
SEED = 42


class StepTimer(pl.Callback):
    """Wall time of the training steps from step ``warmup`` on, and every step's loss."""

    def __init__(self, warmup: int):
        self.warmup = warmup
        self.start = 0.0
        self.end = 0.0
        self.losses: list[float] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == 0:
            torch.manual_seed(SEED)  # the same timesteps and noise as the plain loop
        if batch_idx == self.warmup:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.end = time.perf_counter()
        self.losses.append(float(outputs["loss"]))


def write_matrix(folder: Path, individuals: int, seq_length: int) -> Path:
    """Random genotype codes int8 [individuals, seq_length] as an npy file the `data=npy` source reads."""
    codes = np.random.default_rng(0).integers(0, 3, size=(individuals, seq_length), dtype=np.int8)
    gset = GenotypeSet(
        codes=codes, snps=SnpInfo.placeholder(seq_length), sample_ids=[f"ind{i}" for i in range(individuals)]
    )
    path = folder / f"bench_{seq_length}.npy"
    write_npy(path, gset)
    return path


def overrides(path: Path, folder: Path, seq_length: int) -> list[str]:
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
        "callbacks.model_checkpoint=null",
        "callbacks.last_checkpoint=null",
        "trainer.max_epochs=1",
        f"paths.output_dir={folder / f'run_{seq_length}'}",
        f"seed={SEED}",
    ]


def fresh_module(cfg, datamodule) -> SNPDiffusionModule:
    pl.seed_everything(SEED, verbose=False)
    return build_module(cfg, datamodule, lr_scheduler_factory(cfg.scheduler, lr=float(cfg.optimizer.lr)))


def lightning_path(cfg, datamodule, batches: list[torch.Tensor], warmup: int) -> tuple[float, list[float]]:
    """samples/s of train.py's Trainer over `batches` (one epoch), and the losses of every step."""
    module = fresh_module(cfg, datamodule)
    timer = StepTimer(warmup)
    trainer = instantiate(
        cfg.trainer,
        _convert_="all",
        callbacks=[*instantiate_nodes(cfg, "callbacks"), timer],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        limit_val_batches=0,
        num_sanity_val_steps=0,
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    return (len(batches) - warmup) * BATCH_SIZE / (timer.end - timer.start), timer.losses


def plain_loop(cfg, datamodule, batches: list[torch.Tensor], warmup: int) -> tuple[float, list[float]]:
    """samples/s of a hand-written loop doing what the Lightning path does per step, and every step's loss."""
    module = fresh_module(cfg, datamodule)
    optimizer = module.optimizer_factory(params=module.parameters())
    scheduler = module.lr_scheduler_factory(optimizer, len(batches))
    module.train()
    clip = float(cfg.trainer.gradient_clip_val)
    ema = cfg.callbacks.get("ema")
    average = None if ema is None else AveragedModel(module, multi_avg_fn=get_ema_multi_avg_fn(float(ema.decay)))
    losses = []
    torch.manual_seed(SEED)
    start = 0.0
    for step, batch in enumerate(batches):
        if step == warmup:
            start = time.perf_counter()
        t = torch.randint(0, module.diffusion.timesteps, (batch.shape[0],))
        loss, _ = module._loss(batch, t, torch.randn_like(batch))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if average is not None:
            average.update_parameters(module)
        losses.append(float(loss))
    if scheduler["interval"] == "epoch":
        scheduler["scheduler"].step()
    return (len(batches) - warmup) * BATCH_SIZE / (time.perf_counter() - start), losses


def train_step_flops(cfg, datamodule, batch: torch.Tensor) -> int:
    """FLOPs of forward + backward of one batch (FlopCounterMode counts matmuls and convolutions)."""
    module = fresh_module(cfg, datamodule)
    t = torch.randint(0, module.diffusion.timesteps, (batch.shape[0],))
    with FlopCounterMode(display=False) as counter:
        loss, _ = module._loss(batch, t, torch.randn_like(batch))
        loss.backward()
    return counter.get_total_flops()


def measure_length(folder: Path, seq_length: int, args: argparse.Namespace) -> dict:
    steps = args.warmup + args.steps
    path = write_matrix(folder, BATCH_SIZE * steps + 64, seq_length)
    cfg = compose_config(overrides(path, folder, seq_length))
    datamodule = instantiate(cfg.data, _convert_="all")
    datamodule.prepare_data()
    datamodule.setup("fit")
    batches = [batch.clone() for batch, _ in zip(datamodule.train_dataloader(), range(steps), strict=False)]
    flops = train_step_flops(cfg, datamodule, batches[0])
    plain_rates, lightning_rates, ratios, loss_difference = [], [], [], None
    for round_ in range(args.rounds):
        # ABBA order: a slow drift of the machine's load weighs on both paths alike
        order = (plain_loop, lightning_path) if round_ % 2 == 0 else (lightning_path, plain_loop)
        rates, losses = {}, {}
        for path_fn in order:
            rates[path_fn], losses[path_fn] = path_fn(cfg, datamodule, batches, args.warmup)
        plain_rates.append(rates[plain_loop])
        lightning_rates.append(rates[lightning_path])
        ratios.append(rates[lightning_path] / rates[plain_loop])
        if loss_difference is None:
            pairs = zip(losses[plain_loop], losses[lightning_path], strict=True)
            loss_difference = max(abs(a - b) for a, b in pairs)
    plain = statistics.median(plain_rates)
    return {
        "plain_samples_per_s": round(plain, 2),
        "lightning_samples_per_s": round(statistics.median(lightning_rates), 2),
        "ratio": round(statistics.median(ratios), 4),
        "ratios_per_round": [round(ratio, 3) for ratio in ratios],
        "gflop_per_step": round(flops / 1e9, 3),
        "gflops_per_s": round(flops / 1e9 * plain / BATCH_SIZE, 2),
        "final_loss_difference": loss_difference,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-lengths", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=6, help="timed steps per path and round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per path and round")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train.py does
    results: dict = {
        "batch_size": BATCH_SIZE,
        "torch_threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "timed_steps": args.steps,
        "load_average_before": round(os.getloadavg()[0], 2),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for seq_length in args.seq_lengths:
            results[str(seq_length)] = measure_length(Path(tmp), seq_length, args)
            print(json.dumps({seq_length: results[str(seq_length)]}), file=sys.stderr)  # progress of long runs
    results["load_average_after"] = round(os.getloadavg()[0], 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
