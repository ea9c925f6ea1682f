"""TensorBoard and MLflow as a user runs them: one real train.py run logs to both at once (``logger=[tensorboard,
mlflow]``) with a real ``mlflow server`` on 127.0.0.1, and what each tracker holds is read back through its own
reader (TensorBoard's EventAccumulator, MLflow's ``MlflowClient``): per-epoch metrics, the final metrics, the config
and the quality figures. A W&B key planted in the environment must reach neither tracker nor any file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from snpdiff.secrets import redact_secrets
from snpdiff.training.loggers import mlflow_tracking_uri
from tests.helpers import one_error_line, run_dirs, run_train

SECRET = "planted-wandb-key-0123456789"
QUICK_QUALITY = (
    "quality.enabled=true",
    "quality.eval_every_n_epochs=1",
    "quality.eval_samples=16",
    "quality.sampling_steps=2",
    "quality.ld_window=10",
)
FIGURES = {"af_scatter.png", "pca.png"}  # two of the quality plots (snpdiff.metrics.plots.make_plots)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Poll ``<url>/health`` until the server answers; fail with its log if it exits or never answers."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow server exited {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    pytest.fail(f"mlflow server did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


@dataclass
class Server:
    url: str
    folder: Path
    process: subprocess.Popen
    log: Path


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory) -> Iterator[Server]:
    """A real tracking server (SQLite store, artifacts served by the server itself), started but not yet waited
    for. In its own process group, so that its worker processes stop with it."""
    folder = tmp_path_factory.mktemp("mlflow_server")
    port, log = free_port(), folder / "server.log"
    command = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
               "--workers", "1", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
               "--artifacts-destination", str(folder / "artifacts")]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job runner: it only slows the start
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        yield Server(f"http://127.0.0.1:{port}", folder, process, log)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def tracked_run(mlflow_server: Server, tmp_path_factory) -> Path:
    """One debug=fast run logging to TensorBoard and to the server, quality evaluated at both epochs, with a W&B
    key in its environment; its run folder. The run starts while the server boots (both take seconds; the run
    needs the server only once its data is loaded, and MLflow's client retries a refused connection)."""
    root = tmp_path_factory.mktemp("tracked")
    args = ("debug=fast", "logger=[tensorboard,mlflow]", f"logger.mlflow.tracking_uri={mlflow_server.url}",
            "logger.mlflow.experiment_name=trackers-test", "callbacks.progress_bar=null", *QUICK_QUALITY)  # fmt: skip
    env = {"WANDB_API_KEY": SECRET, "MLFLOW_TRACKING_URI": None}
    with ThreadPoolExecutor(1) as pool:
        training = pool.submit(run_train, *args, root=root, env=env)
        wait_until_up(mlflow_server.url, mlflow_server.process, mlflow_server.log)
        result = training.result()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (run_dir,) = run_dirs(root)
    return run_dir


@pytest.mark.slow
def test_tensorboard_holds_metrics_per_epoch_hparams_and_quality_figures(tracked_run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventAccumulator(str(tracked_run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert [event.step for event in events.Scalars("val_loss")] == [2, 5]  # once per epoch (3 batches each)
    assert len(events.Scalars("val/af_r2")) == 2 and len(events.Scalars("train_loss_epoch")) == 2
    assert {"final/val_loss", "model/total_params"} <= set(tags["scalars"])
    assert {"val/af_scatter", "val/pca"} <= set(tags["images"])
    assert len(events.Images("val/pca")) == 2 and events.Images("val/pca")[0].width > 100
    start = HParamsPluginData.FromString(events.PluginTagToContent("hparams")["_hparams_/session_start_info"])
    hparams = start.session_start_info.hparams
    assert hparams["seed"].number_value == 42 and hparams["logger/mlflow/experiment_name"].string_value
    assert all(SECRET not in str(value) for value in hparams.values())


@pytest.mark.slow
def test_mlflow_server_holds_metrics_params_figures_and_no_secret(tracked_run, mlflow_server):
    from mlflow.tracking import MlflowClient

    url = mlflow_server.url
    client = MlflowClient(url)
    (run,) = client.search_runs([client.get_experiment_by_name("trackers-test").experiment_id])
    run_id = run.info.run_id
    assert run.info.status == "FINISHED"
    assert [metric.step for metric in client.get_metric_history(run_id, "val_loss")] == [2, 5]
    assert len(client.get_metric_history(run_id, "val/af_r2")) == 2
    assert run.data.metrics["final/val_loss"] == pytest.approx(
        min(m.value for m in client.get_metric_history(run_id, "val_loss"))
    )
    params = run.data.params
    assert params["seed"] == "42" and params["trainer/max_epochs"] == "2" and params["model/_target_"]
    assert params["logger/mlflow/tracking_uri"] == url
    figures = {Path(a.path).name for a in client.list_artifacts(run_id, "quality/epoch_1")}
    assert FIGURES <= figures
    assert not any(SECRET in value for value in params.values())
    assert not any(SECRET in value for value in run.data.tags.values())
    holding = [p for folder in (tracked_run, mlflow_server.folder) for p in folder.rglob("*")
               if p.is_file() and SECRET.encode() in p.read_bytes()]  # fmt: skip
    assert not holding


def test_secrets_of_the_environment_and_url_passwords_are_masked_in_hyperparams():
    environ = {"WANDB_API_KEY": SECRET, "MLFLOW_TRACKING_PASSWORD": "pw-4567", "MONKEY_HOME": "/home/user-secretless"}
    params = {"a": {"key": f"prefix-{SECRET}", "list": [SECRET, 3]}, "home": "/home/user-secretless",
              "url": "postgresql://user:pw-4567@db:5432/x", "other": "https://u:p%40ss@host/x", "n": None}  # fmt: skip
    assert redact_secrets(params, environ) == {
        "a": {"key": "prefix-***", "list": ["***", 3]}, "home": "/home/user-secretless",
        "url": "postgresql://user:***@db:5432/x", "other": "https://u:***@host/x", "n": None,
    }  # fmt: skip


def test_a_bad_logger_key_is_one_error_line(tmp_path):
    result = run_train("debug=fast", "logger=mlflow", "logger.mlflow.trackinguri=http://x", root=tmp_path)
    line = one_error_line(result)
    assert "trackinguri" in line and "tracking_uri" in line


def test_the_tracking_uri_is_the_key_else_the_environment_else_a_store_in_the_run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example.org:5000")
    assert mlflow_tracking_uri("http://127.0.0.1:5001", tmp_path) == "http://127.0.0.1:5001"
    assert mlflow_tracking_uri(None, tmp_path) == "http://tracking.example.org:5000"
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    assert mlflow_tracking_uri(None, tmp_path / "mlruns") == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


def test_a_tracking_server_that_cannot_be_reached_is_a_user_error_without_its_password(tmp_path, monkeypatch):
    from snpdiff.errors import ConfigError
    from snpdiff.training.loggers import mlflow_logger

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://user:pw-7654321@127.0.0.1:{free_port()}")
    with pytest.raises(ConfigError, match=r"http://user:\*\*\*@127.0.0.1:\d+ \(from \$MLFLOW_TRACKING_URI\)") as error:
        mlflow_logger(save_dir=str(tmp_path / "mlruns"))
    assert "pw-7654321" not in str(error.value)


@pytest.mark.parametrize(("option", "package"), [("mlflow", "mlflow"), ("tensorboard", "tensorboard")])
def test_a_tracker_whose_package_is_missing_is_one_error_line_naming_the_install(option, package, tmp_path):
    """train.py in an interpreter where the tracker's package cannot be imported (``sys.modules[name] = None``,
    Python's documented way to block an import): refused before any work, with the command that installs it."""
    launch = (
        f"import runpy, sys; sys.modules[{package!r}] = None; "
        f"sys.argv = ['train.py', 'debug=fast', 'logger={option}']; runpy.run_path('train.py', run_name='__main__')"
    )
    env = {**os.environ, "SNPDIFF_ROOT": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", launch], cwd=Path(__file__).resolve().parents[2], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    line = one_error_line(result)
    assert line == (
        f"error: logger.{option} needs the {package} package, which is not installed; "
        f"pip install 'snpdiff[trackers]' (or pip install {package})"
    )
    assert not list(tmp_path.rglob("checkpoints"))


@pytest.mark.slow
def test_a_local_sweep_trial_logs_to_tensorboard(tmp_path):
    """A sweep works with another tracker: a trial is train.py with the sweep's overrides, logger=tensorboard
    among them, and its event files land in its own run folder."""
    from snpdiff.sweep.backends import open_backend
    from snpdiff.sweep.store import resolve_sweep
    from tests.helpers import TINY_TRIAL, sweep_cli, write_sweep

    sweep = {"method": "grid", "metric": {"name": "val_loss", "goal": "minimize"},
             "parameters": {**TINY_TRIAL, "logger": {"value": "tensorboard"}, "optimizer.lr": {"values": [0.001]}}}
    root = str(tmp_path / "sweeps")
    created = sweep_cli("--sweeps-dir", root, "init", str(write_sweep(tmp_path, sweep)), "--backend", "local")
    sweep_id = created.stdout.split("created local sweep ")[1].split()[0]
    sweep_cli("--sweeps-dir", root, "agent", sweep_id, "--count", "1")
    (trial,) = open_backend(resolve_sweep(sweep_id, Path(root))).trials()
    assert trial.state == "finished" and trial.value is not None
    assert list((Path(trial.run_dir) / "tensorboard").glob("events.out.tfevents.*"))
