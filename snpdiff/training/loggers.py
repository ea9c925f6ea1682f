"""The logger factories of ``conf/logger/``, what every logger is given, and how quality figures reach each one.

- W&B (``wandb.yaml``): online with credentials, offline without, never a prompt. The W&B API key is read by wandb
  from the environment or ~/.netrc; snpdiff never copies it anywhere.
- MLflow (``mlflow.yaml``): Lightning's ``MLFlowLogger`` with the tracking URI MLflow users expect (the key, else
  ``$MLFLOW_TRACKING_URI``, else a SQLite store in the run folder). A factory rather than the class itself, because
  the class's own default reads ``$MLFLOW_TRACKING_URI`` when Lightning is imported, which would leak into the
  generated schema and the config.
- TensorBoard (``tensorboard.yaml``) is Lightning's ``TensorBoardLogger`` as it is.

The hyperparameters every logger receives pass through ``redact_secrets`` first, and ``log_figures`` hands the
quality plots to each logger through one small adapter per logger class (``_figure_writers``).

Lightning is imported inside functions only: the sweep's credential checks import this module and must stay fast.
"""

from __future__ import annotations

import logging
import netrc
import os
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from snpdiff.errors import ConfigError
from snpdiff.secrets import redact_secrets

if TYPE_CHECKING:
    from lightning.pytorch.loggers import Logger, MLFlowLogger, WandbLogger

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


def local_mlflow_store(save_dir: str | os.PathLike) -> str:
    """The SQLite tracking URI ``<save_dir>/mlflow.db`` of a run that names no tracking server (MLflow 3 refuses
    its old file store unless told otherwise)."""
    return f"sqlite:///{Path(save_dir).resolve() / 'mlflow.db'}"


def mlflow_tracking_uri(requested: str | None, save_dir: str | os.PathLike) -> str:
    """The tracking URI: ``requested``, else ``$MLFLOW_TRACKING_URI`` (what every MLflow tool reads), else the
    run folder's own store (``local_mlflow_store``)."""
    return requested or os.environ.get("MLFLOW_TRACKING_URI") or local_mlflow_store(save_dir)


def mlflow_logger(
    save_dir: str,
    experiment_name: str = "snpdiff",
    run_name: str | None = None,
    tracking_uri: str | None = None,
    tags: Mapping[str, str] | None = None,
    log_model: bool | str = False,
    artifact_location: str | None = None,
    synchronous: bool | None = None,
) -> MLFlowLogger:
    """A Lightning ``MLFlowLogger`` for the tracking URI of ``mlflow_tracking_uri``.

    ``save_dir``: the run folder's ``mlruns``, holding the SQLite store when no tracking URI is set, and then also
    its artifacts (unless ``artifact_location``); a server keeps its own artifact root. The run is created here, so
    that an unreachable server or a bad URI is an error before training starts. ``log_model``: also store the
    checkpoints as artifacts (true: the kept ones at the end; ``all``: each as it is saved)."""
    from lightning.pytorch.loggers import MLFlowLogger  # here: credential checks above must not import lightning

    uri = mlflow_tracking_uri(tracking_uri, save_dir)
    if uri == local_mlflow_store(save_dir):
        Path(save_dir).mkdir(parents=True, exist_ok=True)  # SQLite creates the file, not its folder
        # beside the store; left to MLflow, artifacts would land in ./mlruns of wherever train.py was started
        artifact_location = artifact_location or (Path(save_dir).resolve() / "artifacts").as_uri()
    logger = MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=uri,
        tags=dict(tags or {}),
        log_model=log_model,
        artifact_location=artifact_location,
        synchronous=synchronous,
    )
    source = "logger.mlflow.tracking_uri" if tracking_uri else "$MLFLOW_TRACKING_URI"
    _start_mlflow_run(logger, redact_secrets(uri), source if uri != local_mlflow_store(save_dir) else "the run folder")
    return logger


def _start_mlflow_run(logger: MLFlowLogger, uri: str, source: str) -> None:
    """Create the run now, so that a server that cannot be reached (after MLflow's own retries,
    ``MLFLOW_HTTP_REQUEST_MAX_RETRIES``) or refuses the credentials ends the command as a user error naming where
    its URI came from (``source``), before training starts."""
    from mlflow.exceptions import MlflowException

    try:
        run_id = logger.run_id
    except MlflowException as error:
        reason = redact_secrets(str(error).strip().splitlines()[0])[:300]
        raise ConfigError(
            f"MLflow tracking URI {uri} (from {source}) cannot be used: {reason}; start the server or fix the URI "
            "(logger.mlflow.tracking_uri, else $MLFLOW_TRACKING_URI, else a store in the run folder)"
        ) from None
    log.info("MLflow: run %s at %s", run_id, uri)


def _wandb_figures(logger: Logger, figures: Mapping[str, Path], step: int, folder: str) -> None:
    for name, path in figures.items():
        logger.log_image(key=name, images=[str(path)], step=step)


def _tensorboard_figures(logger: Logger, figures: Mapping[str, Path], step: int, folder: str) -> None:
    from matplotlib.image import imread

    for name, path in figures.items():  # the PNGs as written: what TensorBoard shows is what the run folder holds
        logger.experiment.add_image(name, imread(path)[..., :3], global_step=step, dataformats="HWC")


def _mlflow_figures(logger: Logger, figures: Mapping[str, Path], step: int, folder: str) -> None:
    for path in figures.values():  # artifacts at the path the run folder has them: quality/epoch_<n>/<plot>.png
        logger.experiment.log_artifact(logger.run_id, str(path), artifact_path=folder)


def _figure_writers() -> dict[type, Callable[[Logger, Mapping[str, Path], int, str], None]]:
    """``{logger class: how it takes figures}``; a logger of another class is given none."""
    from lightning.pytorch.loggers import MLFlowLogger, TensorBoardLogger, WandbLogger

    return {WandbLogger: _wandb_figures, TensorBoardLogger: _tensorboard_figures, MLFlowLogger: _mlflow_figures}


def log_figures(loggers: Sequence[Logger], figures: Mapping[str, Path], step: int, folder: str) -> None:
    """Hand every figure (``{key: png path}``, keys such as ``val/af_scatter``) to every logger that takes images,
    at ``step``; ``folder``: where they lie in the run folder (``quality/epoch_<n>``), kept by artifact stores."""
    writers = _figure_writers()
    for logger in loggers:
        for logger_class, write in writers.items():
            if isinstance(logger, logger_class):
                write(logger, figures, step, folder)
