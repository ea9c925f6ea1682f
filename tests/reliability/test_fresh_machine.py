"""A fresh machine: another apt-get or dpkg (unattended-upgrades at boot) holds the dpkg lock while the SLURM install
starts. The install waits for it, bounded by $SNPDIFF_APT_LOCK_WAIT_S, saying once what it waits on, then proceeds;
after the bound it ends with an error naming the lock and its holder.

The locks are the machine's real ones, held for a few seconds by a helper process with ``fcntl.lockf`` as apt and
dpkg take them; the apt-get that runs after the wait is ``apt-get check``, which takes the dpkg lock and installs
nothing. Needs root and apt-get (a Debian-like machine), else skipped.
"""

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from snpdiff.cluster import LAUNCHERS_DIR
from tests.cluster.slurm_helpers import local_slurm
from tests.reliability.campaign import check_row

FRONTEND = Path("/var/lib/dpkg/lock-frontend")
POLICY = Path("/usr/sbin/policy-rc.d")
LISTS = Path("/var/lib/apt/lists/lock")  # apt-get update's lock, which apt's own DPkg::Lock::Timeout ignores

pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("apt-get") is None or not FRONTEND.parent.is_dir(),
        reason="needs root and apt-get with /var/lib/dpkg (a Debian-like machine)",
    ),
    pytest.mark.machine_wide,  # the machine's real apt locks: never beside the cluster's install or another holder
]

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o640)
fcntl.lockf(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


@pytest.fixture
def hold_lock() -> Iterator[Callable[..., subprocess.Popen]]:
    """``hold_lock(path, seconds)``: a process that holds the fcntl lock on ``path`` for ``seconds``, started and
    holding when it returns; killed at teardown if still running."""
    holders = []

    def hold(path: Path, seconds: float) -> subprocess.Popen:
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
        )
        holders.append(holder)
        assert holder.stdout.readline().strip() == "held"
        return holder

    yield hold
    for holder in holders:
        holder.kill()
        holder.wait()


def _name(holder: subprocess.Popen) -> str:
    return f"process {holder.pid} ({Path(f'/proc/{holder.pid}/comm').read_text().strip()})"


def _script(*args: str, wait_s: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    if wait_s is not None:
        env[local_slurm.APT_LOCK_WAIT_ENV] = wait_s
    return subprocess.run(
        ["bash", str(LAUNCHERS_DIR / "local_slurm.sh"), *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.reliability_row("Fresh machines", "another apt-get holds the dpkg/apt lock")
@pytest.mark.parametrize("lock", [FRONTEND, LISTS], ids=["dpkg-frontend", "apt-lists"])
def test_waits_for_a_held_lock_says_so_once_then_proceeds(hold_lock, lock):
    holder = hold_lock(lock, 3)
    name = _name(holder)
    began = time.monotonic()
    result = _script("wait-for-dpkg", wait_s="60")
    waited = time.monotonic() - began
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "apt and dpkg locks are free"
    waits = [line for line in result.stderr.splitlines() if line.startswith("waiting")]
    assert waits == [f"waiting up to 60 s ({local_slurm.APT_LOCK_WAIT_ENV}) for {lock}, held by {name}"]
    assert waited >= 1.5  # it did wait for the holder to let go
    assert holder.poll() is not None


def test_after_the_bound_a_clear_error_names_the_lock_and_its_holder(hold_lock):
    holder = hold_lock(FRONTEND, 30)
    began = time.monotonic()
    result = _script("wait-for-dpkg", wait_s="1")
    assert time.monotonic() - began < 20 and holder.poll() is None  # gave up at the bound, not when the lock was freed
    assert result.returncode == 2  # the machine is not ready: not a bug
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].startswith(
        f"error: {FRONTEND} is still held by {_name(holder)} after 1 s; let that apt-get or dpkg finish "
        f"(or set {local_slurm.APT_LOCK_WAIT_ENV} to wait longer), then run `bash launchers/local_slurm.sh install`"
    )
    check_row(result, "Fresh machines", "still held after the bound")


def test_install_goes_through_the_wait_before_any_apt_get(hold_lock, monkeypatch):
    """install() itself, with one required program that no machine has so that it wants to install: with every apt
    lock held and a 1 s bound it stops at the wait. (Were the wait gone, `apt-get update` would fail at once on the
    held lists lock, with another message, and nothing would be installed.)"""
    holders = {lock: hold_lock(lock, 30) for lock in local_slurm.APT_LOCKS}
    policy_existed = POLICY.exists()
    monkeypatch.setattr(local_slurm, "REQUIRED_PROGRAMS", (*local_slurm.REQUIRED_PROGRAMS, "snpdiff-no-such-program"))
    monkeypatch.setenv(local_slurm.APT_LOCK_WAIT_ENV, "1")
    with pytest.raises(
        local_slurm.ClusterError, match=rf"^{FRONTEND} is still held by process {holders[FRONTEND].pid}"
    ):
        local_slurm.install()
    assert POLICY.exists() == policy_existed  # its temporary policy-rc.d is gone again


def test_an_installed_cluster_does_not_wait_for_apt(hold_lock):
    hold_lock(FRONTEND, 30)
    result = _script("install", wait_s="0")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "all SLURM programs are installed"
    assert "waiting" not in result.stderr


@pytest.mark.reliability_row("Fresh machines", "another apt-get takes the lock after the wait")
def test_apt_gets_own_lock_timeout_covers_a_lock_taken_after_the_wait(hold_lock, monkeypatch):
    """Another apt-get may take the dpkg lock between the wait and ours: apt-get then waits itself
    (DPkg::Lock::Timeout, the seconds left) and, past them, fails with apt's own lock line in the error. The wait is
    replaced by one that returns at once to model that moment; apt-get and the lock are real."""
    monkeypatch.setattr(local_slurm, "wait_for_apt_locks", lambda timeout_s=None: 1.0)
    holder = hold_lock(FRONTEND, 30)
    with pytest.raises(local_slurm.ClusterError) as failed:
        local_slurm.apt_get(["check", "-q"])
    assert str(failed.value).startswith(
        f"`apt-get check -q` could not get lock {FRONTEND}. It is held by {_name(holder)}; let that apt-get or dpkg"
    )
    holder.kill()
    holder.wait()
    local_slurm.apt_get(["check", "-q"])  # the lock is free: the same call succeeds


@pytest.mark.parametrize("value", ["abc", "-5", "inf"])
def test_a_bad_bound_is_refused_naming_the_variable(monkeypatch, value):
    monkeypatch.setenv(local_slurm.APT_LOCK_WAIT_ENV, value)
    with pytest.raises(local_slurm.ClusterError, match=rf"^SNPDIFF_APT_LOCK_WAIT_S='{value}'; allowed: a number"):
        local_slurm.apt_lock_wait_s()
