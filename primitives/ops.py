"""The paper's 34 operations (EZNAS appendix, "List of operations"), one registry row each.

Every implementation receives tensors of shape ``(L, *instance_shape)``: one row per layer
instance.  Reductions work on ``x.flatten(1)`` so rows never mix.  Where the paper's definition
is not total, or is ambiguous for typed per-instance values, the row's ``doc`` says what gpnas
does instead.  Values that overflow become NaN (never inf), so a program is either finite or
marked invalid by the engine.
"""

from __future__ import annotations

import sympy
import torch
import torch.nn.functional as F

from .registry import Op, Signature
from .types import ALL_TYPES, SCALAR, TENSOR_TYPES

NAN = float("nan")


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


# -- numeric helpers --------------------------------------------------------------------------
def _inf_to_nan(x: torch.Tensor) -> torch.Tensor:
    """±inf -> NaN, in place: only ever called on a tensor the op itself just made."""
    return torch.nan_to_num_(x, nan=NAN, posinf=NAN, neginf=NAN)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(L, ...) -> (L, n): each instance flattened."""
    return x.reshape(x.shape[0], -1)


def _as_float(mask: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return mask.to(like.dtype)


def _square(x: torch.Tensor) -> torch.Tensor:
    """The trailing (h, w) matrices cropped to min(h, w) square (a no-op for square maps)."""
    h, w = x.shape[-2], x.shape[-1]
    n = min(h, w)
    return x[..., :n, :n]


def _finite_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows with a non-finite entry zeroed (so LAPACK never fails) and the mask of bad rows."""
    bad = ~torch.isfinite(_rows(x)).all(dim=1)
    if bad.any():
        x = x.clone()
        x[bad] = 0
    return x, bad


def _mask_rows(y: torch.Tensor, bad: torch.Tensor) -> torch.Tensor:
    return y.masked_fill(bad, NAN) if bad.any() else y


def _per_instance_mean(y: torch.Tensor) -> torch.Tensor:
    return _rows(y).mean(dim=1)


