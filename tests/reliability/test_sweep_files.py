"""Sweep files from anyone, huge sweeps, a sweep storage on a full disk, and trials whose training diverges.

Real ``sweep.py`` processes on real files: the alias bomb, the 50 MB file and the deep nesting are written here; the
memory and CPU time of ``init`` are its process's own (``resource.getrusage`` of a child of a wrapper process, so no
other test's children count). The full disk is a real tmpfs of a few MB, which the tests mount (root only: skipped
where mounting is not allowed). The diverging trial is a real ``train.py`` run with ``optimizer.lr=1e4``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from snpdiff.errors import SweepError
from snpdiff.sweep.backends import open_sweep
from snpdiff.sweep.backends.local import LocalBackend
from snpdiff.sweep.backends.wandb import read_wandb_params
from snpdiff.sweep.legacy.migrate import migrate_sweep
from snpdiff.sweep.monitor import monitor_json
from snpdiff.sweep.spec import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES, parse_sweep, read_sweep_file, yaml_io
from snpdiff.sweep.store import sweeps_root
from tests.helpers import REPO, TINY_TRIAL, checked, small_tmpfs, start_agent, sweep_cli, write_sweep
from tests.reliability.campaign import check_row

MB = 1e6
# what a refused sweep file may cost ``init`` at most (its whole process: Python, imports and the refusal)
MAX_INIT_MEMORY_MB = 200
MAX_INIT_CPU_S = 5.0
HEAD = "method: grid\nmetric: {name: val_loss, goal: minimize}\n"


@pytest.fixture(autouse=True)
def _sweep_env(monkeypatch, tmp_path):
    """A private sweeps folder; trial processes use one thread each (2-core machines)."""
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.chdir(REPO)


def init_cost(sweep_file: Path, *args: str) -> dict:
    """``sweep.py init SWEEP_FILE ARGS`` run as the child of a wrapper process: its exit status, stdout, stderr, peak
    memory (MB, ``ru_maxrss``) and CPU time (s)."""
    wrapper = (
        "import json, resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "usage = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print(json.dumps({'rc': done.returncode, 'stdout': done.stdout, 'stderr': done.stderr,\n"
        "                  'rss_mb': usage.ru_maxrss / 1024, 'cpu_s': usage.ru_utime + usage.ru_stime}))\n"
    )
    command = [sys.executable, str(REPO / "sweep.py"), "init", str(sweep_file), "--backend", "local", *args]
    done = subprocess.run([sys.executable, "-c", wrapper, *command], capture_output=True, text=True, timeout=300,
                          cwd=REPO, check=True)
    return json.loads(done.stdout)


def as_run(result: dict) -> subprocess.CompletedProcess:
    """``init_cost``'s result as the ``init`` process it describes."""
    return subprocess.CompletedProcess([], result["rc"], result["stdout"], result["stderr"])


def assert_refused_cheaply(result: dict, message: str) -> None:
    """``init`` ended with exactly ``error: <message...>`` (a regex) and exit 2, within the memory and CPU bounds,
    and created no sweep."""
    assert result["rc"] == 2, result
    assert "Traceback" not in result["stderr"]
    [line] = result["stderr"].strip().splitlines()
    assert re.fullmatch(message, line), line
    assert result["rss_mb"] < MAX_INIT_MEMORY_MB and result["cpu_s"] < MAX_INIT_CPU_S, result
    assert not sweeps_root().exists() or not any(sweeps_root().iterdir())


def test_an_alias_bomb_is_refused_naming_file_line_and_anchor_within_200_mb_and_5_s(tmp_path):
    # before: 13.8 GB and 75 s (10 levels of 9 aliases: 9^10 values once expanded)
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &lol{i} [{', '.join([f'*lol{i - 1}'] * 9)}]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n" + HEAD + "parameters:\n  optimizer.lr: {values: *lol9}\n")
    result = init_cost(bomb)
    assert_refused_cheaply(result, rf"error: sweep file {bomb}: line 2: the YAML alias \*lol0 repeats the "
                                   r"value of anchor &lol0 \(marked at line 1\); aliases are refused .*")
    check_row(as_run(result), "Sweep files and storage", "YAML aliases")


