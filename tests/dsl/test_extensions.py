"""The op contract for the DSL's extensions (``network``, ``cross``, ``grid``): every extension
op and every signature an extension adds to a paper op -- shape, dtype, total (no inf, no
exception), inputs untouched, and batched == row by row (networks for aggregations).  The grid
overloads of the paper's ops run on one grid type per op (the op's own kernel on another rank)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from test_primitives import FAST, tensors

from primitives import (ACT, ACT_GRID, ALL_TYPES, BMAT, BN, BN_GRID, CMAT, EXTENSIONS, GRID_OF, NET,
                        NMAT, SCALAR, WEIGHT, WEIGHT_GRID, full_primitive_set, primitive_set)
from primitives.kernels import Layers

FULL = full_primitive_set()
PAPER = {op.name: set(op.signatures) for op in primitive_set().ops}
_GRIDS = tuple(GRID_OF.values())
EXTRA = [(op, sig) for i, op in enumerate(FULL.ops) for sig in op.signatures
         if sig not in PAPER.get(op.name, set())
         and not (op.name in PAPER and sig.inputs[0] in _GRIDS and sig.inputs[0] != _GRIDS[i % 3])]
#: per-instance (or per-network) shapes of the extension types and of the paper's tensor types
SHAPES = {SCALAR: (), NET: (), BMAT: (4, 4), CMAT: (3, 3), NMAT: (4, 4),
          ACT: (2, 3, 4, 4), BN: (2, 2, 3, 3), WEIGHT: (2, 3, 3, 3),
          ACT_GRID: (2, 3), BN_GRID: (2, 2), WEIGHT_GRID: (2, 3)}


def test_every_extension_adds_something_and_known_types_only():
    assert {op.name for ext in EXTENSIONS.values() for op in ext.ops} <= {o.name for o in FULL.ops}
    for op, sig in EXTRA:
        assert set(sig.inputs) | {sig.output} <= set(SHAPES) | set(ALL_TYPES), (op.name, sig)
    assert len(EXTRA) > 50


def _layers(draw, n_rows: int) -> Layers:
    n_nets = draw(st.integers(1, n_rows))
    net = torch.tensor(sorted(list(range(n_nets)) + [draw(st.integers(0, n_nets - 1))
                                                     for _ in range(n_rows - n_nets)]))
    order = torch.arange(n_rows)
    counts = torch.bincount(net, minlength=n_nets)
    position = order - torch.cumsum(counts, 0)[net] + counts[net]
    return Layers(net, n_nets, (position + 1).double() / counts[net].double(), order)


@pytest.mark.parametrize(("op", "sig"), EXTRA, ids=[f"{o.name}:{'-'.join(s.inputs)}"
                                                    for o, s in EXTRA])
@FAST
@given(data=st.data())
def test_extension_op_contract(op, sig, data):
    dtype = (torch.float32, torch.float64)[data.draw(st.integers(0, 1))]
    n = data.draw(st.integers(1, 5))
    inputs = [data.draw(tensors((n, *SHAPES[t]), dtype)) for t in sig.inputs]
    if sig.inputs and sig.inputs[0] in (BMAT, CMAT, NMAT) and data.draw(st.booleans()):
        inputs = [x @ x.transpose(-1, -2) for x in inputs]  # Gram-like: symmetric, PSD
    before = [x.clone() for x in inputs]
    if op.kind == "aggregation":
        layers = _layers(data.draw, n)
        y = op.fn(*inputs, layers)
        assert tuple(y.shape) == (layers.n_nets, *SHAPES[sig.output])
        for k in range(layers.n_nets):  # each network alone
            rows = (layers.net == k).nonzero().flatten()
            alone = Layers(torch.zeros(len(rows), dtype=torch.long), 1, layers.depth[rows],
                           torch.arange(len(rows)))
            torch.testing.assert_close(op.fn(inputs[0][rows], alone)[0], y[k], equal_nan=True,
                                       rtol=1e-5, atol=1e-6)
    else:
        y = op.fn(*inputs)
        assert tuple(y.shape) == (n, *SHAPES[sig.output]), op.name
        for i in range(n):  # row by row
            torch.testing.assert_close(op.fn(*[x[i:i + 1] for x in inputs]), y[i:i + 1],
                                       equal_nan=True, rtol=1e-5, atol=1e-6)
    assert y.dtype == inputs[0].dtype and not torch.isinf(y).any(), op.name
    for x, x0 in zip(inputs, before):
        assert torch.equal(x.isnan(), x0.isnan()) and \
            torch.equal(x.nan_to_num(), x0.nan_to_num()), f"{op.name} mutated its input"
