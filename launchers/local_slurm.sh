#!/usr/bin/env bash
# Install/start/stop/inspect the single-node SLURM test cluster (as root): see snpdiff/cluster/local_slurm.py.
#   launchers/local_slurm.sh start [--workdir DIR]   then   export SLURM_CONF=DIR/etc/slurm.conf
set -euo pipefail
repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"
exec python -m snpdiff.cluster.local_slurm "$@"
