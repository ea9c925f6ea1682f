"""glibc malloc keeping freed memory (snpdiff.cli.allocator, what train.py and generate.py set) against its defaults.

Runs ``benchmarks/sampling.py`` (DDIM-50, 64 x 1,024 SNPs, default UNet) and ``benchmarks/model_step.py`` (train
step, batch 32) as child processes with ``--malloc keep`` and ``--malloc default``, alternating ABBA over
``--rounds``, and prints JSON: per setting the medians of each child's figures and of its minor page faults and
system CPU seconds (the kernel's share: mapping and zeroing pages), and keep/default ratios.

    python benchmarks/allocator.py [--rounds 2] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SETTINGS = ("keep", "default")


def run_child(script: str, args: list[str]) -> tuple[dict, int, float]:
    """Run `script` with `args`; its JSON output, minor page faults and system CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([sys.executable, str(HERE / script), *args], check=True, capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return json.loads(out.stdout), after.ru_minflt - before.ru_minflt, after.ru_stime - before.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    env_threads = ["--threads", str(args.threads)]
    children = {
        "sampling": ("sampling.py", ["--rounds", "1", "--calls", "10"]),
        "train_step": ("model_step.py", ["--rounds", "2", *env_threads]),
    }
    figures: dict = {name: {s: {"faults": [], "system_s": [], "values": []} for s in SETTINGS} for name in children}
    for round_ in range(args.rounds):
        for setting in SETTINGS if round_ % 2 == 0 else reversed(SETTINGS):
            for name, (script, child_args) in children.items():
                result, faults, system_s = run_child(script, [*child_args, "--malloc", setting])
                entry = figures[name][setting]
                entry["faults"].append(faults)
                entry["system_s"].append(system_s)
                entry["values"].append(result)

    def median(name: str, setting: str, pick) -> float:
        return statistics.median(pick(result) for result in figures[name][setting]["values"])

    picks = {
        "sampling": {
            "ddim50_seconds": lambda r: r["seconds"],
            "ddim50_seconds_whole_batch_calls": lambda r: r["seconds_whole_batch_calls"],
            "ms_per_model_call_slices": lambda r: r["ms_per_model_call_slices"],
            "ms_per_model_call_whole_batch": lambda r: r["ms_per_model_call_whole_batch"],
        },
        "train_step": {
            "3level_samples_per_s": lambda r: r["3level+fused"]["samples_per_s"],
            "3level_gflops_per_s": lambda r: r["3level+fused"]["gflops_per_s"],
            "4level_samples_per_s": lambda r: r["4level+fused"]["samples_per_s"],
            "4level_gflops_per_s": lambda r: r["4level+fused"]["gflops_per_s"],
        },
    }
    results: dict = {"rounds": args.rounds, "threads": args.threads, "load_average": round(os.getloadavg()[0], 2)}
    for name in children:
        results[name] = {}
        for setting in SETTINGS:
            entry = figures[name][setting]
            results[name][setting] = {
                "minor_page_faults": int(statistics.median(entry["faults"])),
                "system_cpu_s": round(statistics.median(entry["system_s"]), 2),
                **{key: round(median(name, setting, pick), 2) for key, pick in picks[name].items()},
            }
        keep, default = results[name]["keep"], results[name]["default"]
        results[name]["keep_over_default"] = {key: round(keep[key] / default[key], 3) for key in picks[name]}
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
