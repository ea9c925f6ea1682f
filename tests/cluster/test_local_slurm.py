"""The local SLURM cluster runs real jobs: sbatch, sacct accounting, submitit results and cancellations."""

import os
import subprocess
import time

import pytest
import submitit
from submitit.core.utils import UncompletedJobError

from tests.cluster.slurm_helpers import JOB_TIMEOUT_MIN, WAIT_S, local_slurm, sacct_states, wait_until

pytestmark = pytest.mark.slurm


def slurm_job_id_and_double(value: int) -> tuple[str, int]:
    """Runs inside the job: proves it ran under SLURM and computes something."""
    return os.environ["SLURM_JOB_ID"], 2 * value


def test_sbatch_job_completes_and_sacct_reports_it(slurm_cluster, tmp_path):
    output = tmp_path / "hostname.out"
    job_id = subprocess.run(
        ["sbatch", "--parsable", "--output", str(output), "--wrap", "hostname -s"],
        capture_output=True, text=True, check=True, timeout=WAIT_S,
    ).stdout.strip()
    wait_until(lambda: sacct_states(job_id) == ["COMPLETED"], f"sacct to report job {job_id} COMPLETED")
    assert output.read_text().strip() == local_slurm.node_name()


def test_submitit_job_returns_its_value(slurm_cluster, tmp_path):
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit")
    assert executor.cluster == "slurm"
    executor.update_parameters(timeout_min=JOB_TIMEOUT_MIN, slurm_partition=local_slurm.PARTITION)
    job = executor.submit(slurm_job_id_and_double, 21)
    assert job.result() == (job.job_id, 42)
    wait_until(lambda: sacct_states(job.job_id) == ["COMPLETED"], f"sacct to report job {job.job_id} COMPLETED")


def test_cancelled_submitit_job_is_seen_as_failed(slurm_cluster, tmp_path):
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit")
    executor.update_parameters(timeout_min=JOB_TIMEOUT_MIN, slurm_partition=local_slurm.PARTITION)
    job = executor.submit(time.sleep, 120)
    wait_until(lambda: job.watcher.get_state(job.job_id, mode="force") == "RUNNING", f"job {job.job_id} to run")
    job.cancel(check=True)
    wait_until(lambda: job.done(force_check=True), f"submitit to see job {job.job_id} done after scancel")
    assert job.state.startswith("CANCELLED")
    # submitit waits 15 s for a result file that a slow shared filesystem might still deliver; local disk needs none
    job._results_timeout_s = 0
    with pytest.raises(UncompletedJobError, match="CANCELLED"):
        job.result()


def test_second_cluster_runs_beside_the_first_and_stop_ends_exactly_its_daemons(slurm_cluster, tmp_path):
    workdir = tmp_path / "second"
    env = local_slurm.start(workdir)
    assert env["SLURM_CONF"] != os.environ["SLURM_CONF"]
    assert local_slurm.status(workdir) == {name: True for name in local_slurm.DAEMONS}
    assert local_slurm.node_state(workdir) == "idle"
    pids = local_slurm.recorded_pids(workdir)

    assert local_slurm.stop(workdir) == list(reversed(local_slurm.DAEMONS))
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids.values())
    assert local_slurm.status(workdir) == {}
    assert local_slurm.status(slurm_cluster.workdir) == {name: True for name in local_slurm.DAEMONS}
