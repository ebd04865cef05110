"""Cross-sample statistics: equal to a direct torch computation, stored and read back, old stores
still load, and the DSL programs of ``programs/`` equal their hand-written baselines' inputs."""

import numpy as np
import pytest
import torch
from torch import nn

from gpnas.data.stats.build import build_store
from gpnas.data.stats.collect import collect_cross, collect_with_info
from gpnas.data.stats.store import StatsStore
from gpnas.errors import GpnasError
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.task import Task
from gpnas.nasm.programfile import load_program
from gpnas.nasm.score import score_model
from paths import REPO
from primitives import full_primitive_set
from primitives.cross import INSTANCE_TERMINALS

pytestmark = pytest.mark.usefixtures("one_thread")

ARCHS = ["|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
         "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|"]


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(),
                         nn.Conv2d(5, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                         nn.Conv2d(6, 4, 1), nn.BatchNorm2d(4),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))


def test_cross_statistics_equal_a_direct_computation():
    m = _model()
    x = torch.randn(5, 3, 6, 6, generator=torch.Generator().manual_seed(1))
    inst, network, convs = collect_cross(m, x, seed=0)
    assert convs == collect_with_info(m, x[:1], seed=0)[1].convs == ["3", "6"]
    # the same computation, by hand: the two ReLU -> Conv -> BN chains of the model
    m.train()
    xg = x.clone().requires_grad_(True)
    a1 = m[1](m[0](xg))  # relu_in of instance 0
    r1 = torch.relu(a1)
    a2 = m[4](m[3](r1))  # bn_out of instance 0 = relu_in of instance 1
    r2 = torch.relu(a2)
    b3 = m[7](m[6](r2))  # bn_out of instance 1
    out = m[10](m[9](m[8](b3)))
    g1, g2, gx = torch.autograd.grad(out.sum(), [r1, r2, xg])
    for k, (relu_in, relu_out_grad, bn) in enumerate([(a1, g1, a2), (a2, g2, b3)]):
        flat = relu_in.detach().reshape(5, -1).double()
        c = (flat > 0).double()
        assert torch.equal(inst[k]["relu_codes.kernel"],
                           (c @ c.T + (1 - c) @ (1 - c).T).float())
        assert inst[k]["relu_codes.patterns"] == len({tuple(col) for col in c.T.tolist()})
        torch.testing.assert_close(inst[k]["relu_in.gram"], (flat @ flat.T).float())
        gin = (relu_out_grad * (relu_in > 0)).reshape(5, -1).double()
        torch.testing.assert_close(inst[k]["relu_in_grad.gram"], (gin @ gin.T).float())
        fb = bn.detach().reshape(5, -1).double()
        torch.testing.assert_close(inst[k]["bn_out.gram"], (fb @ fb.T).float())
        ch = bn.detach().transpose(0, 1).reshape(bn.shape[1], -1).double()
        torch.testing.assert_close(inst[k]["bn_out.chancov"], torch.cov(ch).float())
    j = gx.reshape(5, -1).double()
    j = j - j.mean(dim=1, keepdim=True)
    torch.testing.assert_close(network["input_grad.gram"], (j @ j.T).float())


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    d = tmp_path_factory.mktemp("cross")
    plain = build_store(d / "plain", "nb201-cifar10", ARCHS, [70.0, 80.0], metric="test",
                        progress=False)
    cross = build_store(d / "cross", "nb201-cifar10", ARCHS, [70.0, 80.0], metric="test",
                        progress=False, cross_batch=6)
    return plain, cross


def test_cross_statistics_are_stored_next_to_the_others(stores):
    plain, cross = stores
    assert plain.cross_batch == 0 and plain.network_names == []
    assert cross.tensor_names[-len(INSTANCE_TERMINALS):] == list(INSTANCE_TERMINALS)
    # the batch-1 statistics are the same with or without the cross-sample ones
    a, b = plain.load_groups([0, 1]), cross.load_groups([0, 1])
    for ga, gb in zip(a, b):
        for name, t in ga.tensors.items():
            assert torch.equal(t, gb.tensors[name])
        assert gb.tensors["relu_codes.kernel"].shape[1:] == (6, 6)
        assert gb.tensors["bn_out.chancov"].shape[1:] == (gb.tensors["bn_out.data"].shape[2],) * 2
    assert cross.load_network([0, 1])["input_grad.gram"].shape == (2, 6, 6)
    assert cross.verify() == [] and plain.verify() == []
    assert StatsStore(plain.path).tensor_names == plain.tensor_names  # an old store still loads
    with pytest.raises(GpnasError, match="other settings"):
        build_store(plain.path, "nb201-cifar10", ARCHS, metric="test", progress=False,
                    cross_batch=6)


def test_dsl_programs_score_stored_and_live_statistics_alike(stores):
    """programs/*.json on the store's statistics equal `gpnas score` of the same networks."""
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.images import sample_images

    _, cross = stores
    images = sample_images("nb201-cifar10", 6, 0)  # the store's (batch 1: its first image)
    task = Task.from_store(cross, [0, 1])
    engine = Engine(full_primitive_set(), EngineConfig())
    for name in ("naswot", "jacov", "swap", "meco"):
        pf = load_program(REPO / "programs" / f"{name}.json")
        pf.cross_batch = 6
        stored = engine.net_scores(pf.program, task)
        live = [score_model(get_space("nb201-cifar10").build(a, seed=0), pf, seed=0,
                            images=images).score for a in ARCHS]
        np.testing.assert_allclose(stored, live, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("batch", [2, 62, 63, 130])
def test_pattern_count_and_kernel_equal_their_definitions(batch):
    """SWAP's count over bit-packed words (one or several per unit) and NASWOT's one-product
    kernel equal torch.unique over boolean rows and the two-product form."""
    from gpnas.data.stats.cross import _codes

    g = torch.Generator().manual_seed(batch)
    x = torch.randn(batch, 400, generator=g)
    x[:, ::3] = x[:, :1].clone()  # units with one pattern
    c = (x > 0).double()
    kernel, patterns = _codes(x)
    assert torch.equal(kernel, c @ c.T + (1 - c) @ (1 - c).T)
    assert int(patterns) == torch.unique(c.T.bool(), dim=0).shape[0]


@pytest.mark.parametrize("batch,units", [(1, 5), (5, 1), (3, 2), (32, 1000), (128, 4097)])
def test_code_kernel_equals_its_definition_at_every_shape(batch, units):
    """The int8 product's kernel equals the float64 definition, including one unit (where
    torch's CPU int8 product is wrong and the float64 product is taken)."""
    from gpnas.data.stats.cross import code_kernel

    g = torch.Generator().manual_seed(units)
    c = torch.randn(batch, units, generator=g) > 0
    d = c.double()
    assert torch.equal(code_kernel(c), d @ d.T + (1 - d) @ (1 - d).T)
