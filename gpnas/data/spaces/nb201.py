"""The NAS-Bench-201 network (the topology of NB201's ``TinyNetwork`` + ``InferCell``).

Structure, as NAS-Bench-201 trained it (C=16, N=5):

* stem: Conv3x3(3 -> 16) + BN
* stage 1: 5 cells at 16 channels; ResNet basic block (stride 2) to 32 channels;
  stage 2: 5 cells at 32; basic block to 64; stage 3: 5 cells at 64
* lastact: BN + ReLU, global average pool, Linear classifier

A cell is a DAG of 4 nodes; node k (k = 1, 2, 3) is the sum of one operation on every earlier node.
Edge operations: ``none`` (x * 0), ``skip_connect`` (identity), ``nor_conv_1x1`` and
``nor_conv_3x3`` (ReLU-Conv-BN), ``avg_pool_3x3`` (stride 1, padding 1, count_include_pad=False).

The reduction block (``ResNetBasicblock``) is ReLU-Conv3x3(stride 2)-BN, then ReLU-Conv3x3-BN, plus
a shortcut AvgPool2x2 -> Conv1x1 (no ReLU before it, no BN after it), summed.

ReLU-Conv-BN instances: every conv edge of a cell is one, each reduction block has two (conv_a,
conv_b).  The stem (Conv-BN, no ReLU before it) and the shortcut conv (after an average pool, not
followed by BN) are not.  So an all-``nor_conv_3x3`` network has 15 cells x 6 edges + 2 x 2 = 94
instances and an all-``none`` network 4.

The network returns the logits only (NB201's returns ``(features, logits)``).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.data.spaces.layers import ReLUConvBN

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
C_INIT = 16
N_CELLS = 5  # cells per stage

DESCRIPTION = (f"NAS-Bench-201 network: C={C_INIT}, N={N_CELLS} cells per stage, 3 stages, "
               "ResNet basic-block reductions; ops " + ", ".join(OPS))

Cell = tuple[tuple[tuple[str, int], ...], ...]


def parse(arch: str, space: str = "nb201") -> Cell:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> ((("op", 0),), (..., ...), (..., ..., ...)).

    Inputs of each node are returned sorted by input index; GpnasError if malformed.
    """
    if not isinstance(arch, str):
        raise GpnasError(f"{space}: architecture must be a string, got {type(arch).__name__}")
    s = arch.strip()

    def bad(why: str):
        return GpnasError(f"{space}: bad NAS-Bench-201 architecture string {arch!r}: {why} "
                          "(expected e.g. |nor_conv_3x3~0|+|none~0|skip_connect~1|"
                          "+|avg_pool_3x3~0|nor_conv_1x1~1|none~2|)")

    groups = s.split("+")
    if len(groups) != 3:
        raise bad(f"{len(groups)} node groups, expected 3")
    cell = []
    for k, g in enumerate(groups, start=1):
        if not (g.startswith("|") and g.endswith("|")) or len(g) < 3:
            raise bad(f"node group {g!r} must look like |op~i|...|")
        edges = []
        for item in g[1:-1].split("|"):
            op, sep, src = item.partition("~")
            if not sep or op not in OPS or not src.isdigit():
                raise bad(f"edge {item!r} must be op~input with op one of {', '.join(OPS)}")
            edges.append((op, int(src)))
        inputs = sorted(i for _, i in edges)
        if inputs != list(range(k)):
            raise bad(f"node {k} must take inputs 0..{k - 1} once each, got {inputs}")
        cell.append(tuple(sorted(edges, key=lambda e: e[1])))
    return tuple(cell)


def to_string(cell: Cell) -> str:
    return "+".join("|" + "|".join(f"{op}~{i}" for op, i in node) + "|" for node in cell)


def canonical(arch: str, space: str = "nb201") -> str:
    return to_string(parse(arch, space))


def random_arch(rng: np.random.Generator) -> str:
    ops = rng.integers(0, len(OPS), size=6)
    it = iter(OPS[int(o)] for o in ops)
    return to_string(tuple(tuple((next(it), i) for i in range(k)) for k in (1, 2, 3)))


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def make_op(name: str, c: int) -> nn.Module:
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, c, 1, 1, 0)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, c, 3, 1, 1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise GpnasError(f"unknown NAS-Bench-201 operation {name!r}")  # pragma: no cover


class InferCell(nn.Module):
    """Node k = sum over its incoming edges, in the order of the arch string (as NB201)."""

    def __init__(self, cell: Cell, c: int):
        super().__init__()
        self.edges = nn.ModuleList()
        self.plan: list[list[tuple[int, int]]] = []  # per node: (edge index, input node)
        for node in cell:
            entry = []
            for op, src in node:
                entry.append((len(self.edges), src))
                self.edges.append(make_op(op, c))
            self.plan.append(entry)

    def forward(self, x):
        nodes = [x]
        for entry in self.plan:
            # Python's sum (0 + a + b ...), as NB201's InferCell
            nodes.append(sum(self.edges[e](nodes[src]) for e, src in entry))
        return nodes[-1]


class ResNetBasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int = 2):
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride, 1)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, 1, 1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False))

    def forward(self, x):
        out = self.conv_b(self.conv_a(x))
        return self.downsample(x) + out


class NB201Network(nn.Module):
    def __init__(self, cell: Cell, num_classes: int, c: int = C_INIT, n: int = N_CELLS):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
        channels = [c] * n + [2 * c] + [2 * c] * n + [4 * c] + [4 * c] * n
        reduction = [False] * n + [True] + [False] * n + [True] + [False] * n
        self.cells = nn.ModuleList()
        c_prev = c
        for c_cur, red in zip(channels, reduction):
            self.cells.append(ResNetBasicBlock(c_prev, c_cur, 2) if red else InferCell(cell, c_cur))
            c_prev = c_cur
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=True))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x):
        h = self.stem(x)
        for cell in self.cells:
            h = cell(h)
        h = self.global_pooling(self.lastact(h))
        return self.classifier(torch.flatten(h, 1))


def build(cell: Cell, num_classes: int) -> nn.Module:
    return NB201Network(cell, num_classes)
