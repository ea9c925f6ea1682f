"""``sweep.py dashboard``: a local sweep in a browser, through the Optuna project's ``optuna-dashboard``.

The dashboard reads the sweep's storage while its agents write it, so it opens the storage exactly as an agent does
(``open_storage``: for a journal file the same ``JournalFileBackend`` and lock, so a half-written record is never
read) and behind ``ReadOnlyStorage``: the dashboard's own buttons that would write (delete or rename a study, tell a
trial, notes) are refused, so a click in a browser cannot change or delete a sweep that agents are running. It
serves with the standard library's WSGI server on one thread, as ``optuna_dashboard.run_server`` does, but binds
first, so a port in use or a bad host ends as one ``error:`` line at once (before the storage and the dashboard's
libraries load), and the address it prints is one that already listens.
"""

from __future__ import annotations

import abc
import errno
import ipaddress
import signal
import socket
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from optuna.storages import BaseStorage

from snpdiff.errors import SweepError
from snpdiff.sweep.store import SweepInfo, resolve_sweep

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # Ctrl-C, kill: exit status 130, 143 (128 + the signal)
WANDB_SWEEP_URL = "https://wandb.ai/{entity}/{project}/sweeps/{sweep_id}"
# BaseStorage's methods that only read: forwarded to the sweep's storage
READS = (
    "get_all_studies",
    "get_all_trials",
    "get_study_directions",
    "get_study_id_from_name",
    "get_study_name_from_id",
    "get_study_system_attrs",
    "get_study_user_attrs",
    "get_trial",
    "get_trial_id_from_study_id_trial_number",
    "get_trial_number_from_id",
    "get_n_trials",
    "get_best_trial",
    "remove_session",
)
# and those that write: refused
WRITES = (
    "create_new_study",
    "delete_study",
    "set_study_user_attr",
    "set_study_system_attr",
    "create_new_trial",
    "set_trial_param",
    "set_trial_state_values",
    "set_trial_intermediate_value",
    "set_trial_user_attr",
    "set_trial_system_attr",
)
S = TypeVar("S", bound=type)


def _forward(name: str) -> Callable[..., Any]:
    def method(self: ReadOnlyStorage, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.storage, name)(*args, **kwargs)

    method.__name__ = name
    return method


def _refuse(name: str) -> Callable[..., Any]:
    def method(self: ReadOnlyStorage, *args: Any, **kwargs: Any) -> Any:
        raise PermissionError(
            f"the sweep dashboard is read-only ({name} refused): the sweep's agents own its "
            "storage; change a sweep with sweep.py"
        )

    method.__name__ = name
    return method


def _read_only(cls: S) -> S:
    """Fill ``cls`` with ``READS`` forwarded and ``WRITES`` refused; an Optuna that adds an abstract method makes
    the class abstract, so ``ReadOnlyStorage(...)`` fails at once rather than a page later."""
    for name in READS:
        setattr(cls, name, _forward(name))
    for name in WRITES:
        setattr(cls, name, _refuse(name))
    return abc.update_abstractmethods(cls)


@_read_only
class ReadOnlyStorage(BaseStorage):
    """An Optuna storage that reads ``storage`` and refuses every write with a ``PermissionError`` (the dashboard
    answers that request with an error; nothing reaches the sweep)."""

    def __init__(self, storage: BaseStorage):
        self.storage = storage


def _serve_until_stopped(server: WSGIServer, lines: list[str]) -> int:
    """Print ``lines`` (the address: the signals are caught by then) and serve until SIGINT or SIGTERM; the exit
    status 128 + its number, as for a stopped training. The signal asks
    the server to shut down (from a thread: ``shutdown`` waits for the serving loop) rather than raising where it
    lands: wsgiref's request handling catches everything, KeyboardInterrupt too, so a signal arriving mid-request
    would be swallowed. Both are caught here, not left to Python, so Ctrl-C also stops a server that a shell started
    with SIGINT ignored (a script's ``&``)."""
    stopped: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if not stopped:
            threading.Thread(target=server.shutdown, daemon=True).start()
        stopped.append(signum)

    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        print("\n".join(lines), flush=True)
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print(f"dashboard stopped ({signal.Signals(stopped[0]).name})", file=sys.stderr, flush=True)
    return 128 + stopped[0]