def test_a_50_mb_values_list_is_refused_by_its_size_within_200_mb_and_5_s(tmp_path):
    huge = tmp_path / "huge.yaml"
    with open(huge, "w") as file:
        file.write(HEAD + "parameters:\n  optimizer.lr:\n    values: [")
        file.write("0.001, " * 7_200_000 + "0.001]\n")
    assert huge.stat().st_size > 50 * MB
    size = huge.stat().st_size
    result = init_cost(huge)
    assert_refused_cheaply(result, rf"error: sweep file {huge}: {size} bytes is too large for a sweep YAML "
                                   rf"\(limit {MAX_YAML_BYTES} bytes\); sweep a long range with a .*")
    check_row(as_run(result), "Sweep files and storage", "a file over 1 MB")


class NestingLimitLoader(yaml.SafeLoader):
    """A parser with a nesting limit of its own, as libyaml has had since PyYAML 6.0.4's wheels: its scanner refuses
    the 1001st level while it looks ahead (up to 1024 characters), before its events reach the reader's depth check.
    """

    def fetch_flow_collection_start(self, TokenClass):  # noqa: N803 - PyYAML's name
        if self.flow_level >= 1000:
            raise yaml.scanner.ScannerError("while increasing flow level", self.get_mark(),
                                            "exceeded maximum nesting depth", self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


def test_too_many_values_and_too_deep_nesting_are_refused_naming_the_limit(tmp_path, monkeypatch):
    many = write_sweep(tmp_path, {"method": "grid", "parameters": {"optimizer.lr": {"values": [1e-3] * 20_000}}})
    assert many.stat().st_size < MAX_YAML_BYTES  # the node count, not the size, refuses it
    result = init_cost(many)
    assert_refused_cheaply(result, rf"error: sweep file {many}: more than {MAX_YAML_NODES} YAML values, the "
                                   rf"last at line \d+ \(limit {MAX_YAML_NODES}\); .*")
    check_row(as_run(result), "Sweep files and storage", "more than 5000 values")
    deep = tmp_path / "deep.yaml"
    deep.write_text(HEAD + "parameters:\n  x: {value: " + "[" * 100_000 + "]" * 100_000 + "}\n")
    check_row(as_run(init_cost(deep)), "Sweep files and storage", "nested more than 50 deep")
    # whichever layer trips first, the installed parser's or one with a nesting limit of its own, the message is ours
    for loader in (yaml_io._LOADER, NestingLimitLoader):
        monkeypatch.setattr(yaml_io, "_LOADER", loader)
        with pytest.raises(SweepError, match=rf"sweep file {deep}: lists or mappings nested more than "
                                             rf"{MAX_YAML_DEPTH} deep at line 4 \(limit {MAX_YAML_DEPTH}\)"):
            read_sweep_file(deep)


def test_every_sweep_yaml_is_read_with_the_limits(tmp_path):
    """The stored sweep, the sweep record and a W&B run's parameter file refuse an alias too (``read_yaml``)."""
    spec, problems = parse_sweep({"method": "random", "parameters": {"optimizer.lr": {"values": [1e-3, 1e-2]}}})
    assert problems == []
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    stored = info.directory / "sweep.yaml"
    stored.write_text("a: &x [1]\nb: *x\n" + stored.read_text())
    with pytest.raises(SweepError, match=rf"^stored sweep {stored}: line 2: the YAML alias \*x"):
        info.spec()
    record = info.directory / "sweep_info.yaml"
    record.write_text("a: &x [1]\nb: *x\n" + record.read_text())
    with pytest.raises(SweepError, match=rf"^sweep record {record}: line 2: the YAML alias \*x"):
        open_sweep(str(info.directory))
    params = tmp_path / "wandb_params.yaml"
    params.write_text("x: &x {value: [1]}\noptimizer.lr: *x\n")
    with pytest.raises(SweepError, match=rf"^W&B sweep parameters {params}: line 2: the YAML alias \*x"):
        read_wandb_params(params)


@pytest.mark.reliability_row("Sweep files and storage", "a grid of 10^6 points")
def test_a_grid_of_a_million_points_is_never_listed_by_agent_or_monitor():
    # before: every agent and monitor call listed the 10^6 points (640 MB, 4.7 s)
    spec, problems = parse_sweep({"method": "grid", "parameters": {
        f"model.p{i}": {"distribution": "int_uniform", "min": 0, "max": 9} for i in range(6)}})
    assert problems == []
    info = LocalBackend.create(spec, sweeps_root())
    info.save(spec, sweeps_root())
    tracemalloc.start()
    started = time.perf_counter()
    backend = open_sweep(info.sweep_id)
    view = monitor_json(backend)
    first, second = backend.claim(10.0), backend.claim(10.0)
    seconds, peak = time.perf_counter() - started, tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert view["trials"]["run_cap"] == backend.capacity() == 10**6
    assert first.params == spec.grid_point(0) == {f"model.p{i}": 0 for i in range(6)}
    assert second.params == spec.grid_point(1) == {**first.params, "model.p5": 1}
    assert peak < 50 * MB and seconds < 5, (peak, seconds)


@pytest.mark.reliability_row("Sweep files and storage", "`_target_` in a parameter value")
def test_a_target_in_a_parameter_value_is_refused_at_init_and_nothing_runs(tmp_path):
    pwned = tmp_path / "pwned"
    evil = {"_target_": "os.system", "command": f"touch {pwned}"}
    sweep = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"}, "parameters": {
        **TINY_TRIAL,
        "+callbacks.evil": {"value": evil},
        "model.dim_mults": {"values": [[1, 2], [{"nested": [dict(evil)]}]]},  # a copy: YAML would write an alias
        "+callbacks.other._target_": {"value": "os.system"},
    }}
    init = sweep_cli("init", str(write_sweep(tmp_path, sweep)), "--backend", "local", check=False)
    assert init.returncode == 2 and "Traceback" not in init.stderr
    assert "nothing was created" in init.stderr
    assert ("parameter '+callbacks.evil': a value holds a _target_ mapping, which names code the trial would run; "
            "parameter values are plain data") in init.stderr
    assert "parameter 'model.dim_mults': a value holds a _target_ mapping" in init.stderr
    assert "parameter '+callbacks.other._target_': sets a _target_ key" in init.stderr
    assert not pwned.exists() and not sweeps_root().exists()
    # a W&B run's parameters (the sweep may be edited on W&B's side) are refused the same way
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"+callbacks.evil": {"value": evil}}))
    with pytest.raises(SweepError, match=r"parameter '\+callbacks.evil' sets or holds a _target_"):
        read_wandb_params(params)


