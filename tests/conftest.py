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



@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """A finished tiny run (``run``: 32 test networks, two blocks) with its statistics cache
    (``cache``), and a one-network store (``store``); built once per session."""
    from tiny_run import A_NONE, TINY_RUN, run_main
    from types import SimpleNamespace

    root = tmp_path_factory.mktemp("tiny")
    t = SimpleNamespace(cache=root / "cache", run=root / "run", store=root / "store")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPNAS_CACHE", str(t.cache))
        mp.delenv("GPNAS_BENCH_DIR", raising=False)
        before = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            assert run_main("run", *TINY_RUN, "--out", t.run) == 0
            assert run_main("stats", "build", "--space", "nb201-cifar10", "--arch", A_NONE,
                            "--out", t.store, "--quiet") == 0
        finally:
            torch.set_num_threads(before)
    return t
