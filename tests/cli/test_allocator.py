"""glibc malloc keeps freed feature maps for reuse (snpdiff.cli.allocator): fewer page faults in real model calls,
and an allocator the environment chose is left alone.

The settings are process-wide, so each case runs in its own Python process; page faults are the kernel's count
(`getrusage`), deterministic enough to compare where time would not be.
"""

import json
import os
import subprocess
import sys

import pytest

from snpdiff.cli.allocator import _allocator_chosen
from snpdiff.config import PROJECT_ROOT

# Eight model calls of the default UNet at the benchmark's size (64 x 1,024 SNPs); page faults of the last six.
CALLS = """
import json, resource, sys, torch
from snpdiff.cli.allocator import keep_freed_memory
from snpdiff.models import UNet1D
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.manual_seed(0)
model = UNet1D(seq_length=1024).eval()
x, t = torch.randn(64, 1, 1024), torch.full((64,), 500)
with torch.inference_mode():
    model(x, t)
    model(x, t)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(6):
        model(x, t)
print(json.dumps({"applied": applied, "faults": resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before}))
"""

glibc_linux = pytest.mark.skipif(
    sys.platform != "linux" or os.confstr("CS_GNU_LIBC_VERSION") is None, reason="glibc malloc settings"
)


def model_calls(setting: str) -> dict:
    env = {key: value for key, value in os.environ.items() if key not in ("GLIBC_TUNABLES", "LD_PRELOAD")}
    env.update(OMP_NUM_THREADS="2")
    out = subprocess.run(
        [sys.executable, "-c", CALLS, setting], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@glibc_linux
def test_keeping_freed_memory_spares_most_page_faults_of_model_calls():
    kept, default = model_calls("keep"), model_calls("default")
    assert kept["applied"] is True
    # Six calls after two to warm up; each fault maps and zeroes a 4 KiB page. Measured kept: 0-1,024 (4,096 once);
    # glibc's defaults: 14,000-135,000, depending on how its adaptive threshold happened to move.
    assert kept["faults"] < 6000, kept
    assert default["faults"] > kept["faults"], (kept, default)


@glibc_linux
def test_malloc_settings_from_the_environment_win():
    env = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"}
    applied = subprocess.run(
        [sys.executable, "-c", "from snpdiff.cli.allocator import keep_freed_memory; print(keep_freed_memory())"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert applied.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("environ", "chosen"),
    [
        ({}, False),
        ({"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F"}, False),
        ({"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=65536"}, True),
        ({"GLIBC_TUNABLES": "glibc.cpu.x86_rep_movsb_threshold=1:glibc.malloc.trim_threshold=0"}, True),
        ({"MALLOC_TRIM_THRESHOLD_": "0"}, True),
        ({"MALLOC_MMAP_THRESHOLD_": "131072"}, True),
        ({"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"}, True),
        ({"LD_PRELOAD": "libtcmalloc_minimal.so.4"}, True),
        ({"LD_PRELOAD": "/opt/lib/libfaketime.so.1"}, False),
    ],
)
def test_an_allocator_chosen_by_the_environment_is_recognised(environ, chosen):
    assert _allocator_chosen(environ) is chosen
