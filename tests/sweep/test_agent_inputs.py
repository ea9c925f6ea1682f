"""What the sweep commands do with careless inputs, through the real CLI: agent arguments out of range, a trial that
runs out of disk space in the sweeps folder, a damaged storage file, a trial command that is not the default, and
``migrate -o`` onto a read-only mount. Each asserts the exit status, the one ``error:`` line and what is (not) left on
disk.

No training runs: trials are stand-in programs (a trial is whatever the sweep's program is), and sweeps are created
without ``init`` where ``init`` would only compose the config. The full and read-only disks are real tmpfs mounts
(root only: skipped where mounting is not allowed).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from snpdiff.sweep.backends import open_sweep
from snpdiff.sweep.store import CURRENT_SWEEP_FILE, sweeps_root
from tests.helpers import one_error_line, small_tmpfs, sweep_cli, write_sweep
from tests.reliability.campaign import check_row

# a stand-in trial: writes the metric into its run folder (hydra.run.dir), as train.py's metrics.json holds it
FINISHING_TRIAL = """\
import json, os, sys
run_dir = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("hydra.run.dir=")).strip("'\\"")
os.makedirs(run_dir, exist_ok=True)
with open(os.path.join(run_dir, "metrics.json"), "w") as file:
    json.dump({"val_loss": 0.25}, file)
"""
# a stand-in trial on a disk too small for it: writes its checkpoint as train.py does (a temporary file, removed when
# the disk refuses) and ends as train.py does, with its error line and exit status 2
DISK_FILLING_TRIAL = """\
import os, sys
run_dir = next(a.split("=", 1)[1] for a in sys.argv[1:] if a.startswith("hydra.run.dir=")).strip("'\\"")
tmp = os.path.join(run_dir, ".last.ckpt.tmp")
try:
    with open(tmp, "wb", buffering=0) as file:
        while True:
            file.write(bytes(1 << 16))
except OSError:
    os.unlink(tmp)
    print("error: no space left on device writing " + os.path.join(run_dir, "last.ckpt"), file=sys.stderr)
    sys.exit(2)
"""
METRIC = {"name": "val_loss", "goal": "minimize"}


def stand_in_sweep(tmp_path: Path, trial: str, **top) -> dict:
    program = tmp_path / "trial.py"
    program.write_text(trial)
    return {"method": "grid", "metric": METRIC, "program": str(program),
            "parameters": {"seed": {"values": [1, 2, 3]}}, **top}


# --- agent arguments ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "message"), [
    (["--count", "-1"], "argument --count: -1 is not allowed; allowed: an integer of 1 or more"),
    (["--count", "0"], "argument --count: 0 is not allowed; allowed: an integer of 1 or more"),
    (["--count", "two"], "argument --count: 'two' is not an integer; allowed: 1 or more"),
    (["--max-consecutive-failures", "0"],
     "argument --max-consecutive-failures: 0 is not allowed; allowed: an integer of 1 or more"),
    (["--heartbeat-interval", "-5"],
     "argument --heartbeat-interval: -5 is not allowed; allowed: a finite number of seconds above 0"),
    (["--heartbeat-interval", "nan"],
     "argument --heartbeat-interval: nan is not allowed; allowed: a finite number of seconds above 0"),
    (["--launcher", "local", "--agents", "0"],
     "argument --agents: 0 is not allowed; allowed: an integer of 1 or more"),
])
def test_agent_arguments_out_of_range_are_refused_at_parse_before_the_sweep_is_read(args, message):
    # before: --count -1 ran 0 trials and exited 0, --heartbeat-interval -5 was taken, --max-consecutive-failures 0
    # stopped after the first trial ("0 trials failed in a row") with exit 1
    result = sweep_cli("agent", "nosweep", *args, check=False)
    assert one_error_line(result) == f"error: {message}; see: python sweep.py agent --help"
    check_row(result, "Sweep files and storage", "`agent --count -1`")
    assert result.stdout == ""
    assert not sweeps_root().exists()


# --- the trial's command -----------------------------------------------------------------------------------------


@pytest.mark.reliability_row("Sweep files and storage", "a sweep file whose `command` is not the default")
def test_the_agent_names_a_non_default_trial_command_once_at_start(tmp_path, local_sweep):
    command = ["${env}", "${interpreter}", "-u", "${program}", "${args_no_hyphens}"]
    sweep_id = local_sweep(stand_in_sweep(tmp_path, FINISHING_TRIAL, command=command))
    out = sweep_cli("agent", sweep_id, "--count", "2").stdout
    said = [line for line in out.splitlines() if "command:" in line]
    assert [line.split("] ", 1)[1] for line in said] == [
        f"command: each trial runs `python -u {tmp_path / 'trial.py'} <the trial's overrides>` (the sweep file's "
        "command)"]
    assert out.index("command:") < out.index("trial 0 starts")
    assert [t.state for t in open_sweep(sweep_id).trials()] == ["finished", "finished"]

    default = local_sweep(stand_in_sweep(tmp_path, FINISHING_TRIAL))
    assert "command:" not in sweep_cli("agent", default, "--count", "1").stdout


# --- a sweeps folder too full for a trial ------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs of 4 MB mounted at ``tmp_path / "disk"`` (unmounted afterwards)."""
    yield from small_tmpfs(tmp_path / "disk", "4m")


def test_a_trial_out_of_disk_space_in_the_sweeps_folder_stops_the_agent_with_exit_2(small_disk, tmp_path, monkeypatch,
                                                                                      local_sweep):
    # before: each trial failed the same way after its start-up, and the agent went on to --count and exited 0
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(small_disk))
    sweep_id = local_sweep(stand_in_sweep(tmp_path, DISK_FILLING_TRIAL), storage=f"sqlite:///{tmp_path / 'optuna.db'}")
    agent = sweep_cli("agent", sweep_id, "--count", "3", check=False)
    run_dir = small_disk / sweep_id / "trials" / "0"
    message = (f"sweep folder {run_dir}: trial 0 ran out of disk space (no space left on device writing "
               f"{run_dir / 'last.ckpt'}); no trial can run until there is space: free some, then start the agent "
               "again")
    assert one_error_line(agent) == f"error: {message}"
    check_row(agent, "Sweep files and storage", "a trial runs out of disk space in the sweeps folder")
    assert f"trial 0 failed: {message}" in agent.stdout
    [trial] = open_sweep(sweep_id).trials()  # the agent started no trial after it
    assert trial.state == "failed" and trial.error == message
    assert sorted(p.name for p in (small_disk / sweep_id / "trials").iterdir()) == ["0"]


# --- a damaged storage file --------------------------------------------------------------------------------------


@pytest.fixture
def journal_sweep(tmp_path, local_sweep) -> tuple[str, Path]:
    """A local sweep in a journal file, with one finished trial: ``(sweep id, journal path)``."""
    journal = tmp_path / "sweep.log"
    sweep_id = local_sweep({"method": "grid", "metric": METRIC, "parameters": {"seed": {"values": [1, 2]}}},
                           storage=f"journal:{journal}")
    backend = open_sweep(sweep_id)
    backend.finish(backend.claim(60), "finished", value=0.5)
    return sweep_id, journal


COMMANDS = {"agent": ["--count", "1"], "monitor": [], "analyze": ["--no-experiment"]}


def refused_everywhere(sweep_id: str, storage: Path, message: str) -> list[subprocess.CompletedProcess]:
    """``agent``, ``monitor`` and ``analyze`` each end with ``error: <message>``, leaving ``storage`` as it was, no
    trial folder and no journal lock behind; the three runs."""
    before = storage.read_bytes()
    results = []
    for command, args in COMMANDS.items():
        results.append(sweep_cli(command, sweep_id, *args, check=False))
        assert one_error_line(results[-1]) == f"error: {message}", command
    assert storage.read_bytes() == before
    assert not (sweeps_root() / sweep_id / "trials").exists()
    assert not Path(f"{storage}.lock").exists()
    return results


def test_a_journal_cut_short_in_a_record_names_the_byte_to_cut_it_back_to(journal_sweep):
    # before: a journal cut inside the sweep's definition gave KeyError: 'snpdiff_spec' from monitor and agent
    sweep_id, journal = journal_sweep
    records = journal.read_bytes().splitlines(keepends=True)
    whole = sum(len(record) for record in records[:-1])
    size = whole + len(records[-1]) // 2
    with open(journal, "r+b") as file:
        file.truncate(size)
    for result in refused_everywhere(sweep_id, journal, (
        f"sweep storage {journal} ends in a partial or garbled record (bytes {whole}-{size}: the file was cut short or "
        f"overwritten there); Optuna reads it up to its last whole record, which ends at byte {whole}: keep a copy "
        f"and cut it there (cp {journal} {journal}.bak && truncate -s {whole} {journal}), then run this again")):
        check_row(result, "Sweep files and storage", "a journal storage cut short inside a record")

    subprocess.run(["truncate", "-s", str(whole), str(journal)], check=True)  # as the message says
    state = json.loads(sweep_cli("monitor", sweep_id, "--json").stdout)
    assert state["trials"]["total"] == 1


def test_a_journal_garbled_in_the_middle_names_the_line_and_the_records_to_keep(journal_sweep):
    sweep_id, journal = journal_sweep
    records = journal.read_bytes().splitlines(keepends=True)
    line = len(records) - 1  # the last but one record (1-based), far past the sweep's definition
    offset = sum(len(record) for record in records[: line - 1])
    with open(journal, "r+b") as file:
        file.seek(offset + 2)
        file.write(b"\0" * 4)
    for result in refused_everywhere(sweep_id, journal, (
        f"sweep storage {journal} is damaged at line {line} (byte {offset}): Optuna reads no record from there on; "
        f"restore it from a backup, or keep the {line - 1} record(s) before it (cp {journal} {journal}.bak && head "
        f"-c {offset} {journal}.bak > {journal}; what was recorded after them is lost)")):
        check_row(result, "Sweep files and storage", "a journal storage garbled before its end")

    journal.write_bytes(journal.read_bytes()[:offset])  # as the message says
    assert json.loads(sweep_cli("monitor", sweep_id, "--json").stdout)["trials"]["total"] == 1


def test_a_journal_without_a_readable_record_or_without_the_sweeps_definition_says_to_restore_it(journal_sweep):
    sweep_id, journal = journal_sweep
    first = journal.read_bytes().splitlines(keepends=True)[0]
    journal.write_bytes(first)  # cut after the study's creation: the record of its definition is gone
    for result in refused_everywhere(sweep_id, journal, (
        f"sweep storage {journal} holds sweep {sweep_id!r} without its definition (snpdiff_spec): the storage was cut "
        "short or damaged; restore it from a backup, or create the sweep again with `sweep.py init`")):
        check_row(result, "Sweep files and storage", "a journal storage garbled before its end")

    journal.write_bytes(b"\0not a journal" * 100)
    for result in refused_everywhere(sweep_id, journal, (
        f"sweep storage {journal} holds no record Optuna can read (1400 bytes): it is not an Optuna journal, or was "
        "damaged from its start; restore it from a backup, or move it away and create the sweep again with "
        "`sweep.py init`")):
        check_row(result, "Sweep files and storage", "a journal storage garbled before its end")


@pytest.mark.parametrize(("damage", "reason"), [
    ("truncated", "database disk image is malformed"),
    ("overwritten", "file is not a database"),
])
def test_a_damaged_sqlite_storage_names_sqlites_way_to_salvage_it(local_sweep, damage, reason):
    sweep_id = local_sweep({"method": "grid", "metric": METRIC, "parameters": {"seed": {"values": [1, 2]}}})
    database = sweeps_root() / sweep_id / "optuna.db"
    with open(database, "r+b") as file:
        if damage == "truncated":
            file.truncate(database.stat().st_size // 2)
        else:
            file.write(b"\0" * 100)
    for result in refused_everywhere(sweep_id, database, (
        f"sweep storage {database}: {reason}; restore it from a backup, or salvage what it holds with `sqlite3 "
        f"{database} .recover | sqlite3 {database}.recovered` and move that file in its place (keep the damaged one "
        "aside)")):
        check_row(result, "Sweep files and storage", "an SQLite storage truncated or overwritten")


def test_init_into_a_damaged_journal_creates_no_sweep(tmp_path):
    journal = tmp_path / "shared.log"
    journal.write_bytes(b'{"op_code": 0, "worker_id": "w"')  # a record cut short
    sweep_file = write_sweep(tmp_path, {"method": "grid", "parameters": {"seed": {"values": [1, 2]}}})
    result = sweep_cli("init", str(sweep_file), "--backend", "local", "--storage", f"journal:{journal}",
                       check=False)
    assert one_error_line(result).startswith(
        f"error: sweep storage {journal} holds no record Optuna can read (31 bytes)"
    )
    check_row(result, "Sweep files and storage", "a journal storage garbled before its end")
    assert journal.read_bytes() == b'{"op_code": 0, "worker_id": "w"'
    assert not sweeps_root().exists() or [p.name for p in sweeps_root().iterdir()] == []
    assert not (sweeps_root() / CURRENT_SWEEP_FILE).exists()


# --- migrate onto a read-only mount ------------------------------------------------------------------------------


@pytest.fixture
def read_only_disk(tmp_path):
    """A tmpfs mounted read-only at ``tmp_path / "ro"``, holding ``kept.yaml`` (unmounted afterwards)."""
    for mount in small_tmpfs(tmp_path / "ro", "1m"):
        (mount / "kept.yaml").write_text("# kept\n")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield mount


@pytest.mark.parametrize(("target", "message"), [
    ("new.yaml", "cannot write {ro}/new.yaml: Read-only file system"),
    ("kept.yaml", "cannot write {ro}/kept.yaml: Read-only file system"),
    ("sub/new.yaml", "folder {ro}/sub: cannot create it: Read-only file system"),
])
def test_migrate_onto_a_read_only_mount_is_refused_with_nothing_written(read_only_disk, tmp_path, target, message):
    # before: a PermissionError/OSError traceback, exit 1
    old = write_sweep(tmp_path, {"program": "train_sweep.py", "method": "random",
                                 "parameters": {"learning_rate": {"values": [1e-3]}}}, name="old.yaml")
    result = sweep_cli("migrate", str(old), "-o", str(read_only_disk / target), check=False)
    assert one_error_line(result) == "error: " + message.format(ro=read_only_disk)
    check_row(result, "Sweep files and storage", "`migrate OLD.yaml -o <read-only mount>`")
    assert [p.name for p in read_only_disk.iterdir()] == ["kept.yaml"]
    assert (read_only_disk / "kept.yaml").read_text() == "# kept\n"
    assert yaml.safe_load(old.read_text())["program"] == "train_sweep.py"
