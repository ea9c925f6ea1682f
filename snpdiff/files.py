"""The one atomic write of the project: every file that a kill or a full disk must not leave torn goes through it."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from snpdiff.errors import SnpdiffError

# errors of a write that more free space (or quota) would have let through
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def atomic_write(
    path: str | os.PathLike, data: bytes | memoryview | str, error: type[SnpdiffError] | None = None
) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` through a temporary file in the same folder, flushed to disk, and
    ``os.replace``: a kill, Ctrl-C or full disk leaves the previous file whole and no temporary file behind (a rename
    within one folder never copies). The temporary name carries the process id, so two writers never share one.

    With ``error``, a failed write raises ``error`` naming the file (``no space left on device writing <path>`` on a
    full disk or quota, else ``cannot write <path>: <reason>``); without it the ``OSError`` itself.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as file:
            file.write(data.encode() if isinstance(data, str) else data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # first: the space it took is what the next writes need; on a
            tmp.unlink(missing_ok=True)  # read-only mount there is none to remove, and the error is the write's
        if error is None or not isinstance(exc, OSError):
            raise
        if exc.errno in NO_SPACE_ERRNOS:
            raise error(f"no space left on device writing {path}") from exc
        raise error(f"cannot write {path}: {exc.strerror or exc}") from exc
