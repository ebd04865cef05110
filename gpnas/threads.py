"""Process settings for compute: torch's intra-op thread count (set for a block of work and
restored after it), the cores this process may use, and malloc's handling of freed memory."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """torch uses ``n`` intra-op threads inside the block (``None``: leave it as it is).

    Batch-1 statistics and cache-sized evaluation blocks gain nothing from intra-op threads, and
    on a busy machine OpenMP threads that wait for each other made such work 20-40x slower; the
    callers that run several such jobs in parallel ask for one thread each.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(max(1, int(n)))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def available_cores() -> int:
    """The number of CPU cores this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


_KEPT = []


def keep_freed_memory() -> None:
    """Have glibc's malloc keep freed memory for reuse (once per process; a no-op elsewhere).

    By default glibc serves allocations over 128 KB to 32 MB with fresh ``mmap`` pages and hands
    freed heap memory back to the OS, so every block-sized temporary of the evaluation engine
    costs a page fault per 4 KB when first written: element-wise ops on 2 MB blocks ran 2-5x
    slower than on the same data in reused memory.  After this call such allocations come from
    the heap and freed memory stays there (the process keeps its peak heap size).
    """
    if _KEPT:
        return
    _KEPT.append(True)
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: the largest glibc accepts
        libc.mallopt(-1, 2**31 - 1)  # M_TRIM_THRESHOLD: (almost) never trim
    except (OSError, AttributeError, TypeError):
        pass
