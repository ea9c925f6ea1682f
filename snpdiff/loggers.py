"""Experiment loggers: W&B (online with credentials, offline without, never a prompt) and CSV.

The W&B API key is read by wandb from the environment or ~/.netrc; snpdiff never copies it anywhere.
"""

from __future__ import annotations

import logging
import netrc
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)
RUN_ID_FILE = "wandb_run_id.txt"


def wandb_credentials_source() -> str | None:
    """Where W&B credentials come from (``"WANDB_API_KEY"`` or ``"~/.netrc"``), or None when there are none."""
    if os.environ.get("WANDB_API_KEY"):
        return "WANDB_API_KEY"
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        if netrc.netrc().authenticators(host):
            return "~/.netrc"
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        pass
    return None


def wandb_mode(requested: str | None) -> str:
    """The W&B mode to use: the requested one, else WANDB_MODE, else online with credentials and offline without."""
    if requested:
        return requested
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if wandb_credentials_source():
        return "online"
    log.warning("W&B: no credentials (WANDB_API_KEY or `wandb login`); logging offline. Upload later: wandb sync")
    return "offline"


def _run_id(output_dir: Path, resuming: bool) -> str | None:
    """The W&B run id of this output folder: reused when resuming, so the run continues instead of restarting."""
    if os.environ.get("WANDB_RUN_ID"):  # set by a W&B sweep agent (or a requeued job): wandb uses it
        return None
    id_file = output_dir / RUN_ID_FILE
    if resuming and id_file.is_file():
        return id_file.read_text().strip()
    run_id = uuid.uuid4().hex[:8]
    id_file.write_text(run_id)
    return run_id


def build_loggers(logger_cfg: dict[str, Any], output_dir: Path, resuming: bool) -> list:
    """Lightning loggers named in the ``logger`` config group (``wandb``, ``csv``), writing under ``output_dir``."""
    from lightning.pytorch.loggers import CSVLogger  # here: credential checks above must not import lightning

    loggers = []
    if "csv" in logger_cfg:
        loggers.append(CSVLogger(save_dir=str(output_dir), name=logger_cfg["csv"].get("name", "csv"), version=""))
    if "wandb" in logger_cfg:
        from lightning.pytorch.loggers import WandbLogger

        cfg = dict(logger_cfg["wandb"])
        mode = wandb_mode(cfg.pop("mode", None))
        os.environ.setdefault("WANDB_SILENT", "true")
        loggers.append(
            WandbLogger(
                project=cfg.get("project"),
                entity=cfg.get("entity"),
                group=cfg.get("group"),
                tags=list(cfg.get("tags") or []),
                name=cfg.get("name"),
                save_dir=str(output_dir),
                log_model=cfg.get("log_model", False),
                mode=mode,
                id=_run_id(output_dir, resuming),
                resume="allow",
            )
        )
    return loggers
