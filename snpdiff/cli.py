"""What the four entry points share: one way to end on a user error.

A user error (an ``SnpdiffError``: bad config, bad file, bad sweep) prints ``error: <message>`` on stderr and exits
with status 2, before any work starts where it can be found early. Anything else is a bug and keeps its traceback
(exit status 1).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from snpdiff.errors import SnpdiffError

USER_ERROR_EXIT_CODE = 2
T = TypeVar("T")


def fail(message: str) -> None:
    """Print ``error: message`` on stderr and exit with status 2 (for argument errors found by an entry point)."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_EXIT_CODE)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn an ``SnpdiffError`` raised inside the block into ``error: <message>`` and exit status 2."""
    try:
        yield
    except SnpdiffError as exc:
        fail(str(exc))


def run_or_exit(function: Callable[..., T], *args, **kwargs) -> T:
    """``function(*args, **kwargs)``, ending the process as ``user_errors`` does on an ``SnpdiffError``."""
    with user_errors():
        return function(*args, **kwargs)
