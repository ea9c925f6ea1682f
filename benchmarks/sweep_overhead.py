"""Per-trial overhead of a local sweep against running the same trainings directly.

    python benchmarks/sweep_overhead.py [--trials 8]

Runs ``--trials`` short trainings (debug=fast, a tiny UNet) twice: as direct ``python train.py <overrides>`` runs one
after another, and as one ``python sweep.py agent --count N`` on a local grid sweep with the same overrides (one
grid point per seed), then once more with ``early_terminate: hyperband`` (the training then reports every epoch to
the Optuna study). Prints JSON: total seconds of each, and the sweep's extra seconds per trial, absolute and as a
fraction of a direct run. Goal: under 1 s per trial. ``sweep.py init`` (validation, study creation) is timed
separately: it happens once per sweep, not per trial.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# reports every epoch to the study but never prunes a 2-epoch trial (first rung at epoch 3): its cost alone
HYPERBAND = {"type": "hyperband", "min_iter": 3, "s": 1}
FIXED = {
    "debug": "fast",
    "logger": "none",
    "callbacks.progress_bar": None,
    "model.channels": 8,
    "model.dim_mults": [1, 2],
    "model.norm_groups": 4,
    "model.embedding_dim": 16,
}


def run(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` takes (it must succeed)."""
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from snpdiff.sweep.bridge import params_to_overrides
    from snpdiff.sweep.trial import run_dir_override

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = {
            **os.environ,
            "SNPDIFF_SWEEPS_DIR": str(tmp / "sweeps"),
            "SNPDIFF_CACHE": str(tmp / "cache"),
            "OMP_NUM_THREADS": "1",
        }
        seeds = list(range(1, args.trials + 1))
        # warm the data cache and the OS file cache, so neither side pays the first simulation
        warm = params_to_overrides({**FIXED, "seed": 0})
        run([sys.executable, "train.py", *warm, run_dir_override(tmp / "warm")], env)

        direct = sum(
            run(
                [
                    sys.executable,
                    "train.py",
                    *params_to_overrides({**FIXED, "seed": seed}),
                    run_dir_override(tmp / "direct" / str(seed)),
                ],
                env,
            )
            for seed in seeds
        )

        results = {}
        for label, extra in (("sweep", {}), ("sweep_with_hyperband", {"early_terminate": HYPERBAND})):
            sweep_file = tmp / f"{label}.yaml"
            sweep_file.write_text(
                yaml.safe_dump(
                    {
                        "method": "grid",
                        "metric": {"name": "val_loss", "goal": "minimize"},
                        "parameters": {**{k: {"value": v} for k, v in FIXED.items()}, "seed": {"values": seeds}},
                        **extra,
                    }
                )
            )
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "sweep.py", "init", str(sweep_file), "--backend", "local"],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            init_s = time.perf_counter() - start
            sweep_id = out.split("created local sweep ")[1].split()[0]
            sweep = run([sys.executable, "sweep.py", "agent", sweep_id, "--count", str(args.trials)], env)
            overhead = (sweep - direct) / args.trials
            results[label] = {
                "total_s": round(sweep, 2),
                "init_s": round(init_s, 2),
                "overhead_per_trial_s": round(overhead, 3),
                "overhead_fraction": round(overhead / (direct / args.trials), 4),
            }

    print(
        json.dumps(
            {
                "trials": args.trials,
                "direct_total_s": round(direct, 2),
                "direct_per_trial_s": round(direct / args.trials, 2),
                **results,
                "goal_per_trial_s": 1.0,
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "load_1min": os.getloadavg()[0],
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
