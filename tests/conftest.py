"""Fixtures shared by several test modules."""

import pytest
import torch


@pytest.fixture(scope="module")
def one_thread():
    """One torch intra-op thread for a whole module, restored after it.

    Tiny tensors and batch-1 statistics gain nothing from threads, and on a shared, loaded
    machine OpenMP threads that wait for each other cost a lot.  A module opts in with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
