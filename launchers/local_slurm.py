"""A single-node SLURM cluster with accounting on localhost, started from Debian's packages.

Used by the cluster tests (tests/cluster/conftest.py) and to try the launchers by hand (as root):

    bash launchers/local_slurm.sh install                         # apt-get install what is missing
    bash launchers/local_slurm.sh wait-for-dpkg                   # only wait for another apt-get/dpkg to finish
    bash launchers/local_slurm.sh start --workdir /tmp/snpdiff-slurm
    export SLURM_CONF=/tmp/snpdiff-slurm/etc/slurm.conf           # `start` prints this line
    bash launchers/local_slurm.sh status
    bash launchers/local_slurm.sh stop

Test tooling, not part of the importable `snpdiff` package: a standalone script on the standard library only, so it
runs on a fresh machine before pip has installed anything.

Everything lives under the workdir: configs, state, spool, logs, a private munge key and socket, and a private
MariaDB (its own datadir, bound to 127.0.0.1) behind slurmdbd. Accounting is not optional: submitit learns a job's
state only from `sacct`, so without it a cancelled or killed job is never seen as finished and `result()` hangs.
Ports are picked free at start, so two clusters (two test sessions) can run side by side. Each daemon runs in the
foreground of a process in its own session; the PIDs are recorded in `<workdir>/pids.json` and `stop` ends exactly
those. Every wait has a timeout.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

APT_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "slurmdbd", "munge", "mariadb-server")
REQUIRED_PROGRAMS = (
    "slurmctld", "slurmd", "slurmdbd", "sbatch", "srun", "sacct", "scontrol", "munged", "mariadbd", "mariadb-install-db"
)
# start order; `stop` goes in reverse
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
DEFAULT_WORKDIR = Path(tempfile.gettempdir()) / "snpdiff-slurm"
CLUSTER_NAME = "snpdiff"
PARTITION = "debug"
START_TIMEOUT_S = 60.0
# lifetime of job credentials, seconds; SLURM holds a requeued job back this long (default 120)
CRED_EXPIRE_S = 5
STOP_TIMEOUT_S = 15.0
APT_TIMEOUT_S = 900.0
# apt's and dpkg's fcntl locks: front-end, dpkg's database, package lists (apt-get update), downloaded archives
APT_LOCKS = (
    Path("/var/lib/dpkg/lock-frontend"),
    Path("/var/lib/dpkg/lock"),
    Path("/var/lib/apt/lists/lock"),
    Path("/var/cache/apt/archives/lock"),
)
APT_LOCK_WAIT_ENV = "SNPDIFF_APT_LOCK_WAIT_S"
APT_LOCK_WAIT_S = 600.0
_FLOCK = "hhqqi"  # struct flock on 64-bit Linux: l_type, l_whence, l_start, l_len, l_pid
# daemons live in /usr/sbin, which a non-login root shell may lack on its PATH
_SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


class ClusterError(RuntimeError):
    """The local cluster is unusable: a program is missing, a daemon did not start or stop, a wait timed out."""


@dataclass(frozen=True)
class ClusterPaths:
    """Where one local cluster keeps its files (all under `workdir`)."""

    workdir: Path

    @property
    def etc(self) -> Path:
        return self.workdir / "etc"

    @property
    def slurm_conf(self) -> Path:
        return self.etc / "slurm.conf"

    @property
    def slurmdbd_conf(self) -> Path:
        # slurmdbd looks for slurmdbd.conf next to $SLURM_CONF
        return self.etc / "slurmdbd.conf"

    @property
    def state(self) -> Path:
        return self.workdir / "state"

    @property
    def spool(self) -> Path:
        return self.workdir / "spool"

    @property
    def log(self) -> Path:
        return self.workdir / "log"

    @property
    def run(self) -> Path:
        return self.workdir / "run"

    @property
    def munge(self) -> Path:
        return self.workdir / "munge"

    @property
    def munge_socket(self) -> Path:
        return self.munge / "munge.socket"

    @property
    def mysql(self) -> Path:
        return self.workdir / "mysql"

    @property
    def mysql_socket(self) -> Path:
        return self.mysql / "mysqld.sock"

    @property
    def pids(self) -> Path:
        return self.workdir / "pids.json"

    def generated_dirs(self) -> tuple[Path, ...]:
        """Folders `start` creates afresh (it never deletes anything else in the workdir)."""
        return (self.etc, self.state, self.spool, self.log, self.run, self.munge, self.mysql)


def node_name() -> str:
    """The short host name (`hostname -s`): slurmd finds its node entry by it."""
    return socket.gethostname().split(".")[0]


def which(program: str) -> str | None:
    """Path of `program`, also searching /usr/sbin where the daemons live."""
    return shutil.which(program, path=_SEARCH_PATH)


def missing_programs() -> list[str]:
    """Programs of REQUIRED_PROGRAMS that are not installed."""
    return [program for program in REQUIRED_PROGRAMS if which(program) is None]


def can_run_here() -> str | None:
    """None when a local cluster can be installed and started here, else the reason it cannot."""
    if os.geteuid() != 0:
        return "the local SLURM cluster runs its daemons as root (SlurmUser=root); run the tests as root"
    missing = missing_programs()
    if missing and which("apt-get") is None:
        return f"SLURM programs {missing} are missing and apt-get is not available to install them"
    return None


def apt_lock_wait_s() -> float:
    """How long to wait for another apt-get or dpkg to free their locks: $SNPDIFF_APT_LOCK_WAIT_S or 600 s."""
    value = os.environ.get(APT_LOCK_WAIT_ENV, "")
    if not value:
        return APT_LOCK_WAIT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise ClusterError(f"{APT_LOCK_WAIT_ENV}={value!r}; allowed: a number of seconds >= 0")
    return seconds


def lock_holder(lock: Path) -> int | None:
    """The PID holding an fcntl write lock on ``lock`` (how apt and dpkg lock), asked with F_GETLK so the lock is
    never taken; 0 when the holder is not visible from here (another PID namespace); None when free or absent."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    except PermissionError:
        raise ClusterError(f"cannot read {lock} to see whether apt or dpkg holds it; run as root") from None
    try:
        query = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        kind, _, _, _, pid = struct.unpack(_FLOCK, fcntl.fcntl(fd, fcntl.F_GETLK, query))
    finally:
        os.close(fd)
    return None if kind == fcntl.F_UNLCK else max(pid, 0)