@pytest.mark.reliability_row("Sweep files and storage", "`command` beyond")
def test_a_command_beyond_the_program_gets_one_warning_naming_what_runs():
    script = 'echo hi; exec python "$0" "$@"'
    sweep = {"method": "grid", "parameters": {"optimizer.lr": {"value": 1e-3}},
             "command": ["${env}", "sh", "-c", script, "${program}", "${args_no_hyphens}"]}
    _, problems, messages = checked(sweep)
    assert problems == []
    warnings = [m for m in messages if m.startswith("warning: command:")]
    assert warnings == [f"warning: command: each trial runs `sh -c '{script}' train.py <the trial's overrides>`, not "
                        "`python train.py <the trial's overrides>`; check that this is what you mean to run"]
    plain = {**sweep, "command": ["${env}", "${interpreter}", "${program}", "debug=fast", "${args_no_hyphens}"]}
    assert [m for m in checked(plain)[2] if "command:" in m] == []


# --- a full disk -------------------------------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 4 MB mounted at ``tmp_path / "disk"`` (unmounted afterwards)."""
    yield from small_tmpfs(tmp_path / "disk", "4m")


def fill(disk: Path) -> Path:
    """Fill ``disk`` to the last byte with one file, which is returned (delete it to free the space)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as file:
        for size in (1 << 16, 1 << 10, 1):
            try:
                while True:
                    file.write(b"\0" * size)
            except OSError:
                continue
    return filler


def wait_for(condition, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def error_line(stderr: str) -> str:
    """The one ``error:`` line of a process's stderr (no traceback)."""
    assert "Traceback" not in stderr, stderr
    [line] = [line for line in stderr.splitlines() if line.startswith("error:")]
    return line


