"""Programs, a user's model file and scoring helpers shared by the nasm tests."""

import os

import numpy as np
import torch

from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from primitives import default_primitive_set, full_primitive_set, primitive_set
from representations.ir import ProgramBuilder
from representations.tree import TreeRepresentation
from paths import REPO as ROOT  # noqa: F401  (re-exported for the tests)

PSET = default_primitive_set()
TREE = TreeRepresentation(PSET, min_depth=2, max_depth=4)
NETWORK_TREE = TreeRepresentation(primitive_set("network"), root_type="net")


def parse(text):
    """The IR program of a tree's text (the paper's DSL, or network-level with the ``network``
    extension when the text uses it)."""
    try:
        return TREE.lower(TREE.parse(text))
    except Exception:
        return NETWORK_TREE.lower(NETWORK_TREE.parse(text))

MODEL_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Residuals, an in-place ReLU, a separable conv (ReLU-Conv-Conv-BN), a conv called twice;
    5 ReLU-Conv-BN instances and 2 Conv-BN-ReLU ones."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, bias=False),
                               nn.BatchNorm2d(8))
        self.r = nn.ReLU()
        self.shared = nn.Conv2d(8, 8, 1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(8), nn.BatchNorm2d(8)
        self.b = nn.Sequential(nn.ReLU(inplace=True),
                               nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False),
                               nn.BatchNorm2d(12))
        self.c = nn.Sequential(nn.ReLU(), nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False),
                               nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12))
        self.d = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12),
                               nn.ReLU())
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(12, 10))

    def forward(self, x):
        x = self.stem(x)
        x = x + self.a(x)
        x = x + self.bn1(self.shared(self.r(x))) + self.bn2(self.shared(self.r(x)))
        x = self.b(x)
        x = x + self.c(x)
        return self.head(self.d(x))


def factory():
    return Net()


def no_instances():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())


def not_a_model():
    return 42
'''


def env(pythonpath: str | None = None) -> dict:
    """The environment of a subprocess: one thread, no inherited PYTHONPATH."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out["OMP_NUM_THREADS"] = "1"
    if pythonpath:
        out["PYTHONPATH"] = pythonpath
    return out


def scores(program, task, to_scalar="mean", aggregate="mean"):
    eng = Engine(full_primitive_set(), EngineConfig(to_scalar=to_scalar, aggregate=aggregate,
                                                    cache_bytes=0))
    try:
        return eng.net_scores(program, task)
    except InvalidProgram as exc:
        return exc.reason


def same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
    else:
        np.testing.assert_array_equal(a, b)


def shared_ir_programs():
    """IR programs with shared sub-expressions (a DAG, not a tree)."""
    out = []
    b = ProgramBuilder(PSET)
    w = b.terminal("weight_grad.noise")
    lg = b.apply("abslog", [w])
    s = b.apply("add", [lg, b.apply("square", [lg])])  # lg used twice
    out.append(b.build(b.apply("mul", [s, b.apply("sign", [lg])])))
    b = ProgramBuilder(PSET)
    x = b.apply("normalize", [b.terminal("relu_out.data")])
    fro = b.apply("frobenius", [x])
    out.append(b.build(b.apply("sub", [b.apply("invert", [fro]),
                                       b.apply("l1_norm", [b.apply("relu", [x])])])))
    return out


def tree_programs(n, seed):
    rng = np.random.default_rng(seed)
    gs = [TREE.random(rng) for _ in range(n)]
    return [(g, TREE.lower(g)) for g in gs]


def sequential_programs(n, seed, **kw):
    try:
        from representations.sequential import SequentialRepresentation
    except ImportError:
        return []
    rep = SequentialRepresentation(PSET, **kw)
    rng = np.random.default_rng(seed)
    return [(rep, g, rep.lower(g)) for g in (rep.random(rng) for _ in range(n))]


def images(seed=1):
    """A small random image batch (2, 3, 16, 16)."""
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
