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
| 4 | ``TRIALS_FAILING_EXIT_CODE``: a sweep agent stopped: ``--max-consecutive-failures`` trials failed in a row |
| 130, 143 | a signal stopped training (SIGINT, Ctrl-C: 130; SIGTERM: 143, as a shell reports them); resumable |

Each ``SnpdiffError`` exits with its ``exit_code`` (``snpdiff.errors``: 2, ``TrainingDiverged`` 3,
``TrainingStopped`` 128 + the signal's number: its line says how to resume, ``ckpt_path=last`` in the same
``hydra.run.dir``).
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

from snpdiff.errors import SnpdiffError, TrainingDiverged

if TYPE_CHECKING:
    from hydra.errors import CompactHydraException
    from omegaconf import DictConfig

USER_ERROR_EXIT_CODE = SnpdiffError.exit_code
DIVERGED_EXIT_CODE = TrainingDiverged.exit_code
TRIALS_FAILING_EXIT_CODE = 4
T = TypeVar("T")


def fail(message: str, exit_code: int = USER_ERROR_EXIT_CODE) -> None:
    """Print ``error: message`` on stderr and exit with ``exit_code`` (for argument errors found by an entry point:
    2)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(exit_code)


def refused_target_message(error: BaseException) -> str | None:
    """The user error for a ``_target_`` Hydra's ``instantiate`` would not build: one it refuses by its target policy
    (``os.remove``, ``builtins.exit``, ...: no cause) or cannot import (an ``ImportError`` as its cause), as one line
    naming the config key. None for any other error, such as one a constructor raised (a bug keeps its traceback)."""
    from hydra.errors import InstantiationException

    if not isinstance(error, InstantiationException) or not (
        error.__cause__ is None or isinstance(error.__cause__, ImportError)
    ):
        return None
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    key = next((line.removeprefix("full_key:").strip() for line in lines if line.startswith("full_key:")), "")
    reason = " ".join(line for line in lines if not line.startswith("full_key:"))
    return f"cannot build {key or 'a node'} from the config: {reason}"


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``SnpdiffError`` raised inside the block into ``error: <message>`` and its ``exit_code``, also one that a
    component's constructor raised inside Hydra's ``instantiate`` (which wraps it in an ``InstantiationException``),
    and a ``_target_`` that ``instantiate`` refuses or cannot find (``refused_target_message``, exit status 2)."""
    try:
        yield
    except SnpdiffError as exc:
        fail(str(exc), exc.exit_code)
    except Exception as exc:
        from hydra.errors import InstantiationException

        if isinstance(exc, InstantiationException) and isinstance(exc.__cause__, SnpdiffError):
            fail(str(exc.__cause__), exc.__cause__.exit_code)
        refused = refused_target_message(exc)
        if refused is not None:
            fail(refused)
        raise


def run_or_exit(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)``, ending the process as ``user_errors`` does on an ``SnpdiffError``."""
    with user_errors():
        return function(*args, **kwargs)


def checked(config_name: str) -> Callable[[Callable[[DictConfig], T]], Callable[[DictConfig], T]]:
    """Under ``@hydra.main``: the composed config is checked against its schema (``snpdiff.config.check_composed``)
    before the app's function runs; a problem ends as ``error: invalid config: ...`` and exit status 2, before any
    heavy library loads. The same for every entry point: compose, check, one call."""

    def decorate(function: Callable[[DictConfig], T]) -> Callable[[DictConfig], T]:
        @functools.wraps(function)  # Hydra reads the app's file (conf/, the task name) through __wrapped__
        def app(cfg: DictConfig) -> T:
            from snpdiff.config import check_composed

            run_or_exit(check_composed, cfg, config_name)
            return function(cfg)

        return app

    return decorate


def unknown_override_message(error: BaseException, config_name: str) -> str | None:
    """The user error for Hydra's "Could not override 'model.chanels'" (a key the composed config lacks, given
    without ``+``): the key, what is allowed there and the closest allowed key; for an argument of a ``_target_``
    that ``conf/`` does not list (a user's own), how to add it with ``+``. None for any other error."""
    from snpdiff.config.compose import missing_override_key
    from snpdiff.config.schema import unknown_key_message

    missing = missing_override_key(error, config_name)
    if missing is None:
        return None
    path, owner, allowed = missing
    if path.rpartition(".")[2] in allowed:
        return f"'{path}' is an argument of {owner} that the config does not list; add it with '+{path}=<value>'"
    return unknown_key_message(path, owner, allowed)


def _short_report(error: CompactHydraException) -> None:
    """Hydra's own short report of one of its errors (its message, and OmegaConf's beneath), exit status 1."""
    from omegaconf.errors import OmegaConfBaseException

    print(error, file=sys.stderr)
    if isinstance(error.__cause__, OmegaConfBaseException):
        print(error.__cause__, file=sys.stderr)
    raise SystemExit(1)


def run_hydra_app(main: Callable[[], Any], config_name: str) -> None:
    """Run the ``@hydra.main`` app ``main`` (``config_name``: its primary config): an override of a key the config
    lacks (``model.chanels=8``) ends as ``error: unknown key ...; allowed: ...; did you mean ...?`` and exit status
    2, before any work starts.

    Hydra composes before the app's function runs and reports its errors itself, unless ``HYDRA_FULL_ERROR`` is set
    (Hydra's documented switch): then they reach this caller, which reads them. Other composition errors get Hydra's
    short report; any other error is a bug and keeps its whole traceback (exit status 1).
    """
    from hydra.errors import CompactHydraException

    previous = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except Exception as exc:
        message = unknown_override_message(exc, config_name)
        if message is not None:
            fail(message)
        if isinstance(exc, OSError) and exc.errno == errno.ENAMETOOLONG:
            fail(
                f"{exc.filename}: a file or folder name in this path is longer than the file system allows "
                f"({os.strerror(errno.ENAMETOOLONG)}; at most 255 bytes a name); choose a shorter hydra.run.dir "
                "or path"
            )
        if isinstance(exc, CompactHydraException):
            _short_report(exc)
        raise
    finally:
        if previous is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = previous
