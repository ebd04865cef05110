"""jacob_cov (Mellor et al., "Neural Architecture Search without Training", first version).

jacob_cov
    The Jacobian ``J = d(sum of logits)/dx`` of the batch (one row per image, flattened); the
    score is ``-sum_k (log(v_k + eps) + 1 / (v_k + eps))`` over the eigenvalues ``v_k`` of the
    correlation matrix of the rows, ``eps = 1e-5``.  Train mode, no labels, no loss.  gpnas's
    default batch: 128; NAS-Bench-Suite-Zero: 32.  An undefined correlation (an all-zero Jacobian row)
    gives NaN.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gpnas.baselines.common import split_images, working_copy


def jacob_cov_score(jacobian: np.ndarray, eps: float = 1e-5) -> float:
    """``-sum(log(v + eps) + 1/(v + eps))`` over the eigenvalues of corrcoef(rows)."""
    with np.errstate(all="ignore"):
        corr = np.corrcoef(np.asarray(jacobian, dtype=np.float64))
    if not np.all(np.isfinite(corr)):
        return float("nan")
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + eps) + 1.0 / (v + eps)))


def jacob_cov(model: nn.Module, images, seed: int = 0) -> float:
    """Eigenvalue score of the correlation of the input Jacobians of the batch."""
    x, _ = split_images(images)
    net = working_copy(model)
    x = x.clone().requires_grad_(True)
    y = net(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    return jacob_cov_score(g.reshape(g.shape[0], -1).detach().numpy())
