"""``sweep.py init``: parse a sweep file (current, or the old tool's through ``snpdiff.sweep.legacy``), check it
against the composed config, then create the sweep on the chosen backend (nothing is created while the file has a
problem)."""

from __future__ import annotations

from pathlib import Path

from snpdiff.errors import SweepError
from snpdiff.secrets import redact_url
from snpdiff.sweep.backends import backend_class
from snpdiff.sweep.legacy.aliases import parse_with_old_names
from snpdiff.sweep.rules import check_sweep
from snpdiff.sweep.spec import read_sweep_file
from snpdiff.sweep.store import STORAGE_ENV, SweepInfo, sweeps_root
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
    """Parse and check ``sweep_file`` (one SweepError naming every problem; nothing created), print its warnings and
    notes, and create the sweep.

    Writes ``<sweeps dir>/<id>/sweep.yaml``, ``sweep_info.yaml`` and ``<sweeps dir>/current_sweep.yaml``.
    Returns the sweep's record and the notices (which backend was chosen when none was requested; that a storage
    password must be exported, as it is stored and printed redacted).
    """
    parsed, problems = parse_with_old_names(read_sweep_file(sweep_file))
    name, notice = choose_backend(backend)
    cls = backend_class(name)
    cls.check_available()
    check = check_sweep(parsed, name)
    problems += check.problems
    if problems:
        numbered = "\n".join(f"  {i}. {p}" for i, p in enumerate(problems, 1))
        raise SweepError(f"sweep file {sweep_file} has {len(problems)} problem(s); nothing was created:\n{numbered}")
    for message in check.messages:
        print(message)
    if storage and redact_url(storage) != storage:
        secret = (f"the storage password is not stored: export {STORAGE_ENV}='<the URL with its password>' "
                  "where agents, monitor and analyze run (cluster jobs inherit it)")
        notice = f"{notice}\n{secret}" if notice else secret
    root = sweeps_root(sweeps_dir)
    info = cls.create(check.spec, root, storage=storage, project=project, entity=entity)
    info.sweep_file = str(Path(sweep_file).resolve())
    info.save(check.spec, root)
    return info, notice
