"""Where a run starts from: nothing, its own ``last.ckpt``, or an explicit checkpoint, checked before it is used.

A requeued SLURM job (time limit, preemption: ``SLURM_RESTART_COUNT`` > 0) with no ``ckpt_path`` resumes from its
run folder's ``last.ckpt``, so a job that SLURM restarts picks up where it stopped. A checkpoint to continue from
must be one snpdiff wrote for the same model config (a ``ConfigError`` before the data loads) and the same data
(once they have loaded). A folder holding an earlier run: ``snpdiff.run_folder.refuse_earlier_run``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from snpdiff.errors import ConfigError
from snpdiff.generation.checkpoint import load_trained_model
from snpdiff.models import ModelInputs
from snpdiff.run_folder import last_checkpoint, slurm_restarts

log = logging.getLogger(__name__)


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path) -> str | None:
    """``None``, ``"last"`` (this output folder's last.ckpt, when it exists) or an explicit checkpoint path."""
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = last_checkpoint(output_dir)
        if last.is_file():
            return str(last)
        log.info("ckpt_path=last: no %s yet, starting fresh", last)
        return None
    return str(ckpt_path)


def resume_path(cfg: DictConfig, output_dir: Path) -> str | None:
    """The checkpoint to resume from; a requeued SLURM job sets ``cfg.ckpt_path="last"`` (recorded in config.yaml,
    and the W&B logger continues its run from it)."""
    restarts = slurm_restarts()
    if cfg.ckpt_path is None and restarts > 0:
        log.info("requeued SLURM job (restart %d): resuming from the last checkpoint", restarts)
        with open_dict(cfg):
            cfg.ckpt_path = "last"
    return resolve_ckpt_path(cfg.ckpt_path, output_dir)


def resume_hint(output_dir: Path) -> str:
    """How to continue the run of ``output_dir`` from its ``last.ckpt``."""
    return f"run the same command with ckpt_path=last hydra.run.dir={output_dir}"


def model_differences(stored: Any, current: dict[str, Any]) -> list[str]:
    """The ``model`` keys whose values differ between a checkpoint's stored config and this run's, each as
    ``model.<key>=<stored> in the checkpoint, <current> here`` (only ``_target_`` when the model class differs)."""
    stored = stored if isinstance(stored, dict) else {}
    keys = ["_target_"] if stored.get("_target_") != current.get("_target_") else sorted(set(stored) | set(current))

    def shown(node: dict[str, Any], key: str) -> str:
        return repr(node[key]) if key in node else "not set"

    return [
        f"model.{key}={shown(stored, key)} in the checkpoint, {shown(current, key)} here"
        for key in keys
        if key not in stored or key not in current or stored[key] != current[key]
    ]


@dataclass(frozen=True)
class ResumeFrom:
    """A checkpoint to resume from, checked: how messages name it and what its model was built for."""

    where: str  # ckpt_path=last (<path>), or ckpt_path='<path>'
    inputs: ModelInputs

    def check_inputs(self, current: ModelInputs) -> None:
        """ConfigError unless this run's data give the model the inputs the checkpoint's was built for."""
        differences = [
            f"{name}={getattr(self.inputs, name)!r} in the checkpoint, {getattr(current, name)!r} from this run's data"
            for name in ("seq_length", "channels", "population_names")
            if getattr(self.inputs, name) != getattr(current, name)
        ]
        if differences:
            raise ConfigError(
                f"{self.where} was saved for other data: {'; '.join(differences)}; resume with the checkpoint's data "
                "settings (data.seq_length, data.encoding, the population labels), or start a new run in another "
                "hydra.run.dir without ckpt_path"
            )


def check_resume_checkpoint(cfg: DictConfig, ckpt_path: str) -> ResumeFrom:
    """ConfigError unless ``ckpt_path`` is a whole checkpoint snpdiff's train.py wrote (read by ``generate.py``'s
    loader, ``snpdiff.generation.checkpoint``: tensors and plain values only) for the model config of ``cfg``; the
    checkpoint, whose model inputs are checked once the data has loaded (``ResumeFrom.check_inputs``)."""
    where = f"ckpt_path=last ({ckpt_path})" if cfg.ckpt_path == "last" else f"ckpt_path={str(ckpt_path)!r}"
    loader_where = f"ckpt={str(ckpt_path)!r}"
    try:
        trained = load_trained_model(ckpt_path)
    except ConfigError as exc:  # the loader names the file as generate.py's key: name it as train.py's
        message = str(exc)
        raise ConfigError(where + message.removeprefix(loader_where) if message.startswith(loader_where) else
                          f"{where}: {message}") from None
    current = OmegaConf.to_container(cfg.model, resolve=True)
    differences = model_differences(trained.config.get("model"), current)
    if differences:
        raise ConfigError(
            f"{where} was saved by a run with another model config: {'; '.join(differences)}; resume with the "
            "checkpoint's model settings, or start a new run in another hydra.run.dir without ckpt_path"
        )
    return ResumeFrom(where, ModelInputs(trained.seq_length, trained.encoding.channels, trained.population_names))
