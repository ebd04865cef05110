"""torch's intra-op thread count, set for a block of work and restored after it; the cores this
process may use."""

from __future__ import annotations

import contextlib
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
