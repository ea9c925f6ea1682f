"""Composing and validating a config loads no heavy library.

A trial with a bad config must fail in about a second, and ``sweep.py init`` validates dozens of configs: what they
import is a deterministic proxy of that time (torch and Lightning cost seconds of CPU), so it is asserted here
instead of a timing.
"""

import inspect
import json
import subprocess
import sys
from pathlib import Path

from snpdiff.config import PROJECT_ROOT

HEAVY = ("torch", "lightning", "sklearn", "scipy")

VALIDATE = """
import json, sys
from snpdiff.config import compose_config, validate_config
from snpdiff.errors import ConfigError
validate_config(compose_config([]))
try:
    validate_config(compose_config(["model.norm_groups=7", "model=unet", "scheduler=onecycle", "callbacks=ema"]))
    problem = None
except ConfigError as error:
    problem = str(error)
print(json.dumps({"problem": problem, "loaded": [name for name in %r if name in sys.modules]}))
"""


def test_composing_and_validating_a_config_imports_no_heavy_library():
    result = subprocess.run(
        [sys.executable, "-c", VALIDATE % (HEAVY,)], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["loaded"] == []
    assert "model.norm_groups=7 must divide every level width" in report["problem"]


def loaded_by(modules: str, names: tuple[str, ...]) -> list[str]:
    """Which of ``names`` are in ``sys.modules`` after a fresh interpreter imports ``modules`` (comma-separated)."""
    code = f"import json, sys, {modules}; print(json.dumps([n for n in {names!r} if n in sys.modules]))"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_sweep_trials_reporter_loads_neither_optuna_nor_a_database_library():
    """The pruner's storage is the agent's: a trial's side of hyperband is a socket (its first report used to import
    Optuna, SQLAlchemy and Alembic: about a second of every trial)."""
    assert loaded_by("snpdiff.sweep.reporter", ("optuna", "sqlalchemy", "alembic")) == []


def test_the_local_agent_that_serves_the_reports_loads_neither_torch_nor_lightning():
    """The other end of the channel: the agent's loop and backend name the reporter by string only."""
    assert loaded_by("snpdiff.sweep.backends.local, snpdiff.sweep.agent.loop", ("torch", "lightning")) == []


def test_simulated_data_read_from_its_cache_loads_no_simulator(tmp_path):
    """stdpopsim and msprime took 0.6 s of every training process on the default data; only a cache miss needs
    them (the cache key reads their versions from the installed packages' metadata)."""
    code = (
        "import json, sys; from snpdiff.data.sim import simulate_genotypes; "
        f"simulate_genotypes(20, 100_000, cache_dir={str(tmp_path)!r}); "
        "print(json.dumps([n for n in ('stdpopsim', 'msprime') if n in sys.modules]))"
    )

    def loaded() -> list[str]:
        out = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert loaded() == ["stdpopsim", "msprime"]  # a cache miss simulates
    assert loaded() == []  # the same parameters again: read from the cache


def test_the_heavy_modules_are_where_the_work_is():
    """The lazy package attributes still reach the real classes (what instantiate and users import)."""
    from snpdiff.data import GenotypeDataModule
    from snpdiff.diffusion import GaussianDiffusion
    from snpdiff.metrics import evaluate_genotypes
    from snpdiff.models import UNet1D

    assert GenotypeDataModule.__module__ == "snpdiff.data.datamodule"
    assert GaussianDiffusion.__module__ == "snpdiff.diffusion.process"
    assert UNet1D.__module__ == "snpdiff.models.unet"
    assert Path(inspect.getfile(evaluate_genotypes)).name == "genotype.py"
