"""The DARTS cell space (NB301 / NDS-DARTS) as a CIFAR network in the DARTS ``NetworkCIFAR`` style.

Encoding: NASLib's NB301 *compact* form ``[[(input, op) x 8], [(input, op) x 8]]`` (normal cell,
reduction cell).  Pairs 2i and 2i+1 are the two inputs of intermediate node i (i = 0..3); input 0 is
the output of the cell before last, 1 the previous cell, 2.. the intermediate nodes; op ids index
:data:`OPS`; both cells concatenate nodes [2, 3, 4, 5].  The canonical string is Python's ``str``
of the list of lists of tuples, e.g. ``[[(0, 3), (1, 3), ...], [(0, 0), ...]]``, as the keys of
NASLib's ``zc_nasbench301.json``.

Network: stem Conv3x3 (3 -> 3C) + BN; ``LAYERS`` cells with reduction cells at LAYERS//3 and
2*LAYERS//3 (channels double); each cell preprocesses its two inputs with ReLU-Conv1x1-BN, or with
FactorizedReduce when the cell before last was a reduction; global average pool, Linear.  Ops:
max/avg pool 3x3, skip (identity; FactorizedReduce when stride 2), sep conv (twice ReLU, depthwise
kxk, pointwise 1x1, BN), dil conv (ReLU, dilated depthwise kxk, pointwise 1x1, BN).  No auxiliary
head and no drop path (both only act during training).

Width and depth: C=16, 8 cells.  8 cells is the depth NB301 trained (and the middle of NDS's
range), so the cell count and the reduction positions -- what the statistics see of the topology --
are those of the trained networks.  Width 16 (NB301 trained 32) makes collection about 4x cheaper
and the tensors 2x smaller per instance; the channel count scales every instance alike, so it
matters much less to a ranking than depth.  Statistics are collected at 32x32, the training
resolution.

ReLU-Conv-BN instances (see :mod:`gpnas.data.stats.collect` for the separable-conv policy): each
ReLU-Conv1x1-BN preprocessing is one; a sep conv is two ReLU-Conv-Conv-BN instances, a dil conv
one; pools, skip and FactorizedReduce (its two convs feed a concat, not a BN) are none.  So a
network has 14 (all pools/skip) to 142 (all sep convs) instances.
"""

from __future__ import annotations

import ast

import numpy as np
import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.data.spaces.layers import ReLUConvBN

OPS: tuple[str, ...] = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
                        "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")
CONCAT = (2, 3, 4, 5)
C_INIT = 16
LAYERS = 8
STEM_MULTIPLIER = 3

DESCRIPTION = (f"DARTS-style CIFAR network: C={C_INIT}, {LAYERS} cells (reductions at "
               f"{LAYERS // 3} and {2 * LAYERS // 3}), stem 3C, ops " + ", ".join(OPS))

Genotype = tuple[tuple[tuple[int, int], ...], tuple[tuple[int, int], ...]]


def parse(arch, space: str = "darts") -> Genotype:
    """A compact encoding (string or nested sequence) -> ((normal pairs), (reduce pairs))."""
    text = arch if isinstance(arch, str) else repr(arch)

    def bad(why: str):
        return GpnasError(f"{space}: bad DARTS compact architecture {text!r}: {why} (expected "
                          "[[(input, op) x 8], [(input, op) x 8]], op ids 0..6 = "
                          + ", ".join(OPS) + ")")

    value = arch
    if isinstance(arch, str):
        try:
            value = ast.literal_eval(arch.strip())
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise bad("not a Python/JSON literal") from None
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise bad("need exactly two cells (normal, reduce)")
    cells = []
    for which, cell in zip(("normal", "reduce"), value):
        if not isinstance(cell, (list, tuple)) or len(cell) != 8:
            raise bad(f"{which} cell must have 8 (input, op) pairs")
        pairs = []
        for j, pair in enumerate(cell):
            if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                    or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
                raise bad(f"{which} pair {j} must be two integers (input, op)")
            src, op = pair
            if not 0 <= op < len(OPS):
                raise bad(f"{which} pair {j}: op id {op} out of range 0..{len(OPS) - 1}")
            if not 0 <= src < j // 2 + 2:
                raise bad(f"{which} pair {j}: node {j // 2} cannot take input {src} "
                          f"(allowed 0..{j // 2 + 1})")
            pairs.append((src, op))
        cells.append(tuple(pairs))
    return cells[0], cells[1]


