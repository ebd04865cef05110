"""The paper's 34 operations (EZNAS appendix, "List of operations"), one registry row each.

A row names the op, its paper id and typed signatures, its torch implementation (a function of
:mod:`primitives.kernels`, the one definition of every op), its sympy form with the protection
visible, and its cost.  Where the paper's definition is not total, or is ambiguous for typed
per-instance values, the row's ``doc`` says what gpnas does instead.
"""

from __future__ import annotations

import sympy

from . import kernels as K
from .registry import Op, Signature
from .types import ALL_TYPES, SCALAR, TENSOR_TYPES


# -- signature helpers ----------------------------------------------------------------------
def _map(types=ALL_TYPES) -> tuple[Signature, ...]:
    """T -> T for each T."""
    return tuple(Signature((t,), t) for t in types)


def _zip(types=ALL_TYPES) -> tuple[Signature, ...]:
    """(T, T) -> T for each T."""
    return tuple(Signature((t, t), t) for t in types)


def _reduce(arity: int = 1) -> tuple[Signature, ...]:
    """(T, ...) -> scalar for each tensor type T."""
    return tuple(Signature((t,) * arity, SCALAR) for t in TENSOR_TYPES)


# -- sympy helpers ------------------------------------------------------------------------
def _fn(name: str):
    """An opaque sympy function (a reduction or tensor op with no element-wise form)."""
    f = sympy.Function(name)
    return lambda *args: f(*args)


def _indicator(cond) -> sympy.Expr:
    return sympy.Piecewise((1, cond), (0, True))


# -- the table ------------------------------------------------------------------------------
_NONNEG = ("nonnegative",)  # what sympy may assume of an atom standing for the op's value

