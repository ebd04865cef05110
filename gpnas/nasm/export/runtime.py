"""Scoring a model with a program in plain torch: the part of the standalone scorer that is not
the program itself.

Like :mod:`primitives.kernels` and :mod:`gpnas.data.stats.trace`, this module imports nothing but
torch and those two, so ``gpnas export --format python`` embeds its own source.
"""

from __future__ import annotations

import math

import torch

from gpnas.data.stats.trace import collect, group_by_shape
from primitives.kernels import to_scalar_l2, to_scalar_mean

TO_SCALAR_FNS = {"mean": to_scalar_mean, "l2": to_scalar_l2}


def instance_values(stats, program, to_scalar, names):
    """One value per instance (execution order): ``program`` runs once per group of instances
    of one shape, on the statistics ``names`` stacked over the group."""
    values = [None] * len(stats)
    with torch.no_grad():
        for idx in group_by_shape(stats).values():
            batch = {n: torch.stack([stats[i][n] for i in idx]) for n in names}
            v = to_scalar(program(batch))
            for j, i in enumerate(idx):
                values[i] = v[j]
    return torch.stack(values) if values else torch.zeros(0)


def score_model(model, images, program, names, *, seed=0, order="rcb", to_scalar="mean",
                aggregate="mean"):
    """The score of ``model``: ``program`` on every instance of its statistics (``images``: a
    normalised (B, C, H, W) batch), ``to_scalar`` per instance, ``aggregate`` over them."""
    stats = collect(model, images, seed=seed, order=order)
    if not stats:
        pattern = "ReLU -> Conv2d -> BatchNorm2d" if order == "rcb" else \
            "Conv2d -> BatchNorm2d -> ReLU"
        raise ValueError(f"the model has no {pattern} instance")
    v = instance_values(stats, program, TO_SCALAR_FNS[to_scalar], names).double()
    total = v.sum()
    result = float(total / len(v)) if aggregate == "mean" else float(total)
    if not math.isfinite(result):
        raise ValueError("the program gives no finite score on this model")
    return result
