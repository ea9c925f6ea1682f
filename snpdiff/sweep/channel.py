"""The wire between a local-sweep trial's reporter and its agent: one socket pair, one JSON line per report.

The agent creates the pair, the trial inherits one end (its file descriptor in ``$SNPDIFF_SWEEP_CHANNEL``). After each
validation epoch the trial's ``snpdiff.sweep.reporter.SweepTrialReporter`` sends ``{"epoch": e, "value": v}`` and
reads one word back: ``go``, or ``stop`` (pruned, or the trial no longer runs in the sweep). Kept apart from the
reporter so the agent, which serves the other end, never imports Lightning.
"""

from __future__ import annotations

import json

CHANNEL_ENV = "SNPDIFF_SWEEP_CHANNEL"
GO, STOP = b"go", b"stop"


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
