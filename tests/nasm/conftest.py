"""Fixtures of the nasm tests: a synthetic task, check statistics, a user's model package."""

import sys

import pytest
import torch

from gpnas.nasm.simplify import check_task
from nasm_helpers import MODEL_SOURCE
from synthetic import fake_task


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is several times faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def task():
    return fake_task(5, seed=11)


@pytest.fixture(scope="module")
def check():
    return check_task()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "userzoo.py").write_text(MODEL_SOURCE)
    sys.path.insert(0, str(d))
    yield d
    sys.path.remove(str(d))
