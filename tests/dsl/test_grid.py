"""The ``grid`` extension: matrix-wise det / logdet equal torch's on 4-D tensors (with the paper's
NaN handling), its type rules, and both representations and the engine using it.  (Its rows and
overloads also run the op contract of ``test_primitives.py``.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from primitives import (ACT, ACT_GRID, BN, BN_GRID, OPS, SCALAR, WEIGHT, WEIGHT_GRID,
                        default_primitive_set, kernels, primitive_set)
from representations.sequential import SequentialRepresentation
from representations.tree import TreeRepresentation

GRID_SET = primitive_set("grid")
EZNAS_A = "frobenius(sigmoid(logdet_grid(sign(weight_grad.noise))))"


def _paper_logdet(x: torch.Tensor) -> torch.Tensor:
    """The official code's logdet: torch.logdet of the tensor, NaN -> 0 (and -inf stays)."""
    z = torch.logdet(x)
    z[z != z] = 0
    return z


def _examples(dtype):
    """4-D tensors with positive, negative and zero determinants: sign of weights (many
    singular 3x3 sign matrices), normal feature maps, 1x1 kernels, an exactly singular map."""
    g = torch.Generator().manual_seed(0)
    w = torch.sign(torch.randn(3, 6, 5, 3, 3, generator=g, dtype=dtype))  # (L, C_out, C_in, k, k)
    a = torch.randn(2, 2, 4, 5, 5, generator=g, dtype=dtype)  # (L, B, C, h, h)
    a[0, 1, 2] = torch.outer(torch.arange(5.0), torch.ones(5)).to(dtype)  # rank 1: det 0
    one = torch.sign(torch.randn(2, 4, 3, 1, 1, generator=g, dtype=dtype))
    return [w, a, one]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_logdet_grid_is_torch_logdet_with_the_papers_nan_handling(dtype):
    for x in _examples(dtype):
        want = _paper_logdet(x)
        got = kernels.op_logdet_grid(x)
        assert got.shape == x.shape[:-2]
        # -inf (zero determinant) is the most negative finite number, nothing else changes
        want = want.masked_fill(want == -math.inf, torch.finfo(dtype).min)
        assert torch.equal(got, want)
        # ... so what the paper computes next (sigmoid, exp) is unchanged
        assert torch.equal(torch.sigmoid(got), torch.sigmoid(_paper_logdet(x)))
    w = _examples(dtype)[0]
    assert (_paper_logdet(w) == -math.inf).float().mean() > 0.4  # 5/8 of 3x3 sign matrices


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_det_grid_is_torch_det(dtype):
    for x in _examples(dtype):
        assert torch.equal(kernels.op_det_grid(x), torch.det(x))


def test_a_non_finite_matrix_gives_nan_there_only():
    x = torch.sign(torch.randn(2, 3, 2, 3, 3, generator=torch.Generator().manual_seed(1)))
    x[1, 2, 0, 1, 1] = math.nan
    x[0, 0, 1, 0, 0] = math.inf
    for op in (kernels.op_det_grid, kernels.op_logdet_grid):
        y = op(x)
        assert torch.isnan(y).sum() == 2 and y[1, 2, 0].isnan() and y[0, 0, 1].isnan()
        assert not torch.isinf(y).any()
        clean = op(x.nan_to_num(0.0, 0.0, 0.0))
        keep = ~torch.isnan(y)
        assert torch.equal(y[keep], clean[keep])


def test_eznas_a_ops_compose_to_the_official_formula():
    g = torch.Generator().manual_seed(2)
    w = torch.randn(4, 8, 6, 3, 3, generator=g)
    w[0, :2] = 0  # zero gradients: sign 0, singular
    ours = kernels.op_frobenius(kernels.op_sigmoid(kernels.op_logdet_grid(kernels.op_sign(w))))
    official = torch.stack([torch.norm(torch.sigmoid(_paper_logdet(torch.sign(x))), p="fro")
                            for x in w])
    torch.testing.assert_close(ours, official, rtol=1e-6, atol=0)


# -- type rules -------------------------------------------------------------------------------
def test_the_papers_set_is_unchanged():
    paper = default_primitive_set()
    assert len(paper) == 34 and sorted(op.paper_id for op in paper.ops) == list(range(34))
    assert paper.types == (ACT, BN, WEIGHT, SCALAR)
    assert [op.signatures for op in paper.ops] == [op.signatures for op in OPS]


def test_grid_rows_and_overloads():
    grids = {ACT: ACT_GRID, BN: BN_GRID, WEIGHT: WEIGHT_GRID}
    new = [op for op in GRID_SET.ops if op.paper_id >= 34]
    assert [(op.name, op.paper_id) for op in new] == [("det_grid", 50), ("logdet_grid", 51)]
    for op in new:
        assert {(s.inputs, s.output) for s in op.signatures} == {((t,), g) for t, g in grids.items()}
    assert GRID_SET.min_height[ACT_GRID] == GRID_SET.min_height[WEIGHT_GRID] == 1
    for op in OPS:
        extended = GRID_SET[op.name]
        extra = [s for s in extended.signatures if s not in op.signatures]
        if op.kind == "linalg":
            assert extra == [], op.name
            continue
        # one overload per tensor type: T -> T on the grid, T -> scalar from the grid
        want = []
        for s in op.signatures:
            t = s.inputs[0]
            if t in grids:
                out = grids[t] if s.output == t else s.output
                want.append(((grids[t],) * op.arity, out))
        assert [(s.inputs, s.output) for s in extra] == want, op.name
    assert GRID_SET["frobenius"].output_type((WEIGHT_GRID,)) == SCALAR
    assert GRID_SET["add"].output_type((ACT_GRID, WEIGHT_GRID)) is None  # one type per op


# -- both representations and the engine ------------------------------------------------------
def test_tree_and_sequential_programs_with_grid_ops():
    tree = TreeRepresentation(GRID_SET)
    prog = tree.lower(tree.parse(EZNAS_A))
    assert [n.type for n in prog.nodes] == [WEIGHT, WEIGHT, WEIGHT_GRID, WEIGHT_GRID, SCALAR]
    seq = SequentialRepresentation(GRID_SET)
    g = seq.parse("t0 = sign(weight_grad.noise)\nt1 = logdet_grid(t0)\nt2 = sigmoid(t1)\n"
                  "s0 = frobenius(t2)")
    assert seq.lower(g).key == prog.key
    # random programs of both representations reach the grid types
    rng = np.random.default_rng(0)
    used = set()
    for _ in range(150):
        used |= {n.type for n in tree.lower(tree.random(rng)).nodes}
        used |= {n.type for n in seq.lower(seq.random(rng)).nodes}
    assert {ACT_GRID, BN_GRID, WEIGHT_GRID} <= used


def test_engine_runs_grid_programs_as_the_ops_do():
    from gpnas.evaluation.engine import Engine, EngineConfig
    from synthetic import fake_task

    task = fake_task(4, seed=3)
    tree = TreeRepresentation(GRID_SET)
    prog = tree.lower(tree.parse(EZNAS_A))
    engine = Engine(GRID_SET, EngineConfig(cache_bytes=0))
    assert 0 < engine.estimate_cost(prog, task) < 100
    values = engine.instance_values(prog, task)
    want = torch.cat([kernels.op_frobenius(kernels.op_sigmoid(kernels.op_logdet_grid(
        kernels.op_sign(grp.tensors["weight_grad.noise"])))) for grp in task.groups])
    torch.testing.assert_close(values, want)
    assert np.isfinite(engine.net_scores(prog, task)).all()
