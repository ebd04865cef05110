"""The ``cross`` extension: cross-sample statistics, what NASWOT, jacov, SWAP and MeCo see.

Every strong zero-shot proxy compares how a network treats several inputs: the paper's statistics
are batch size 1 and cannot express that.  From one extra pass of a batch of B real images, the
collector records compact matrices per instance (B x B across samples, C x C across channels)
and one per network:

==========================  =====  ==========================================================
terminal                    type   what
==========================  =====  ==========================================================
``relu_codes.kernel``       bmat   NASWOT's kernel of the ReLU input's on/off codes c:
                                   c c^T + (1 - c)(1 - c)^T (units on which two samples agree)
``relu_codes.patterns``     scalar SWAP's count: distinct on/off patterns of the units over the
                                   B samples
``relu_in.gram``            bmat   Gram of the ReLU input (sample x sample dot products)
``relu_in_grad.gram``       bmat   Gram of the gradient at the ReLU input
``bn_out.gram``             bmat   Gram of the BN output
``bn_out.chancov``          cmat   covariance of the BN output's channels over samples and
                                   positions (MeCo / AZ-NAS expressivity)
``input_grad.gram``         nmat   per network: Gram of the row-centred input gradients (jacov's
                                   Jacobian; ``mat_corr`` of it is jacov's correlation matrix)
==========================  =====  ==========================================================

Ops: spectral reductions (log|det| with a tiny ridge, smallest / largest eigenvalue, eigenvalue
entropy, trace, trace of the inverse), ``mat_corr`` (to a correlation matrix), a count of distinct
rows, the element-wise ops on matrices, and -- with the ``network`` extension -- the layer sum and
mean of instance matrices (``bmat -> nmat``, NASWOT takes log|det| of the layer sum) and the
spectral reductions of ``nmat`` to ``net``.
"""

from __future__ import annotations

import sympy

from . import kernels as K
from .registry import Extension, Op, Signature
from .types import BMAT, CMAT, NET, NMAT, SCALAR

#: per-instance cross-sample statistics, and the per-network one
INSTANCE_TERMINALS: dict[str, str] = {
    "relu_codes.kernel": BMAT, "relu_codes.patterns": SCALAR, "relu_in.gram": BMAT,
    "relu_in_grad.gram": BMAT, "bn_out.gram": BMAT, "bn_out.chancov": CMAT}
NETWORK_TERMINALS: dict[str, str] = {"input_grad.gram": NMAT}
MATRICES = (BMAT, CMAT, NMAT)


def _reduce(name: str, paper_id: int, fn, cost: float = 4,
            assumptions: tuple[str, ...] = ()) -> Op:
    f = sympy.Function(name)
    sigs = (Signature((BMAT,), SCALAR), Signature((CMAT,), SCALAR), Signature((NMAT,), NET))
    return Op(name, paper_id, sigs, fn, lambda a: f(a), cost, "linalg", fn.__doc__,
              atom_assumptions=assumptions)


def _agg(name: str, paper_id: int, fn, latex: str) -> Op:
    f = sympy.Function(name)
    return Op(name, paper_id, (Signature((BMAT,), NMAT),), fn, lambda a: f(a), 1, "aggregation",
              fn.__doc__, latex=latex)


_CORR = sympy.Function("mat_corr")
OPS: tuple[Op, ...] = (
    _reduce("mat_logdet", 60, K.mat_logdet),
    _reduce("mat_eigmin", 61, K.mat_eigmin),
    _reduce("mat_eigmax", 62, K.mat_eigmax),
    _reduce("mat_eig_entropy", 63, K.mat_eig_entropy, 4, ("nonnegative",)),
    _reduce("mat_trace", 64, K.mat_trace, 1),
    _reduce("mat_invtrace", 65, K.mat_invtrace),
    _reduce("mat_distinct_rows", 66, K.mat_distinct_rows, 2, ("positive",)),
    Op("mat_corr", 67, tuple(Signature((t,), t) for t in MATRICES), K.mat_corr,
       lambda a: _CORR(a), 1, "reduction", K.mat_corr.__doc__),
    _agg("layer_sum_mat", 68, K.agg_sum_mat, r"\sum_{{l}} {0}"),
    _agg("layer_mean_mat", 69, K.agg_mean_mat, r"\operatorname*{{mean}}_{{l}} {0}"),
)


def _matrix_overload(op: Op) -> tuple[Signature, ...]:
    """An element-wise op's scalar signatures, on each matrix type."""
    if op.kind != "elementwise":
        return ()
    return tuple(Signature(tuple(t for _ in s.inputs), t) for s in op.signatures
                 for t in MATRICES
                 if s.output == SCALAR and all(x == SCALAR for x in s.inputs))


CROSS = Extension(
    "cross", __doc__.split("\n\n")[0], {**INSTANCE_TERMINALS, **NETWORK_TERMINALS}, OPS,
    _matrix_overload,
    latex={"relu_codes.kernel": r"K^{\mathrm{codes}}", "relu_codes.patterns": r"P^{\mathrm{codes}}",
           "relu_in.gram": r"G^{\mathrm{relu\_in}}", "relu_in_grad.gram": r"G^{\mathrm{relu\_in\_grad}}",
           "bn_out.gram": r"G^{\mathrm{bn\_out}}", "bn_out.chancov": r"\Sigma^{\mathrm{bn\_out}}",
           "input_grad.gram": r"G^{\mathrm{input\_grad}}"},
    assumptions={"relu_codes.patterns": ("positive",)},
    types={BMAT: (), CMAT: (), NMAT: ("network",)})
