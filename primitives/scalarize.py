"""``to_scalar``: how a program's per-instance output becomes one number per instance.

The paper applies ``mean`` (EZNAS-A) or the L2 norm (appendix 2.8) to the root value of the
program on every layer instance; a scalar-typed root passes through unchanged by both.
"""

from __future__ import annotations

from typing import Callable

import sympy
import torch

from . import kernels as K

TO_SCALAR: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], Callable]] = {
    "mean": (K.to_scalar_mean, sympy.Function("mean")),
    "l2": (K.to_scalar_l2, sympy.Function("l2")),
}