# -- implementations that need more than one line ---------------------------------------------
def matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Matrix product of the trailing (h, w) matrices of each instance: ``A @ B``.

    Activations are (B, C, H, W) with square feature maps, weights (C_out, C_in, k, k), so the
    product is batched over batch/channel axes and keeps the type's shape.  Where the trailing
    matrices are not square (a user's model), B is cut or zero-padded to (w, w) first.
    Scalars are not matrices: this op has no scalar overload.
    """
    h, w = b.shape[-2], b.shape[-1]
    if h != w:
        b = F.pad(b[..., : min(h, w), :], (0, 0, 0, max(0, w - h)))
    return _inf_to_nan(torch.matmul(a, b))


def normalize(a: torch.Tensor) -> torch.Tensor:
    """(A - mean(A)) / std(A) over each instance; 0 where that is undefined (paper: NaN -> 0)."""
    r = _rows(a)
    mean = r.mean(dim=1, keepdim=True)
    std = r.std(dim=1, keepdim=True) if r.shape[1] > 1 else torch.zeros_like(mean)
    # a constant instance has std 0 exactly, but its rounded mean can leave a spurious tiny
    # std (which one depends on the batch's summation order): give it 0 as documented
    std = std.masked_fill((r == r[:, :1]).all(dim=1, keepdim=True), 0.0)
    out = (r - mean) / std
    return torch.nan_to_num_(out, nan=0.0, posinf=0.0, neginf=0.0).reshape(a.shape)


def det(a: torch.Tensor) -> torch.Tensor:
    """Mean determinant of the instance's trailing square matrices -> scalar.

    The paper applies ``torch.det`` to a 4-D tensor, which gives one determinant per (h, w)
    feature map (or k x k kernel); gpnas averages them per instance (the paper's mean
    to_scalar), so the result is a per-instance scalar.  Non-square maps are cropped square.
    """
    a, bad = _finite_rows(_square(a))
    d = torch.linalg.det(a)
    return _mask_rows(_inf_to_nan(_per_instance_mean(d)), bad)


def logdet(a: torch.Tensor) -> torch.Tensor:
    """Mean log-determinant of the trailing square matrices -> scalar; 0 where det <= 0.

    The paper sets NaN (negative determinant) to 0; gpnas does the same for a singular matrix
    (log 0 = -inf), so the op is total.
    """
    a, bad = _finite_rows(_square(a))
    sign, logabs = torch.linalg.slogdet(a)
    d = torch.where(sign > 0, logabs, torch.zeros_like(logabs))
    return _mask_rows(_per_instance_mean(d), bad)


def _gram(a: torch.Tensor) -> torch.Tensor:
    """Per instance: X = A.reshape(n, -1) with n = its first axis; returns X @ X^T (n x n)."""
    x = a.reshape(a.shape[0], a.shape[1], -1)
    return x @ x.transpose(1, 2)


def sym_eig_ratio(a: torch.Tensor) -> torch.Tensor:
    """Largest / smallest eigenvalue of G + G^T, G the gram matrix of the instance -> scalar.

    As the paper: A.reshape(n, -1) (n = batch axis of activations, C_out of weights),
    G = A @ A^T, symmetric eigenvalues e (ascending), e[-1] / e[0].  A zero smallest
    eigenvalue gives NaN.  With batch size 1 an activation's gram is 1 x 1 and the ratio is 1.
    """
    a, bad = _finite_rows(a)
    g = _gram(a)
    e = torch.linalg.eigvalsh(g + g.transpose(1, 2))
    return _mask_rows(_inf_to_nan(e[:, -1] / e[:, 0]), bad)


def eig_ratio(a: torch.Tensor) -> torch.Tensor:
    """Spread of the general eigenvalues of the trailing square matrices -> scalar.

    The paper calls ``torch.eig`` on a (symmetric) gram matrix and divides its last by its
    first eigenvalue in LAPACK's unsorted order, which is neither reproducible nor different
    from SymEigRatio.  gpnas takes the eigenvalues of each (generally non-symmetric) feature
    map or kernel, max|lambda| / min|lambda| (complex eigenvalues by modulus), averaged per
    instance; a zero eigenvalue gives NaN.
    """
    a, bad = _finite_rows(_square(a))
    lam = torch.linalg.eigvals(a).abs()
    ratio = lam.amax(dim=-1) / lam.amin(dim=-1)
    return _mask_rows(_inf_to_nan(_per_instance_mean(ratio)), bad)


def hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Number of positions where heaviside(A) and heaviside(B) differ -> scalar (paper)."""
    return _rows((a > 0) != (b > 0)).sum(dim=1).to(a.dtype)


def kl_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``KLDivLoss('batchmean')(A, B)`` per instance: sum(B * (log B - A)) / A.shape[0].

    A is taken as log-probabilities and B as probabilities, as torch does; a negative entry
    of B gives NaN (invalid), a zero entry contributes 0.
    """
    terms = F.kl_div(a, b, reduction="none")
    return _inf_to_nan(_rows(terms).sum(dim=1) / a.shape[1])


def cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Sum over the instance's first axis of the cosine similarity of the flattened rest.

    As the paper: A.reshape(n, -1), B.reshape(n, -1), CosineSimilarity along the last axis,
    summed.  Zero vectors give 0 (torch's eps).
    """
    x = a.reshape(a.shape[0], a.shape[1], -1)
    y = b.reshape(b.shape[0], b.shape[1], -1)
    return F.cosine_similarity(x, y, dim=-1).sum(dim=1)


def softmax(a: torch.Tensor) -> torch.Tensor:
    """Softmax over the instance's second axis: channels of activations, C_in of weights.

    ``F.softmax`` on a 4-D tensor without ``dim`` uses axis 1; gpnas keeps that choice per
    instance.  NaN input gives NaN.
    """
    return torch.softmax(a, dim=2)


def numel(a: torch.Tensor) -> torch.Tensor:
    """Number of elements of each instance -> scalar."""
    n = a[0].numel() if a.shape[0] else 0
    return torch.full((a.shape[0],), float(n), dtype=a.dtype, device=a.device)


# -- sympy helpers ------------------------------------------------------------------------
def _fn(name: str):
    """An opaque sympy function (a reduction or tensor op with no element-wise form)."""
    f = sympy.Function(name)
    return lambda *args: f(*args)


def _indicator(cond) -> sympy.Expr:
    return sympy.Piecewise((1, cond), (0, True))


# -- the table ------------------------------------------------------------------------------
OPS: list[Op] = [
    Op("add", 0, _zip(), torch.add, lambda a, b: a + b, 1, "elementwise", "C = A + B", commutative=True),
    Op("sub", 1, _zip(), torch.sub, lambda a, b: a - b, 1, "elementwise", "C = A - B"),
    Op("mul", 2, _zip(), lambda a, b: _inf_to_nan(a * b), lambda a, b: a * b, 1,
       "elementwise", "C = A * B (overflow -> NaN)", commutative=True),
    Op("matmul", 3, _zip(TENSOR_TYPES), matmul, _fn("matmul"), 4, "linalg", matmul.__doc__),
    Op("lt", 4, _zip(), lambda a, b: _as_float(a < b, a), lambda a, b: _indicator(a < b), 1,
       "elementwise", "C = float(A < B)"),
    Op("gt", 5, _zip(), lambda a, b: _as_float(a > b, a), lambda a, b: _indicator(a > b), 1,
       "elementwise", "C = float(A > B)"),
    Op("eq", 6, _zip(), lambda a, b: _as_float(a == b, a),
       lambda a, b: _indicator(sympy.Eq(a, b)), 1, "elementwise", "C = float(A == B)", commutative=True),
    Op("log", 7, _map(),
       lambda a: torch.log(torch.clamp(a, min=0)).nan_to_num_(nan=NAN, posinf=NAN, neginf=0.0),
       lambda a: sympy.Piecewise((sympy.log(a), a > 0), (0, True)), 1, "elementwise",
       "C = log(A) with A <= 0 set to 1 first (paper), i.e. 0 there"),
    Op("abslog", 8, _map(),
       lambda a: torch.log(torch.abs(a)).nan_to_num_(nan=NAN, posinf=NAN, neginf=0.0),
       lambda a: sympy.Piecewise((sympy.log(sympy.Abs(a)), sympy.Ne(a, 0)), (0, True)), 1,
       "elementwise", "C = log|A| with A == 0 set to 1 first (paper)"),
    Op("abs", 9, _map(), torch.abs, sympy.Abs, 1, "elementwise", "C = |A|"),
    Op("square", 10, _map(), lambda a: _inf_to_nan(a * a), lambda a: a**2, 1, "elementwise",
       "C = A ** 2 (the paper's Power)"),
    Op("exp", 11, _map(), lambda a: _inf_to_nan(torch.exp(a)), sympy.exp, 1, "elementwise",
       "C = exp(A); overflow -> NaN (invalid) instead of inf"),
    Op("normalize", 12, _map(TENSOR_TYPES), normalize, _fn("normalize"), 2, "reduction",
       normalize.__doc__),
    Op("relu", 13, _map(), torch.relu, lambda a: sympy.Max(a, 0), 1, "elementwise",
       "C = max(A, 0)"),
    Op("sign", 14, _map(), torch.sign, sympy.sign, 1, "elementwise", "C = sign(A)"),
    Op("heaviside", 15, _map(), lambda a: _as_float(a > 0, a),
       lambda a: sympy.Heaviside(a, 0), 1, "elementwise",
       "C = heaviside(A, 0): 1 where A > 0, else 0"),
    Op("invert", 16, _map(),
       lambda a: _inf_to_nan(torch.where(a == 0, torch.zeros_like(a), 1 / a)),
       lambda a: sympy.Piecewise((1 / a, sympy.Ne(a, 0)), (0, True)), 1, "elementwise",
       "C = 1 / A, protected: 0 where A == 0 (the paper's 1/0 = inf made the program invalid)"),
    Op("frobenius", 17, _reduce(), lambda a: _inf_to_nan(torch.linalg.vector_norm(_rows(a), dim=1)),
       _fn("frobenius"), 1, "reduction", "C = ||A||_F over the instance -> scalar"),
    Op("det", 18, _reduce(), det, _fn("det"), 8, "linalg", det.__doc__),
    Op("logdet", 19, _reduce(), logdet, _fn("logdet"), 8, "linalg", logdet.__doc__),
    Op("sym_eig_ratio", 20, _reduce(), sym_eig_ratio, _fn("sym_eig_ratio"), 12, "linalg",
       sym_eig_ratio.__doc__),
    Op("eig_ratio", 21, _reduce(), eig_ratio, _fn("eig_ratio"), 16, "linalg", eig_ratio.__doc__),
    Op("normalized_sum", 22, _reduce(), lambda a: _rows(a).mean(dim=1), _fn("mean"), 1,
       "reduction", "C = sum(A) / numel(A) -> scalar"),
    Op("l1_norm", 23, _reduce(), lambda a: _rows(a).abs().mean(dim=1), _fn("l1_norm"), 1,
       "reduction", "C = sum(|A|) / numel(A) -> scalar"),
    Op("hamming", 24, _reduce(2), hamming, _fn("hamming"), 1, "reduction", hamming.__doc__, commutative=True),
    Op("kl_div", 25, _reduce(2), kl_div, _fn("kl_div"), 2, "reduction", kl_div.__doc__),
    Op("cosine", 26, _reduce(2), cosine, _fn("cosine"), 2, "reduction", cosine.__doc__, commutative=True),
    Op("softmax", 27, _map(TENSOR_TYPES), softmax, _fn("softmax"), 2, "reduction",
       softmax.__doc__),
    Op("sigmoid", 28, _map(), torch.sigmoid, lambda a: 1 / (1 + sympy.exp(-a)), 1,
       "elementwise", "C = 1 / (1 + exp(-A))"),
    Op("ones_like", 29, _map(), torch.ones_like, lambda a: sympy.Integer(1), 1, "elementwise",
       "C = 1 everywhere"),
    Op("zeros_like", 30, _map(), torch.zeros_like, lambda a: sympy.Integer(0), 1,
       "elementwise", "C = 0 everywhere"),
    Op("gt0", 31, _map(), lambda a: _as_float(a > 0, a), lambda a: _indicator(a > 0), 1,
       "elementwise", "C = float(A > 0)"),
    Op("lt0", 32, _map(), lambda a: _as_float(a < 0, a), lambda a: _indicator(a < 0), 1,
       "elementwise", "C = float(A < 0)"),
    Op("numel", 33, _reduce(), numel, _fn("numel"), 1, "reduction", numel.__doc__),
]
