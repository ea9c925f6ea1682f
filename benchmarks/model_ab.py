"""The UNet of a git revision against the working tree's, side by side in one process: one model call and one train
step, alternating, with the same weights.

The revision's ``snpdiff/models`` is extracted with ``git archive`` into a temporary folder and imported under
another name, so both versions run in this process on the same cores at the same moment; its state dict is loaded
into the working tree's model (the same keys), and the outputs are compared. Prints JSON: milliseconds per model
call at ``--batch`` (inference mode) and per train step at ``--train-batch`` (forward, MSE, backward, fused AdamW),
medians of ``--rounds`` alternating pairs, and the revision/working-tree ratios. Run it from a git clone.

    python benchmarks/model_ab.py --rev 69bb7b6 [--seq-length 1024] [--batch 64] [--train-batch 32] [--rounds 16]
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.models import UNet1D

ROOT = Path(__file__).resolve().parents[1]
ALIAS = "snpdiff_at_rev"


def models_at(rev: str, into: Path):
    """The `snpdiff.models` package as it was at `rev`, importable as `snpdiff_at_rev.models`."""
    archive = subprocess.run(["git", "archive", rev, "snpdiff/models"], cwd=ROOT, capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    package = into / ALIAS
    (into / "snpdiff").rename(package)
    (package / "__init__.py").write_text("")
    for source in (package / "models").glob("*.py"):
        source.write_text(source.read_text().replace("snpdiff.models", f"{ALIAS}.models"))
    sys.path.insert(0, str(into))
    return importlib.import_module(f"{ALIAS}.models")


def alternate(functions: dict, rounds: int) -> dict[str, float]:
    """Median milliseconds of each function over `rounds` alternating (ABBA) calls."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for round_ in range(rounds):
        for name in functions if round_ % 2 == 0 else reversed(functions):
            start = time.perf_counter()
            functions[name]()
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: round(statistics.median(values), 1) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", required=True, help="git revision whose snpdiff/models to compare against")
    parser.add_argument("--seq-length", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=64, help="individuals per model call (inference)")
    parser.add_argument("--train-batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train.py and generate.py do
    with tempfile.TemporaryDirectory() as folder:
        then = models_at(args.rev, Path(folder))
        torch.manual_seed(0)
        models = {"rev": then.UNet1D(seq_length=args.seq_length), "tree": UNet1D(seq_length=args.seq_length)}
    models["rev"].load_state_dict(models["tree"].state_dict())

    x, t = torch.randn(args.batch, 1, args.seq_length), torch.full((args.batch,), 500)
    with torch.inference_mode():
        for model in models.values():
            model.eval()
        difference = float((models["rev"](x, t) - models["tree"](x, t)).abs().max())
        calls = {name: (lambda model=model: model(x, t)) for name, model in models.items()}
        for call in calls.values():
            call()
        call_ms = alternate(calls, args.rounds)

    xb = torch.randn(args.train_batch, 1, args.seq_length)
    tb = torch.randint(0, 1000, (args.train_batch,))
    optimizers = {name: torch.optim.AdamW(model.train().parameters(), fused=True) for name, model in models.items()}

    def train_step(name: str) -> None:
        loss = F.mse_loss(models[name](xb, tb), xb)
        optimizers[name].zero_grad()
        loss.backward()
        optimizers[name].step()

    steps = {name: (lambda name=name: train_step(name)) for name in models}
    for step in steps.values():
        step()
    step_ms = alternate(steps, max(4, args.rounds * 3 // 4))
    print(
        json.dumps(
            {
                "rev": args.rev,
                "seq_length": args.seq_length,
                "torch_threads": torch.get_num_threads(),
                "max_abs_output_difference": difference,
                f"ms_per_model_call_batch_{args.batch}": call_ms,
                "call_speedup_of_tree": round(call_ms["rev"] / call_ms["tree"], 3),
                f"ms_per_train_step_batch_{args.train_batch}": step_ms,
                "train_step_speedup_of_tree": round(step_ms["rev"] / step_ms["tree"], 3),
                "load_average": round(os.getloadavg()[0], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
