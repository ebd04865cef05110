"""Checking a rewritten program: it must give the original's values on real statistics (given
tasks, or :func:`check_task`: small random ReLU-Conv-BN networks of different widths and
depths) -- per instance for a paper program, per network for a network-level one."""

from __future__ import annotations

import numpy as np

from primitives import PrimitiveSet
from representations.ir import Program


def check_task(batch_size: int = 1, order: str = "rcb", seed: int = 0, cross_batch: int = 0):
    """Statistics of three small random ReLU-Conv-BN networks (incl. a 1x1 and a separable
    conv; the third is narrower and one block deeper, so size terms differ): real activations,
    gradients, exact zeros of ReLUs; with ``cross_batch`` their cross-sample statistics too."""
    import torch
    from torch import nn

    from gpnas.data.stats.collect import collect, collect_cross
    from gpnas.evaluation.task import Task

    def net(c: int, deeper: bool):
        extra = [nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()] \
            if deeper else []
        return nn.Sequential(
            nn.Conv2d(3, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(), *extra,
            nn.Conv2d(c, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False),
            nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 10))

    per_net = []
    with torch.random.fork_rng(devices=[]):
        for k, (c, deeper) in enumerate([(8, False), (8, False), (6, True)]):
            torch.manual_seed(seed + k)
            model = net(c, deeper)
            gen = torch.Generator().manual_seed(seed + k)
            images = torch.randn(max(batch_size, cross_batch), 3, 12, 12, generator=gen)
            instances = collect(model, images[:batch_size], seed=seed + k, order=order)
            if cross_batch:
                cross, network, _ = collect_cross(model, images[:cross_batch], seed=seed + k,
                                                  order=order)
                for inst, extra in zip(instances, cross):
                    inst.update(extra, **network)
            per_net.append(instances)
    return Task.from_instances("check", per_net, np.zeros(len(per_net)))


def _values(program: Program, task, pset, to_scalar: str) -> np.ndarray:
    from gpnas.evaluation.engine import Engine, EngineConfig

    engine = Engine(pset, EngineConfig(to_scalar=to_scalar, cost_budget=float("inf"),
                                       cache_bytes=0))
    if program.type == "net":  # the network scores (may be NaN: compared as such)
        return engine.probe_values(program, task)[:task.n_nets].numpy()
    return engine.instance_values(program, task).double().numpy()


def compare(original: Program, other: Program, tasks, pset: PrimitiveSet,
            to_scalar: str = "mean", rtol: float = 1e-4) -> str | None:
    """None when both programs give the same values on every task (per instance; per network
    for network-level programs), else why not.

    Values agree when NaN sits at the same places and the rest is close: relative ``rtol``,
    absolute ``rtol`` times the largest magnitude (float32 rewrites of sums round differently).
    """
    for task in tasks:
        try:
            a = _values(original, task, pset, to_scalar)
        except Exception as exc:
            return f"the original cannot be evaluated on the check statistics ({exc})"
        try:
            b = _values(other, task, pset, to_scalar)
        except Exception as exc:
            return f"the simplified program fails on the check statistics ({exc})"
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not (fa == fb).all() or not (np.isnan(a) == np.isnan(b)).all():
            return ("the simplified program is NaN/inf where the original is not (or the "
                    "reverse) on the check statistics")
        scale = float(np.abs(a[fa]).max()) if fa.any() else 0.0
        if not np.allclose(a[fa], b[fb], rtol=rtol, atol=rtol * max(scale, 1e-30)):
            diff = float(np.abs(a[fa] - b[fb]).max())
            return (f"the simplified program gives other values on the check statistics (max "
                    f"abs difference {diff:.3g}, values up to {scale:.3g}): sympy's rewrite "
                    "changed the semantics of protected operations")
    return None
