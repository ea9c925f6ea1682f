"""No secret on disk or on screen: a storage password and a W&B key are planted and every file written and every line
printed is searched for them."""

import os
import sys
from pathlib import Path

import pytest

from snpdiff.errors import SweepError
from snpdiff.run_folder import read_metrics
from snpdiff.secrets import redact_url
from snpdiff.sweep.agent.trial import trial_env
from snpdiff.sweep.store import STORAGE_ENV, storage_url
from tests.helpers import REPO, TINY_TRIAL, sweep_cli, write_sweep

PASSWORD = "planted-pass-123"
URL = f"postgresql://snp_user:{PASSWORD}@db.example.org:5432/sweeps"
REDACTED = "postgresql://snp_user:***@db.example.org:5432/sweeps"

# There is no PostgreSQL server here, and SQLite URLs cannot carry a password, so every process of the test (sweep.py
# and the trials it starts) loads this stand-in: Optuna's RDBStorage opens a local SQLite file instead when given
# exactly the full URL, and nothing otherwise (a redacted URL would fail to connect, as it would for real).
STAND_IN = '''
import os
from optuna.storages import RDBStorage

_init = RDBStorage.__init__


def _init_stand_in(self, url, *args, **kwargs):
    if url == os.environ.get("STAND_IN_URL"):
        url, kwargs["engine_kwargs"] = os.environ["STAND_IN_SQLITE"], None
    _init(self, url, *args, **kwargs)


RDBStorage.__init__ = _init_stand_in
'''


def files_containing(root: Path, secret: str) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]


@pytest.mark.parametrize(("url", "redacted"), [
    (URL, REDACTED),
    ("postgresql+psycopg2://u:p%40ss@h/db", "postgresql+psycopg2://u:***@h/db"),
    ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),  # an unescaped "@" in the password: all of it masked
    ("error talking to postgresql://u:pw1@h/db and https://a:pw2@b/c", "error talking to postgresql://u:***@h/db and https://a:***@b/c"),
    ("mysql://user@host/db", "mysql://user@host/db"),
    ("sqlite:////tmp/sweep/optuna.db", "sqlite:////tmp/sweep/optuna.db"),
    ("journal:/shared/sweep.log", "journal:/shared/sweep.log"),
])
def test_redact_url_hides_only_the_password(url, redacted):
    assert redact_url(url) == redacted


def test_the_full_storage_url_comes_from_the_environment_or_a_clear_error():
    assert storage_url(REDACTED, {STORAGE_ENV: URL}) == URL
    assert storage_url("sqlite:////tmp/a.db", {}) == "sqlite:////tmp/a.db"
    with pytest.raises(SweepError, match=f"export {STORAGE_ENV}="):
        storage_url(REDACTED, {})
    with pytest.raises(SweepError, match="names postgresql://other:\\*\\*\\*@db.example.org:5432/sweeps"):
        storage_url(REDACTED, {STORAGE_ENV: URL.replace("snp_user", "other")})


@pytest.mark.slow
def test_a_trial_never_inherits_the_storage_url():
    """The agent's environment has the full URL; the trial's does not (it reports through its agent)."""
    agent = {STORAGE_ENV: URL, "WANDB_RUN_ID": "abc", "SLURM_RESTART_COUNT": "1", "PATH": "/usr/bin"}
    env = trial_env("k3x9", 4, resume=False, environ=agent)
    assert env == {"PATH": "/usr/bin", "WANDB_RUN_GROUP": "sweep-k3x9", "WANDB_NAME": "sweep-k3x9-trial-4"}
    assert trial_env("k3x9", 4, resume=True, environ=agent)["SLURM_RESTART_COUNT"] == "1"  # resumes its checkpoint
    assert agent[STORAGE_ENV] == URL  # the agent's own environment is left alone


