"""Statistics collection: instance discovery, the 22 tensors, determinism."""

import math

import pytest
import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.data.spaces import get_space
from gpnas.data.stats.collect import collect, collect_with_info, group_instances, instance_info
from gpnas.data.stats.images import sample_images
from primitives import STAT_NAMES

NB201 = get_space("nb201-cifar10")
DARTS = get_space("darts-cifar10")
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
ALL_CONV3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
# 3 conv edges per cell (conv3x3, conv1x1, conv3x3) -> 15 * 3 + 2 * 2 = 49
MIX = "|nor_conv_3x3~0|+|none~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|nor_conv_3x3~2|"
# cheap: one conv1x1 edge per cell -> 15 + 4 = 19
LIGHT = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def img():
    return sample_images(NB201, 1, 0)


def _darts(normal_ops, reduce_ops):
    """A DARTS arch with inputs (0, 1) for every node and the given 8 op ids per cell."""
    cell = lambda ops: [(j % 2, op) for j, op in enumerate(ops)]  # noqa: E731
    return str([cell(normal_ops), cell(reduce_ops)])


@pytest.mark.parametrize("arch, count", [(ALL_NONE, 4), (ALL_CONV3, 94), (MIX, 49), (LIGHT, 19)])
def test_nb201_instance_counts(arch, count, img):
    # every conv edge of the 15 cells is ReLU-Conv-BN; each reduction block has two (conv_a,
    # conv_b); its shortcut conv follows an AvgPool (no ReLU) and feeds an add (no BN): not one
    info = instance_info(NB201.build(arch, seed=0), img)
    assert len(info.convs) == count
    assert info.n_sep == 0
    assert not any("downsample" in c or c.startswith("stem") for c in info.convs)
    assert sum(".conv_a." in c or ".conv_b." in c for c in info.convs) == 4


def test_nb201_cbr_counts(img):
    # Conv-BN-ReLU: a BN output must feed a ReLU directly.  In NB201 cell nodes are sums, so only
    # the stem (-> the first cell's edge ReLUs) and each reduction's conv_a (-> conv_b's ReLU)
    info = instance_info(NB201.build(ALL_CONV3, seed=0), img, order="cbr")
    assert info.convs == ["stem.0", "cells.5.conv_a.conv", "cells.11.conv_a.conv"]


def test_darts_instance_counts(img):
    # per cell: 2 preprocessing ReLU-Conv1x1-BN (1 after a reduction: FactorizedReduce is
    # ReLU -> 2 convs -> concat -> BN, not an instance); sep conv = 2 ReLU-Conv-Conv-BN,
    # dil conv = 1, pools / skip = 0.  8 cells, reductions at 2 and 5 -> cells 3 and 6 use FR.
    all_sep = _darts([3] * 8, [3] * 8)
    info = instance_info(DARTS.build(all_sep, seed=0), img)
    assert len(info.convs) == 8 * (2 + 16) - 2 == 142
    assert info.n_sep == 128
    all_pool = _darts([0] * 8, [1] * 8)
    assert len(instance_info(DARTS.build(all_pool, seed=0), img).convs) == 14
    # by hand: normal = sep3, dil3, skip, max, sep5, avg, dil5, skip -> 2+1+2+1 = 6 per cell;
    # reduce = dil3 x 2, sep3, 5 x pools/skip -> 1+1+2 = 4 per cell
    mixed = _darts([3, 5, 2, 0, 4, 1, 6, 2], [5, 5, 3, 0, 1, 2, 0, 1])
    info = instance_info(DARTS.build(mixed, seed=0), img)
    assert len(info.convs) == 6 * (6 + 2) + 2 * (4 + 2) - 2
    assert info.n_sep == 6 * 6 + 2 * 4


class _Tiny(nn.Module):
    """x -> ReLU -> Conv -> BN -> sum; every statistic can be written down by hand."""

    def __init__(self):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.head = nn.Linear(4 * 6 * 6, 2)

    def forward(self, x):
        return self.head(self.bn(self.conv(self.relu(x))).flatten(1))


def _by_hand(model, x):
    x = x.clone().requires_grad_(True)
    r = model.relu(x)
    r.retain_grad()
    c = model.conv(r)
    b = model.bn(c)
    b.retain_grad()
    model.head(b.flatten(1)).sum().backward()
    g = {"relu_in": x.detach(), "relu_out": r.detach(), "relu_out_grad": r.grad,
         "relu_in_grad": x.grad, "weight_grad": model.conv.weight.grad.clone(),
         "bn_out": b.detach(), "bn_out_grad": b.grad}
    model.zero_grad(set_to_none=True)
    return g


