"""How the four entry points end on a user error.

A user error (an ``SnpdiffError``: bad config, bad file, bad sweep, a full disk) prints ``error: <message>`` on
stderr and exits with status 2, before any work starts where it can be found early. Anything else is a bug and keeps
its traceback (exit status 1). The exit statuses:

| status | meaning |
|---|---|
| 0 | done |
| 1 | a bug (traceback) |
| 2 | ``USER_ERROR_EXIT_CODE``: a user error, also no space left on device and a run folder in use |
| 3 | ``DIVERGED_EXIT_CODE``: training diverged (a non-finite training loss); ``metrics.json`` says where |

An ``SnpdiffError`` with an ``exit_code`` attribute (``snpdiff.training.callbacks.TrainingDiverged``) exits with it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from snpdiff.errors import SnpdiffError

USER_ERROR_EXIT_CODE = 2
DIVERGED_EXIT_CODE = 3
T = TypeVar("T")


def fail(message: str, exit_code: int = USER_ERROR_EXIT_CODE) -> None:
    """Print ``error: message`` on stderr and exit with ``exit_code`` (for argument errors found by an entry point:
    2)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(exit_code)


def _exit_code(error: SnpdiffError) -> int:
    return getattr(error, "exit_code", USER_ERROR_EXIT_CODE)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``SnpdiffError`` raised inside the block into ``error: <message>`` and exit status 2, also one that a
    component's constructor raised inside Hydra's ``instantiate`` (which wraps it in an ``InstantiationException``)."""
    try:
        yield
    except SnpdiffError as exc:
        fail(str(exc), _exit_code(exc))
    except Exception as exc:
        from hydra.errors import InstantiationException

        if isinstance(exc, InstantiationException) and isinstance(exc.__cause__, SnpdiffError):
            fail(str(exc.__cause__), _exit_code(exc.__cause__))
        raise


def run_or_exit(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)``, ending the process as ``user_errors`` does on an ``SnpdiffError``."""
    with user_errors():
        return function(*args, **kwargs)


def unknown_override_message(error: BaseException, config_name: str) -> str | None:
    """The user error for Hydra's "Could not override 'model.chanels'" (a key the composed config lacks, given
    without ``+``): the key, what is allowed there and the closest allowed key; for an argument of the node's
    ``_target_`` that the config does not list, how to add it with ``+``. None for any other error."""
    from snpdiff.config.compose import missing_override_key
    from snpdiff.config.schema import unknown_key_message

    missing = missing_override_key(error, config_name)
    if missing is None:
        return None
    path, owner, allowed = missing
    if path.rpartition(".")[2] in allowed:
        return f"'{path}' is an argument of {owner} that the config does not list; add it with '+{path}=<value>'"
    return unknown_key_message(path, owner, allowed)


class _AddArgument(BaseException):
    """Out of Hydra's error reporter (which catches every ``Exception``): compose again with ``+<key>=...``."""

    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _given_without_plus(argument: str, key: str) -> bool:
    return argument.partition("=")[0] == key


@contextmanager
def unknown_keys_as_user_errors(config_name: str, add_arguments: bool = False) -> Iterator[None]:
    """Around a ``@hydra.main`` app: an override of a key the config lacks (``model.chanels=8``, no ``+``) ends as
    ``error: unknown key ...; allowed: ...; did you mean ...?`` and exit status 2, before any work starts.

    Hydra composes before the app's function runs and reports composition errors itself; this wraps that reporter
    while the block runs (``snpdiff.compat.hydra_error_reporter``). Every other error keeps Hydra's usual report.
    ``add_arguments``: an argument of the node's ``_target_`` given on the command line raises ``_AddArgument``
    instead (``run_hydra_app`` composes again with it added).
    """
    from snpdiff.compat import hydra_error_reporter
    from snpdiff.config.compose import missing_override_key

    def checked(function: Callable[[], Any]) -> Any:
        try:
            return function()
        except Exception as exc:
            missing = missing_override_key(exc, config_name) if add_arguments else None
            if missing is not None:
                path, _, allowed = missing
                if path.rpartition(".")[2] in allowed and any(_given_without_plus(a, path) for a in sys.argv[1:]):
                    raise _AddArgument(path) from exc
            message = unknown_override_message(exc, config_name)
            if message is None:
                raise
            fail(message)

    with hydra_error_reporter(checked):
        yield


def run_hydra_app(main: Callable[[], Any], config_name: str) -> None:
    """Run the ``@hydra.main`` app ``main`` (``config_name``: its primary config) inside
    ``unknown_keys_as_user_errors``, where every argument of a component's constructor is settable without ``+``:
    ``trainer.limit_train_batches=3``, which Lightning's Trainer takes and ``conf/trainer`` leaves at its default,
    runs as ``+trainer.limit_train_batches=3`` (Hydra composes again with the ``+`` added on the command line, so
    ``.hydra/overrides.yaml`` records what ran). A key no constructor takes stays a user error with its
    did-you-mean."""
    from hydra.core.global_hydra import GlobalHydra

    while True:
        try:
            with unknown_keys_as_user_errors(config_name, add_arguments=True):
                main()
            return
        except _AddArgument as missing:
            sys.argv = [sys.argv[0], *(f"+{a}" if _given_without_plus(a, missing.key) else a for a in sys.argv[1:])]
            GlobalHydra.instance().clear()
