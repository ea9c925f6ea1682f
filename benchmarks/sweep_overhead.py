"""Per-trial overhead of a local sweep against running the same trainings directly.

    python benchmarks/sweep_overhead.py [--trials 6]

Short trainings (debug=fast, a tiny UNet), one per seed. Every training process, direct or started by the agent, is
started through the same small timing wrapper, which logs its own wall time, so:

- the agent's side is exact: one ``python sweep.py agent <id> --count N`` on a local grid sweep of the same
  overrides, minus the wall time of its N training processes, is what the agent adds: its start-up (timed alone on
  the exhausted sweep, three times) plus, per trial, claiming it, composing its overrides (once per group
  combination: cached), starting the process and recording the result;
- the trial's side (what running under the agent adds inside the training: the Optuna reporter with hyperband) is
  the median training-process time under the agent minus that of the same trainings run directly, in ABBA blocks
  of ``--trials // 2`` (the shared machine's drift makes this part noisy: the per-block values are printed).

Once without pruning and once with ``early_terminate: hyperband`` (the training then sends every epoch's metric to
its agent, which reports it to the Optuna study's pruner). For hyperband the reporter's own cost is also timed
exactly, in a process that has Lightning loaded as a training has, against this process serving the agent's end of
the channel: its first report and the later ones, each a full round trip. Goal: under
0.5 s per trial. ``sweep.py init`` (validation, study creation) is timed separately: it happens once per sweep, not
per trial.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
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


WRAPPER = """#!/bin/bash
# runs the training, then appends its wall seconds to $SNPDIFF_BENCH_TIMES
start=$(date +%s.%N)
"$SNPDIFF_BENCH_PYTHON" "$@"
code=$?
echo "$start $(date +%s.%N)" >> "$SNPDIFF_BENCH_TIMES"
exit $code
"""


def run(argv: list[str], env: dict[str, str]) -> float:
    """Seconds ``argv`` takes (it must succeed)."""
    start = time.perf_counter()
    result = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return time.perf_counter() - start


REPORTER = """
import json, time
import lightning.pytorch  # a training has it loaded already
from snpdiff.sweep.reporter import SweepTrialReporter
class Trainer:  # the fields the reporter reads
    callback_metrics = {"val_loss": 0.5}
    current_epoch, sanity_checking, is_global_zero, world_size, should_stop = 0, False, True, 1, False
reporter = SweepTrialReporter("val_loss")
seconds = []
for epoch in range(6):
    Trainer.current_epoch = epoch
    start = time.perf_counter()
    reporter.on_validation_end(Trainer, None)
    seconds.append(time.perf_counter() - start)
later = sorted(seconds[1:])[2]
print(json.dumps({"reporter_first_report_s": round(seconds[0], 4), "reporter_later_report_s": round(later, 4),
                  "reporter_stopped": Trainer.should_stop}))
