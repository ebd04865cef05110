"""``to_scalar``: how a program's per-instance output becomes one number per instance.

The paper applies ``mean`` (EZNAS-A) or the L2 norm (appendix 2.8) to the root value of the
program on every layer instance; a scalar-typed root passes through unchanged by both.
"""

from __future__ import annotations

from typing import Callable

import sympy
import torch


def _mean(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).mean(dim=1)


def _l2(x: torch.Tensor) -> torch.Tensor:
    if x.dim() == 1:
        return x
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


TO_SCALAR: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable]] = {
    "mean": (_mean, sympy.Function("mean")),
    "l2": (_l2, sympy.Function("l2")),
}
