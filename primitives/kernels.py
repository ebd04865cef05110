"""The torch implementations of the DSL's operations: one ``op_<name>`` function per op.

This module imports nothing but ``torch`` (and ``math``), so it is the single definition of every
operation: the registry rows (:mod:`primitives.ops`) call these functions, and ``gpnas export
--format python`` embeds this module's own source in the standalone scorer it writes.

Every function takes tensors of shape ``(L, *instance_shape)`` -- one row per layer instance --
and returns a tensor with the same leading axis.  Reductions work on ``x.flatten(1)`` so rows never
mix.  Values that overflow become NaN (never inf), so a program is either finite or marked invalid.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

NAN = float("nan")


# -- numeric helpers --------------------------------------------------------------------------
def _inf_to_nan(x: torch.Tensor) -> torch.Tensor:
    """±inf -> NaN, in place: only ever called on a tensor the op itself just made."""
    return torch.nan_to_num_(x, nan=NAN, posinf=NAN, neginf=NAN)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(L, ...) -> (L, n): each instance flattened."""
    return x.reshape(x.shape[0], -1)


def _flag(compare, a: torch.Tensor, b=0.0) -> torch.Tensor:
    """``compare(a, b)`` as 1.0 / 0.0 in a's dtype, written straight into a float tensor (on CPU
    several times faster than a bool tensor converted afterwards; bool masks in ``where`` or
    ``masked_fill`` are as slow, so the ops below use these flags arithmetically)."""
    shape = torch.broadcast_shapes(a.shape, b.shape) if torch.is_tensor(b) else a.shape
    return compare(a, b, out=torch.empty(shape, dtype=a.dtype, device=a.device))


def _square(x: torch.Tensor) -> torch.Tensor:
    """The trailing (h, w) matrices cropped to min(h, w) square (a no-op for square maps)."""
    n = min(x.shape[-2], x.shape[-1])
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


def _gram(a: torch.Tensor) -> torch.Tensor:
    """Per instance: X = A.reshape(n, -1) with n = its first axis; returns X @ X^T (n x n)."""
    x = a.reshape(a.shape[0], a.shape[1], -1)
    return x @ x.transpose(1, 2)


# -- element-wise -----------------------------------------------------------------------------
def op_add(a, b):
    return torch.add(a, b)


def op_sub(a, b):
    return torch.sub(a, b)


def op_mul(a, b):
    return _inf_to_nan(a * b)


def op_lt(a, b):
    return _flag(torch.lt, a, b)


def op_gt(a, b):
    return _flag(torch.gt, a, b)


def op_eq(a, b):
    return _flag(torch.eq, a, b)


def op_log(a):
    """log(A), 0 where A <= 0 (the paper sets A <= 0 to 1 first)."""
    # A <= 0 becomes exactly 1 before the log (torch's log of 0 or a negative is ~10x slower)
    ones = _flag(torch.le, a)
    return torch.log(torch.clamp(a, min=0).add_(ones)).nan_to_num_(nan=NAN, posinf=NAN,
                                                                    neginf=0.0)


def op_abslog(a):
    """log|A|, 0 where A == 0."""
    ones = _flag(torch.eq, a)  # A == 0 becomes exactly 1 before the log, as in op_log
    return torch.log(torch.abs(a).add_(ones)).nan_to_num_(nan=NAN, posinf=NAN, neginf=0.0)


def op_abs(a):
    return torch.abs(a)


def op_square(a):
    return _inf_to_nan(a * a)


def op_exp(a):
    return _inf_to_nan(torch.exp(a))


def op_relu(a):
    return torch.relu(a)


def op_sign(a):
    return torch.sign(a)


def op_heaviside(a):
    return _flag(torch.gt, a)


def op_invert(a):
    """1 / A, 0 where A == 0."""
    nonzero = _flag(torch.ne, a)  # 1 / A where A != 0, 0 / 1 where A == 0
    return _inf_to_nan(nonzero / torch.add(a, 1.0 - nonzero))


def op_sigmoid(a):
    return torch.sigmoid(a)


def op_ones_like(a):
    return torch.ones_like(a)


def op_zeros_like(a):
    return torch.zeros_like(a)


def op_gt0(a):
    return _flag(torch.gt, a)


def op_lt0(a):
    return _flag(torch.lt, a)


