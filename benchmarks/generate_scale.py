"""generate.py at scale: wall time and peak resident memory of whole generate.py runs, as PLINK, for each ``--n``.

Each run is a child process (``python generate.py ... format=plink``) in a fresh temporary folder; its peak RSS is
the child's own ``ru_maxrss`` (``os.wait4``), so the figures are what a user's generate.py takes, model loading
included. Streaming writes each batch as it finishes, so peak RSS should stay flat as ``--n`` grows. Prints JSON:
per n, ``wall_s``, ``individuals_per_s``, ``peak_rss_mb``, ``output_mb``; the settings; the load average before and
after.

    python benchmarks/generate_scale.py --ckpt <run>/checkpoints/last.ckpt [--n 10000 100000] [--sampler ddim]
        [--sampling-steps 25] [--batch-size 256] [--threads N]

``python train.py`` (README command 1) leaves such a checkpoint in ``outputs/train/runs/<time>/checkpoints``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_generate(ckpt: Path, n: int, sampler: str | None, steps: int | None, batch_size: int, threads: int | None):
    """One generate.py child process writing ``n`` individuals as PLINK into a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="generate_scale_") as folder:
        command = [sys.executable, str(ROOT / "generate.py"), f"ckpt={ckpt}", f"n={n}", f"out={folder}/syn"]
        command += ["format=plink", f"batch_size={batch_size}"]
        command += [f"sampler={sampler}"] if sampler else []
        command += [f"sampling_steps={steps}"] if steps else []
        env = {**os.environ, "SNPDIFF_ROOT": folder}
        if threads:
            env["OMP_NUM_THREADS"] = str(threads)
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        stderr = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        code = os.waitstatus_to_exitcode(status)
        child.returncode = code  # reaped by os.wait4, not by Popen
        if code != 0:
            raise SystemExit(f"generate.py n={n} failed ({code}):\n{stderr.decode()[-3000:]}")
        output = sum(path.stat().st_size for path in Path(folder).glob("syn.*"))
    return {
        "wall_s": round(wall, 2),
        "individuals_per_s": round(n / wall, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
        "output_mb": round(output / 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ckpt", type=Path, required=True, help="a train.py checkpoint (README command 1)")
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000], help="individuals per run")
    parser.add_argument("--sampler", default=None, help="generate.py sampler=; default: the checkpoint's")
    parser.add_argument("--sampling-steps", type=int, default=None, help="generate.py sampling_steps=")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="OMP_NUM_THREADS of the child")
    args = parser.parse_args()
    load_before = os.getloadavg()
    runs = {
        str(n): run_generate(args.ckpt.resolve(), n, args.sampler, args.sampling_steps, args.batch_size, args.threads)
        for n in args.n
    }
    report = {
        "ckpt": str(args.ckpt),
        "sampler": args.sampler,
        "sampling_steps": args.sampling_steps,
        "batch_size": args.batch_size,
        "threads": args.threads,
        "runs": runs,
        "load_average": {"before": load_before, "after": os.getloadavg()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