OPS: list[Op] = [
    Op("add", 0, _zip(), K.op_add, lambda a, b: a + b, 1, "elementwise", "C = A + B",
       commutative=True),
    Op("sub", 1, _zip(), K.op_sub, lambda a, b: a - b, 1, "elementwise", "C = A - B"),
    Op("mul", 2, _zip(), K.op_mul, lambda a, b: a * b, 1, "elementwise",
       "C = A * B (overflow -> NaN)", commutative=True),
    Op("matmul", 3, _zip(TENSOR_TYPES), K.op_matmul, _fn("matmul"), 4, "linalg",
       K.op_matmul.__doc__),
    Op("lt", 4, _zip(), K.op_lt, lambda a, b: _indicator(a < b), 1, "elementwise",
       "C = float(A < B)"),
    Op("gt", 5, _zip(), K.op_gt, lambda a, b: _indicator(a > b), 1, "elementwise",
       "C = float(A > B)"),
    Op("eq", 6, _zip(), K.op_eq, lambda a, b: _indicator(sympy.Eq(a, b)), 1, "elementwise",
       "C = float(A == B)", commutative=True),
    Op("log", 7, _map(), K.op_log, lambda a: sympy.Piecewise((sympy.log(a), a > 0), (0, True)),
       1, "elementwise", "C = log(A) with A <= 0 set to 1 first (paper), i.e. 0 there"),
    Op("abslog", 8, _map(), K.op_abslog,
       lambda a: sympy.Piecewise((sympy.log(sympy.Abs(a)), sympy.Ne(a, 0)), (0, True)), 1,
       "elementwise", "C = log|A| with A == 0 set to 1 first (paper)"),
    Op("abs", 9, _map(), K.op_abs, sympy.Abs, 1, "elementwise", "C = |A|"),
    Op("square", 10, _map(), K.op_square, lambda a: a**2, 1, "elementwise",
       "C = A ** 2 (the paper's Power)"),
    Op("exp", 11, _map(), K.op_exp, sympy.exp, 1, "elementwise",
       "C = exp(A); overflow -> NaN (invalid) instead of inf"),
    Op("normalize", 12, _map(TENSOR_TYPES), K.op_normalize, _fn("normalize"), 2, "reduction",
       K.op_normalize.__doc__),
    Op("relu", 13, _map(), K.op_relu, lambda a: sympy.Max(a, 0), 1, "elementwise",
       "C = max(A, 0)"),
    Op("sign", 14, _map(), K.op_sign, sympy.sign, 1, "elementwise", "C = sign(A)"),
    Op("heaviside", 15, _map(), K.op_heaviside, lambda a: sympy.Heaviside(a, 0), 1,
       "elementwise", "C = heaviside(A, 0): 1 where A > 0, else 0"),
    Op("invert", 16, _map(), K.op_invert,
       lambda a: sympy.Piecewise((1 / a, sympy.Ne(a, 0)), (0, True)), 1, "elementwise",
       "C = 1 / A, protected: 0 where A == 0 (the paper's 1/0 = inf made the program invalid)"),
    Op("frobenius", 17, _reduce(), K.op_frobenius, _fn("frobenius"), 1, "reduction",
       "C = ||A||_F over the instance -> scalar", atom_assumptions=_NONNEG),
    Op("det", 18, _reduce(), K.op_det, _fn("det"), 8, "linalg", K.op_det.__doc__),
    Op("logdet", 19, _reduce(), K.op_logdet, _fn("logdet"), 8, "linalg", K.op_logdet.__doc__),
    Op("sym_eig_ratio", 20, _reduce(), K.op_sym_eig_ratio, _fn("sym_eig_ratio"), 12, "linalg",
       K.op_sym_eig_ratio.__doc__),
    Op("eig_ratio", 21, _reduce(), K.op_eig_ratio, _fn("eig_ratio"), 16, "linalg",
       K.op_eig_ratio.__doc__),
    Op("normalized_sum", 22, _reduce(), K.op_normalized_sum, _fn("mean"), 1, "reduction",
       "C = sum(A) / numel(A) -> scalar"),
    Op("l1_norm", 23, _reduce(), K.op_l1_norm, _fn("l1_norm"), 1, "reduction",
       "C = sum(|A|) / numel(A) -> scalar", atom_assumptions=_NONNEG),
    Op("hamming", 24, _reduce(2), K.op_hamming, _fn("hamming"), 1, "reduction",
       K.op_hamming.__doc__, commutative=True, atom_assumptions=_NONNEG),
    Op("kl_div", 25, _reduce(2), K.op_kl_div, _fn("kl_div"), 2, "reduction", K.op_kl_div.__doc__),
    Op("cosine", 26, _reduce(2), K.op_cosine, _fn("cosine"), 2, "reduction", K.op_cosine.__doc__,
       commutative=True),
    Op("softmax", 27, _map(TENSOR_TYPES), K.op_softmax, _fn("softmax"), 2, "reduction",
       K.op_softmax.__doc__, atom_assumptions=_NONNEG),
    Op("sigmoid", 28, _map(), K.op_sigmoid, lambda a: 1 / (1 + sympy.exp(-a)), 1, "elementwise",
       "C = 1 / (1 + exp(-A))"),
    Op("ones_like", 29, _map(), K.op_ones_like, lambda a: sympy.Integer(1), 1, "elementwise",
       "C = 1 everywhere"),
    Op("zeros_like", 30, _map(), K.op_zeros_like, lambda a: sympy.Integer(0), 1, "elementwise",
       "C = 0 everywhere"),
    Op("gt0", 31, _map(), K.op_gt0, lambda a: _indicator(a > 0), 1, "elementwise",
       "C = float(A > 0)"),
    Op("lt0", 32, _map(), K.op_lt0, lambda a: _indicator(a < 0), 1, "elementwise",
       "C = float(A < 0)"),
    Op("numel", 33, _reduce(), K.op_numel, _fn("numel"), 1, "reduction", K.op_numel.__doc__,
       atom_assumptions=("positive",)),
]