@pytest.mark.slow
def test_a_full_storage_disk_ends_the_agent_in_one_line_and_the_next_stale_check_fails_its_trial(small_disk,
                                                                                                   tmp_path):
    # before: the agent died with a StorageInternalError traceback and its trial stayed running for good
    storage = small_disk / "optuna.db"
    sweep = {"method": "grid", "metric": {"name": "val_loss_epoch", "goal": "minimize"},
             "parameters": {**TINY_TRIAL, "optimizer.lr": {"values": [1e-3, 2e-3]}}}
    init = sweep_cli("init", str(write_sweep(tmp_path, sweep)), "--backend", "local", "--storage",
                     f"sqlite:///{storage}")
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]
    log = tmp_path / "agent.log"
    agent = start_agent(sweep_id, "--count", "2", "--heartbeat-interval", "1", log=log)
    trial_log = sweeps_root() / sweep_id / "trials" / "0" / "trial.log"
    try:
        wait_for(trial_log.exists)  # trial 0 runs: the storage holds it as running
        filler = fill(small_disk)
        agent.wait(timeout=240)
    finally:
        agent.kill()
    output = log.read_text()
    assert agent.returncode == 2, output
    assert error_line(output) == (f"error: sweep storage {storage}: no space left on device; free space there: the "
                                  "trial this agent ran is then failed by the next agent or `sweep.py monitor` that "
                                  "looks (its heartbeats stopped)")
    assert "trial 0 stopped; the storage cannot record it, so the next stale check fails it" in output
    check_row(subprocess.CompletedProcess([], agent.returncode, "", output), "Sweep files and storage",
              "the storage's disk full during a trial")

    filler.unlink()  # space again: the agent could not fail its trial, the next stale check does
    time.sleep(3.5)  # the grace period: 3 heartbeat intervals of 1 s
    state = json.loads(sweep_cli("monitor", sweep_id, "--json").stdout)
    [trial] = state["recent"]
    assert trial["state"] == "failed" and "stopped sending heartbeats" in trial["error"], trial


@pytest.mark.slow
def test_a_full_sweeps_folder_fails_the_trial_by_the_agent_and_ends_it_in_one_line(small_disk, tmp_path,
                                                                                    monkeypatch):
    # the trials' folders on the full disk, the storage elsewhere: the agent records its trial failed itself
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(small_disk))
    sweep = {"method": "grid", "parameters": {**TINY_TRIAL, "optimizer.lr": {"values": [1e-3, 2e-3]}}}
    init = sweep_cli("init", str(write_sweep(tmp_path, sweep)), "--backend", "local", "--storage",
                     f"sqlite:///{tmp_path / 'optuna.db'}")
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]
    fill(small_disk)
    agent = sweep_cli("agent", sweep_id, "--count", "2", check=False, timeout=240)
    run_dir = small_disk / sweep_id / "trials" / "0"
    assert agent.returncode == 2, agent.stdout + agent.stderr
    assert error_line(agent.stderr) == (f"error: sweep folder {run_dir}: cannot write trial.log: No space left on "
                                        "device")
    check_row(agent, "Sweep files and storage", "the sweeps folder's disk full")
    [trial] = open_sweep(sweep_id).trials()  # the agent stopped after it: trial 1 never started
    assert trial.state == "failed" and trial.error.startswith(f"sweep folder {run_dir}: cannot write trial.log")


@pytest.mark.slow
def test_a_trial_out_of_space_in_the_sweeps_folder_stops_the_agent_before_the_next_trial(small_disk, tmp_path,
                                                                                         monkeypatch):
    # room for a trial's start but not for its checkpoints: before, each trial failed the same way after its start-up
    # and the agent went on to --count and exited 0
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(small_disk))
    sweep = {"method": "grid", "parameters": {**TINY_TRIAL, "optimizer.lr": {"values": [1e-3, 2e-3, 3e-3]}}}
    init = sweep_cli("init", str(write_sweep(tmp_path, sweep)), "--backend", "local", "--storage",
                     f"sqlite:///{tmp_path / 'optuna.db'}")
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]
    filler = fill(small_disk)
    os.truncate(filler, filler.stat().st_size - 96 * 1024)
    agent = sweep_cli("agent", sweep_id, "--count", "3", check=False, timeout=300)
    run_dir = re.escape(str(small_disk / sweep_id / "trials" / "0"))
    assert agent.returncode == 2, agent.stdout + agent.stderr
    assert re.fullmatch(rf"error: sweep folder {run_dir}: trial 0 ran out of disk space \(no space left on device "
                        rf"writing {run_dir}/\S+\); no trial can run until there is space: free some, then start the "
                        "agent again", error_line(agent.stderr))
    check_row(agent, "Sweep files and storage", "a trial runs out of disk space in the sweeps folder")
    [trial] = open_sweep(sweep_id).trials()
    assert trial.state == "failed" and trial.error.startswith(f"sweep folder {small_disk / sweep_id / 'trials' / '0'}")


