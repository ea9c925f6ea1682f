"""How the four entry points end on a user error.

A user error (an ``SnpdiffError``: bad config, bad file, bad sweep) prints ``error: <message>`` on stderr and exits
with status 2, before any work starts where it can be found early. Anything else is a bug and keeps its traceback
(exit status 1).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from snpdiff.errors import SnpdiffError

USER_ERROR_EXIT_CODE = 2
T = TypeVar("T")


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2 (for argument errors found by an entry point)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_EXIT_CODE)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``SnpdiffError`` raised inside the block into ``error: <message>`` and exit status 2, also one that a
    component's constructor raised inside Hydra's ``instantiate`` (which wraps it in an ``InstantiationException``)."""
    try:
        yield
    except SnpdiffError as exc:
        fail(str(exc))
    except Exception as exc:
        from hydra.errors import InstantiationException

        if isinstance(exc, InstantiationException) and isinstance(exc.__cause__, SnpdiffError):
            fail(str(exc.__cause__))
        raise


def run_or_exit(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)``, ending the process as ``user_errors`` does on an ``SnpdiffError``."""
    with user_errors():
        return function(*args, **kwargs)


def unknown_override_message(error: BaseException, config_name: str) -> str | None:
    """The user error for Hydra's "Could not override 'model.chanels'" (a key the composed config lacks, given
    without ``+``): the key, what is allowed there and the closest allowed key. None for any other error."""
    from hydra.errors import ConfigCompositionException
    from omegaconf import DictConfig
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from snpdiff.config.schema import PASSED_BY_CODE, target_schema, unknown_key_message

    cause = error.__cause__
    not_in_config = isinstance(cause, (ConfigKeyError, ConfigAttributeError))  # "Key '...' is not in struct"
    if not (isinstance(error, ConfigCompositionException) and not_in_config):
        return None
    node, path = cause.parent_node, str(cause.full_key or "")
    if not isinstance(node, DictConfig) or not path:
        return None
    parent = path.rpartition(".")[0]
    owner = parent or f"conf/{config_name}.yaml"
    allowed = {str(key) for key in node if not str(key).startswith("_")} - {"hydra"}
    target = node.get("_target_")
    if isinstance(target, str):
        owner = target
        try:  # the target's signature names every argument, also those the config file leaves at their defaults
            allowed |= set(target_schema(target, PASSED_BY_CODE.get(path.split(".")[0], frozenset())).keys)
        except (ImportError, AttributeError, ValueError):
            pass
    return unknown_key_message(path, owner, sorted(allowed))


@contextmanager
def unknown_keys_as_user_errors(config_name: str) -> Iterator[None]:
    """Around a ``@hydra.main`` app: an override of a key the config lacks (``model.chanels=8``, no ``+``) ends as
    ``error: unknown key ...; allowed: ...; did you mean ...?`` and exit status 2, before any work starts.

    Hydra composes before the app's function runs and reports composition errors itself; this wraps that reporter
    while the block runs (``snpdiff.compat.hydra_error_reporter``). Every other error keeps Hydra's usual report.
    """
    from snpdiff.compat import hydra_error_reporter

    def checked(function: Callable[[], Any]) -> Any:
        try:
            return function()
        except Exception as exc:
            message = unknown_override_message(exc, config_name)
            if message is None:
                raise
            fail(message)

    with hydra_error_reporter(checked):
        yield