def _wandb_message(info: SweepInfo) -> str:
    """What to say for a W&B sweep: W&B has its own dashboard, at this URL when it is known."""
    url = info.url
    if not url and info.entity and info.project:
        url = WANDB_SWEEP_URL.format(entity=info.entity, project=info.project, sweep_id=info.sweep_id)
    where = url or f"wandb.ai, project {info.project or 'snpdiff'}"
    return f"sweep {info.sweep_id} is a W&B sweep; W&B has its own dashboard: {where}"


def check_local_sweep(info: SweepInfo) -> None:
    """A SweepError, before anything is opened, for a W&B sweep or a storage file that is gone (opening it would
    create an empty one)."""
    from snpdiff.sweep.backends.local import storage_place

    if info.backend != "local":
        raise SweepError(_wandb_message(info))
    url = info.storage or ""
    file_kind = url.startswith(("sqlite:///", "journal:")) or ("://" not in url and url.endswith((".log", ".journal")))
    if file_kind and not Path(storage_place(url)).expanduser().is_file():
        raise SweepError(
            f"sweep {info.sweep_id}: its storage {storage_place(url)} does not exist; was it moved or deleted?"
        )


def open_sweep_storage(info: SweepInfo) -> tuple[ReadOnlyStorage, int]:
    """The local sweep's storage, read-only, and its study's id there; a SweepError for a storage without the
    sweep."""
    from snpdiff.sweep.backends.local import LocalBackend

    backend = LocalBackend(info)  # opens it as agents do and checks that the sweep is in it
    return ReadOnlyStorage(backend.storage), backend.study_id


def _dashboard_app(storage: BaseStorage) -> Callable[..., Any]:
    """optuna-dashboard's WSGI application on ``storage``."""
    try:
        import optuna_dashboard
    except ImportError:
        raise SweepError("sweep.py dashboard needs optuna-dashboard: pip install optuna-dashboard") from None
    return optuna_dashboard.wsgi(storage)


class _QuietHandler(WSGIRequestHandler):
    """No line per request on the terminal (a page polls the server every few seconds); errors still print."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the standard library's name
        pass


def _listen(host: str, port: int) -> WSGIServer:
    """A WSGI server bound to ``host:port`` (0: a free port), of the address family ``host`` resolves to, its
    application still to set; a SweepError naming the option to change when the host is unknown or the port taken
    or not allowed (found in a moment, before the storage and the dashboard's libraries load)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as exc:
        raise SweepError(f"--host {host!r}: cannot resolve it ({exc}); use an address such as 127.0.0.1") from None
    server_class = type("DashboardServer", (WSGIServer,), {"address_family": family})
    try:
        return server_class((host, port), _QuietHandler)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise SweepError(
                f"--port {port}: already in use on {host} (another dashboard?); choose another port, or "
                "--port 0 for any free one"
            ) from None
        if exc.errno == errno.EACCES:
            raise SweepError(
                f"--port {port}: not allowed for this user on {host} (ports below 1024 need root); "
                "choose one from 1024 to 65535"
            ) from None
        raise SweepError(f"--host {host} --port {port}: cannot listen there: {exc.strerror or exc}") from None


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _address(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/dashboard"


def serve_dashboard(ref: str | None, sweeps_dir: str | Path | None, host: str, port: int) -> int:
    """Serve the dashboard of sweep ``ref`` on ``host:port`` until Ctrl-C (exit status 130) or SIGTERM (143); prints
    its address once the server listens."""
    from snpdiff.sweep.backends.local import storage_place

    info = resolve_sweep(ref, sweeps_dir)
    check_local_sweep(info)
    server = _listen(host, port)
    try:
        storage, study_id = open_sweep_storage(info)
        server.set_app(_dashboard_app(storage))
    except BaseException:
        server.server_close()
        raise
    address = _address(host, server.server_address[1])
    lines = [
        f"dashboard of sweep {info.sweep_id}: {address}/studies/{study_id}",
        f"all studies of its storage ({storage_place(info.storage or '')}, read-only): {address}",
    ]
    if not _is_loopback(host):
        lines.append(f"note: --host {host} lets other machines reach the dashboard, which has no login")
    return _serve_until_stopped(server, [*lines, "stop it with Ctrl-C"])
