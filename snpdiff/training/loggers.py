"""The W&B logger factory of ``conf/logger/wandb.yaml``: online with credentials, offline without, never a prompt.

The W&B API key is read by wandb from the environment or ~/.netrc; snpdiff never copies it anywhere.
"""

from __future__ import annotations

import logging
import netrc
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

if TYPE_CHECKING:
    from lightning.pytorch.loggers import WandbLogger

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


def _run_id(save_dir: Path, resuming: bool) -> str | None:
    """The W&B run id of this output folder: reused when resuming, so the run continues instead of restarting."""
    if os.environ.get("WANDB_RUN_ID"):  # set by a W&B sweep agent (or a requeued job): wandb uses it
        return None
    id_file = save_dir / RUN_ID_FILE
    if resuming and id_file.is_file():
        return id_file.read_text().strip()
    run_id = uuid.uuid4().hex[:8]
    id_file.write_text(run_id)
    return run_id


def wandb_logger(
    save_dir: str,
    project: str | None = None,
    entity: str | None = None,
    group: str | None = None,
    tags: Sequence[str] = (),
    name: str | None = None,
    mode: str | None = None,
    log_model: bool = False,
    resume_from: str | None = None,
) -> WandbLogger:
    """A Lightning ``WandbLogger`` writing under ``save_dir`` (the run folder).

    ``mode``: null decides from credentials (see ``wandb_mode``). ``resume_from``: the run's ``ckpt_path``; when
    set, the W&B run of this folder continues (its id is kept in ``wandb_run_id.txt``).
    """
    from lightning.pytorch.loggers import WandbLogger  # here: credential checks above must not import lightning

    from snpdiff.compat import drop_wandb_init_key

    os.environ.setdefault("WANDB_SILENT", "true")
    logger = WandbLogger(
        project=project,
        entity=entity,
        group=group,
        tags=list(tags),
        name=name,
        save_dir=save_dir,
        log_model=log_model,
        mode=wandb_mode(mode),
        id=_run_id(Path(save_dir), resume_from is not None),
        resume="allow",
    )
    # Lightning always passes anonymous=None, which wandb>=0.19 answers with a deprecation warning nobody can act on
    drop_wandb_init_key(logger, "anonymous")
    return logger



def finish_wandb_run() -> None:
    """End this process's W&B run, if one is open. Lightning's ``WandbLogger`` leaves it open after ``finalize``
    (which ``Trainer.fit`` calls itself), and wandb would then wait for it when the process exits; the training
    closes it once its last metrics are logged."""
    if "wandb" not in sys.modules:
        return  # no W&B logger ran in this process
    import wandb

    if wandb.run is not None:
        wandb.finish()
