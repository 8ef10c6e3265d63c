"""Keep glibc from mapping and unmapping the large per-sequence buffers of BPTT.

A training step allocates several (T, B, N) float tensors (states, rates, drive, adjoint:
51 MB each at the default ZRNN shape) and frees them at the end of the step. glibc serves
allocations above its mmap threshold (at most 32 MB by default) with a fresh ``mmap`` and
returns them with ``munmap``, so every step page-faults its buffers in again: measured
≈ 20 % of the default ZRNN step (rhythm.md §17). Raising the mmap threshold and the trim
threshold makes freed buffers stay in the heap and be reused by the next step.

:func:`tune_malloc` does this once per process through ``mallopt`` (no environment variables
needed, so it works under ``snakemake``, SLURM and plain ``python`` alike); the recurrence
calls it on first use. Set ``RNNLAB_TUNE_MALLOC=0`` to leave the allocator alone. It is a
no-op (returning ``{}``) where glibc's ``mallopt`` is not available (macOS, Windows, musl).
The cost is that the process keeps its peak heap mapped instead of returning it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from functools import cache

# mallopt parameters from glibc's malloc.h
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_M_MMAP_MAX = -4

MMAP_THRESHOLD_BYTES = 1 << 30  # only single allocations >= 1 GiB still get their own mapping
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # mallopt takes an int: keep up to 2 GiB of free heap
TOP_PAD_BYTES = 256 << 20  # grow the heap in 256-MiB steps (fewer brk calls)


@cache
def tune_malloc() -> dict[str, int]:
    """Apply the settings once; return what was set (``{}`` if skipped or unsupported)."""
    if os.environ.get("RNNLAB_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return {}
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return {}
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    applied: dict[str, int] = {}
    if mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1:
        applied["mmap_threshold"] = MMAP_THRESHOLD_BYTES
    elif mallopt(_M_MMAP_MAX, 0) == 1:  # glibc that caps the threshold: no mmap at all
        applied["mmap_max"] = 0
    if mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1:
        applied["trim_threshold"] = TRIM_THRESHOLD_BYTES
    if mallopt(_M_TOP_PAD, TOP_PAD_BYTES) == 1:
        applied["top_pad"] = TOP_PAD_BYTES
    return applied