def _process(pid: int) -> str:
    if pid == 0:
        return "a process outside this PID namespace"
    try:
        return f"process {pid} ({Path(f'/proc/{pid}/comm').read_text().strip()})"
    except OSError:
        return f"process {pid}"


def wait_for_apt_locks(timeout_s: float | None = None) -> float:
    """Wait until no process holds apt's or dpkg's locks (a fresh machine often runs unattended-upgrades or
    cloud-init's apt-get at boot); returns the seconds left of ``timeout_s`` (default ``apt_lock_wait_s()``).

    Says once on stderr what it waits on and who holds it. ClusterError naming the lock and its holder when it is
    still held after ``timeout_s``.
    """
    timeout_s = apt_lock_wait_s() if timeout_s is None else timeout_s
    deadline = time.monotonic() + timeout_s
    announced = False
    while True:
        held = [(lock, pid) for lock in APT_LOCKS if (pid := lock_holder(lock)) is not None]
        left = deadline - time.monotonic()
        if not held:
            return max(left, 0.0)
        lock, pid = held[0]
        if left <= 0:
            raise ClusterError(
                f"{lock} is still held by {_process(pid)} after {timeout_s:g} s; let that apt-get or dpkg finish "
                f"(or set {APT_LOCK_WAIT_ENV} to wait longer), then run `bash launchers/local_slurm.sh install`"
            )
        if not announced:
            print(
                f"waiting up to {timeout_s:g} s ({APT_LOCK_WAIT_ENV}) for {lock}, held by {_process(pid)}",
                file=sys.stderr,
                flush=True,
            )
            announced = True
        time.sleep(min(1.0, left))


