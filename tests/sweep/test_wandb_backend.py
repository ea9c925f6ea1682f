"""The W&B backend without a W&B server (none can run here): a trial process in exactly the environment a W&B agent
gives it (offline), the line it prints for the agent when it ends, the sweep config sent to W&B, and the mapping of
W&B runs to trial records (W&B's public API replaced by a stand-in)."""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from wandb.proto import wandb_internal_pb2
from wandb.sdk.lib import config_util

from snpdiff.run_folder import read_metrics
from snpdiff.sweep.agent.interface import AgentOptions
from snpdiff.sweep.backends.wandb import AGENT_REPORT_ENV, TRIAL_COMMAND, WandbBackend, wandb_sweep_config
from snpdiff.sweep.legacy.aliases import load_with_old_names
from snpdiff.sweep.monitor import agent_summary
from snpdiff.sweep.spec import load_sweep
from snpdiff.sweep.store import SweepInfo, sweeps_root
from tests.helpers import REPO, TINY_TRIAL


def wandb_records(path: Path) -> list:
    """The records of an offline run's ``.wandb`` file (W&B's LevelDB-style log: 7-byte file header, then records of
    [crc32 4 | length 2 | type 1 | payload] in 32 KiB blocks; types FULL=1, FIRST=2, MIDDLE=3, LAST=4)."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, chunks, records = 7, 32768, [], []
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        length, kind = struct.unpack("<HB", data[pos + 4:pos + 7])
        chunks.append(data[pos + 7:pos + 7 + length])
        pos += 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(b"".join(chunks))
            records.append(record)
            chunks = []
    return records


def wandb_sweep_folder(parameters: dict, **sweep) -> SweepInfo:
    """The sweep folder `sweep.py init --backend wandb` writes (the W&B server's side cannot run here)."""
    spec = load_sweep({"method": "random", "metric": {"name": "val_loss", "goal": "minimize"},
                       "parameters": parameters, **sweep})
    info = SweepInfo(sweep_id="swp0test", backend="wandb", sweep_dir=str(sweeps_root() / "swp0test"),
                     project="snpdiff", entity="someone")
    info.save(spec, sweeps_root())
    return info


def wandb_run_env(info: SweepInfo, folder: Path, run_id: str, parameters: dict, **extra: str) -> dict[str, str]:
    """What `wandb agent` does before starting a run's command (wandb/wandb_agent.py, Agent._command_run): the run's
    parameters (the first of each ``values``) in a file, and the environment it starts the command in."""
    run_params = {name: entry.get("value", entry.get("values", [None])[0]) for name, entry in parameters.items()}
    param_path = folder / "wandb" / f"sweep-{info.sweep_id}" / f"config-{run_id}.yaml"
    config_util.save_config_file_from_dict(str(param_path), {k: {"value": v} for k, v in run_params.items()})
    return {**os.environ, "WANDB_SWEEP_ID": info.sweep_id, "WANDB_RUN_ID": run_id,
            "WANDB_SWEEP_PARAM_PATH": str(param_path), "WANDB_PROJECT": "snpdiff", "WANDB_ENTITY": "someone",
            "WANDB_MODE": "offline", **extra}


def wandb_run_command(info: SweepInfo) -> list[str]:
    """The run command of the sweep sent to W&B, with W&B's own substitutions."""
    macros = {"${env}": "/usr/bin/env", "${interpreter}": sys.executable}
    command = [macros.get(token, token) for token in wandb_sweep_config(info.spec())["command"]]
    assert command[2:] == TRIAL_COMMAND[2:]
    return command


def trial_end_value(output: str, run_id: str, state: str, metric: str = "val_loss") -> float | None:
    """The metric value in the line the agent prints when trial ``run_id`` ends in ``state`` (None: no value)."""
    [line] = [line for line in output.splitlines() if f"] trial {run_id} " in line]
    assert re.fullmatch(rf"\[sweep agent {os.getpid()}\] trial {run_id} {state} after \d+\.\d s\b.*", line), line
    found = re.search(rf": {metric}=(\S+) \(best over its epochs\)$", line)
    return None if found is None else float(found.group(1))


@pytest.mark.slow
def test_a_trial_in_a_wandb_agents_environment_reads_its_parameters_trains_and_logs_into_its_run(tmp_path):
    parameters = {key: entry for key, entry in TINY_TRIAL.items() if key != "logger"}  # the default: wandb
    parameters.update({"optimizer.lr": {"values": [0.003, 0.01]}, "ckpt_path": {"value": None},
                       "tags": {"value": ["sweep trial", "a,b"]}})
    info = wandb_sweep_folder(parameters)
    env = wandb_run_env(info, tmp_path, "run0abcd", parameters)
    result = subprocess.run(wandb_run_command(info), env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    trial_dir = info.trial_dir("run0abcd")
    # the agent's line for the trial: its best val_loss over the epochs in its metrics.json
    printed = trial_end_value(result.stdout, "run0abcd", "finished")
    assert f"{printed:.6g}" == f"{min(row['val_loss'] for row in read_metrics(trial_dir)['history']):.6g}"
    ran = yaml.safe_load((trial_dir / "config.yaml").read_text())  # the config train.py trained with
    assert ran["optimizer"]["lr"] == 0.003 and ran["ckpt_path"] is None  # W&B's str() would give 'None'
    assert ran["tags"] == ["sweep trial", "a,b"] and ran["model"]["channels"] == 8

    [run_file] = glob.glob(str(trial_dir / "wandb" / "offline-run-*-run0abcd" / "run-run0abcd.wandb"))
    records = wandb_records(Path(run_file))
    [run] = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.run_id == "run0abcd" and run.sweep_id == info.sweep_id and run.project == "snpdiff"
    sweep_config = {u.key: json.loads(u.value_json) for u in run.config.update}
    assert sweep_config["optimizer.lr"] == 0.003 and sweep_config["tags"] == ["sweep trial", "a,b"]
    logged = [json.loads(item.value_json) for r in records if r.WhichOneof("record_type") == "history"
              for item in r.history.item if list(item.nested_key) == ["val_loss"] or item.key == "val_loss"]
    metrics = json.loads((trial_dir / "metrics.json").read_text())
    assert logged == pytest.approx([row["val_loss"] for row in metrics["history"]])


# A stand-in for train.py (the W&B run's program): writes metrics.json into its Hydra run folder as train.py does,
# then finishes, fails or waits to be stopped (FAKE_TRAINING).
FAKE_TRAINING = """
import json, os, sys, time
from pathlib import Path
run_dir = Path(next(a for a in sys.argv if a.startswith("hydra.run.dir=")).split("=", 1)[1].strip("'"))
run_dir.mkdir(parents=True, exist_ok=True)
history = [{"epoch": 0, "val_loss": 0.9}, {"epoch": 1, "val_loss": 0.41235}, {"epoch": 2, "val_loss": 0.5}]
(run_dir / "metrics.json").write_text(json.dumps({"history": history, "val_loss": 0.5}))
print("training...", flush=True)
mode = os.environ["FAKE_TRAINING"]
if mode == "fail":
    sys.exit(3)
if mode == "wait":
    (run_dir / "started").touch()
    time.sleep(60)
"""


def fake_training_sweep(tmp_path: Path) -> SweepInfo:
    program = tmp_path / "fake_train.py"
    program.write_text(FAKE_TRAINING)
    return wandb_sweep_folder({"optimizer.lr": {"values": [0.003, 0.01]}}, program=str(program))


def test_a_wandb_trial_prints_the_agents_line_with_its_metric_value_and_reports_to_the_agent(tmp_path):
    """W&B's agent cannot run here (no server): its run command runs in the environment it would get, with a
    stand-in program for train.py, and prints the line the agent's console shows when the run ends."""
    info = fake_training_sweep(tmp_path)
    report = tmp_path / "agent-report.jsonl"
    outcomes = {}
    for run_id, mode, state, code in (("run0good", "finish", "finished", 0), ("run0bad", "fail", "failed", 3)):
        env = wandb_run_env(info, tmp_path, run_id, info.spec().to_wandb()["parameters"], FAKE_TRAINING=mode,
                            **{AGENT_REPORT_ENV: str(report)})
        result = subprocess.run(wandb_run_command(info), env=env, cwd=REPO, capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == code, result.stdout[-3000:] + result.stderr[-3000:]
        assert result.stdout.index("training...") < result.stdout.index(f"] trial {run_id} ")  # after its output
        outcomes[run_id] = trial_end_value(result.stdout, run_id, state)

    # the value is the best over the epochs in the trial's metrics.json, as the local backend's agent shows it
    best = min(row["val_loss"] for row in read_metrics(info.trial_dir("run0good"))["history"])
    assert outcomes == {"run0good": best, "run0bad": None} and best == 0.41235

    # what `sweep.py agent` sums up: the trials this agent ran (numbered as W&B's runs are), failures, best so far
    runs = [_FakeRun(id=run_id, state=state, created_at=f"2026-01-01T10:0{i}:00Z", config={"optimizer.lr": 0.003},
                     summary={"val_loss": 0.5}, rows=rows)
            for i, (run_id, state, rows) in enumerate([("run0good", "finished", [{"val_loss": 0.41235}]),
                                                      ("run0bad", "crashed", [])])]
    backend = WandbBackend(info, api=SimpleNamespace(sweep=lambda path: SimpleNamespace(runs=runs)))
    ended = [json.loads(line) for line in report.read_text().splitlines()]
    assert ended == [{"run_id": "run0good", "state": "finished", "value": best},
                     {"run_id": "run0bad", "state": "failed", "value": None}]
    agent = backend.agent_report(ended, AgentOptions(count=2))
    assert agent.trials == [0, 1] and agent.states == {0: "finished", 1: "failed"} and agent.stopped_by == "count"
    assert agent_summary(agent, backend.trials(), backend.spec) == (
        "agent stopped (count): 2 trial(s) run, 1 failed; sweep best so far: trial 0, val_loss=0.41235")


def test_a_wandb_trial_passes_the_stop_of_wandbs_agent_on_to_its_training_and_says_so(tmp_path):
    """W&B's agent stops a run (early termination, or its own SIGTERM forwarded) with SIGTERM to the run command's
    process; the training gets it, and the run command ends as the training did (no W&B server here)."""
    info = fake_training_sweep(tmp_path)
    env = wandb_run_env(info, tmp_path, "run0stop", info.spec().to_wandb()["parameters"], FAKE_TRAINING="wait")
    process = subprocess.Popen(wandb_run_command(info), env=env, cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        started = info.trial_dir("run0stop") / "started"
        for _ in range(600):
            if started.exists() or process.poll() is not None:
                break
            time.sleep(0.1)
        assert started.exists()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGTERM  # as train.py killed by SIGTERM would end for W&B's agent
    assert trial_end_value(output, "run0stop", r"interrupted") == 0.41235
    assert "trial run0stop interrupted after " in output and " s (SIGTERM): val_loss=0.41235" in output


def test_the_sweep_sent_to_wandb_runs_the_bridge_not_wandbs_argument_rendering():
    spec = load_with_old_names({"method": "bayes", "metric": {"name": "val_loss", "goal": "minimize"},
                                "parameters": {"learning_rate": {"distribution": "log_uniform_values", "min": 1e-4,
                                                                 "max": 1e-2}},
                                "early_terminate": {"type": "hyperband", "min_iter": 3}, "run_cap": 20})
    config = wandb_sweep_config(spec)
    assert config["command"] == ["${env}", "${interpreter}", "-m", "snpdiff.sweep.backends.wandb"]
    assert config["parameters"] == {"optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4,
                                                     "max": 1e-2}}
    assert config["early_terminate"] == {"type": "hyperband", "eta": 3, "min_iter": 3}
    assert config["run_cap"] == 20 and config["metric"] == {"name": "val_loss", "goal": "minimize"}


class _FakeRun(SimpleNamespace):
    def scan_history(self, keys):
        return [row for row in self.rows if keys[0] in row]


def test_wandb_runs_become_trial_records_with_their_best_value():
    """W&B's public API is replaced by a stand-in (no W&B server here): runs with states, configs and histories."""
    info = wandb_sweep_folder({"optimizer.lr": {"values": [0.001, 0.01]}})
    runs = [
        _FakeRun(id="b", state="crashed", created_at="2026-01-01T10:05:00Z", config={"optimizer.lr": 0.01},
                 summary={"_runtime": 5.0}, rows=[]),
        _FakeRun(id="a", state="finished", created_at="2026-01-01T10:00:00Z", config={"optimizer.lr": 0.001},
                 summary={"val_loss": 0.5, "_runtime": 60.0}, rows=[{"val_loss": 0.7}, {"val_loss": 0.4},
                                                                    {"val_loss": 0.5}]),
    ]
    api = SimpleNamespace(sweep=lambda path: SimpleNamespace(runs=runs, state="FINISHED", path=path))
    backend = WandbBackend(info, api=api)
    records = backend.trials()
    assert [(r.number, r.run_id, r.state, r.value) for r in records] == [(0, "a", "finished", 0.4),
                                                                         (1, "b", "failed", None)]
    assert records[0].params == {"optimizer.lr": 0.001} and records[0].duration_s == 60.0
    assert backend.state() == "finished"


def test_monitor_and_analyze_work_on_wandb_runs_too(tmp_path):
    """Same stand-in for W&B's public API as above: monitor and analyze only see the backend interface."""
    from rich.console import Console

    from snpdiff.config import CONF_DIR, compose_config
    from snpdiff.sweep.analysis import analyze_sweep, comparable
    from snpdiff.sweep.monitor import monitor_view

    info = wandb_sweep_folder({"debug": {"value": "fast"}, "optimizer.lr": {"values": [0.001, 0.01, 0.1]}})
    runs = [_FakeRun(id=f"r{i}", state="finished", created_at=f"2026-01-01T10:0{i}:00Z",
                     config={"debug": "fast", "optimizer.lr": lr}, summary={"_runtime": 30.0},
                     rows=[{"val_loss": loss + 0.1}, {"val_loss": loss}])
            for i, (lr, loss) in enumerate([(0.001, 0.3), (0.01, 0.2), (0.1, 0.9)])]
    api = SimpleNamespace(sweep=lambda path: SimpleNamespace(runs=runs, state="RUNNING"))
    backend = WandbBackend(info, api=api)

    console = Console(record=True, width=200)
    console.print(monitor_view(backend))
    text = console.export_text()
    assert "3 (no run cap): 3 finished" in text and "best so far: trial 1, val_loss=0.2" in text

    name = f"test_wandb_{info.sweep_id}"
    try:
        result = analyze_sweep(backend, top_k=2, out_dir=tmp_path / "plots", experiment_name=name)
        assert [r.run_id for r in result.top] == ["r1", "r0"] and result.best.run_id == "r1"
        assert (tmp_path / "plots" / "param_optimizer.lr.png").is_file()
        assert comparable(compose_config([f"experiment={name}"])) == comparable(
            compose_config(["debug=fast", "optimizer.lr=0.01"]))
    finally:
        (CONF_DIR / "experiment" / f"{name}.yaml").unlink(missing_ok=True)