def to_string(genotype: Genotype) -> str:
    return str([list(genotype[0]), list(genotype[1])])


def canonical(arch, space: str = "darts") -> str:
    return to_string(parse(arch, space))


def from_named(normal, reduce, *, space: str = "darts", where: str = "") -> str:
    """A DARTS genotype with op names (``[["sep_conv_3x3", 0], ...]``) -> canonical compact."""
    cells = []
    for which, cell in (("normal", normal), ("reduce", reduce)):
        if not isinstance(cell, (list, tuple)):
            raise GpnasError(f"{where}{which} cell is not a list")
        pairs = []
        for pair in cell:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise GpnasError(f"{where}{which} cell entry {pair!r} is not [op, input]")
            op, src = pair
            if op not in OPS:
                raise GpnasError(f"{where}operation {op!r} is not in the DARTS space "
                                 f"({', '.join(OPS)})")
            pairs.append((src, OPS.index(op)))
        cells.append(pairs)
    return canonical(cells, space=space)


def random_arch(rng: np.random.Generator) -> str:
    cells = []
    for _ in range(2):
        pairs = []
        for node in range(4):
            srcs = rng.choice(node + 2, size=2, replace=False)
            for s in sorted(int(v) for v in srcs):
                pairs.append((s, int(rng.integers(0, len(OPS)))))
        cells.append(pairs)
    return to_string((tuple(cells[0]), tuple(cells[1])))


class DilConv(nn.Module):
    """ReLU, depthwise (dilated) kxk conv, pointwise 1x1 conv, BN: one ReLU-Conv-Conv-BN."""

    def __init__(self, c_in, c_out, kernel, stride, padding, dilation):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.depthwise = nn.Conv2d(c_in, c_in, kernel, stride=stride, padding=padding,
                                   dilation=dilation, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.pointwise(self.depthwise(self.relu(x))))


class SepConv(nn.Module):
    """Two DilConv-like halves (dilation 1); the first carries the stride."""

    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__()
        self.first = DilConv(c_in, c_in, kernel, stride, padding, 1)
        self.second = DilConv(c_in, c_out, kernel, 1, padding, 1)

    def forward(self, x):
        return self.second(self.first(x))


class FactorizedReduce(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        if c_out % 2:
            raise GpnasError(f"FactorizedReduce needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, padding=0, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))


def make_op(name: str, c: int, stride: int) -> nn.Module:
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)
    if name == "sep_conv_3x3":
        return SepConv(c, c, 3, stride, 1)
    if name == "sep_conv_5x5":
        return SepConv(c, c, 5, stride, 2)
    if name == "dil_conv_3x3":
        return DilConv(c, c, 3, stride, 2, 2)
    if name == "dil_conv_5x5":
        return DilConv(c, c, 5, stride, 4, 2)
    raise GpnasError(f"unknown DARTS operation {name!r}")  # pragma: no cover


class Cell(nn.Module):
    def __init__(self, pairs, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c, 1, 1, 0)
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0)
        self.ops = nn.ModuleList()
        self.inputs = []
        for src, op in pairs:
            stride = 2 if reduction and src < 2 else 1
            self.ops.append(make_op(OPS[op], c, stride))
            self.inputs.append(src)
        self.multiplier = len(CONCAT)

    def forward(self, s0, s1):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for i in range(len(self.ops) // 2):
            h1 = self.ops[2 * i](states[self.inputs[2 * i]])
            h2 = self.ops[2 * i + 1](states[self.inputs[2 * i + 1]])
            states.append(h1 + h2)
        return torch.cat([states[i] for i in CONCAT], dim=1)


class DartsNetwork(nn.Module):
    def __init__(self, genotype: Genotype, num_classes: int, c: int = C_INIT, layers: int = LAYERS):
        super().__init__()
        c_cur = STEM_MULTIPLIER * c
        self.stem = nn.Sequential(nn.Conv2d(3, c_cur, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(c_cur))
        c_pp, c_p, c_cur = c_cur, c_cur, c
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_cur *= 2
            cell = Cell(genotype[1] if reduction else genotype[0], c_pp, c_p, c_cur,
                        reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_cur
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1)
        return self.classifier(torch.flatten(self.global_pooling(s1), 1))


def build(genotype: Genotype, num_classes: int) -> nn.Module:
    return DartsNetwork(genotype, num_classes)
