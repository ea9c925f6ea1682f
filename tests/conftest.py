"""Suite-wide settings: one torch thread (2-core machines run several things at once), no W&B network."""

import os

import pytest
import torch

from snpdiff.config import compose_config

torch.set_num_threads(1)
os.environ.setdefault("WANDB_SILENT", "true")
FAST = ["debug=fast", "logger=none", "callbacks.progress_bar=null"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path_factory):
    """No test sees a real W&B key or writes into the repository's own caches."""
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path_factory.mktemp("wandb")))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path_factory.mktemp("wandb_config")))
    monkeypatch.setenv("SNPDIFF_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """xdist groups (pyproject: `-n auto --dist loadgroup`): one per test module, so a module-scoped fixture is built
    on one worker only, and one for all of tests/cluster, so the local SLURM cluster (a session fixture) starts
    once per machine, not once per worker.

    Workers take whole groups in collection order, so the groups are reordered longest first (the cluster group,
    then by their number of slow tests; ties and the tests inside a group keep their order): a long module started
    last would leave one worker running it alone at the end."""
    groups = {}
    for item in items:
        module = item.path.relative_to(item.config.rootpath)
        group = "slurm" if module.parts[:2] == ("tests", "cluster") else str(module)
        item.add_marker(pytest.mark.xdist_group(group))
        groups.setdefault(group, []).append(item)
    weight = {group: (group != "slurm", -sum(item.get_closest_marker("slow") is not None for item in members))
              for group, members in groups.items()}
    items[:] = [item for group in sorted(groups, key=weight.__getitem__) for item in groups[group]]


@pytest.fixture
def fast_cfg(tmp_path):
    """Compose the ``debug=fast`` config writing into a temporary output folder; extra overrides appended."""

    def make(*overrides: str, output_dir=None):
        return compose_config([*FAST, f"paths.output_dir={output_dir or tmp_path / 'run'}", *overrides])

    return make
