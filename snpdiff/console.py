"""What the console shows: one line per event, no third-party advertisements, no dependency warnings a user cannot
act on, and a model summary with real figures.

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
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from typing import Any

from lightning.pytorch.callbacks import ModelSummary as LightningModelSummary
from lightning.pytorch.utilities.model_summary.model_summary import get_formatted_model_size, get_human_readable_count

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_fabric")
# the logger Lightning's rank_zero_info/rank_zero_warn write to (lightning.pytorch.utilities.rank_zero sets it)
LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
ADVERTISEMENT_MARKERS = ("litlogger",)


@dataclass(frozen=True)
class DependencyWarning:
    """A warning filter: ``action`` for warnings whose text starts with ``message`` (a regex), raised with
    ``category`` from a module matching ``module``. ``why`` says why the user need not see it (or only once)."""

    message: str
    category: type[Warning]
    module: str
    action: str
    why: str


DEPENDENCY_WARNINGS = (
    DependencyWarning(
        message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        category=FutureWarning,
        module=r"lightning\.pytorch\.utilities\._pytree",
        action="ignore",
        why="torch>=2.10 deprecates LeafSpec, which Lightning's own pytree helper still builds; only Lightning can act",
    ),
    DependencyWarning(
        message=r"The `srun` command is available on your system but is not used",
        category=UserWarning,
        module=r"lightning\.fabric\.plugins\.environments\.slurm",
        action="ignore",
        why="Lightning's hint (prepend srun) is not how snpdiff runs on SLURM: hydra/launcher=slurm does, with srun",
    ),
)


class DropAdvertisements(logging.Filter):
    """A logging filter that drops records advertising another product (``ADVERTISEMENT_MARKERS``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().lower()
        return not any(marker in message for marker in ADVERTISEMENT_MARKERS)


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
    """Route Lightning's logs to the root handlers, drop advertisements and filter dependency warnings (idempotent)."""
    route_lightning_logs()
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(f, DropAdvertisements) for f in rank_zero.filters):
        rank_zero.addFilter(DropAdvertisements())
    filter_dependency_warnings()


def summary_text(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                 model_size: float, total_flops: int) -> str:
    """Lightning's layer table and totals, without a FLOPs column and total when none were measured (Lightning
    counts FLOPs only for a module with an ``example_input_array``)."""
    columns = [(name, values) for name, values in summary_data if name != "FLOPs" or total_flops]
    widths = [max(len(name), *(len(value) for value in values)) for name, values in columns]
    table = [[name for name, _ in columns], *zip(*(values for _, values in columns), strict=True)]
    rows = [" | ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in table]
    rows.insert(1, "-" * (sum(widths) + 3 * (len(widths) - 1)))
    totals = [(get_human_readable_count(trainable_parameters), "Trainable params"),
              (get_human_readable_count(total_parameters - trainable_parameters), "Non-trainable params"),
              (get_human_readable_count(total_parameters), "Total params"),
              (get_formatted_model_size(model_size), "Total estimated model params size (MB)")]
    if total_flops:
        totals.append((get_human_readable_count(total_flops), "Total FLOPs"))
    rows += [f"{value:<10} {label}" for value, label in totals]
    return "\n".join(rows)


class ModelSummary(LightningModelSummary):
    """Lightning's ``ModelSummary`` callback, logged as one record, with FLOPs only when they were measured."""

    @staticmethod
    def summarize(summary_data: list[tuple[str, list[str]]], total_parameters: int, trainable_parameters: int,
                  model_size: float, total_training_modes: dict[str, int], total_flops: int,
                  **summarize_kwargs: Any) -> None:
        text = summary_text(summary_data, total_parameters, trainable_parameters, model_size, total_flops)
        logging.getLogger(__name__).info("model summary:\n%s", text)

