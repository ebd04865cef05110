"""The streamed held-out test: worker processes give the same scores as collecting in-process."""

import numpy as np

from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation import heldout
from gpnas.evaluation.heldout import _collect
from primitives import default_primitive_set
from representations.tree.genome import lower, parse

ARCHS = ["|nor_conv_3x3~0|+|none~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|",
         "|nor_conv_1x1~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_3x3~2|",
         "|skip_connect~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|none~0|none~1|nor_conv_1x1~2|",
         "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|none~1|none~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_3x3~0|nor_conv_1x1~1|none~2|"]


def test_workers_send_numpy_not_shared_tensors():
    # torch tensors cross a process boundary as one file descriptor each: a block of networks
    # exhausted the descriptor limit
    net = _collect(("nb201-cifar10", ARCHS[0], 1, 0, "rcb", 0))
    assert net and all(isinstance(v, np.ndarray) for inst in net for v in inst.values())


def test_parallel_stream_equals_serial():
    pset = default_primitive_set()
    programs = [lower(parse(t, pset), pset) for t in
                ("numel(bn_out.data)", "frobenius(mul(weight, weight_grad.data))")]
    acc = np.array([70.0, 80.0, 60.0, 90.0, 75.0])
    runs = [heldout.score_heldout(programs, "nb201-cifar10", ARCHS, acc,
                                  Engine(pset, EngineConfig()),
                                  progress=False, block=2, workers=w) for w in (1, 2)]
    for serial, parallel in zip(*runs):
        assert serial["invalid"] is None and parallel["invalid"] is None
        np.testing.assert_array_equal(serial["scores"], parallel["scores"])
        assert serial["kendall"] == parallel["kendall"] and serial["n"] == 5
