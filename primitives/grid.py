"""The ``grid`` extension: matrix-wise det / logdet that keep the grid of trailing matrices.

The paper's ``det`` / ``logdet`` call ``torch.det`` / ``torch.logdet`` on a 4-D tensor, which
gives one number per trailing square matrix (a k x k kernel of a weight, an h x h feature map of
an activation) and keeps the leading axes.  gpnas's rows of the paper's DSL (ids 18, 19) reduce
that grid to one number per instance (its mean); this extension keeps it, which EZNAS-A needs
(``frobenius(sigmoid(logdet_grid(sign(weight_grad.noise))))``, see :mod:`gpnas.baselines.eznas_a`).

Types: each tensor type T has a grid type, the instance with its two trailing axes reduced:

=========== =============== ====================================
T           grid type       instance shape
=========== =============== ====================================
``act``     ``act_grid``    (B, C_in)
``bn``      ``bn_grid``     (B, C_out)
``weight``  ``weight_grid`` (C_out, C_in / groups)
=========== =============== ====================================

Rows (paper ids 50-59 are this extension's):

* ``det_grid`` (50) and ``logdet_grid`` (51): T -> grid(T), for T in act, bn, weight;
* overloads of the paper's ops on grid values: every element-wise op and every per-instance
  reduction (``kind`` elementwise or reduction) that takes T also takes grid(T) -- T -> T
  becomes grid(T) -> grid(T) (add, sigmoid, log, ..., normalize, softmax over the grid's second
  axis), T -> scalar becomes grid(T) -> scalar (frobenius, normalized_sum, l1_norm, hamming,
  kl_div, cosine, numel).  Linear-algebra ops (matmul, det, logdet, eigenvalue ratios) do not
  take grids: a grid is not a stack of square matrices.

Binary ops still combine values of one type only, so a type-correct program cannot meet a shape
mismatch.
"""

from __future__ import annotations

import sympy

from . import kernels as K
from .ops import OPS
from .registry import Extension, Op, Signature
from .types import ACT, ACT_GRID, BN, BN_GRID, SCALAR, WEIGHT, WEIGHT_GRID

#: the grid type of each tensor type
GRID_OF: dict[str, str] = {ACT: ACT_GRID, BN: BN_GRID, WEIGHT: WEIGHT_GRID}

_TO_GRID = tuple(Signature((t,), g) for t, g in GRID_OF.items())

GRID_OPS: tuple[Op, ...] = (
    Op("det_grid", 50, _TO_GRID, K.op_det_grid, lambda a: sympy.Function("det_grid")(a), 8,
       "linalg", K.op_det_grid.__doc__),
    Op("logdet_grid", 51, _TO_GRID, K.op_logdet_grid,
       lambda a: sympy.Function("logdet_grid")(a), 8, "linalg", K.op_logdet_grid.__doc__),
)


_PAPER = {op.name for op in OPS}


def _grid_overload(op: Op) -> tuple[Signature, ...]:
    """(T, ...) -> T or (T, ...) -> scalar of the paper's element-wise ops and per-instance
    reductions, on T's grid."""
    if op.name not in _PAPER or op.kind not in ("elementwise", "reduction"):
        return ()
    sigs = []
    for s in op.signatures:
        t = s.inputs[0]
        if t in GRID_OF and all(i == t for i in s.inputs) and s.output in (t, SCALAR):
            out = GRID_OF[t] if s.output == t else SCALAR
            sigs.append(Signature((GRID_OF[t],) * len(s.inputs), out))
    return tuple(sigs)


GRID = Extension("grid", __doc__.split("\n\n")[0], {}, GRID_OPS, _grid_overload,
                 types=dict.fromkeys(GRID_OF.values(), ()))