"""


def reporter_cost(sweep_id: str, root: Path, env: dict[str, str]) -> dict:
    """Seconds of a trial reporter's first and later reports (a process with Lightning loaded), each a round trip
    to this process serving the agent's end of the channel as an agent does (reporting to the study's pruner)."""
    import threading

    from snpdiff.sweep.agent.channel import CHANNEL_ENV, ReportChannel
    from snpdiff.sweep.agent.interface import ClaimedTrial
    from snpdiff.sweep.backends import open_backend
    from snpdiff.sweep.store import resolve_sweep

    backend = open_backend(resolve_sweep(sweep_id, root))
    number = backend.study.ask().number  # the grid is used up: a trial of its own, as an agent's claim makes
    claimed = ClaimedTrial(number, backend.trial_id(number), {}, root / "reporter")
    channel = ReportChannel(backend, claimed)
    process = subprocess.Popen([sys.executable, "-c", REPORTER], cwd=REPO, stdout=subprocess.PIPE, text=True,
                               env={**env, CHANNEL_ENV: str(channel.trial_fd)}, pass_fds=(channel.trial_fd,))
    channel.started()

    def serve() -> None:
        while process.poll() is None:
            channel.serve(0.1)

    server = threading.Thread(target=serve)
    server.start()
    out = process.communicate()[0]
    server.join()
    channel.close()
    backend.finish(claimed, "failed", error="benchmark")
    reported = sorted(backend.storage.get_trial(claimed.trial_id).intermediate_values)
    if process.returncode != 0 or reported != list(range(1, 7)):
        raise SystemExit(f"the reporter process failed or reported epochs {reported}:\n{out}")
    return json.loads(out.strip().splitlines()[-1])


def stdout_of(argv: list[str], env: dict[str, str]) -> str:
    """What ``argv``, run in the repository, prints (it must succeed)."""
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=True).stdout


def process_seconds(times_file: Path) -> list[float]:
    """The wall seconds the wrapper logged, one per training process, and empty the log."""
    rows = [line.split() for line in times_file.read_text().splitlines()] if times_file.exists() else []
    times_file.unlink(missing_ok=True)
    return [float(end) - float(start) for start, end in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=6, help="trials per variant (even: two ABBA blocks)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from snpdiff.sweep.agent.trial import run_dir_override
    from snpdiff.sweep.bridge import params_to_overrides

    block = max(1, args.trials // 2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wrapper = tmp / "timed-python"
        wrapper.write_text(WRAPPER)
        wrapper.chmod(0o755)
        times = tmp / "times.txt"
        env = {
            **os.environ,
            "SNPDIFF_SWEEPS_DIR": str(tmp / "sweeps"),
            "SNPDIFF_CACHE": str(tmp / "cache"),
            "OMP_NUM_THREADS": "1",
            "SNPDIFF_BENCH_PYTHON": sys.executable,
            "SNPDIFF_BENCH_TIMES": str(times),
        }

        def direct(seeds: list[int], folder: Path) -> list[float]:
            for seed in seeds:
                overrides = params_to_overrides({**FIXED, "seed": seed})
                run([str(wrapper), "train.py", *overrides, run_dir_override(folder / str(seed))], env)
            return process_seconds(times)

        # warm the data cache and the OS file cache, so neither side pays the first simulation
        direct([0], tmp / "warm")

        results = {}
        for label, extra in (("sweep", {}), ("sweep_with_hyperband", {"early_terminate": HYPERBAND})):
            seeds = list(range(1, 2 * block + 1))
            sweep_file = tmp / f"{label}.yaml"
            sweep_file.write_text(
                yaml.safe_dump(
                    {
                        "method": "grid",
                        "metric": {"name": "val_loss", "goal": "minimize"},
                        "command": [str(wrapper), "${program}", "${args_no_hyphens}"],
                        "parameters": {**{k: {"value": v} for k, v in FIXED.items()}, "seed": {"values": seeds}},
                        **extra,
                    }
                )
            )
            start = time.perf_counter()
            out = stdout_of([sys.executable, "sweep.py", "init", str(sweep_file), "--backend", "local"], env)
            init_s = time.perf_counter() - start
            sweep_id = out.split("created local sweep ")[1].split()[0]
            agent = [sys.executable, "sweep.py", "agent", sweep_id, "--count", str(block)]
            agent_extra, trial_s, direct_s, trial_minus_direct = [], [], [], []
            for index in range(2):  # ABBA: agent block, direct block, direct block, agent block
                sides = ("agent", "direct") if index == 0 else ("direct", "agent")
                block_seeds = seeds[index * block : (index + 1) * block]
                for side in sides:
                    if side == "agent":
                        wall = run(agent, env)
                        processes = process_seconds(times)
                        agent_extra.append(wall - sum(processes))
                        trial_s.append(statistics.median(processes))
                    else:
                        direct_s.append(statistics.median(direct(block_seeds, tmp / label / "direct")))
                trial_minus_direct.append(trial_s[-1] - direct_s[-1])
            start_s = statistics.median(run(agent, env) for _ in range(3))  # the grid is exhausted now
            per_trial_agent = (statistics.mean(agent_extra) - start_s) / block
            per_trial_inside = statistics.mean(trial_minus_direct)
            results[label] = {
                "init_s": round(init_s, 2),
                "direct_per_trial_s": round(statistics.median(direct_s), 2),
                "agent_start_s": round(start_s, 3),
                "agent_side_per_trial_s": round(per_trial_agent, 3),
                "agent_added_per_block_s": [round(x, 3) for x in agent_extra],
                "trial_side_per_trial_s": round(per_trial_inside, 3),
                "trial_minus_direct_per_block_s": [round(x, 3) for x in trial_minus_direct],
                "overhead_per_trial_s": round(per_trial_agent + per_trial_inside, 3),
                "with_agent_start_per_trial_s": round(per_trial_agent + per_trial_inside + start_s / block, 3),
            }
            if extra:
                results[label].update(reporter_cost(sweep_id, tmp / "sweeps", env))

    print(
        json.dumps(
            {
                "trials": 2 * block,
                **results,
                "goal_per_trial_s": 0.5,
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
