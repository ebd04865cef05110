"""EZNAS-A built in: the program, ``gpnas score eznas-a`` against the formula computed directly
with torch, the baseline row, the export, and the benchmark's fast path against the DSL."""

import importlib.util
import json
import math
import sys

import pytest
import torch

from gpnas.baselines import BASELINES
from gpnas.baselines import eznas_a as E
from gpnas.data.stats.collect import collect
from gpnas.data.stats.images import sample_images
from gpnas.errors import GpnasError
from gpnas.nasm.programfile import load_program, save_program
from gpnas.nasm.score import build_model, score_model
from nasm_helpers import ROOT
from primitives import default_primitive_set
from representations.tree import TreeRepresentation


def official(instances, stat="weight_grad.noise") -> float:
    """EZNAS-A as the official code computes it, on collected statistics."""
    scores = []
    for inst in instances:
        v = torch.logdet(torch.sign(inst[stat]))
        v[v != v] = 0
        scores.append(torch.norm(torch.sigmoid(v), p="fro"))
    return float(torch.stack(scores).double().mean())


def test_builtin_programs(tmp_path):
    pf = load_program("eznas-a")
    assert pf.program.text() == "frobenius(sigmoid(logdet_grid(sign(weight_grad.noise))))"
    assert (pf.batch_size, pf.to_scalar, pf.aggregate, pf.order) == (16, "mean", "mean", "rcb")
    assert pf.describe() == "built-in eznas-a"
    for alias in ("EZNAS-A", "eznas_a", "eznasa"):
        assert load_program(alias).program.key == pf.program.key
    code = load_program("eznas-a-code")
    assert code.program.statistics == ("relu_in_grad.data",)
    # a seed for a tree search: its genome decodes to the same program
    tree = TreeRepresentation(E.primitive_set())
    assert tree.lower(tree.from_json(pf.genome)).key == pf.program.key
    # a program file like any other
    again = load_program(save_program(tmp_path / "ez.json", pf))
    assert again.program.key == pf.program.key and again.batch_size == 16
    with pytest.raises(GpnasError, match="grid"):
        load_program("eznas-a", default_primitive_set())


def test_cli_score_equals_the_formula_on_the_models_statistics(model_dir, monkeypatch, capsys):
    import userzoo
    from gpnas.cli import main

    monkeypatch.setattr(sys, "argv", ["gpnas", "score", "eznas-a", "--model", "userzoo:factory",
                                      "--input-shape", "3,16,16", "--seed", "2", "--json"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code in (0, None)
    got = json.loads(capsys.readouterr().out)
    model = build_model(userzoo.factory, seed=2)
    images = sample_images((3, 16, 16), 16, 2)  # the program's batch size
    instances = collect(model, images, seed=2)
    want = official(instances)
    assert math.isfinite(want) and want > 0
    assert got["instances"] == 5 and got["score"] == pytest.approx(want, rel=1e-6)
    # the baseline row and the code's reading compute the same on the same statistics
    assert BASELINES["eznas_a"](model, images, 2) == pytest.approx(want, rel=1e-6)
    assert BASELINES["eznas_a"].batch_size == 16
    code = official(instances, "relu_in_grad.data")
    assert score_model(model, "eznas-a-code", images=images, seed=2).score == \
        pytest.approx(code, rel=1e-6)
    assert BASELINES["eznas_a_code"](model, images, 2) == pytest.approx(code, rel=1e-6)


def test_python_export_scores_as_gpnas(tmp_path, model_dir):
    import userzoo
    from gpnas.nasm.export import export

    path = tmp_path / "eznas_export.py"
    path.write_text(export("eznas-a", "python"))
    module = _load("eznas_export", path)
    model = build_model(userzoo.factory, seed=1)
    images = sample_images((3, 16, 16), 4, 1)
    want = score_model(model, "eznas-a", images=images, seed=1).score
    assert module.score(model, images, seed=1) == pytest.approx(want, rel=1e-6)


def _load(name, path):
    """A module from a file (registered while it runs: dataclasses need that)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


def _benchmark():
    return _load("eznas_bench", ROOT / "benchmarks/eznas_a.py")


@pytest.mark.parametrize("family", ["nb201", "darts"])
def test_benchmark_fast_path_equals_the_dsl_programs(family):
    """benchmarks/eznas_a.py collects only what the formula needs: the same numbers as the DSL
    programs on gpnas's statistics, on small networks of both spaces."""
    from gpnas.data.spaces import get_space, reference_init

    if family == "nb201":
        from gpnas.data.spaces.nb201 import NB201Network, parse

        arch = "|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|nor_conv_3x3~1|none~2|"
        make = lambda: NB201Network(parse(arch), 10, c=8, n=1)  # noqa: E731
    else:
        from gpnas.data.spaces.darts import DartsNetwork, parse

        arch = str([[(0, 3), (1, 5), (0, 2), (2, 4), (1, 0), (3, 6), (2, 1), (4, 3)]] * 2)
        make = lambda: DartsNetwork(parse(arch), 10, c=4, layers=3)  # noqa: E731
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = reference_init(make())
    images = sample_images(get_space("nb201-imagenet16"), 2, 5)
    fast = _benchmark().net_scores(model, images, 5, pointwise=family == "darts")
    instances = collect(model, images, seed=5)
    assert fast["instances"] == len(instances)
    assert fast["paper"] == pytest.approx(E.score_instances(instances, "eznas-a"), rel=1e-6)
    assert fast["code"] == pytest.approx(E.score_instances(instances, "eznas-a-code"), rel=1e-6)


def test_the_official_init_is_the_reference_init():
    """The official code's initialize_module, applied over net.modules(), draws the same
    weights as gpnas's reference_init (so one init column covers both)."""
    from torch import nn

    from gpnas.data.spaces import get_space, reference_init

    def official_init(net):
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)
        return net

    sp = get_space("darts-cifar10")
    arch = str([[(0, 3), (1, 5), (0, 2), (2, 4), (1, 0), (3, 6), (2, 1), (4, 3)]] * 2)
    fam = sp._module()
    nets = []
    for init in (reference_init, official_init):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            nets.append(init(fam.build(fam.parse(arch), 10)))
    a, b = (n.state_dict() for n in nets)
    assert all(torch.equal(a[k], b[k]) for k in a)