def apt_get(args: list[str], timeout_s: float = APT_TIMEOUT_S, lock_wait_s: float | None = None) -> None:
    """``apt-get <args>`` once apt's and dpkg's locks are free (``wait_for_apt_locks``); ClusterError if it fails.

    apt-get's own DPkg::Lock::Timeout (apt >= 1.9) covers the dpkg locks against another apt-get starting between
    the wait and this one; `apt-get update` ignores it (apt 2.6), hence the wait over all four locks first.
    """
    left = wait_for_apt_locks(lock_wait_s)
    command = ["apt-get", "-o", f"DPkg::Lock::Timeout={max(int(left), 1)}", *args]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout_s + left)
    if done.returncode != 0:
        # apt says who holds the lock in "Could not get lock <file>. It is held by process <pid> (<name>)", on
        # stdout while it waits, on stderr when it gave up without waiting
        said = f"{done.stdout}\n{done.stderr}".splitlines()
        locked = [line.partition("Could not get lock ")[2].rstrip(".") for line in said if "Could not get lock" in line]
        if locked:
            raise ClusterError(
                f"`apt-get {' '.join(args)}` could not get lock {locked[-1]}; let that apt-get or dpkg finish "
                f"(or set {APT_LOCK_WAIT_ENV} to wait longer), then run `bash launchers/local_slurm.sh install`"
            )
        raise ClusterError(f"`{' '.join(command)}` failed ({done.returncode}): {done.stderr[-2000:]}")


def install(timeout_s: float = APT_TIMEOUT_S) -> list[str]:
    """apt-get install the Debian packages when a required program is missing; returns the packages installed.

    Services are kept from starting during the install (a temporary policy-rc.d), since this module runs its own
    private daemons. Each apt-get first waits, bounded, for another apt-get or dpkg to free the locks.
    """
    missing = missing_programs()
    if not missing:
        return []
    reason = can_run_here()
    if reason is not None:
        raise ClusterError(f"cannot install SLURM (missing {missing}): {reason}")
    policy = Path("/usr/sbin/policy-rc.d")
    own_policy = not policy.exists()
    if own_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        apt_get(["update", "-q"], timeout_s)
        apt_get(["install", "-y", "-q", "--no-install-recommends", *APT_PACKAGES], timeout_s)
    finally:
        if own_policy:
            policy.unlink()
    still_missing = missing_programs()
    if still_missing:
        raise ClusterError(f"after installing {list(APT_PACKAGES)}, programs {still_missing} are still missing")
    return list(APT_PACKAGES)


def cluster_env(workdir: Path | str = DEFAULT_WORKDIR) -> dict[str, str]:
    """Environment variables that point SLURM clients (sbatch, sacct, submitit, jobs) at this cluster."""
    return {"SLURM_CONF": str(ClusterPaths(Path(workdir)).slurm_conf)}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _real_memory_mb() -> int:
    """Half the machine's memory in MB: what the node offers to jobs."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20 // 2


def _slurm_conf(paths: ClusterPaths, ports: dict[str, int], cpus: int, real_memory_mb: int) -> str:
    node = node_name()
    return f"""# generated by launchers/local_slurm.py: single-node test cluster
