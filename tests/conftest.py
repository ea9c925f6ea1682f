"""Suite-wide settings: one torch thread in the test processes, each worker's share of the cores for the processes
they start (train.py, sweep agents, generate.py), no W&B network."""

import os

import pytest
import torch

from snpdiff.config import compose_config

torch.set_num_threads(1)
# torch starts as many threads as the machine has cores in every process: two workers' trainings side by side would
# spin four threads on two cores (measured: 65 + 65 steps in 90 s against 263 + 253 with one thread each)
WORKER_THREADS = max(1, (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
os.environ.setdefault("OMP_NUM_THREADS", str(WORKER_THREADS))
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
    on one worker only, and one (``machine``) for all of tests/cluster and every module marked ``machine_wide``, so
    the local SLURM cluster (a session fixture) starts once per machine, not once per worker, and tests that hold the
    machine's own resources (apt and dpkg locks, which the cluster's install also takes) never run beside each other.

    Workers take whole groups in collection order, so the groups are reordered longest first (the cluster group,
    then by their number of slow tests; ties and the tests inside a group keep their order): a long module started
    last would leave one worker running it alone at the end."""
    groups = {}
    for item in items:
        module = item.path.relative_to(item.config.rootpath)
        machine = module.parts[:2] == ("tests", "cluster") or item.get_closest_marker("machine_wide") is not None
        group = "machine" if machine else str(module)
        item.add_marker(pytest.mark.xdist_group(group))
        groups.setdefault(group, []).append(item)
    weight = {group: (group != "machine", -sum(item.get_closest_marker("slow") is not None for item in members))
              for group, members in groups.items()}
    items[:] = [item for group in sorted(groups, key=weight.__getitem__) for item in groups[group]]


class GroupingCheck:
    """Stops a run whose grouping silently failed (pytest-xdist 3.8 on pytest 9.2 groups nothing: the cluster tests
    would start one SLURM cluster per worker and the apt-lock tests would run beside its install)."""

    def pytest_xdist_node_collection_finished(self, node, ids: list[str]) -> None:
        if node.config.getvalue("dist") == "loadgroup" and ids and not any("@" in nodeid for nodeid in ids):
            pytest.exit(
                "--dist loadgroup is not grouping tests with this pytest and pytest-xdist (pytest-xdist issue 1386); "
                "install the versions pyproject.toml's [test] extra allows, or run with -n 0",
                returncode=3,
            )


def pytest_configure(config: pytest.Config) -> None:
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(GroupingCheck(), "snpdiff-grouping-check")


@pytest.fixture
def fast_cfg(tmp_path):
    """Compose the ``debug=fast`` config writing into a temporary output folder; extra overrides appended."""

    def make(*overrides: str, output_dir=None):
        return compose_config([*FAST, f"paths.output_dir={output_dir or tmp_path / 'run'}", *overrides])

    return make
