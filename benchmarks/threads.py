"""Two trainings on one machine: total optimizer steps per minute under torch's own thread policy and snpdiff's.

Three phases, each ``--seconds`` of training (``trainer.max_time``; the clock starts when fitting starts, so loading
and start-up are not counted) of the default model with quality evaluations and loggers off, run one after another
in this invocation, so the three are compared on the same machine and load:

- ``one_alone``: one training, the thread policy's choice (alone: every core);
- ``two_torch_default``: two at once, each with ``threads=<every core>`` (what torch does by itself, and what
  snpdiff did before it shared the cores);
- ``two_shared``: two at once with ``threads`` left null (``snpdiff.cli.cores``: each takes its share).

Steps are read from each run's ``checkpoints/last.ckpt`` (``global_step``). Printed JSON: each phase's steps per run,
``steps_per_min`` (all its runs together) and ``ratio_to_one_alone`` (goal for ``two_shared``: >= 1.2). Run it on
quiet cores; ``OMP_NUM_THREADS`` is removed from the trainings' environment (it would fix their thread count).

    python benchmarks/threads.py [--seconds 90]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
COMMON = ("logger=none", "quality.enabled=false", "callbacks.progress_bar=null", "trainer.min_epochs=0")


def start(run_dir: Path, seconds: int, *overrides: str) -> subprocess.Popen:
    duration = f"00:00:{seconds // 60:02d}:{seconds % 60:02d}"
    env = {key: value for key, value in os.environ.items() if key != "OMP_NUM_THREADS"}
    command = [sys.executable, str(ROOT / "train.py"), *COMMON, f"trainer.max_time={duration}",
               f"hydra.run.dir={run_dir}", *overrides]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def steps(run_dir: Path) -> int:
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return int(checkpoint["global_step"])


def phase(folder: Path, name: str, runs: int, seconds: int, *overrides: str) -> dict:
    """``runs`` trainings started together; their steps and the total rate."""
    dirs = [folder / f"{name}_{index}" for index in range(runs)]
    processes = [start(run_dir, seconds, *overrides) for run_dir in dirs]
    for process in processes:
        _, stderr = process.communicate()
        if process.returncode != 0:
            raise SystemExit(f"{name}: train.py exited {process.returncode}:\n{stderr[-2000:]}")
    counts = [steps(run_dir) for run_dir in dirs]
    return {"steps": counts, "steps_per_min": round(sum(counts) * 60 / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=90, help="training time of each phase")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        results = {
            "one_alone": phase(folder, "one", 1, args.seconds),
            "two_torch_default": phase(folder, "default", 2, args.seconds, f"threads={cores}"),
            "two_shared": phase(folder, "shared", 2, args.seconds),
        }
    alone = results["one_alone"]["steps_per_min"]
    for result in results.values():
        result["ratio_to_one_alone"] = round(result["steps_per_min"] / alone, 2)
    print(json.dumps({"cores": cores, "seconds": args.seconds, **results}, indent=2))


if __name__ == "__main__":
    main()
