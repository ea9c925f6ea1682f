#!/usr/bin/env bash
# Install/start/stop/inspect the single-node SLURM test cluster (as root): see launchers/local_slurm.py.
#   launchers/local_slurm.sh start [--workdir DIR]   then   export SLURM_CONF=DIR/etc/slurm.conf
#   launchers/local_slurm.sh install   waits (SNPDIFF_APT_LOCK_WAIT_S, default 600 s) for a busy apt/dpkg lock
set -euo pipefail
exec python "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/local_slurm.py" "$@"
