"""A local sweep's storage file that Optuna cannot read whole (cut short, overwritten, garbled): one message naming
the file, where it is damaged, and how to recover.

A journal file is one record per line, appended under the journal's lock. Optuna reads it up to its last whole record
and skips a partial (or garbled) one at its end, which a writer may still be appending. A last record Optuna skips that
is still there while the lock is held is damage (a copy or a disk that stopped mid-write): the next record would be
glued to it and Optuna could then read nothing past it, so it is refused with the command that cuts the journal back
to its last whole record, which is exactly what Optuna reads of it. A record Optuna cannot read before the end is
refused with how to keep the records before it. An SQLite file that SQLite cannot read is refused with SQLite's own
way to salvage it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import BinaryIO

from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from snpdiff.errors import SweepError

# what SQLite says of a file it cannot read as a database
SQLITE_DAMAGE = ("database disk image is malformed", "file is not a database")
_BLOCK = 1 << 16


def _line_start(file: BinaryIO, end: int) -> int:
    """Where the line that ends at byte ``end`` of ``file`` starts (after the newline before it; 0: the first)."""
    while end > 0:
        start = max(0, end - _BLOCK)
        file.seek(start)
        at = file.read(end - start).rfind(b"\n")
        if at >= 0:
            return start + at + 1
        end = start
    return 0


def _decodes(record: bytes) -> bool:
    try:
        json.loads(record)
    except ValueError:
        return False
    return True


def _damaged_end(path: Path) -> tuple[int, int] | None:
    """``(size, whole)`` when journal ``path`` ends in a record Optuna skips (cut short: no line end; or garbled): its
    size and the bytes up to its last whole record (None: it ends with a whole record, or is empty)."""
    size = path.stat().st_size
    if size == 0:
        return None
    with open(path, "rb") as file:
        file.seek(size - 1)
        ends_whole = file.read(1) == b"\n"
        last = _line_start(file, size - 1 if ends_whole else size)
        file.seek(last)
        if ends_whole and _decodes(file.read(size - last)):
            return None
    return size, last


def _unreadable(path: Path, detail: str) -> SweepError:
    return SweepError(f"sweep storage {path} {detail}: it is not an Optuna journal, or was damaged from its start; "
                      f"restore it from a backup, or move it away and create the sweep again with `sweep.py init`")


def check_journal_end(path: Path) -> None:
    """A SweepError when journal ``path`` ends in a record that Optuna skips and no writer is appending (checked again
    under the journal's lock; where the lock cannot be taken, e.g. on a read-only mount, no writer can append
    either): the next record appended would be glued to it."""
    if _damaged_end(path) is None:
        return
    lock = JournalFileSymlinkLock(str(path))
    try:
        locked = lock.acquire()
    except OSError:
        locked = False
    try:
        damaged = _damaged_end(path)
    finally:
        if locked:
            lock.release()
    if damaged is None:
        return
    size, whole = damaged
    with open(path, "rb") as file:
        first = file.readline(_BLOCK)  # a study's creation: a short record
    if whole == 0 or not _decodes(first):
        raise _unreadable(path, f"holds no record Optuna can read ({size} bytes)")
    raise SweepError(f"sweep storage {path} ends in a partial or garbled record (bytes {whole}-{size}: the file was "
                     "cut short or overwritten there); Optuna reads it up to its last whole record, which ends at "
                     f"byte {whole}: keep a copy and cut it there (cp {path} {path}.bak && truncate -s {whole} "
                     f"{path}), then run this again")


def damaged_journal(path: Path, exc: Exception) -> SweepError:
    """The error for journal ``path``, which Optuna failed to read with ``exc``: the first record Optuna's own reader
    stops at, and how to keep the records before it."""
    readable, stopped = 0, False
    try:
        for _ in JournalFileBackend(str(path)).read_logs(0):
            readable += 1
    except ValueError:  # JSON that does not decode, or a record without its line end before the last one
        stopped = True
    if not stopped:  # every record decodes, but Optuna cannot replay them
        return SweepError(f"sweep storage {path} is not a journal Optuna can replay ({type(exc).__name__}: {exc}); "
                          "restore it from a backup")
    if readable == 0:
        return _unreadable(path, "cannot be read from its first record")
    with open(path, "rb") as file:
        offset = sum(len(file.readline()) for _ in range(readable))
    return SweepError(f"sweep storage {path} is damaged at line {readable + 1} (byte {offset}): Optuna reads no record "
                      f"from there on; restore it from a backup, or keep the {readable} record(s) before it (cp {path} "
                      f"{path}.bak && head -c {offset} {path}.bak > {path}; what was recorded after them is lost)")


def sqlite_recovery(path: str) -> str:
    """How to recover SQLite file ``path`` that SQLite cannot read."""
    return (f"restore it from a backup, or salvage what it holds with `sqlite3 {path} .recover | sqlite3 "
            f"{path}.recovered` and move that file in its place (keep the damaged one aside)")


def is_sqlite_damage(reason: str) -> bool:
    """Whether SQLite's ``reason`` for refusing a file says the file is damaged."""
    return any(text in reason for text in SQLITE_DAMAGE)
