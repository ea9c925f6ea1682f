"""``sweep.py init``: validate a sweep file completely, then create the sweep on the chosen backend."""

from __future__ import annotations

from pathlib import Path

from snpdiff.sweep.backends import backend_class
from snpdiff.sweep.spec import read_sweep_file
from snpdiff.sweep.store import STORAGE_ENV, SweepInfo, redact_url, sweeps_root
from snpdiff.sweep.validation import check_sweep
from snpdiff.training.loggers import wandb_credentials_source


def choose_backend(requested: str | None) -> tuple[str, str | None]:
    """``(backend, notice)``: the requested backend, else ``wandb`` with W&B credentials and ``local`` without."""
    if requested:
        return requested, None
    source = wandb_credentials_source()
    if source:
        return "wandb", f"backend: wandb (W&B credentials found in {source}); --backend local runs without W&B"
    return "local", ("backend: local (Optuna; no W&B credentials: neither WANDB_API_KEY nor `wandb login`); "
                     "--backend wandb after logging in")


def init_sweep(
    sweep_file: str | Path,
    backend: str | None = None,
    project: str | None = None,
    entity: str | None = None,
    storage: str | None = None,
    sweeps_dir: str | Path | None = None,
) -> tuple[SweepInfo, str | None]:
    """Validate ``sweep_file`` (one SweepError naming every problem; nothing created) and create the sweep.

    Writes ``<sweeps dir>/<id>/sweep.yaml``, ``sweep_info.yaml`` and ``<sweeps dir>/current_sweep.yaml``.
    Returns the sweep's record and the notices (which backend was chosen when none was requested; that a storage
    password must be exported, as it is stored and printed redacted).
    """
    raw = read_sweep_file(sweep_file)
    name, notice = choose_backend(backend)
    cls = backend_class(name)
    cls.check_available()
    spec = check_sweep(raw, str(sweep_file), name)
    root = sweeps_root(sweeps_dir)
    info = cls.create(spec, root, storage=storage, project=project, entity=entity)
    info.sweep_file = str(Path(sweep_file).resolve())
    info.save(spec, root)
    if storage and redact_url(storage) != storage:
        secret = (f"the storage password is not stored: export {STORAGE_ENV}='<the URL with its password>' "
                  "where agents, monitor and analyze run (cluster jobs inherit it)")
        notice = f"{notice}\n{secret}" if notice else secret
    return info, notice
