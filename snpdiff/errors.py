"""One exception type per domain, every one snpdiff raises on purpose. Each message names the key, file or value at
fault and what is allowed; ``exit_code`` is the entry point's exit status when it ends the process
(``snpdiff.cli.exit``)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any


class SnpdiffError(Exception):
    """Base class for every error snpdiff raises on purpose: a user error, exit status 2."""

    exit_code = 2


class ConfigError(SnpdiffError, ValueError):
    """A config key or value is unknown or invalid (raised before training starts)."""


def checked_by(check: Callable[..., list[str]]) -> Callable[[Callable], Callable]:
    """Decorate a constructor: its arguments, defaults applied, go to ``check`` (``check(**arguments)`` -> the
    problems found, each naming its config key) before it runs, and any problem is one ``ConfigError``
    ``invalid <Class> configuration:`` listing them all."""

    def decorate(init: Callable) -> Callable:
        signature = inspect.signature(init)

        @functools.wraps(init)
        def checked_init(self: Any, *args: Any, **kwargs: Any) -> None:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            problems = check(**{name: value for name, value in bound.arguments.items() if name != "self"})
            if problems:
                listed = "\n  - ".join(problems)
                raise ConfigError(f"invalid {type(self).__name__} configuration:\n  - {listed}")
            init(self, *args, **kwargs)

        return checked_init

    return decorate


class DataError(SnpdiffError, ValueError):
    """A genotype file or data selection is unusable (raised before training starts)."""


class SweepError(SnpdiffError, ValueError):
    """A sweep file, sweep id or sweep backend is unusable."""


class RunFolderError(SnpdiffError):
    """The run folder cannot be written (no space left) or another training run holds it (``RunLock``)."""


class StorageFault(SweepError):
    """A sweep's storage refused a read or a write (a full disk, a lost database server): the agent ends its trial as
    failed where the storage still takes that, and stops with this one-line message. A ``SweepError``, so the sweep
    commands end with the same ``error: ...`` line as for any other unusable sweep."""


class ClusterError(SnpdiffError, RuntimeError):
    """The SLURM cluster or a job on it is unusable (daemon did not start, job failed to submit, wait timed out)."""


class TrainingDiverged(SnpdiffError):
    """A non-finite training loss stopped the run. ``info``: ``{"step", "epoch", "loss" ("nan", "inf" or "-inf"),
    "lr"}``, as ``metrics.json``'s ``diverged`` holds it. Exit status 3, apart from user errors: a sweep counts the
    trial as diverged."""

    exit_code = 3

    def __init__(self, info: dict[str, Any]):
        self.info = info
        super().__init__(
            f"training diverged at step {info['step']} (epoch {info['epoch']}): loss={info['loss']}, "
            f"lr={info['lr']:g}; lower optimizer.lr or warm it up (scheduler=warmup_cosine)"
        )


class TrainingStopped(SnpdiffError):
    """A signal stopped training before its end (SIGTERM: ``scancel``, a time limit, ``kill``; SIGINT: Ctrl-C); the
    run folder's ``last.ckpt`` resumes it. Exit status 128 + the signal's number, as a shell reports a process that
    signal ended: 143 for SIGTERM, 130 for SIGINT, never 0 (finished)."""

    def __init__(self, signal_name: str, signal_number: int, done: str, resume: str):
        self.exit_code = 128 + signal_number
        super().__init__(f"training stopped by {signal_name} {done}; it can be resumed: {resume}")
