"""SLURM glue: launcher profiles (``launchers/``) and submitit helpers (`submit`). The local test cluster is test
tooling and lives outside the package (``launchers/local_slurm.py``). Kept light: train.py imports it before Hydra
composes the config."""

import os
from pathlib import Path

# the checkout's root as in snpdiff.config.PROJECT_ROOT, not imported from there: train.py imports this module
# before Hydra composes, and the config module's schemas need not load that early
LAUNCHERS_DIR = Path(__file__).resolve().parents[2] / "launchers"
# train.yaml puts ${oc.env:SNPDIFF_LAUNCHERS} on Hydra's search path; jobs inherit the variable from the submitter
LAUNCHERS_ENV = "SNPDIFF_LAUNCHERS"


def expose_launchers() -> str:
    """Point ``$SNPDIFF_LAUNCHERS`` at this checkout's ``launchers/`` unless the user chose another; returns it."""
    return os.environ.setdefault(LAUNCHERS_ENV, str(LAUNCHERS_DIR))
