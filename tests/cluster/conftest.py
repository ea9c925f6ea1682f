"""The local SLURM test cluster (launchers/local_slurm.py), started once per session for tests marked `slurm`.

It needs root (the daemons run as SlurmUser=root) and, where SLURM is not installed yet, apt-get; otherwise the tests
that use it are skipped with the reason. The install waits, bounded ($SNPDIFF_APT_LOCK_WAIT_S, 600 s), for another
apt-get or dpkg (a fresh machine's unattended-upgrades) to free the dpkg lock. Its environment (SLURM_CONF) is set
for the whole session so sbatch, sacct, submitit and the jobs themselves find the cluster.
"""

from collections.abc import Iterator

import pytest

from tests.cluster.slurm_helpers import local_slurm


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_slurm.ClusterPaths]:
    """A running single-node cluster with accounting; yields its paths (configs, logs). Stopped at session end."""
    reason = local_slurm.can_run_here()
    if reason is not None:
        pytest.skip(f"local SLURM cluster not available: {reason}")
    local_slurm.install()
    workdir = tmp_path_factory.mktemp("slurm")
    env = local_slurm.start(workdir)
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            yield local_slurm.ClusterPaths(workdir)
    finally:
        local_slurm.stop(workdir)
