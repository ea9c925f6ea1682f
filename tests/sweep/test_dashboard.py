"""``sweep.py dashboard``: a local sweep's trials in optuna-dashboard, seen in a real headless browser (Debian's
Chromium driven by Selenium, nothing downloaded), while a trial is added as a running agent would; read-only; and
each bad input as one ``error:`` line through the real command line. Trials are claimed and finished through the
backend, without training."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from snpdiff.sweep.backends.local import LocalBackend
from snpdiff.sweep.store import SweepInfo, resolve_sweep
from tests.helpers import REPO, one_error_line, sweep_cli

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
VALUES = (0.4321, 0.1234, 0.9876)  # the objective values of the finished trials, distinct enough to find on a page
ADDED = 0.6543  # the trial an agent finishes while the dashboard serves
SWEEP = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"optimizer.lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2}},
}

needs_chromium = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"no {CHROMIUM} and {CHROMEDRIVER}: apt-get install chromium chromium-driver (CI installs them)",
)


def finish_trial(info: SweepInfo, value: float) -> int:
    """One trial claimed and finished with ``value`` through its own backend, as an agent does; its number."""
    backend = LocalBackend(info)
    trial = backend.claim(60)
    backend.finish(trial, "finished", value=value)
    return trial.number


@pytest.fixture
def finished_sweep(local_sweep: Callable[..., str]) -> Callable[..., SweepInfo]:
    """``make(storage=None)``: a local sweep whose trials 0..2 finished with ``VALUES``."""

    def make(storage: str | None = None) -> SweepInfo:
        info = resolve_sweep(local_sweep(SWEEP, storage=storage))
        for value in VALUES:
            finish_trial(info, value)
        return info

    return make


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def dashboard(sweep_id: str, *args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """``python sweep.py dashboard SWEEP_ID ARGS`` running, and the sweep's page it printed once it listens."""
    process = subprocess.Popen(
        [sys.executable, str(REPO / "sweep.py"), "dashboard", sweep_id, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        first = process.stdout.readline()  # "" once it ended
        if not first.startswith(f"dashboard of sweep {sweep_id}: http://127.0.0.1:"):
            process.kill()
            pytest.fail(f"no address printed: {first}{process.communicate(timeout=30)[1]}")
        yield process, first.split(": ", 1)[1].strip()
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def stop(process: subprocess.Popen, signum: int = signal.SIGINT) -> tuple[int, str]:
    """Ctrl-C (or ``signum``): the exit status and what it printed on stderr."""
    process.send_signal(signum)
    return process.wait(timeout=60), process.stderr.read()


@pytest.fixture
def browser(monkeypatch: pytest.MonkeyPatch) -> Iterator:
    """Headless Chromium from Debian's packages, named explicitly so Selenium Manager neither looks nor downloads."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1400,1000",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_text(driver, *texts: str, timeout: float = 20) -> str:
    """The page's text once the dashboard's JavaScript has rendered every one of ``texts``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def rendered(_) -> str | bool:
        body = driver.find_element(By.TAG_NAME, "body").text
        return body if all(text in body for text in texts) else False

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(rendered, f"never rendered {texts}")


@needs_chromium
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_the_trials_and_values_render_in_a_browser_while_an_agent_adds_one(finished_sweep, browser, tmp_path):
    info = finished_sweep(storage=f"journal:{tmp_path / 'shared' / 'sweep.log'}")  # agents' locking, not SQLite's
    with dashboard(info.sweep_id, "--port", str(free_port())) as (process, page):
        browser.get(f"{page}/trials?numbers=0,1,2")
        text = wait_for_text(browser, info.sweep_id, *(str(value) for value in VALUES))
        assert "Trial 2" in text and "Complete" in text and "snpdiff_state finished" in text
        added = finish_trial(info, ADDED)  # an agent writes the journal while the dashboard reads it
        browser.get(f"{page}/trials?numbers={added}")
        wait_for_text(browser, f"Trial {added}", str(ADDED))
        status, stderr = stop(process)
    assert status == 130, stderr
    assert "Traceback" not in stderr and "dashboard stopped (SIGINT)" in stderr


def test_it_serves_the_sweep_read_only_on_any_free_port(finished_sweep):
    info = finished_sweep()
    with dashboard(info.sweep_id, "--port", "0") as (process, page):
        api = page.replace("/dashboard/studies/", "/api/studies/")
        study = json.load(urllib.request.urlopen(api, timeout=10))
        assert [trial["values"] for trial in study["trials"]] == [[value] for value in VALUES]
        with pytest.raises(urllib.error.HTTPError):  # the dashboard's own "delete study" button
            urllib.request.urlopen(urllib.request.Request(api, method="DELETE"), timeout=10)
        status, stderr = stop(process, signal.SIGTERM)
    assert status == 143, stderr
    assert [t.value for t in LocalBackend(info).study.get_trials()] == list(VALUES)  # the sweep is untouched


def test_bad_ports_unknown_sweeps_and_lost_storages_are_one_error_line(local_sweep):
    info = resolve_sweep(local_sweep(SWEEP))
    assert "65536 is not a port" in one_error_line(
        sweep_cli("dashboard", info.sweep_id, "--port", "65536", check=False)
    )
    assert "'http' is not an integer" in one_error_line(
        sweep_cli("dashboard", info.sweep_id, "--port", "http", check=False)
    )
    assert "no sweep 'nosuch1'" in one_error_line(sweep_cli("dashboard", "nosuch1", check=False))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        line = one_error_line(sweep_cli("dashboard", info.sweep_id, "--port", port, check=False))
    assert f"--port {port}: already in use" in line
    storage = Path(info.sweep_dir) / "optuna.db"
    storage.unlink()
    assert f"its storage {storage} does not exist" in one_error_line(sweep_cli("dashboard", info.sweep_id, check=False))
    assert not storage.exists()  # not created empty


def test_a_wandb_sweep_points_to_wandbs_own_dashboard():
    line = one_error_line(sweep_cli("dashboard", "team/proj/abc123", check=False))
    assert "W&B sweep; W&B has its own dashboard: https://wandb.ai/team/proj/sweeps/abc123" in line


def test_a_storage_password_is_never_printed(local_sweep, monkeypatch):
    password = "planted-pass-123"
    info = resolve_sweep(local_sweep(SWEEP))
    record = Path(info.sweep_dir) / "sweep_info.yaml"
    record.write_text(record.read_text().replace(info.storage, "postgresql://u:***@127.0.0.1:9/db"))
    monkeypatch.setenv("SNPDIFF_OPTUNA_STORAGE", f"postgresql://u:{password}@127.0.0.1:9/db")  # nothing listens
    result = sweep_cli("dashboard", info.sweep_id, "--port", "0", check=False)
    assert "postgresql://u:***@127.0.0.1:9/db" in one_error_line(result)
    assert password not in result.stdout + result.stderr