# --- a diverging trial -------------------------------------------------------------------------------------------


@pytest.mark.reliability_row("Sweep files and storage", "a trial diverges")
@pytest.mark.slow
def test_a_diverging_trial_is_failed_with_where_it_diverged_in_agent_monitor_and_analyze(tmp_path):
    sweep = {"method": "grid", "metric": {"name": "val_loss_epoch", "goal": "minimize"},
             "parameters": {**TINY_TRIAL, "optimizer.lr": {"values": [1e4]}}}
    init = sweep_cli("init", str(write_sweep(tmp_path, sweep)), "--backend", "local")
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]
    agent = sweep_cli("agent", sweep_id, "--count", "1", timeout=300)
    reason = r"diverged at step \d+ \(epoch 0, loss=(nan|inf|-inf), lr=10000\)"
    assert re.search(rf"trial 0 failed after [\d.]+ s \(exit code 3\): {reason}", agent.stdout), agent.stdout
    [trial] = open_sweep(sweep_id).trials()
    assert trial.state == "failed" and re.fullmatch(rf"{reason}; log .*trial\.log", trial.error), trial.error
    monitor = sweep_cli("monitor", sweep_id).stdout
    assert re.search(rf"last failure \(trial 0\): {reason}", monitor), monitor
    notes = json.loads(sweep_cli("analyze", sweep_id, "--json", "--no-experiment").stdout)["notes"]
    assert any(re.fullmatch(rf"trial 0 failed: {reason}; log .*", note) for note in notes), notes


# --- the old tool's warm-up sweeps -------------------------------------------------------------------------------

# 18 of the old tool's 30 sweep files: warmup_epochs swept beside schedulers without a warm-up
OLD_WARMUP_SWEEP = {
    "program": "train_sweep.py", "method": "bayes", "metric": {"name": "val_loss_epoch", "goal": "minimize"},
    "count": 30,
    "parameters": {
        "learning_rate": {"distribution": "log_uniform", "min": "1e-4", "max": "1e-2"},
        "scheduler_type": {"values": ["cosine", "reduce"]},
        "warmup_epochs": {"values": [0, 2, 5]},
        "eta_min": {"value": "1e-6"},
        "epochs": {"value": 10},
    },
}


@pytest.mark.reliability_row("Sweep files and storage", "the old tool's warm-up sweeps")
def test_an_old_warm_up_sweep_migrates_with_one_warning_and_inits(tmp_path):
    # before: migrate kept warmup_epochs and init refused "unknown key scheduler.warmup_epochs"
    old = write_sweep(tmp_path, OLD_WARMUP_SWEEP, "old.yaml")
    new = tmp_path / "new.yaml"
    out = sweep_cli("migrate", str(old), "-o", str(new)).stdout
    warning = ("warning: warmup_epochs dropped: the old tool applied warm-up only to warmup_cosine, so with "
               "scheduler_type in [cosine, reduce] it had no effect")
    assert [line for line in out.splitlines() if line.startswith("warning:")] == [
        line for line in out.splitlines() if line.startswith(warning)]
    assert len([line for line in out.splitlines() if line.startswith("warning:")]) == 1
    assert "scheduler.warmup_epochs" not in yaml.safe_load(new.read_text())["parameters"]
    _, problems, messages = checked(yaml.safe_load(new.read_text()))
    assert problems == [] and [m for m in messages if m.startswith("warning:")] == []


@pytest.mark.reliability_row("Sweep files and storage", "the old tool's warm-up sweeps")
def test_an_old_warm_up_sweep_with_warmup_cosine_keeps_it_for_warmup_cosine_trials_only():
    old = {**OLD_WARMUP_SWEEP, "parameters": {**OLD_WARMUP_SWEEP["parameters"],
                                              "scheduler_type": {"values": ["cosine", "warmup_cosine"]}}}
    warnings: list[str] = []
    new = yaml.safe_load(migrate_sweep(old, "old.yaml", warnings))
    assert warnings == [] and new["parameters"]["scheduler.warmup_epochs"] == {"values": [0, 2, 5]}
    spec, problems, _ = checked(new)
    assert problems == [] and spec.conditions["scheduler.warmup_epochs"] == {"scheduler": ("warmup_cosine",)}
