"""Where sweeps live on disk and how a sweep id is resolved.

Layout (root: ``--sweeps-dir``, else ``$SNPDIFF_SWEEPS_DIR``, else ``./sweeps``)::

    <root>/current_sweep.yaml          # the sweep `init` created last (same content as its sweep_info.yaml)
    <root>/<sweep id>/sweep_info.yaml  # id, backend, project, entity, URL or storage, sweep file
    <root>/<sweep id>/sweep.yaml       # the validated sweep, flattened and de-aliased
    <root>/<sweep id>/optuna.db        # the local backend's default storage
    <root>/<sweep id>/trials/<n>/      # each trial's Hydra output folder (checkpoints, metrics.json, trial.log)
    <root>/<sweep id>/analysis/        # what `analyze` writes

A storage URL's password is never written or printed: records keep ``postgresql://user:***@host/db`` and every
process that opens the storage (agents, monitor, analyze; never a trial, which reports through its agent) reads
the full URL from ``$SNPDIFF_OPTUNA_STORAGE``, as W&B's key comes from ``$WANDB_API_KEY``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

from snpdiff.errors import SweepError
from snpdiff.files import atomic_write
from snpdiff.secrets import REDACTED, redact_url, url_password
from snpdiff.sweep.spec import SweepSpec, dump_yaml, load_sweep, read_yaml

CURRENT_SWEEP_FILE = "current_sweep.yaml"
INFO_FILE = "sweep_info.yaml"
SPEC_FILE = "sweep.yaml"
TRIALS_DIR = "trials"
SWEEPS_DIR_ENV = "SNPDIFF_SWEEPS_DIR"
STORAGE_ENV = "SNPDIFF_OPTUNA_STORAGE"


def storage_url(recorded: str, environ: Mapping[str, str] = os.environ) -> str:
    """The full storage URL of a sweep whose record says ``recorded`` (redacted when it had a password): taken from
    ``$SNPDIFF_OPTUNA_STORAGE`` when that is the same storage; a SweepError saying what to export otherwise."""
    if url_password(recorded) != REDACTED:
        return recorded  # no password (or a record written before passwords were redacted): the URL itself
    given = environ.get(STORAGE_ENV)
    if not given:
        raise SweepError(f"the sweep's storage {recorded} has a password, which is not stored; export "
                         f"{STORAGE_ENV}='<the URL with its password>' where agents, monitor and analyze run")
    if redact_url(given) != recorded:
        raise SweepError(f"${STORAGE_ENV} names {redact_url(given)}, but the sweep's storage is {recorded}")
    return given


def write_sweep_yaml(path: Path, text: str, folder: str = "sweep folder") -> None:
    """``snpdiff.files.atomic_write`` of a sweep YAML into its ``folder`` (created first): whole or not at all, and a
    SweepError naming the folder or the file when the disk refuses (full, read-only)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"{folder} {path.parent}: cannot create it: {exc.strerror or exc}") from None
    atomic_write(path, text, SweepError)


def sweeps_root(path: str | Path | None = None) -> Path:
    """The folder that holds every sweep (absolute, so trial processes and W&B agents agree on it)."""
    return Path(path or os.environ.get(SWEEPS_DIR_ENV) or "sweeps").resolve()


@dataclass
class SweepInfo:
    """What ``current_sweep.yaml`` and ``sweep_info.yaml`` record about one sweep."""

    sweep_id: str
    backend: str  # "local" | "wandb"
    sweep_dir: str
    project: str | None = None
    entity: str | None = None
    storage: str | None = None  # local backend: Optuna storage URL or journal file
    url: str | None = None  # wandb backend: the sweep's page
    sweep_file: str | None = None
    created: str | None = None

    @property
    def path(self) -> str:
        """``entity/project/id`` (W&B's form; ``local`` stands in for a missing entity)."""
        return f"{self.entity or 'local'}/{self.project or 'snpdiff'}/{self.sweep_id}"

    @property
    def directory(self) -> Path:
        return Path(self.sweep_dir)

    def trial_dir(self, name: str | int) -> Path:
        return self.directory / TRIALS_DIR / str(name)

    def spec(self) -> SweepSpec:
        """The sweep as validated by ``init`` (read from ``sweep.yaml`` in the sweep folder)."""
        path = self.directory / SPEC_FILE
        if not path.is_file():
            raise SweepError(f"sweep {self.sweep_id}: {path} is missing; was the sweep folder moved or deleted?")
        return load_sweep(read_yaml(path, "stored sweep"))

    def save(self, spec: SweepSpec, root: Path) -> None:
        """Write the sweep folder's ``sweep.yaml`` and ``sweep_info.yaml``, and make it the current sweep (each file
        whole or not at all; SweepError naming the folder when the disk refuses, e.g. when it is full)."""
        self.created = self.created or datetime.now(timezone.utc).isoformat(timespec="seconds")
        text = dump_yaml(asdict(self), sort_keys=False)
        write_sweep_yaml(self.directory / SPEC_FILE, dump_yaml(spec.to_dict(), sort_keys=False))
        write_sweep_yaml(self.directory / INFO_FILE, text)
        write_sweep_yaml(root / CURRENT_SWEEP_FILE, text)

    @classmethod
    def read(cls, path: Path) -> SweepInfo:
        data = read_yaml(path, "sweep record")
        if not isinstance(data, dict) or "sweep_id" not in data or "backend" not in data:
            raise SweepError(f"{path} is not a sweep record (needs sweep_id and backend)")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def resolve_sweep(ref: str | None, root: str | Path | None = None) -> SweepInfo:
    """The sweep named by ``ref``: ``entity/project/id``, a short id, a sweep folder, or None (the current sweep).

    A short id is looked up as ``<root>/<id>/`` and then in ``<root>/current_sweep.yaml``.
    """
    root = sweeps_root(root)
    current = root / CURRENT_SWEEP_FILE
    if ref is None:
        if not current.is_file():
            raise SweepError(f"no sweep given and {current} does not exist; run `python sweep.py init SWEEP.yaml` "
                             "first or pass a sweep id")
        return SweepInfo.read(current)
    if Path(ref).is_dir() and (Path(ref) / INFO_FILE).is_file():
        return SweepInfo.read(Path(ref) / INFO_FILE)
    parts = ref.split("/")
    if len(parts) == 3 and all(parts):
        entity, project, sweep_id = parts
        if (root / sweep_id / INFO_FILE).is_file():
            return SweepInfo.read(root / sweep_id / INFO_FILE)
        # a W&B sweep created elsewhere: the agent fetches its definition from W&B
        return SweepInfo(sweep_id=sweep_id, backend="wandb", sweep_dir=str(root / sweep_id),
                         entity=None if entity == "local" else entity, project=project)
    if len(parts) != 1 or not ref:
        raise SweepError(f"sweep id {ref!r}: use entity/project/id or a short id")
    if (root / ref / INFO_FILE).is_file():
        return SweepInfo.read(root / ref / INFO_FILE)
    if not current.is_file():
        raise SweepError(f"no sweep {ref!r}: {current} does not exist and there is no folder {root / ref}; run "
                         "`python sweep.py init SWEEP.yaml` first, or pass a W&B sweep as entity/project/id")
    info = SweepInfo.read(current)
    if info.sweep_id != ref:
        raise SweepError(f"no sweep {ref!r} under {root}; the current sweep ({current}) is {info.sweep_id!r}; "
                         "pass a W&B sweep as entity/project/id")
    return info
