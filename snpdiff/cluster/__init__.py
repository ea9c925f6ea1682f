"""SLURM glue: the local test cluster (`local_slurm`) and submitit helpers for jobs and sweep agents."""

from snpdiff.errors import SnpdiffError


class ClusterError(SnpdiffError, RuntimeError):
    """The SLURM cluster or a job on it is unusable (daemon did not start, job failed to submit, wait timed out)."""
