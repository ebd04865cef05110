"""The streamed held-out test: one collection per network for every program; worker processes
give the scores of an in-process test and of a task of all networks."""

import multiprocessing
import os
import signal

import numpy as np
import pytest

from gpnas.data.stats.build import net_statistics
from gpnas.errors import GpnasError
from gpnas.evaluation import heldout
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.task import Task
from primitives import default_primitive_set
from representations.tree.genome import lower, parse

ARCHS = ["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
         "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
         "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"]
TEXTS = ("numel(bn_out.data)", "frobenius(mul(weight, weight_grad.data))",
         "exp(exp(exp(exp(square(bn_out.data)))))")


def test_one_collection_per_network_for_all_programs(monkeypatch):
    pset = default_primitive_set()
    programs = [lower(parse(t, pset), pset) for t in TEXTS]
    calls = []
    monkeypatch.setattr(heldout, "net_statistics",
                        lambda *a, **k: calls.append(a[1]) or net_statistics(*a, **k))
    acc = np.array([70.0, 80.0, 60.0])
    res = heldout.score_heldout(programs, "nb201-cifar10", ARCHS[:3], acc,
                                Engine(pset, EngineConfig()), progress=False, block=2, workers=1)
    assert calls == ARCHS[:3]
    assert res[0]["invalid"] is None and res[1]["invalid"] is None
    assert "non-finite" in res[2]["invalid"] and res[2]["scores"] is None


def test_parallel_stream_equals_serial_and_a_task_of_all_networks():
    pset = default_primitive_set()
    programs = [lower(parse(t, pset), pset) for t in TEXTS[:2]]
    acc = np.array([70.0, 80.0, 60.0, 90.0, 75.0])
    blocks = []
    runs = [heldout.score_heldout(programs, "nb201-cifar10", ARCHS, acc,
                                  Engine(pset, EngineConfig()), progress=False, block=2,
                                  workers=w, on_block=lambda n, *_: blocks.append(n))
            for w in (1, 2)]
    assert blocks == [2, 4, 5] * 2
    task = Task.from_instances("nb201-cifar10", [net_statistics("nb201-cifar10", a)
                                                 for a in ARCHS], acc)
    for p, serial, parallel in zip(programs, *runs):
        assert serial["invalid"] is None and parallel["invalid"] is None
        np.testing.assert_array_equal(serial["scores"], parallel["scores"])
        assert serial["kendall"] == parallel["kendall"] and serial["n"] == 5
        np.testing.assert_allclose(serial["scores"], Engine(pset).net_scores(p, task),
                                   rtol=1e-6)


def test_a_dead_worker_is_an_error_not_a_hang():
    def kill_the_workers(*_):
        for child in multiprocessing.active_children():
            os.kill(child.pid, signal.SIGKILL)

    pset = default_primitive_set()
    with pytest.raises(GpnasError, match="worker process of the held-out test died"):
        heldout.score_heldout([lower(parse(TEXTS[0], pset), pset)], "nb201-cifar10", ARCHS,
                              np.zeros(5), Engine(pset), progress=False, block=1, workers=2,
                              on_block=kill_the_workers)
