"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

NASWOT
    Every ReLU unit of the network splits the input space; for an input ``x_i`` the binary code
    ``c_i`` has one bit per ReLU unit (over all ``nn.ReLU`` modules, all channels and positions):
    1 where the unit's input is positive.  With ``N_A`` units,
    ``K_H[i, j] = N_A - d_H(c_i, c_j)`` (the number of units on which two inputs agree) and the
    score is ``log |det K_H|`` over a batch of ``N`` images.  Accumulated per ReLU module as
    ``c c^T + (1 - c)(1 - c)^T`` in float64; ``log |det|`` by ``slogdet``.  Identical inputs give
    identical codes, a rank-one ``K_H`` and a score of ``-inf`` (the definition's value, not an
    error).  BatchNorm uses batch statistics (train mode), as the authors' code.  No labels, no
    loss.  gpnas's default batch: 128; NAS-Bench-Suite-Zero (NASLib): 32.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.baselines.common import split_images, working_copy


def hamming_kernel(codes: list[torch.Tensor]) -> np.ndarray:
    """``K_H`` of binary codes: a list of (N, units) 0/1 tensors (one per ReLU module)."""
    n = codes[0].shape[0]
    k = torch.zeros((n, n), dtype=torch.float64)
    for c in codes:
        c = c.to(torch.float64)
        k += c @ c.T + (1.0 - c) @ (1.0 - c).T
    return k.numpy()


def naswot_from_kernel(k: np.ndarray) -> float:
    """``log |det K|`` (``-inf`` for a singular kernel)."""
    _, logabsdet = np.linalg.slogdet(k)
    return float(logabsdet)


def naswot(model: nn.Module, images, seed: int = 0) -> float:
    """log |det K_H| of the ReLU binary codes of the batch (higher is better)."""
    x, _ = split_images(images)
    net = working_copy(model)
    n = x.shape[0]
    k = torch.zeros((n, n), dtype=torch.float64)

    def on_relu(mod, inp):
        # pre-hook: sees the input before an in-place ReLU overwrites it
        c = (inp[0].detach().reshape(n, -1) > 0).to(torch.float64)
        k.add_(c @ c.T).add_((1.0 - c) @ (1.0 - c).T)

    handles = [m.register_forward_pre_hook(on_relu) for m in net.modules()
               if isinstance(m, nn.ReLU)]
    if not handles:
        raise GpnasError("NASWOT needs nn.ReLU modules; the model has none")
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
    return naswot_from_kernel(k.numpy())