def test_tiny_model_statistics_match_hand_computation():
    torch.manual_seed(0)
    model = _Tiny()
    x = torch.randn(2, 3, 6, 6)
    model.eval()
    (inst,) = collect(model, x, seed=7)
    assert list(inst) == list(STAT_NAMES)
    # the model is left as it was: no .grad, BN running stats and train/eval flags restored
    assert model.conv.weight.grad is None
    assert torch.all(model.bn.running_mean == 0) and int(model.bn.num_batches_tracked) == 0
    assert not model.training and not model.bn.training
    model.train()
    gen = torch.Generator().manual_seed(7)
    noise = torch.randn(x.shape, generator=gen)
    perturb = x + math.sqrt(0.01) * torch.randn(x.shape, generator=gen)
    want = {"data": _by_hand(model, x), "noise": _by_hand(model, noise),
            "perturb": _by_hand(model, perturb)}
    assert torch.equal(inst["weight"], model.conv.weight.detach())
    for t in want["data"]:
        torch.testing.assert_close(inst[f"{t}.data"], want["data"][t])
        torch.testing.assert_close(inst[f"{t}.noise"], want["noise"][t])
        # perturb statistics are stored as the difference from the data statistics
        torch.testing.assert_close(inst[f"{t}.perturb"], want["perturb"][t] - want["data"][t])


def test_cbr_mapping_on_tiny_model():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
    x = torch.randn(1, 3, 5, 5)
    (inst,) = collect(m, x, seed=0, order="cbr")
    c = m[0](x)
    b = m[1](c)
    torch.testing.assert_close(inst["bn_out.data"], c.detach())  # cbr: bn_out = conv output
    torch.testing.assert_close(inst["relu_in.data"], b.detach())  # relu_in = BN output
    torch.testing.assert_close(inst["relu_out.data"], torch.relu(b).detach())
    assert inst["relu_in.data"].shape == inst["bn_out.data"].shape == (1, 4, 3, 3)
    with pytest.raises(GpnasError, match="collection order"):
        collect(m, x, seed=0, order="brc")


def test_22_shapes_of_nb201_instances():
    x = sample_images(NB201, 2, 0)
    model = NB201.build(MIX, seed=0)
    insts, info = collect_with_info(model, x, seed=0)
    first = insts[0]  # cell 0, edge 0 -> 1: nor_conv_3x3 at 16 x 32 x 32, batch 2
    for name, t in first.items():
        want = {"weight": (16, 16, 3, 3)}.get(name.split(".")[0], None)
        if name.startswith(("relu_",)):
            want = (2, 16, 32, 32)
        elif name.startswith("bn_"):
            want = (2, 16, 32, 32)
        elif name.startswith("weight"):
            want = (16, 16, 3, 3)
        assert tuple(t.shape) == want, name
        assert t.dtype == torch.float32
    # the first reduction's conv_a: input 16 x 32 x 32, output 32 x 16 x 16, stride 2
    i = info.convs.index("cells.5.conv_a.conv")
    red = insts[i]
    assert tuple(red["relu_in.noise"].shape) == (2, 16, 32, 32)
    assert tuple(red["bn_out_grad.perturb"].shape) == (2, 32, 16, 16)
    assert tuple(red["weight_grad.data"].shape) == (32, 16, 3, 3)
    # the conv1x1 edge of cell 0
    assert tuple(insts[1]["weight"].shape) == (16, 16, 1, 1)


def test_gradients_are_nonzero_where_expected(img):
    insts = collect(NB201.build(MIX, seed=0), img, seed=0)
    for inst in insts:
        for name in STAT_NAMES:
            if name.startswith(("relu_out_grad", "weight_grad", "bn_out_grad")) \
                    and not name.endswith("perturb"):
                assert float(inst[name].abs().sum()) > 0, name
        # relu_in_grad is the gradient through this ReLU
        for inp in ("data", "noise"):
            torch.testing.assert_close(
                inst[f"relu_in_grad.{inp}"],
                inst[f"relu_out_grad.{inp}"] * (inst[f"relu_out.{inp}"] > 0))
        assert float(inst["relu_out.data"].min()) >= 0
        assert float(inst["relu_in.perturb"].abs().sum()) > 0  # the perturbation is visible


