"""What the console shows: one line per event, no third-party advertisements, no dependency warnings a user cannot
act on (the model summary with real figures is ``snpdiff.training.callbacks.ModelSummary``).

``setup_console()`` is called by ``train.py`` once Hydra has configured logging (its console and ``<task>.log``
handlers on the root logger):

- Lightning puts a handler of its own on its loggers (``lightning``, ``lightning.pytorch``, ``lightning.fabric``)
  when it is imported; with Hydra's root handlers as well, each message would appear twice, or bypass the run's log
  file. Those handlers are removed and the loggers propagate to the root: each message once, on the console and in
  the log file.
- Lightning logs an advertisement for its LitLogger product whenever a Trainer has no LitLogger; a logging filter
  drops records that advertise (``ADVERTISEMENT_MARKERS``), nothing else.
- Warnings filtered at their source (``DEPENDENCY_WARNINGS``): each names the message, category and the module that
  triggers it, so the same warning raised by snpdiff's own code still shows.
- Records marked ``SHOWN_BY_PROGRESS_BAR`` (the epoch lines of ``snpdiff.training.progress.ProgressLog`` while a
  progress bar is on) are kept off handlers that write to a terminal, where the bar shows the same figures and a line
  written under it garbles it; the log file, and a console redirected to a file, keep them.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
# the logger Lightning's rank_zero_info/rank_zero_warn write to (lightning.pytorch.utilities.rank_zero sets it)
LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
ADVERTISEMENT_MARKERS = ("litlogger",)
# a log record attribute (``logger.info(..., extra={SHOWN_BY_PROGRESS_BAR: True})``): a progress bar shows the same
SHOWN_BY_PROGRESS_BAR = "shown_by_progress_bar"


@dataclass(frozen=True)
class DependencyWarning:
    """A warning filter: ``action`` for warnings whose text starts with ``message`` (a regex), raised with
    ``category`` from a module matching ``module``. ``why`` says why the user need not see it (or only once)."""

    message: str
    category: type[Warning]
    module: str
    action: str
    why: str


# (message, category, module, action, why)
DEPENDENCY_WARNINGS = (
    DependencyWarning(
        r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"lightning\.pytorch\.utilities\._pytree",
        "ignore",
        "torch>=2.10 deprecates LeafSpec, which Lightning's own pytree helper still builds; only Lightning can act",
    ),
    DependencyWarning(
        r"The `srun` command is available on your system but is not used", UserWarning,
        r"lightning\.fabric\.plugins\.environments\.slurm", "ignore",
        "Lightning's hint (prepend srun) is not how snpdiff runs on SLURM: hydra/launcher=slurm does, with srun",
    ),
)


class DropAdvertisements(logging.Filter):
    """A logging filter that drops records advertising another product (``ADVERTISEMENT_MARKERS``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().lower()
        return not any(marker in message for marker in ADVERTISEMENT_MARKERS)


class DropWhatTheProgressBarShows(logging.Filter):
    """A handler filter that drops records marked ``SHOWN_BY_PROGRESS_BAR``."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, SHOWN_BY_PROGRESS_BAR, False)


def writes_to_terminal(handler: logging.Handler) -> bool:
    """Whether ``handler`` writes to a terminal (a console handler whose stream is a TTY; never a log file)."""
    stream = getattr(handler, "stream", None)
    return not isinstance(handler, logging.FileHandler) and stream is not None and stream.isatty()


def keep_progress_lines_off_terminals() -> None:
    """Add ``DropWhatTheProgressBarShows`` to the root handlers that write to a terminal."""
    for handler in logging.getLogger().handlers:
        if writes_to_terminal(handler) and not any(isinstance(f, DropWhatTheProgressBarShows) for f in handler.filters):
            handler.addFilter(DropWhatTheProgressBarShows())


def route_lightning_logs() -> None:
    """Send Lightning's log records through the root logger's handlers only (when the root has handlers)."""
    if not logging.getLogger().handlers:
        return  # no root handlers (a plain script): Lightning's own handlers are the only way its INFO lines show
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.propagate = True


def filter_dependency_warnings() -> None:
    """Install the ``DEPENDENCY_WARNINGS`` filters (each targeted: message, category and source module)."""
    for item in DEPENDENCY_WARNINGS:
        warnings.filterwarnings(item.action, message=item.message, category=item.category, module=item.module)


def setup_console() -> None:
    """Route Lightning's logs to the root handlers, drop advertisements, keep the progress lines a bar shows off
    terminals and filter dependency warnings (idempotent)."""
    route_lightning_logs()
    keep_progress_lines_off_terminals()
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(f, DropAdvertisements) for f in rank_zero.filters):
        rank_zero.addFilter(DropAdvertisements())
    filter_dependency_warnings()
