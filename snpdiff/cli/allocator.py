"""The process's memory allocator: keep freed tensor memory for reuse instead of handing it back to the kernel.

A CPU model call allocates and frees feature maps of a few MB each, dozens of times. With glibc's default settings
malloc returns such blocks to the kernel when they are freed (they are above its mmap threshold, or they sit at the top
of a heap above its 128 KiB trim threshold), and the next call maps them again: every 4 KiB page of every feature map
costs a page fault and zeroing by the kernel, and in CPU sampling that kernel work is a large share of each model call
(``benchmarks/allocator.py`` measures it with and without these settings; the figures are in docs/performance.md).
PyTorch's CPU performance guide makes the same point with jemalloc or TCMalloc preloaded; these two glibc settings
(`mallopt`, the same as `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=...:glibc.malloc.trim_threshold=...`) get it in the
running process with the allocator every Linux Python already has.

The cost: up to TRIM_THRESHOLD of freed memory stays with the process (its peak, which a training run reaches every
step anyway) instead of going back to the system.
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
import sys
from collections.abc import Mapping

log = logging.getLogger("snpdiff")

MMAP_THRESHOLD = 32 << 20  # blocks up to this size come from the heap: glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1 << 30  # free memory kept at a heap's top before malloc gives it back to the kernel
_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers, from glibc's <malloc.h>
_M_MMAP_THRESHOLD = -3


def keep_freed_memory() -> bool:
    """Set glibc malloc's mmap threshold to MMAP_THRESHOLD and its trim threshold to TRIM_THRESHOLD for this process.

    Returns whether it did. It leaves the allocator alone, returning False, off glibc (macOS, Windows, musl), when
    the environment already chose: malloc settings in `GLIBC_TUNABLES` or `MALLOC_MMAP_THRESHOLD_` /
    `MALLOC_TRIM_THRESHOLD_`, or another allocator in `LD_PRELOAD` (jemalloc, TCMalloc, mimalloc).
    """
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    if _allocator_chosen(os.environ):
        log.debug("malloc settings left as the environment chose")
        return False
    libc = ctypes.CDLL("libc.so.6")
    applied = (
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    )
    log.debug("malloc keeps freed memory: %s", applied)
    return applied


def _allocator_chosen(environ: Mapping[str, str]) -> bool:
    """Whether `environ` already sets glibc malloc's thresholds or preloads another malloc."""
    tunables = environ.get("GLIBC_TUNABLES", "")
    return (
        "glibc.malloc.mmap_threshold" in tunables
        or "glibc.malloc.trim_threshold" in tunables
        or "MALLOC_MMAP_THRESHOLD_" in environ
        or "MALLOC_TRIM_THRESHOLD_" in environ
        or "malloc" in environ.get("LD_PRELOAD", "")
    )