ClusterName={CLUSTER_NAME}
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={ports["slurmctld"]}
SlurmdPort={ports["slurmd"]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# cred_expire also sets how long a requeued job waits before it may start again (default 120 s)
AuthInfo=socket={paths.munge_socket},cred_expire={CRED_EXPIRE_S}
CredType=cred/munge
StateSaveLocation={paths.state}
SlurmdSpoolDir={paths.spool}
SlurmctldPidFile={paths.run / "slurmctld.pid"}
SlurmdPidFile={paths.run / "slurmd.pid"}
SlurmctldLogFile={paths.log / "slurmctld.log"}
SlurmdLogFile={paths.log / "slurmd.log"}
# no cgroups in a container: track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
# start jobs as soon as they are submitted (default sched_interval makes a job take ~3 s instead of ~1 s)
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_interval=1
MailProg=/bin/true
# jobs may be requeued (submitit requeues on timeout/preemption with `scontrol requeue`)
JobRequeue=1
ReturnToService=2
# seconds between SIGTERM and SIGKILL when a job is cancelled or reaches its time limit
KillWait=5
InactiveLimit=0
MessageTimeout=10
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort={ports["slurmdbd"]}
# the munge socket for talking to slurmdbd (AuthInfo covers only controller <-> nodes <-> clients)
AccountingStoragePass=socket={paths.munge_socket}
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# trust the CPUs and memory written here over what slurmd detects
SlurmdParameters=config_overrides
NodeName={node} NodeAddr=127.0.0.1 NodeHostname={node} CPUs={cpus} RealMemory={real_memory_mb} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""


def _slurmdbd_conf(paths: ClusterPaths, ports: dict[str, int], db_password: str) -> str:
    return f"""# generated by launchers/local_slurm.py
AuthType=auth/munge
AuthInfo=socket={paths.munge_socket}
DbdHost={node_name()}
DbdAddr=127.0.0.1
DbdPort={ports["slurmdbd"]}
SlurmUser=root
PidFile={paths.run / "slurmdbd.pid"}
LogFile={paths.log / "slurmdbd.log"}
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort={ports["mariadbd"]}
StorageUser=slurm
StoragePass={db_password}
StorageLoc=slurm_acct_db
"""


def _daemon_commands(paths: ClusterPaths, ports: dict[str, int]) -> dict[str, list[str]]:
    """Foreground command line of each daemon (so the PID we start is the daemon's own)."""
    return {
        "munged": [
            "munged", "--foreground", "--force",  # --force: the pytest tmp folders above are not world-executable
            f"--socket={paths.munge_socket}", f"--key-file={paths.munge / 'munge.key'}",
            f"--pid-file={paths.run / 'munged.pid'}", f"--seed-file={paths.munge / 'munged.seed'}",
            f"--log-file={paths.log / 'munged.log'}",
        ],
        "mariadbd": [
            "mariadbd", "--no-defaults", f"--datadir={paths.mysql / 'data'}", f"--socket={paths.mysql_socket}",
            f"--port={ports['mariadbd']}", "--bind-address=127.0.0.1", "--skip-name-resolve", "--user=root",
            f"--pid-file={paths.run / 'mariadbd.pid'}", f"--log-error={paths.log / 'mariadbd.log'}",
            f"--init-file={paths.mysql / 'init.sql'}", f"--tmpdir={paths.mysql}",
            "--innodb-buffer-pool-size=32M", "--performance-schema=OFF", "--skip-log-bin",
        ],
        "slurmdbd": ["slurmdbd", "-D"],
        "slurmctld": ["slurmctld", "-D", "-f", str(paths.slurm_conf)],
        "slurmd": ["slurmd", "-D", "-f", str(paths.slurm_conf), "-N", node_name()],
    }


def recorded_pids(workdir: Path | str = DEFAULT_WORKDIR) -> dict[str, int]:
    """PID of each daemon started for the cluster in `workdir` (empty when none is recorded)."""
    paths = ClusterPaths(Path(workdir))
    if not paths.pids.exists():
        return {}
    return {name: int(pid) for name, pid in json.loads(paths.pids.read_text()).items()}


def _write_pids(paths: ClusterPaths, pids: dict[str, int]) -> None:
    paths.pids.write_text(json.dumps(pids, indent=1) + "\n")


def _proc_state(pid: int) -> str | None:
    """The process state letter from /proc (``R``, ``S``, ``Z`` ...), None when there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return None


def _has_exited(pid: int) -> bool:
    """True once `pid` is gone: reaped when it is our child, else dead or a zombie its own parent must reap."""
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return _proc_state(pid) in (None, "Z")


def _is_running(pid: int, program: str) -> bool:
    """True when `pid` is alive and does not run another program than `program` (guards against a recycled PID).

    An empty command line counts as `program`: right after exec the kernel shows one for a moment.
    """
    if _has_exited(pid):
        return False
    try:
        argv0 = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return not argv0 or Path(argv0).name == program


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float, poll_s: float = 0.1) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise ClusterError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(poll_s)


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _client(args: list[str], env: dict[str, str], timeout_s: float = 30.0) -> subprocess.CompletedProcess:
    return subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s)


def node_state(workdir: Path | str = DEFAULT_WORKDIR) -> str:
    """State of the one node as `sinfo` reports it (`idle`, `mixed`, `allocated`, `down*`, ...); '' if unreachable."""
    done = _client(["sinfo", "-h", "-N", "-o", "%T"], cluster_env(workdir))
    return done.stdout.strip() if done.returncode == 0 else ""


def _log_tails(paths: ClusterPaths, lines: int = 15) -> str:
    tails = []
    for log in sorted(paths.log.glob("*")):
        text = log.read_text(errors="replace").splitlines()[-lines:]
        if text:
            tails.append(f"--- {log}\n" + "\n".join(text))
    return "\n".join(tails)


def _spawn(name: str, command: list[str], paths: ClusterPaths, env: dict[str, str]) -> int:
    program = which(command[0])
    if program is None:
        raise ClusterError(f"{command[0]} is not installed; run `bash launchers/local_slurm.sh install`")
    with open(paths.log / f"{name}.out", "ab") as output:
        process = subprocess.Popen(
            [program, *command[1:]], stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            env={**os.environ, **env}, start_new_session=True,  # survives the starting shell; no tty signals
        )
    pids = recorded_pids(paths.workdir)
    pids[name] = process.pid
    _write_pids(paths, pids)
    return process.pid


def status(workdir: Path | str = DEFAULT_WORKDIR) -> dict[str, bool]:
    """Whether each recorded daemon of the cluster in `workdir` is running (empty when none was started)."""
    paths = ClusterPaths(Path(workdir))
    return {name: _is_running(pid, name) for name, pid in recorded_pids(paths.workdir).items()}


def start(
    workdir: Path | str = DEFAULT_WORKDIR, cpus: int | None = None, timeout_s: float = START_TIMEOUT_S
) -> dict[str, str]:
    """Start (afresh) the cluster in `workdir` and wait until its node is idle; returns `cluster_env(workdir)`.

    A cluster already fully running there is reused. `cpus` defaults to the machine's `nproc`. On failure every
    daemon started so far is stopped and the error carries the tails of the daemons' logs.
    """
    paths = ClusterPaths(Path(workdir).resolve())
    env = cluster_env(paths.workdir)
    running = status(paths.workdir)
    if running and all(running.values()) and set(running) == set(DAEMONS):
        return env
    if running:
        stop(paths.workdir)
    missing = missing_programs()
    if missing:
        raise ClusterError(f"programs {missing} are missing; run `bash launchers/local_slurm.sh install`")
    paths.workdir.mkdir(parents=True, exist_ok=True)
    for folder in paths.generated_dirs():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
    paths.munge.chmod(0o755)  # munged insists its socket folder be world-executable
    key = paths.munge / "munge.key"
    key.write_bytes(secrets.token_bytes(1024))
    key.chmod(0o600)

    ports = {name: _free_port() for name in ("mariadbd", "slurmdbd", "slurmctld", "slurmd")}
    db_password = secrets.token_hex(16)
    paths.slurm_conf.write_text(_slurm_conf(paths, ports, cpus or os.cpu_count() or 1, _real_memory_mb()))
    paths.slurm_conf.chmod(0o644)
    paths.slurmdbd_conf.write_text(_slurmdbd_conf(paths, ports, db_password))
    paths.slurmdbd_conf.chmod(0o600)  # slurmdbd refuses a readable file holding StoragePass
    (paths.mysql / "init.sql").write_text(
        f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{db_password}';\n"
        "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';\n"
    )
    install_db = _client(
        [which("mariadb-install-db") or "mariadb-install-db", "--no-defaults", f"--datadir={paths.mysql / 'data'}",
         "--user=root", "--auth-root-authentication-method=socket", "--skip-test-db"],
        {}, timeout_s=timeout_s,
    )
    if install_db.returncode != 0:
        raise ClusterError(f"mariadb-install-db failed in {paths.mysql}: {install_db.stderr[-2000:]}")

    commands = _daemon_commands(paths, ports)
    ready = {
        "munged": lambda: paths.munge_socket.exists(),
        "mariadbd": lambda: _port_open(ports["mariadbd"]),
        "slurmdbd": lambda: _port_open(ports["slurmdbd"]),
        "slurmctld": lambda: _port_open(ports["slurmctld"]),
        "slurmd": lambda: node_state(paths.workdir) == "idle",
    }
    try:
        for name in DAEMONS:
            pid = _spawn(name, commands[name], paths, env)

            def up(name: str = name, pid: int = pid) -> bool:
                if _has_exited(pid):
                    raise ClusterError(f"{name} exited during start")
                return ready[name]()

            _wait_for(up, f"{name} to be ready", timeout_s)
    except (ClusterError, subprocess.TimeoutExpired) as error:
        tails = _log_tails(paths)
        stop(paths.workdir)
        raise ClusterError(f"local SLURM cluster in {paths.workdir} did not start: {error}\n{tails}") from error
    return env


def _cancel_all_jobs(env: dict[str, str], timeout_s: float) -> None:
    """Cancel every job so no job process outlives the daemons."""
    queued = _client(["squeue", "-h", "-o", "%A"], env, timeout_s=timeout_s)
    job_ids = queued.stdout.split()
    if queued.returncode != 0 or not job_ids:
        return
    _client(["scancel", *job_ids], env, timeout_s=timeout_s)

    def queue_empty() -> bool:
        done = _client(["squeue", "-h", "-o", "%A"], env, timeout_s=timeout_s)
        return done.returncode != 0 or not done.stdout.split()

    try:
        _wait_for(queue_empty, f"jobs {job_ids} to end after scancel", timeout_s, poll_s=0.3)
    except ClusterError as error:
        log.warning("%s; their processes may outlive the cluster", error)


def stop(workdir: Path | str = DEFAULT_WORKDIR, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
    """Cancel all jobs, then stop exactly the daemons recorded in `<workdir>/pids.json`; returns their names.

    SIGTERM first, SIGKILL for a daemon still alive after `timeout_s`. The workdir's files are left for inspection.
    """
    paths = ClusterPaths(Path(workdir).resolve())
    pids = recorded_pids(paths.workdir)
    if "slurmctld" in pids and _is_running(pids["slurmctld"], "slurmctld"):
        _cancel_all_jobs(cluster_env(paths.workdir), timeout_s)
    stopped = []
    for name in reversed(DAEMONS):
        pid = pids.get(name)
        if pid is None or not _is_running(pid, name):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            try:
                _wait_for(lambda pid=pid: _has_exited(pid), f"{name} ({pid}) to exit", timeout_s)
            except ClusterError:
                os.kill(pid, signal.SIGKILL)
                _wait_for(lambda pid=pid: _has_exited(pid), f"{name} ({pid}) to die", timeout_s)
        except ProcessLookupError:
            pass  # it exited on its own between the check and the signal
        stopped.append(name)
    paths.pids.unlink(missing_ok=True)
    return stopped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="launchers/local_slurm.sh", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["install", "wait-for-dpkg", "start", "stop", "status"])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR, help=f"default {DEFAULT_WORKDIR}")
    parser.add_argument("--cpus", type=int, default=None, help="CPUs of the node (default: nproc)")
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    exports = " ".join(f"{key}={value}" for key, value in cluster_env(workdir).items())
    try:
        if args.action == "install":
            installed = install()
            print(f"installed {installed}" if installed else "all SLURM programs are installed")
        elif args.action == "wait-for-dpkg":
            apt_get(["check", "-q"])  # install's path with an apt-get that installs nothing but takes the dpkg lock
            print("apt and dpkg locks are free")
        elif args.action == "start":
            began = time.monotonic()
            start(workdir, cpus=args.cpus)
            print(f"cluster up in {time.monotonic() - began:.1f} s; point clients at it with:\nexport {exports}")
        elif args.action == "stop":
            print(f"stopped {stop(workdir) or 'nothing (no daemon was running)'}")
        else:
            daemons = status(workdir)
            for name, alive in daemons.items():
                print(f"{name:10s} {'running' if alive else 'not running'}")
            if daemons and all(daemons.values()):
                print(f"node {node_name()}: {node_state(workdir)}\nexport {exports}")
            return 0 if daemons and all(daemons.values()) else 1
    except ClusterError as error:  # not a bug: the machine is not ready (exit 2, as snpdiff's user errors)
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
