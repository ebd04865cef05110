"""Baseline metrics (gpnas.baselines): definitions on tiny models, one small NB201 net, the CLI."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from gpnas.baselines import BASELINES, parse_metrics
from gpnas.baselines.evaluate import rank_correlations
from gpnas.baselines.jacob_cov import jacob_cov_score
from gpnas.baselines.naswot import hamming_kernel, naswot
from gpnas.baselines.size import flops, num_params
from gpnas.errors import GpnasError
from paths import BENCHDATA

BENCH = BENCHDATA
needs_bench = pytest.mark.skipif(not BENCH.is_dir(), reason=f"benchmark data not found at {BENCH} "
                                 "(the shared/benchdata checkout beside the repository)")

ARCH = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"


pytestmark = pytest.mark.usefixtures("one_thread")


class Tiny(nn.Module):
    """Conv-BN-ReLU, pool, Linear: small enough to check definitions by hand."""

    def __init__(self, classes=3):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(4)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.relu(self.bn(self.conv(x)))), 1))


@pytest.fixture(scope="module")
def nb201_net():
    """A small NB201 network: the NB201 topology (stem, 3 stages, ResNet reductions, the cell of
    ARCH) at C=8 with 1 cell per stage instead of C=16, N=5, reference init, 16x16 input."""
    from gpnas.data.spaces import get_space, reference_init
    from gpnas.data.spaces.nb201 import NB201Network, parse

    sp = get_space("nb201-imagenet16")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = reference_init(NB201Network(parse(ARCH), sp.num_classes, c=8, n=1))
    return sp, model


def test_every_metric_is_finite_on_nb201_and_leaves_the_model_alone(nb201_net):
    from gpnas.data.stats.images import sample_images

    sp, model = nb201_net
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = sample_images(sp, 8, 0)
    values = {}
    for name, b in BASELINES.items():
        values[name] = b(model, x, 0)
        assert isinstance(values[name], float)
        assert math.isfinite(values[name]), (name, values[name])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in model.parameters())
    # deterministic for a fixed seed
    assert BASELINES["zen"](model, x, 0) == values["zen"]
    assert BASELINES["snip"](model, x, 0) == values["snip"]


def test_params_counts_every_parameter(nb201_net):
    from gpnas.data.spaces import get_space

    _, model = nb201_net
    assert num_params(model) == sum(p.numel() for p in model.parameters())
    full = get_space("nb201-cifar10").build(ARCH, seed=0)
    assert num_params(full) == sum(p.numel() for p in full.parameters())
    assert num_params(Tiny()) == 3 * 4 * 9 + 4 + 4 + 4 * 3 + 3


def test_flops_of_one_known_conv():
    conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False))
    x = torch.zeros(5, 3, 32, 32)
    assert flops(conv, x) == 8 * 32 * 32 * 3 * 9  # per image, whatever the batch
    strided = nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2))
    assert flops(strided, torch.zeros(1, 4, 8, 8)) == 6 * 4 * 4 * (4 // 2) * 9
    assert flops(Tiny(3), torch.zeros(2, 3, 8, 8)) == 4 * 8 * 8 * 3 * 9 + 4 * 3


def test_naswot_kernel_and_identical_activations():
    # two inputs, three units: codes 110 and 100 agree on 2 of 3 units
    codes = [torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])]
    k = hamming_kernel(codes)
    assert np.array_equal(k, [[3.0, 2.0], [2.0, 3.0]])
    # through a network: nn.ReLU over the raw input gives those codes
    net = nn.Sequential(nn.Flatten(), nn.ReLU())
    x = torch.tensor([[1.0, 2.0, -1.0], [3.0, -2.0, -5.0]]).reshape(2, 3, 1, 1)
    assert naswot(net, x) == pytest.approx(math.log(3 * 3 - 2 * 2))
    # identical activations: every code equal, K = N_A * ones, singular -> log|det| = -inf
    same = torch.ones(4, 3, 1, 1)
    assert naswot(net, same) == float("-inf")
    with pytest.raises(GpnasError):
        naswot(nn.Sequential(nn.Flatten()), x)


def _naswot_as_before(model, x):
    """The implementation before issue 17 (float64 products of c and 1 - c per ReLU module),
    kept here only, as the reference."""
    from gpnas.baselines.common import working_copy
    from gpnas.baselines.naswot import naswot_from_kernel

    net, n = working_copy(model), x.shape[0]
    k = torch.zeros((n, n), dtype=torch.float64)

    def on_relu(mod, inp):
        c = (inp[0].detach().reshape(n, -1) > 0).to(torch.float64)
        k.add_(c @ c.T).add_((1.0 - c) @ (1.0 - c).T)

    handles = [m.register_forward_pre_hook(on_relu) for m in net.modules()
               if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        net(x)
    for h in handles:
        h.remove()
    return naswot_from_kernel(k.numpy())


def test_naswot_is_what_it_was():
    """One float32 product per distinct ReLU input gives the kernel of the definition exactly:
    the same score, bit for bit (NB201 and DARTS networks, in-place ReLUs)."""
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.images import sample_images

    for space, arch in (("nb201-cifar10", ARCH),
                        ("darts-cifar10", str([[(j % 2, 3 + j % 4) for j in range(8)]] * 2))):
        sp = get_space(space)
        net, x = sp.build(arch, seed=0), sample_images(sp, 16, 0)
        assert naswot(net, x) == _naswot_as_before(net, x)

    class InPlace(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, padding=1)
            self.a, self.b = nn.ReLU(), nn.ReLU(inplace=True)

        def forward(self, x):
            y = self.conv(x)
            return self.a(y) + self.b(y)  # b overwrites y after a read it

    torch.manual_seed(0)
    net, x = InPlace(), torch.randn(8, 3, 5, 5)
    assert naswot(net, x) == _naswot_as_before(net, x)


def test_jacob_cov_score_of_uncorrelated_rows_is_minus_n():
    j = np.eye(4)  # rows of an identity: correlation -1/3 off the diagonal
    corr = np.corrcoef(j)
    v = np.linalg.eigvalsh(corr)
    assert jacob_cov_score(j) == pytest.approx(-np.sum(np.log(v + 1e-5) + 1 / (v + 1e-5)))
    assert math.isnan(jacob_cov_score(np.zeros((3, 5))))


def test_synflow_of_a_linear_chain_is_exact():
    # R = sum of |W2| |W1| 1; R is linear in each layer's weights, so each layer's
    # sum theta dR/dtheta is R and the score is 2 R
    net = nn.Sequential(nn.Flatten(), nn.Linear(1, 3, bias=False), nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[1.0], [-2.0], [0.5]]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, -1.0], [2.0, 0.0, 1.0]]))
    x = torch.zeros(1, 1, 1, 1)
    r = (1 * 1 + 1 * 2 + 1 * 0.5) + (2 * 1 + 0 * 2 + 1 * 0.5)  # = 6
    assert BASELINES["synflow"](net, x, 0) == pytest.approx(math.log(2 * r))


def test_gradient_metrics_use_given_labels():
    torch.manual_seed(0)
    model = Tiny(3)
    x = torch.randn(6, 3, 8, 8)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    a = BASELINES["snip"](model, (x, y), 0)
    assert a == BASELINES["snip"](model, (x, y), 123)  # labels given: the seed is unused
    assert a != BASELINES["snip"](model, x, 0)  # random labels differ
    with pytest.raises(GpnasError):
        BASELINES["zico"](model, x[:1], 0)


def test_fisher_definition_and_naslib_weighting():
    from gpnas.baselines.pruning import fisher

    torch.manual_seed(1)
    net = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    x = torch.randn(5, 3, 2, 2)
    y = torch.tensor([0, 1, 2, 1, 0])
    # by hand: a = logits, dL/da = (softmax - onehot) / N; per class 0.5 * mean_n (a g)^2
    a = net(x).detach()
    g = (torch.softmax(a, 1) - torch.nn.functional.one_hot(y, 3)) / 5
    expected = float((0.5 * (a * g).pow(2).mean(0)).sum())
    assert fisher(net, (x, y)) == pytest.approx(expected, rel=1e-5)
    # NASLib broadcasts each channel's value to its 12 weights before summing
    assert fisher(net, (x, y), fan_in_weighted=True) == pytest.approx(12 * expected, rel=1e-5)


def test_rank_correlations_and_metric_names():
    r = rank_correlations([1.0, 2.0, float("nan"), 4.0], [10, 20, 5, 40])
    assert r == {"n": 4, "kendall": pytest.approx(1.0), "spearman": pytest.approx(1.0)}
    assert rank_correlations([1, 1, 1], [1, 2, 3])["kendall"] is None
    assert parse_metrics(None) == list(BASELINES)
    assert parse_metrics("params, naswot,params") == ["params", "naswot"]
    with pytest.raises(GpnasError, match="unknown baseline"):
        parse_metrics("params,nope")


def _cli(args):
    from typer.testing import CliRunner

    from gpnas.cli import app

    return CliRunner().invoke(app, args)


def test_cli_json_shape(monkeypatch):
    monkeypatch.delenv("GPNAS_BENCH_DIR", raising=False)
    res = _cli(["baselines", "--space", "nb201-cifar10", "--test-nets", "6",
                "--metrics", "params,naswot", "--batch-size", "8", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert list(data) == ["nb201-cifar10"]
    assert list(data["nb201-cifar10"]) == ["params", "naswot"]
    for row in data["nb201-cifar10"].values():
        assert set(row) == {"kendall", "spearman", "n"}
        assert row["n"] == 6
        assert row["kendall"] is None or -1 <= row["kendall"] <= 1


def test_cli_rejects_unknown_metric():
    res = _cli(["baselines", "--test-nets", "3", "--metrics", "nope", "--json"])
    assert res.exit_code != 0
    assert "unknown baseline" in str(res.exception) + res.output


@needs_bench
def test_cli_on_bench_dir_table():
    res = _cli(["baselines", "--space", "nb201-imagenet16", "--test-nets", "4",
                "--metrics", "params,flops", "--bench-dir", str(BENCH)])
    assert res.exit_code == 0, res.output
    assert "nb201-imagenet16" in res.stdout and "flops" in res.stdout


@needs_bench
def test_params_and_flops_rank_like_published_naslib_values():
    import pandas as pd

    from gpnas.data.spaces import get_space

    table = pd.read_csv(BENCH / "derived" / "nb201_naslib_zc_cifar10.csv").head(8)
    sp = get_space("nb201-cifar10")
    x = torch.zeros(1, 3, 32, 32)
    ours_p, ours_f = [], []
    for arch in table["arch_str"]:
        m = sp.build(arch, seed=0)
        ours_p.append(num_params(m))
        ours_f.append(flops(m, x))
    from scipy import stats

    assert stats.kendalltau(ours_p, table["params"]).statistic > 0.9
    assert stats.kendalltau(ours_f, table["flops"]).statistic > 0.9


def test_worker_processes_give_the_same_scores():
    from gpnas.baselines.evaluate import score_networks

    archs = [ARCH, ARCH.replace("none~2", "nor_conv_1x1~2"),
             ARCH.replace("skip_connect~1", "nor_conv_3x3~1")]
    kw = dict(metrics=["params", "naswot", "zen"], seed=3, batch_size=8, progress=False)
    one = score_networks("nb201-cifar10", archs, jobs=1, **kw)
    two = score_networks("nb201-cifar10", archs, jobs=2, **kw)
    assert all(np.array_equal(one[m], two[m]) for m in kw["metrics"])