def test_same_seed_same_tensors_different_seed_different_noise(img):
    a = collect(NB201.build(LIGHT, seed=0), img, seed=3)
    b = collect(NB201.build(LIGHT, seed=0), img, seed=3)
    c = collect(NB201.build(LIGHT, seed=0), img, seed=4)
    assert all(torch.equal(x[k], y[k]) for x, y in zip(a, b) for k in STAT_NAMES)
    assert torch.equal(a[0]["relu_in.data"], c[0]["relu_in.data"])
    assert not torch.equal(a[0]["relu_in.noise"], c[0]["relu_in.noise"])


def test_sep_conv_policy_keeps_the_depthwise_conv(img):
    arch = _darts([5] * 8, [0] * 8)  # normal cells all dil_conv_3x3
    model = DARTS.build(arch, seed=0)
    insts, info = collect_with_info(model, img, seed=0)
    i = info.sep.index(True)
    assert info.convs[i].endswith(".depthwise")
    dw = model.get_submodule(info.convs[i])
    assert torch.equal(insts[i]["weight"], dw.weight.detach())
    assert tuple(insts[i]["weight"].shape) == (16, 1, 3, 3)
    # relu_* are the depthwise conv's input, bn_* the BN after the pointwise conv
    assert insts[i]["relu_out.data"].shape[1] == 16
    assert isinstance(dw, nn.Conv2d) and dw.groups == 16
    assert float(insts[i]["weight_grad.data"].abs().sum()) > 0


class _InplaceBlock(nn.Module):
    """torchvision-style: in-place ReLUs and ``out += identity`` on a BN output."""

    def __init__(self, inplace):
        super().__init__()
        self.relu = nn.ReLU(inplace=inplace)
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(4)
        self.inplace = inplace

    def forward(self, x):
        out = self.bn1(self.conv1(self.relu(x)))
        out = self.relu(out)  # the same ReLU module, called twice
        out = self.bn2(self.conv2(out))
        if self.inplace:
            out += x
        else:
            out = out + x
        return self.relu(out)


def test_inplace_ops_give_the_same_statistics_as_out_of_place():
    torch.manual_seed(0)
    a = _InplaceBlock(inplace=True)
    b = _InplaceBlock(inplace=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 4, 6, 6)
    sa, sb = collect(a, x, seed=0), collect(b, x, seed=0)
    assert len(sa) == len(sb) == 2
    for ia, ib in zip(sa, sb):
        for k in STAT_NAMES:
            torch.testing.assert_close(ia[k], ib[k], msg=k)


