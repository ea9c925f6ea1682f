"""What ``sweep.py agent/monitor/analyze`` print when their output goes to a file, ``--json``, and the docs' file
names."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from snpdiff.sweep.analysis import ANALYSIS_DIR
from snpdiff.sweep.backends import open_backend
from snpdiff.sweep.store import resolve_sweep
from tests.helpers import REPO, TINY_TRIAL, write_sweep

TRIAL_STATE_NAMES = {"running", "finished", "pruned", "failed", "interrupted"}
TRIAL_KEYS = {"number", "state", "value", "duration_s", "params", "run_dir", "error"}
SWEEP_KEYS = {"id", "path", "backend", "url", "method", "metric", "goal"}


def sweep_to_file(out: Path, *args: str) -> tuple[int, str]:
    """``python sweep.py ARGS`` with stdout and stderr redirected to ``out`` (not a terminal, no COLUMNS)."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")} | {"OMP_NUM_THREADS": "1"}
    with open(out, "w") as handle:
        code = subprocess.run([sys.executable, str(REPO / "sweep.py"), *args], stdout=handle,
                              stderr=subprocess.STDOUT, cwd=REPO, env=env, timeout=600).returncode
    return code, out.read_text()


@pytest.fixture(scope="module")
def ran_sweep(tmp_path_factory):
    """A local sweep of 2 real trials with long parameter names, run by one agent: (sweeps root, id, agent output)."""
    folder = tmp_path_factory.mktemp("console_sweep")
    root = folder / "sweeps"
    parameters = {**TINY_TRIAL, "optimizer.lr": {"values": [1e-3, 3e-3]},
                  "optimizer.weight_decay": {"values": [0.0, 0.01]}}
    sweep = write_sweep(folder, {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
                                 "parameters": parameters, "run_cap": 2})
    code, out = sweep_to_file(folder / "init.txt", "--sweeps-dir", str(root), "init", str(sweep), "--backend", "local")
    assert code == 0, out
    sweep_id = re.search(r"created local sweep (\S+)", out).group(1)
    code, agent_out = sweep_to_file(folder / "agent.txt", "--sweeps-dir", str(root), "agent", sweep_id,
                                    "--count", "3")
    assert code == 0, agent_out
    return root, sweep_id, agent_out, folder


def _records(root: Path, sweep_id: str):
    return open_backend(resolve_sweep(sweep_id, root)).trials()


@pytest.mark.slow
def test_agent_prints_each_trials_value_and_a_stop_summary(ran_sweep):
    root, sweep_id, out, _ = ran_sweep
    records = _records(root, sweep_id)
    assert [r.state for r in records] == ["finished", "finished"]
    for record in records:
        assert f"trial {record.number} finished after " in out
        assert re.search(rf"trial {record.number} finished after [\d.]+ s: val_loss={record.value:.6g} ", out)
    best = min(records, key=lambda r: r.value)
    summary = out.strip().splitlines()[-1]
    assert summary == (f"agent stopped (exhausted): 2 trial(s) run, 0 failed; "
                       f"sweep best so far: trial {best.number}, val_loss={best.value:.6g}")
    lines = [line for line in out.splitlines() if line.strip()]
    assert [line for line, n in Counter(lines).items() if n > 1] == []


def test_monitor_to_a_file_keeps_full_headers(ran_sweep):
    root, sweep_id, _, folder = ran_sweep
    code, out = sweep_to_file(folder / "monitor.txt", "--sweeps-dir", str(root), "monitor", sweep_id)
    assert code == 0, out
    assert "…" not in out
    header = next(line for line in out.splitlines() if "state" in line and "val_loss" in line)
    assert re.search(r"# +┃ state +┃ +val_loss ┃ duration ┃ optimizer\.lr +┃ optimizer\.weight_decay", header)
    for record in _records(root, sweep_id):
        assert f"{record.value:.6g}" in out