# -- per-instance tensor ops ------------------------------------------------------------------
def op_matmul(a, b):
    """Matrix product of the trailing (h, w) matrices of each instance: ``A @ B``.

    Activations are (B, C, H, W) with square feature maps, weights (C_out, C_in, k, k), so the
    product is batched over batch/channel axes and keeps the type's shape.  Where the trailing
    matrices are not square (a user's model), B is cut or zero-padded to (w, w) first.
    Scalars are not matrices: this op has no scalar overload.
    """
    h, w = b.shape[-2], b.shape[-1]
    if h != w:
        b = F.pad(b[..., : min(h, w), :], (0, 0, 0, max(0, w - h)))
    if a.shape[-1] == w == 1:  # 1 x 1 kernels: matmul's bits (its zeros are +0), ~10x faster
        return _inf_to_nan(torch.mul(a, b).add_(0.0))
    if 2 <= w <= 5 and a.shape == b.shape and a.shape[-2] == w:
        return _inf_to_nan(_small_matmul(a, b))
    return _inf_to_nan(torch.matmul(a, b))


def _small_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``a @ b`` for k x k matrices, k <= 5 (conv kernels), bit for bit as torch.matmul computes
    them ((0 + a_i0 b_0j) + a_i1 b_1j + ...): k vectorised multiply-adds over all the matrices at
    once, each element of a matrix a row of its own, in chunks of about 256 KB per operand.
    1.3-1.8x faster than matmul's loop over tiny matrices (measured on engine blocks)."""
    k = a.shape[-1]
    lhs, rhs = a.reshape(-1, k, k), b.reshape(-1, k, k)
    out = torch.empty(lhs.shape, dtype=torch.promote_types(a.dtype, b.dtype))
    chunk = max(1, (1 << 16) // (k * k))
    for s in range(0, lhs.shape[0], chunk):
        x = lhs[s:s + chunk].permute(1, 2, 0).contiguous()  # x[i, m] = a_im over the chunk
        y = rhs[s:s + chunk].permute(1, 2, 0).contiguous()  # y[m, j] = b_mj
        acc = torch.mul(x[:, 0:1], y[0:1]).add_(0.0)  # 0 + a_i0 b_0j: matmul's +0 zeros
        for m in range(1, k):
            acc += x[:, m:m + 1] * y[m:m + 1]
        out[s:s + chunk] = acc.permute(2, 0, 1)
    return out.reshape(a.shape)


def op_normalize(a):
    """(A - mean(A)) / std(A) over each instance; 0 where that is undefined (paper: NaN -> 0)."""
    r = _rows(a)
    mean = r.mean(dim=1, keepdim=True)
    hi, lo = r.amax(dim=1, keepdim=True), r.amin(dim=1, keepdim=True)
    # the deviations, scaled by a power of two (exact) so that their squares neither underflow
    # nor overflow: (A - mean) / std is the same for the scaled deviations
    spread = torch.maximum(hi - mean, mean - lo)
    scale = torch.exp2(torch.clamp(-torch.floor(torch.log2(spread)), -126, 126)).nan_to_num_(1.0)
    out = torch.sub(r, mean).mul_(scale)
    if r.shape[1] > 1:  # the unbiased std, two-pass: torch's std is ~20x slower on CPU
        std = torch.square(out).sum(dim=1, keepdim=True).div_(r.shape[1] - 1).sqrt_()
    else:
        std = torch.zeros_like(mean)
    # a constant instance has std 0 exactly, but its rounded mean can leave a spurious tiny
    # std (which one depends on the batch's summation order): give it 0 as documented
    std = std.masked_fill(hi == lo, 0.0)
    return torch.nan_to_num_(out.div_(std), nan=0.0, posinf=0.0, neginf=0.0).reshape(a.shape)


def op_softmax(a):
    """Softmax over the instance's second axis: channels of activations, C_in of weights.

    ``F.softmax`` on a 4-D tensor without ``dim`` uses axis 1; gpnas keeps that choice per
    instance.  NaN input gives NaN.
    """
    return torch.softmax(a, dim=2)


# -- reductions to one number per instance ----------------------------------------------------
def op_frobenius(a):
    return _inf_to_nan(torch.linalg.vector_norm(_rows(a), dim=1))


def op_det(a):
    """Mean determinant of the instance's trailing square matrices -> scalar.

    The paper applies ``torch.det`` to a 4-D tensor, which gives one determinant per (h, w)
    feature map (or k x k kernel); gpnas averages them per instance (the paper's mean
    to_scalar), so the result is a per-instance scalar.  Non-square maps are cropped square.
    """
    a, bad = _finite_rows(_square(a))
    d = a[..., 0, 0] if a.shape[-1] == 1 else torch.linalg.det(a)  # 1 x 1: LAPACK's bits
    return _mask_rows(_inf_to_nan(_per_instance_mean(d)), bad)


def op_logdet(a):
    """Mean log-determinant of the trailing square matrices -> scalar; 0 where det <= 0.

    The paper sets NaN (negative determinant) to 0; gpnas does the same for a singular matrix
    (log 0 = -inf), so the op is total.
    """
    a, bad = _finite_rows(_square(a))
    if a.shape[-1] == 1:  # 1 x 1 kernels: what slogdet gives, without a LAPACK call each
        sign, logabs = torch.sign(a[..., 0, 0]), torch.log(torch.abs(a[..., 0, 0]))
    else:
        sign, logabs = torch.linalg.slogdet(a)
    d = torch.where(sign > 0, logabs, torch.zeros_like(logabs))
    return _mask_rows(_per_instance_mean(d), bad)


# -- matrix-wise: one number per trailing square matrix, the grid of them kept ----------------
def _finite_matrices(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Matrices with a non-finite entry zeroed (so LAPACK never fails) and the grid mask of
    those matrices."""
    bad = ~torch.isfinite(a).all(dim=-1).all(dim=-1)
    if bad.any():
        a = a.masked_fill(bad[..., None, None], 0.0)
    return a, bad


def op_det_grid(a):
    """``torch.det`` of a 4-D tensor: the determinant of every trailing square matrix (a k x k
    kernel or an h x h feature map), the (C_out, C_in) / (B, C) grid of them kept.  Non-square
    maps are cropped square; overflow or a non-finite matrix gives NaN there."""
    a, bad = _finite_matrices(_square(a))
    return _inf_to_nan(torch.linalg.det(a)).masked_fill_(bad, NAN)


def op_logdet_grid(a):
    """``torch.logdet`` of a 4-D tensor, the grid kept, with the paper's NaN -> 0: a negative
    determinant gives 0.  A zero determinant (the paper's -inf) gives the most negative finite
    number of the dtype, so sigmoid / exp of it are exactly 0 as in the paper and the value
    stays finite.  A non-finite matrix gives NaN there."""
    a, bad = _finite_matrices(_square(a))
    sign, logabs = torch.linalg.slogdet(a)
    low = torch.full_like(logabs, torch.finfo(logabs.dtype).min)
    out = torch.where(sign > 0, logabs, torch.where(sign < 0, torch.zeros_like(logabs), low))
    return out.masked_fill_(bad, NAN)


def op_sym_eig_ratio(a):
    """Largest / smallest eigenvalue of G + G^T, G the gram matrix of the instance -> scalar.

    As the paper: A.reshape(n, -1) (n = batch axis of activations, C_out of weights),
    G = A @ A^T, symmetric eigenvalues e (ascending), e[-1] / e[0].  A zero smallest
    eigenvalue gives NaN.  With batch size 1 an activation's gram is 1 x 1 and the ratio is 1.
    """
    a, bad = _finite_rows(a)
    g = _gram(a)
    e = torch.linalg.eigvalsh(g + g.transpose(1, 2))
    return _mask_rows(_inf_to_nan(e[:, -1] / e[:, 0]), bad)


def op_eig_ratio(a):
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


def op_normalized_sum(a):
    """sum(A) / numel(A) per instance."""
    return _rows(a).mean(dim=1)


def op_l1_norm(a):
    """sum(|A|) / numel(A) per instance."""
    return _rows(a).abs().mean(dim=1)


def op_hamming(a, b):
    """Number of positions where heaviside(A) and heaviside(B) differ -> scalar (paper)."""
    return _rows((a > 0) != (b > 0)).sum(dim=1).to(a.dtype)


def op_kl_div(a, b):
    """``KLDivLoss('batchmean')(A, B)`` per instance: sum(B * (log B - A)) / A.shape[0].

    A is taken as log-probabilities and B as probabilities, as torch does; a negative entry
    of B gives NaN (invalid), a zero entry contributes 0.
    """
    terms = F.kl_div(a, b, reduction="none")
    return _inf_to_nan(_rows(terms).sum(dim=1) / a.shape[1])


def op_cosine(a, b):
    """Sum over the instance's first axis of the cosine similarity of the flattened rest.

    As the paper: A.reshape(n, -1), B.reshape(n, -1), CosineSimilarity along the last axis,
    summed.  Zero vectors give 0 (torch's eps).
    """
    x = a.reshape(a.shape[0], a.shape[1], -1)
    y = b.reshape(b.shape[0], b.shape[1], -1)
    return F.cosine_similarity(x, y, dim=-1).sum(dim=1)


def op_numel(a):
    """Number of elements of each instance -> scalar."""
    n = a[0].numel() if a.shape[0] else 0
    return torch.full((a.shape[0],), float(n), dtype=a.dtype, device=a.device)


# -- to_scalar: a program's per-instance root value -> one number per instance ---------------
def to_scalar_mean(x):
    return x.reshape(x.shape[0], -1).mean(dim=1)


def to_scalar_l2(x):
    if x.dim() == 1:  # a scalar root is unchanged
        return x
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


# -- network level: per-instance values -> one number per network ----------------------------
class Layers(NamedTuple):
    """Where each instance row of a batch of networks sits.

    ``net[i]``: the network of row i (0..n_nets-1, every network has a row); ``depth[i]``: its
    relative depth (position + 1) / instances in (0, 1]; ``order``: the rows sorted by network,
    then by execution position.  One network's instances in execution order are
    ``Layers(zeros, 1, depth, arange)``.
    """

    net: torch.Tensor
    n_nets: int
    depth: torch.Tensor
    order: torch.Tensor


def _net_sum(x, layers):
    return torch.zeros(layers.n_nets, dtype=x.dtype, device=x.device).index_add_(0, layers.net, x)


def _net_count(layers, like):
    return torch.bincount(layers.net, minlength=layers.n_nets).to(like.dtype)


def _net_extreme(x, layers, how):
    out = torch.zeros(layers.n_nets, dtype=x.dtype, device=x.device)
    return out.scatter_reduce_(0, layers.net, x, how, include_self=False)


def _steps(x, layers):
    """Differences of consecutive instances of one network (execution order) and their
    network."""
    xs, ns = x[layers.order], layers.net[layers.order]
    same = ns[1:] == ns[:-1]
    return (xs[1:] - xs[:-1])[same], ns[1:][same]


def agg_mean(x, layers):
    """Mean over the network's instances."""
    return _inf_to_nan(_net_sum(x, layers) / _net_count(layers, x))


def agg_sum(x, layers):
    """Sum over the network's instances."""
    return _inf_to_nan(_net_sum(x, layers))


def agg_max(x, layers):
    """Largest value among the network's instances."""
    return _net_extreme(x, layers, "amax")


def agg_min(x, layers):
    """Smallest value among the network's instances."""
    return _net_extreme(x, layers, "amin")


def agg_std(x, layers):
    """Standard deviation over the network's instances (population; 0 for one instance)."""
    mean = _net_sum(x, layers) / _net_count(layers, x)
    dev = x - mean[layers.net]
    return _inf_to_nan(torch.sqrt(_net_sum(dev * dev, layers) / _net_count(layers, x)))


def agg_depth_mean(x, layers):
    """Mean weighted by relative depth: sum(d x) / sum(d), deeper instances count more."""
    d = layers.depth.to(x.dtype)
    return _inf_to_nan(_net_sum(d * x, layers) / _net_sum(d, layers))


def agg_diff_min(x, layers):
    """Smallest change between consecutive instances (execution order); 0 for one instance."""
    d, n = _steps(x, layers)
    out = torch.zeros(layers.n_nets, dtype=x.dtype, device=x.device)
    return out.scatter_reduce_(0, n, d, "amin", include_self=False)


def agg_diff_mean(x, layers):
    """Mean change between consecutive instances (execution order); 0 for one instance."""
    d, n = _steps(x, layers)
    total = torch.zeros(layers.n_nets, dtype=x.dtype, device=x.device).index_add_(0, n, d)
    return _inf_to_nan(total / (_net_count(layers, x) - 1).clamp_min(1))


def size_terms(weight_shape, bn_shape) -> tuple[float, float]:
    """(conv parameters, multiply-accumulates per image) of one instance, from its shapes:
    ``numel(weight)`` and ``C_out H' W' x (C_in / groups) k k``."""
    return float(math.prod(weight_shape)), float(math.prod(bn_shape[1:]) *
                                                 math.prod(weight_shape[1:]))


# -- cross-sample matrices: (L, n, n) stacks of square matrices ------------------------------
def _symmetric(a):
    """(A + A^T) / 2 in float64, non-finite matrices zeroed (their results become NaN)."""
    a, bad = _finite_rows(a.double())
    return (a + a.transpose(-1, -2)) / 2, bad


def _ridge(a):
    """A + eps I with eps = 1e-6 * |trace(A)| / n + 1e-12: a singular matrix stays finite."""
    n = a.shape[-1]
    eps = 1e-6 * a.diagonal(dim1=-2, dim2=-1).sum(-1).abs() / n + 1e-12
    return a + eps[..., None, None] * torch.eye(n, dtype=a.dtype, device=a.device)


def _eigenvalues(a):
    s, bad = _symmetric(a)
    return torch.linalg.eigvalsh(s), bad


def _finish(y, bad, like):
    return _mask_rows(_inf_to_nan(y), bad).to(like.dtype)


def mat_logdet(a):
    """log|det| of each (symmetrised) matrix, with a tiny ridge: total on singular matrices."""
    s, bad = _symmetric(a)
    return _finish(torch.linalg.slogdet(_ridge(s))[1], bad, a)


def mat_eigmin(a):
    """Smallest eigenvalue of each (symmetrised) matrix."""
    e, bad = _eigenvalues(a)
    return _finish(e[..., 0], bad, a)


def mat_eigmax(a):
    """Largest eigenvalue of each (symmetrised) matrix."""
    e, bad = _eigenvalues(a)
    return _finish(e[..., -1], bad, a)


def mat_eig_entropy(a):
    """Entropy of the eigenvalue spectrum: -sum p log p, p = |lambda| / sum |lambda|
    (0 for an all-zero matrix)."""
    e, bad = _eigenvalues(a)
    m = e.abs()
    p = m / m.sum(-1, keepdim=True).clamp_min(1e-300)
    return _finish(-(p * torch.log(p.clamp_min(1e-300))).sum(-1), bad, a)


def mat_trace(a):
    """Sum of the diagonal of each matrix."""
    return _inf_to_nan(a.diagonal(dim1=-2, dim2=-1).sum(-1))


def mat_invtrace(a):
    """Trace of the inverse of each (symmetrised, ridged) matrix: sum of 1 / lambda."""
    s, bad = _symmetric(a)
    e = torch.linalg.eigvalsh(_ridge(s))
    return _finish((1 / e).sum(-1), bad, a)


def mat_corr(a):
    """A_ij / sqrt(|A_ii A_jj|): a Gram or covariance matrix as cosine similarities or
    correlations; 0 where a diagonal entry is 0."""
    d = a.diagonal(dim1=-2, dim2=-1).abs().sqrt()
    outer = d[..., :, None] * d[..., None, :]
    return _inf_to_nan(torch.where(outer > 0, a / torch.where(outer > 0, outer, 1), 0.0))


def mat_distinct_rows(a):
    """Number of distinct rows of each matrix (exact equality): of a Gram or kernel of codes,
    the number of distinct samples the layer tells apart."""
    same = (a[..., :, None, :] == a[..., None, :, :]).all(-1)
    earlier = torch.tril(torch.ones(same.shape[-2:], dtype=torch.bool, device=a.device), -1)
    return (~(same & earlier).any(-1)).sum(-1).to(a.dtype)


def agg_sum_mat(x, layers):
    """Sum of the network's instance matrices."""
    out = torch.zeros((layers.n_nets, *x.shape[1:]), dtype=x.dtype, device=x.device)
    return _inf_to_nan(out.index_add_(0, layers.net, x))


def agg_mean_mat(x, layers):
    """Mean of the network's instance matrices."""
    return _inf_to_nan(agg_sum_mat(x, layers) / _net_count(layers, x)[:, None, None])
