"""SLURM glue: launcher profiles (``launchers/``), submitit helpers (`submit`) and the local test cluster
(`local_slurm`). Kept light: train.py imports it before Hydra composes the config."""

import os
from pathlib import Path

from snpdiff.errors import SnpdiffError

# the checkout's root as in snpdiff.config.PROJECT_ROOT, not imported from there: `local_slurm install` runs on a
# fresh CI machine before pip has installed omegaconf
LAUNCHERS_DIR = Path(__file__).resolve().parents[2] / "launchers"
# train.yaml puts ${oc.env:SNPDIFF_LAUNCHERS} on Hydra's search path; jobs inherit the variable from the submitter
LAUNCHERS_ENV = "SNPDIFF_LAUNCHERS"


class ClusterError(SnpdiffError, RuntimeError):
    """The SLURM cluster or a job on it is unusable (daemon did not start, job failed to submit, wait timed out)."""


def expose_launchers() -> str:
    """Point ``$SNPDIFF_LAUNCHERS`` at this checkout's ``launchers/`` unless the user chose another; returns it."""
    return os.environ.setdefault(LAUNCHERS_ENV, str(LAUNCHERS_DIR))