def test_monitor_json_follows_the_documented_schema(ran_sweep):
    root, sweep_id, _, folder = ran_sweep
    code, out = sweep_to_file(folder / "monitor.json", "--sweeps-dir", str(root), "monitor", sweep_id, "--json",
                              "--recent", "1")
    assert code == 0, out
    data = json.loads(out)
    records = _records(root, sweep_id)
    best = min(records, key=lambda r: r.value)
    assert set(data) == {"sweep", "state", "trials", "recent", "best", "last_failure"}
    assert set(data["sweep"]) == SWEEP_KEYS and data["sweep"]["id"] == sweep_id
    assert (data["sweep"]["backend"], data["sweep"]["metric"], data["sweep"]["goal"]) == ("local", "val_loss",
                                                                                          "minimize")
    assert data["state"] == "finished"
    assert data["trials"] == {"total": 2, "run_cap": 2, "by_state": {s: 2 if s == "finished" else 0
                                                                    for s in TRIAL_STATE_NAMES}}
    assert [t["number"] for t in data["recent"]] == [records[-1].number]
    assert set(data["best"]) == TRIAL_KEYS and data["best"]["number"] == best.number
    assert data["best"]["value"] == pytest.approx(best.value) and data["best"]["params"]["optimizer.lr"] in (1e-3, 3e-3)
    assert data["last_failure"] is None


def test_analyze_to_a_file_and_as_json(ran_sweep):
    root, sweep_id, _, folder = ran_sweep
    code, out = sweep_to_file(folder / "analyze.txt", "--sweeps-dir", str(root), "analyze", sweep_id,
                              "--no-experiment")
    assert code == 0, out
    assert "…" not in out
    plot_lines = [line for line in out.splitlines() if line.startswith("plot:")]
    assert plot_lines and all(line.endswith(".png") and Path(line[len("plot: "):]).is_file() for line in plot_lines)
    code, out = sweep_to_file(folder / "analyze.json", "--sweeps-dir", str(root), "analyze", sweep_id,
                              "--no-experiment", "--json", "--top-k", "1")
    assert code == 0, out
    data = json.loads(out)
    records = sorted(_records(root, sweep_id), key=lambda r: r.value)
    assert set(data) == {"sweep", "top", "importances", "plots", "best", "experiment", "notes"}
    assert [t["number"] for t in data["top"]] == [records[0].number] and set(data["top"][0]) == TRIAL_KEYS
    assert data["best"]["value"] == pytest.approx(records[0].value)
    assert data["experiment"] is None and all(Path(p).is_file() for p in data["plots"])


def test_the_files_analyze_writes_are_the_files_the_docs_name(ran_sweep):
    root, sweep_id, _, folder = ran_sweep
    sweep_to_file(folder / "analyze_docs.txt", "--sweeps-dir", str(root), "analyze", sweep_id, "--no-experiment")
    docs = (REPO / "docs" / "sweeps.md").read_text()
    section = docs[docs.index("## analyze"):docs.index("## JSON output")]
    assert f"`sweeps/<id>/{ANALYSIS_DIR}/`" in section
    named = re.findall(r"^\| `([^`]+\.png)` \|", section, re.MULTILINE)
    patterns = [re.compile(re.escape(name).replace(re.escape("<name>"), ".+") + "$") for name in named]
    written = sorted(p.name for p in (root / sweep_id / ANALYSIS_DIR).iterdir())
    assert named == ["history.png", "importances.png", "param_<name>.png"]
    assert all(any(p.match(name) for p in patterns) for name in written)
    assert all(any(p.match(name) for name in written) for p in patterns)
    assert "param_optimizer.lr.png" in written and "param_optimizer.weight_decay.png" in written


@pytest.mark.parametrize("text", ["", "# a sweep, one day\n"])
def test_an_empty_sweep_file_gets_a_friendly_message(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    code, out = sweep_to_file(tmp_path / "out.txt", "init", str(path), "--backend", "local")
    assert code == 2
    assert out.strip() == (f"error: sweep file {path} is empty (or only comments); it needs at least method and "
                           "parameters, e.g. conf/sweeps/cpu_smoke.yaml")
