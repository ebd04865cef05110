"""torch's intra-op thread count, set for a block of work and restored after it."""

from __future__ import annotations

import contextlib
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