def test_a_storage_password_is_never_written_nor_printed(tmp_path, monkeypatch):
    stand_in = tmp_path / "stand_in"
    stand_in.mkdir()
    (stand_in / "sitecustomize.py").write_text(STAND_IN)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(stand_in), str(REPO)]))
    monkeypatch.setenv("STAND_IN_URL", URL)
    monkeypatch.setenv("STAND_IN_SQLITE", f"sqlite:///{tmp_path / 'database' / 'optuna.db'}")
    (tmp_path / "database").mkdir()
    monkeypatch.setenv("SNPDIFF_SWEEPS_DIR", str(tmp_path / "sweeps"))
    sweep = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
             "early_terminate": {"type": "hyperband", "min_iter": 1, "s": 1},  # the trial gets a reporter callback
             "parameters": {**TINY_TRIAL, "optimizer.lr": {"values": [1e-3]}}}
    sweep_file = write_sweep(tmp_path, sweep)

    printed = []
    init = sweep_cli("init", str(sweep_file), "--backend", "local", "--storage", URL)
    printed.append(init.stdout + init.stderr)
    assert f"({REDACTED})" in init.stdout and f"export {STORAGE_ENV}=" in init.stdout
    sweep_id = init.stdout.split("created local sweep ")[1].split()[0]

    # without the variable: a clear error, not an attempt with the redacted URL
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    refused = sweep_cli("agent", sweep_id, "--count", "1", check=False)
    printed.append(refused.stdout + refused.stderr)
    assert refused.returncode == 2 and f"export {STORAGE_ENV}=" in refused.stderr

    monkeypatch.setenv(STORAGE_ENV, URL)
    agent = sweep_cli("agent", sweep_id, "--count", "1")
    monitor = sweep_cli("monitor", sweep_id)
    printed += [agent.stdout + agent.stderr, monitor.stdout + monitor.stderr]
    assert "trial 0 finished" in agent.stdout, agent.stdout

    sweep_dir = tmp_path / "sweeps" / sweep_id
    trial_config = (sweep_dir / "trials" / "0" / "config.yaml").read_text()
    assert "sweep_reporter:" in trial_config and REDACTED not in trial_config  # the reporter, not the storage
    import optuna

    reported = optuna.load_study(study_name=sweep_id, storage=os.environ["STAND_IN_SQLITE"]).trials[0]
    history = read_metrics(sweep_dir / "trials" / "0")["history"]
    assert reported.intermediate_values == {e + 1: pytest.approx(row["val_loss"]) for e, row in enumerate(history)}
    assert "optuna.db" in str(list((tmp_path / "database").iterdir()))
    assert f"storage: {REDACTED}" in (sweep_dir / "sweep_info.yaml").read_text()
    assert (tmp_path / "sweeps" / "current_sweep.yaml").read_text() == (sweep_dir / "sweep_info.yaml").read_text()
    assert files_containing(tmp_path, PASSWORD) == []  # sweeps, trials, their logs and configs, the database
    assert [text for text in printed if PASSWORD in text] == []


@pytest.mark.slow
def test_a_wandb_key_in_the_environment_reaches_no_file(tmp_path):
    """A training run with W&B offline, started as a submitit job (the local executor: its pickles, scripts and logs
    are in the job folder), with WANDB_API_KEY planted; its run folder, W&B folder and job folder are searched."""
    import submitit

    secret = "planted-secret-123"
    root = tmp_path / "root"
    jobs = tmp_path / "jobs"
    environment = {"WANDB_API_KEY": secret, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb"),
                   "SNPDIFF_ROOT": str(root)}
    argv = [sys.executable, str(REPO / "train.py"), "debug=fast", "logger=wandb", "logger.wandb.mode=offline",
            "callbacks.progress_bar=null"]
    executor = submitit.LocalExecutor(folder=jobs)
    previous = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)  # the job inherits this process's environment, as SLURM jobs do
    try:
        job = executor.submit(run_train_in, argv, str(root))
        assert job.result() == 0
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    assert list(root.rglob("metrics.json")) and list(tmp_path.rglob("*.wandb"))  # it ran, and W&B wrote its run
    assert files_containing(tmp_path, secret) == []


def run_train_in(argv: list[str], cwd: str) -> int:
    """The job: train.py in ``cwd`` (the secret only in the environment it inherits)."""
    import subprocess

    Path(cwd).mkdir(parents=True, exist_ok=True)
    return subprocess.run(argv, cwd=cwd, check=True).returncode
