"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021).

NASWOT
    Every ReLU unit of the network splits the input space; for an input ``x_i`` the binary code
    ``c_i`` has one bit per ReLU unit (over all ``nn.ReLU`` modules, all channels and positions):
    1 where the unit's input is positive.  With ``N_A`` units,
    ``K_H[i, j] = N_A - d_H(c_i, c_j)`` (the number of units on which two inputs agree) and the
    score is ``log |det K_H|`` over a batch of ``N`` images.  Per ReLU module, with ``s`` the
    number of active units of each input, ``c c^T + (1 - c)(1 - c)^T = 2 c c^T - s 1^T - 1 s^T +
    units``: one int8 matrix product of the 0/1 codes with int32 sums (exact), summed over
    modules in float64 (exact), so ``K_H`` is exactly the integer matrix of the definition.
    ReLU modules that read the same tensor (NB201's and DARTS's edges out of one node) share
    one product.  ``log |det|`` by ``slogdet``.  Identical inputs give identical
    codes, a rank-one ``K_H`` and a score of ``-inf`` (the definition's value, not an error).
    BatchNorm uses batch statistics (train mode), as the authors' code.  No labels, no loss.
    gpnas's default batch: 128; NAS-Bench-Suite-Zero (NASLib): 32.
"""

from __future__ import annotations

import weakref

import numpy as np
import torch
from torch import nn

from gpnas.baselines.common import forward_watched, split_images, working_copy
from gpnas.data.stats.cross import code_kernel


def _code_kernel(x: torch.Tensor) -> torch.Tensor:
    """``c c^T + (1 - c)(1 - c)^T`` (float64, exact) of the codes ``c = x > 0`` of a batch."""
    return code_kernel(x.detach().reshape(x.shape[0], -1) > 0)


def hamming_kernel(codes: list[torch.Tensor]) -> np.ndarray:
    """``K_H`` of binary codes: a list of (N, units) 0/1 tensors (one per ReLU module)."""
    n = codes[0].shape[0]
    k = torch.zeros((n, n), dtype=torch.float64)
    for c in codes:
        k += _code_kernel(c.float() - 0.5)
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
    terms: dict[tuple[int, int], tuple[weakref.ref, torch.Tensor]] = {}

    def on_relu(mod, inp):
        # pre-hook: sees the input before an in-place ReLU overwrites it
        t = inp[0]
        key = (id(t), t._version)
        seen = terms.get(key)
        if seen is None or seen[0]() is not t:  # a new tensor (not one whose id was reused)
            seen = terms[key] = (weakref.ref(t), _code_kernel(t))
        k.add_(seen[1])

    forward_watched(net, x, nn.ReLU, on_relu, "NASWOT", pre=True)
    return naswot_from_kernel(k.numpy())