def test_conv_called_twice_gets_per_call_weight_gradients():
    torch.manual_seed(0)

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.relu = nn.ReLU()
            self.conv = nn.Conv2d(3, 3, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(3)
            self.bn2 = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn2(self.conv(self.relu(self.bn1(self.conv(self.relu(x))))))

    m = Shared()
    x = torch.randn(1, 3, 5, 5)
    first, second = collect(m, x, seed=0)
    y = m(x)
    total = torch.autograd.grad(y.sum(), m.conv.weight)[0]
    torch.testing.assert_close(first["weight_grad.data"] + second["weight_grad.data"], total)
    assert not torch.allclose(first["weight_grad.data"], second["weight_grad.data"])


def test_group_instances_orders_rows_by_net_then_execution(img):
    a = collect(NB201.build(LIGHT, seed=0), img, seed=0)
    b = collect(NB201.build(ALL_NONE, seed=0), img, seed=0)
    groups = group_instances([a, b])
    assert sum(len(g) for g in groups) == len(a) + len(b)
    for g in groups:
        assert torch.all(g.net[1:] >= g.net[:-1])
        assert set(g.tensors) == set(STAT_NAMES)
        shapes = {k: tuple(v.shape[1:]) for k, v in g.tensors.items()}
        assert len({shapes[k] for k in STAT_NAMES if k.startswith("relu_")}) == 1
        assert len({shapes[k] for k in STAT_NAMES if k.startswith("bn_")}) == 1
    # the first group's first row is net 0's first instance
    torch.testing.assert_close(groups[0].tensors["bn_out.noise"][0], a[0]["bn_out.noise"])
    g16 = group_instances([a], dtype=torch.float16)
    assert g16[0].tensors["weight"].dtype == torch.float16


def test_bad_inputs_raise_gpnas_error():
    m = _Tiny()
    with pytest.raises(GpnasError, match="images must be"):
        collect(m, torch.randn(3, 6, 6), seed=0)

    class Dict(nn.Module):
        def forward(self, x):
            return "nope"

    with pytest.raises(GpnasError, match="model returned str"):
        collect(Dict(), torch.randn(1, 3, 4, 4), seed=0)


def test_default_images_are_a_real_photo_normalised_and_seeded():
    x = sample_images("nb201-cifar10", 4, seed=0)
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.float32
    assert torch.equal(x, sample_images("nb201-cifar10", 4, seed=0))
    assert not torch.equal(x, sample_images("nb201-cifar10", 4, seed=1))
    assert -1.5 < float(x.mean()) < 1.5 and 0.3 < float(x.std()) < 2.0
    assert float((x[0] - x[1]).abs().mean()) > 0.05  # different crops
    assert sample_images("nb201-imagenet16", 2, seed=0).shape == (2, 3, 16, 16)
    assert sample_images((1, 8, 8), 1, seed=0).shape == (1, 1, 8, 8)


def test_images_from_cifar_batches_and_folders(tmp_path):
    import pickle

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (5, 3072), dtype=np.uint8)
    cifar = tmp_path / "cifar-10-batches-py"
    cifar.mkdir()
    with open(cifar / "data_batch_1", "wb") as f:
        pickle.dump({"data": data, "labels": [0] * 5}, f, protocol=2)
    x = sample_images("nb201-cifar10", 3, seed=0, images_path=cifar)
    assert x.shape == (3, 3, 32, 32)
    sp = get_space("nb201-cifar10")
    rows = {tuple(((data[i].reshape(3, 32, 32) / 255.0 - np.array(sp.mean)[:, None, None])
                   / np.array(sp.std)[:, None, None]).astype(np.float32).ravel()[:5].round(4))
            for i in range(5)}
    assert tuple(x[0].numpy().ravel()[:5].round(4)) in rows  # CIFAR rows, normalised
    assert sample_images("nb201-imagenet16", 2, 0, cifar / "data_batch_1").shape == (2, 3, 16, 16)
    folder = tmp_path / "imgs"
    (folder / "cls").mkdir(parents=True)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(
            folder / "cls" / f"{i}.png")
    assert sample_images("darts-cifar10", 2, 0, folder).shape == (2, 3, 32, 32)
    # a pickle that would run code is refused, and bad paths are GpnasErrors
    evil = tmp_path / "evil"
    evil.write_bytes(pickle.dumps({"data": print}))
    with pytest.raises(GpnasError, match="not allowed"):
        sample_images("nb201-cifar10", 1, 0, evil)
    with pytest.raises(GpnasError, match="does not exist"):
        sample_images("nb201-cifar10", 1, 0, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GpnasError, match="no CIFAR python batches"):
        sample_images("nb201-cifar10", 1, 0, tmp_path / "empty")


def _same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        for k in STAT_NAMES:
            assert torch.equal(x[k], y[k]), k


@pytest.mark.parametrize("space, arch, order", [
    ("nb201-cifar10", MIX, "rcb"), ("nb201-cifar10", MIX, "cbr"),
    ("nb201-imagenet16", MIX, "rcb"),
    # sep conv 3x3 / 5x5, dil conv 3x3 / 5x5, max / avg pool, skip
    ("darts-cifar10", _darts([3, 4, 5, 6, 0, 1, 2, 3], [4, 5, 0, 1, 6, 2, 3, 0]), "rcb")])
def test_fused_pass_gives_the_three_passes_bit_for_bit(space, arch, order):
    sp = get_space(space)
    model = sp.build(arch, seed=0)
    x = sample_images(sp, 1, 0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    three, info3 = collect_with_info(model, x, seed=5, order=order)
    fused, info1 = collect_with_info(model, x, seed=5, order=order, fused=True)
    assert info1 == info3
    _same(fused, three)
    # the model is as it was: its own layers, weights and running statistics
    assert not any("forward" in vars(m) for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


class _WithDropout(_Tiny):
    def __init__(self):
        super().__init__()
        self.drop = nn.Dropout(0.5)

    def forward(self, x):
        return self.head(self.drop(self.bn(self.conv(self.relu(x)))).flatten(1))


@pytest.mark.parametrize("model, batch", [(_Tiny, 2), (_WithDropout, 1)])
def test_fused_pass_falls_back_to_three_where_it_would_not_be_exact(model, batch):
    """Batches over 1 and layers it cannot split per input (dropout draws) take three passes."""
    torch.manual_seed(0)
    m = model()
    x = torch.randn(batch, 3, 6, 6)
    _same(collect(m, x, seed=1, fused=True), collect(m, x, seed=1))
