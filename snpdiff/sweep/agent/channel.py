"""The wire between a local-sweep trial's reporter and its agent: one socket pair, one JSON line per report.

The agent creates the pair (``ReportChannel``), the trial inherits one end (its file descriptor in
``$SNPDIFF_SWEEP_CHANNEL``). After each validation epoch the trial's
``snpdiff.sweep.reporter.SweepTrialReporter`` sends ``{"epoch": e, "value": v}`` and reads one word back:
``go``, or ``stop`` (pruned, or the trial no longer runs in the sweep). Kept apart from the reporter so the agent,
which serves the other end, never imports Lightning; the reporter, for its part, needs only the wire's format.
"""

from __future__ import annotations

import json
import select
import socket
from typing import TYPE_CHECKING

from snpdiff.sweep.agent.trial import agent_say

if TYPE_CHECKING:  # the agent's side only: a trial's reporter reads the format above
    from snpdiff.sweep.agent.interface import ClaimedTrial, TrialQueue

CHANNEL_ENV = "SNPDIFF_SWEEP_CHANNEL"
GO, STOP = b"go", b"stop"
# how long the agent waits for the rest of a report line the trial has begun to send
REPORT_READ_TIMEOUT_S = 10.0


def report_line(epoch: int, value: float) -> bytes:
    """What a trial sends its agent after ``epoch`` epochs."""
    return (json.dumps({"epoch": epoch, "value": value}) + "\n").encode()


def read_report(line: bytes) -> tuple[int, float]:
    """The (epoch, value) of a report line; ValueError when it is not one."""
    try:
        report = json.loads(line)
        return int(report["epoch"]), float(report["value"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a report line ({exc}): {line[:200]!r}") from None


class ReportChannel:
    """The agent's end of a trial's report channel (a socket pair; the trial inherits ``trial_fd``): each report the
    trial's reporter sends goes to ``backend.report`` and is answered ``go`` or ``stop``. A malformed line, or a report
    the storage fails to take, is answered ``go`` (and said): a storage hiccup neither stops the trial nor the agent.
    A trial that closes its end (it ended) or stalls mid-line closes the channel."""

    def __init__(self, backend: TrialQueue, claimed: ClaimedTrial) -> None:
        self.backend, self.claimed = backend, claimed
        self.socket: socket.socket | None
        self.socket, self._trial_end = socket.socketpair()
        self.socket.settimeout(REPORT_READ_TIMEOUT_S)
        self._lines = self.socket.makefile("rb")
        self.trial_fd = self._trial_end.fileno()

    def started(self) -> None:
        """The trial holds its copy of its end now: close the agent's (so the trial's exit reads as end of file)."""
        self._trial_end.close()

    def serve(self, timeout: float) -> None:
        """Answer the report that arrives within ``timeout`` seconds, if one does."""
        if self.socket is not None and select.select([self.socket], [], [], timeout)[0]:
            self.answer()

    def answer(self) -> None:
        """Read one report (the socket is readable) and answer it."""
        try:
            line = self._lines.readline()
        except OSError:
            line = b""
        if not line:
            self.close()
            return
        try:
            epoch, value = read_report(line)
        except ValueError as exc:
            agent_say(f"trial {self.claimed.number}: ignored a report: {exc}")
            reply = GO
        else:
            try:
                reply = STOP if self.backend.report(self.claimed, epoch, value) else GO
            except Exception as exc:  # noqa: BLE001 - the storage's errors (e.g. a lock timeout): the trial goes on
                agent_say(f"trial {self.claimed.number}: could not report epoch {epoch} to the sweep ({exc}); it goes "
                          "on")
                reply = GO
        try:
            self.socket.sendall(reply + b"\n")
        except OSError:  # the trial ended meanwhile
            self.close()

    def close(self) -> None:
        if self.socket is not None:
            self._lines.close()
            self.socket.close()
            self.socket = None
        self._trial_end.close()
