"""Search spaces: encodings, network structure, initialisation."""

import numpy as np
import pytest
import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.data.spaces import SPACES, get_space, reference_init
from gpnas.data.spaces import darts, nb201

ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
DARTS_ARCH = ("[[(0, 0), (1, 5), (1, 1), (0, 1), (1, 3), (0, 3), (1, 3), (3, 2)], "
              "[(1, 0), (0, 2), (1, 3), (0, 3), (3, 0), (0, 1), (2, 0), (3, 6)]]")


pytestmark = pytest.mark.usefixtures("one_thread")


def test_registry_names_and_unknown_space():
    assert set(SPACES) == {"nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "darts-cifar10"}
    with pytest.raises(GpnasError, match="known spaces: nb201-cifar10"):
        get_space("nb201-cifar1000")
    sp = get_space("nb201-imagenet16")
    assert (sp.num_classes, sp.input_size, sp.family) == (120, (3, 16, 16), "nb201")
    assert get_space(sp) is sp


def test_nb201_canonical_sorts_inputs():
    s = "|skip_connect~0|+|none~1|nor_conv_1x1~0|+|avg_pool_3x3~2|nor_conv_3x3~0|none~1|"
    assert nb201.canonical(s) == ("|skip_connect~0|+|nor_conv_1x1~0|none~1|"
                                  "+|nor_conv_3x3~0|none~1|avg_pool_3x3~2|")


@pytest.mark.parametrize("bad", [
    "", "|none~0|", "|none~0|+|none~0|none~1|", "|none~0|+|none~0|none~1|+|none~0|none~1|",
    "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|none~1|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|none~0|+|none~0|none~0|+|none~0|none~1|none~2|",
    "|none0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "none~0+|none~0|none~1|+|none~0|none~1|none~2|",
])
def test_nb201_bad_strings_raise_gpnas_error(bad):
    with pytest.raises(GpnasError, match="nb201-cifar10: bad NAS-Bench-201"):
        get_space("nb201-cifar10").build(bad)


def test_nb201_all_conv3x3_matches_nb201_parameter_count():
    # NAS-Bench-201 reports 1.53 M parameters for this cell on CIFAR-10
    m = get_space("nb201-cifar10").build(ALL_CONV3, seed=0)
    assert sum(p.numel() for p in m.parameters()) == 1_531_546
    # 15 cells + 2 reduction blocks, each reduction a ResNet basic block
    assert len(m.cells) == 17
    assert isinstance(m.cells[5], nb201.ResNetBasicBlock)
    assert isinstance(m.cells[11], nb201.ResNetBasicBlock)


@pytest.mark.parametrize("name", list(SPACES))
def test_every_space_builds_and_runs(name):
    sp = get_space(name)
    arch = sp.random_arch(np.random.default_rng(0))
    assert sp.canonical(arch) == arch
    m = sp.build(arch, seed=1)
    y = m(torch.randn(2, *sp.input_size))
    assert y.shape == (2, sp.num_classes)


def test_build_seed_is_deterministic_and_leaves_global_rng():
    sp = get_space("nb201-cifar10")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = sp.build(ALL_CONV3, seed=5).state_dict()
    after = torch.rand(1)
    assert torch.equal(before, after)  # the global RNG was not consumed
    b = sp.build(ALL_CONV3, seed=5).state_dict()
    c = sp.build(ALL_CONV3, seed=6).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["stem.0.weight"], c["stem.0.weight"])


def test_reference_init():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(8, 64, 3), nn.BatchNorm2d(64), nn.Flatten(), nn.Linear(10, 1000))
    reference_init(m)
    w = m[0].weight.detach()
    fan_out = 64 * 9
    assert abs(float(w.std()) - (2.0 / fan_out) ** 0.5) < 0.01
    assert torch.all(m[1].weight == 1) and torch.all(m[1].bias == 0)
    assert abs(float(m[3].weight.detach().std()) - 0.01) < 0.001
    assert torch.all(m[3].bias == 0)


def test_darts_canonical_and_structure():
    assert darts.canonical(DARTS_ARCH) == DARTS_ARCH
    assert darts.canonical(DARTS_ARCH.replace(" ", "")) == DARTS_ARCH
    m = get_space("darts-cifar10").build(DARTS_ARCH, seed=0)
    assert len(m.cells) == darts.LAYERS == 8
    # reductions at 8//3 = 2 and 16//3 = 5; the cell after each preprocesses s0 by FactorizedReduce
    assert isinstance(m.cells[3].preprocess0, darts.FactorizedReduce)
    assert isinstance(m.cells[6].preprocess0, darts.FactorizedReduce)
    assert isinstance(m.cells[2].preprocess0, darts.ReLUConvBN)
    # reduction cell: ops on the cell inputs have stride 2 (skip -> FactorizedReduce)
    assert isinstance(m.cells[2].ops[1], darts.FactorizedReduce)  # (0, 2) skip on input 0
    assert m.stem[0].out_channels == 48 and m.classifier.in_features == 4 * 64


_OK8 = [(0, 0)] * 8


@pytest.mark.parametrize("bad", [
    "not a list", str([_OK8]), str([_OK8, _OK8[:7]]),
    str([[(0, 7)] + _OK8[1:], _OK8]),  # op id out of range
    str([[(2, 0)] + _OK8[1:], _OK8]),  # node 0 cannot read node 2
    str([[(0, 0.5)] + _OK8[1:], _OK8]), str([[(0, True)] + _OK8[1:], _OK8]),
    "__import__('os')",
])
def test_darts_bad_encodings_raise_gpnas_error(bad):
    with pytest.raises(GpnasError, match="darts-cifar10: bad DARTS compact"):
        get_space("darts-cifar10").canonical(bad)


def test_darts_from_named_genotype():
    normal = [["sep_conv_3x3", 0], ["max_pool_3x3", 1]] * 4
    reduce = [["skip_connect", 0], ["dil_conv_5x5", 1]] * 4
    arch = darts.from_named(normal, reduce)
    assert arch == str([[(0, 3), (1, 0)] * 4, [(0, 2), (1, 6)] * 4])
    with pytest.raises(GpnasError, match="not in the DARTS space"):
        darts.from_named([["conv_7x1_1x7", 0]] * 8, reduce)
