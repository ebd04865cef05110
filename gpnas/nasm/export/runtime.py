"""Scoring a model with a program in plain torch: the part of the standalone scorer that is not
the program itself.

Like :mod:`primitives.kernels` and :mod:`gpnas.data.stats.trace`, this module imports nothing but
torch and those two, so ``gpnas export --format python`` embeds its own source.
"""

from __future__ import annotations

import math

import torch

from gpnas.data.stats.cross import collect_cross
from gpnas.data.stats.trace import collect, group_by_shape
from primitives.kernels import Layers, size_terms, to_scalar_l2, to_scalar_mean

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


def _statistics(model, images, seed, order, batch_size, cross_batch):
    """The instances' statistics: of ``images[:batch_size]``, and with ``cross_batch`` the
    cross-sample ones of ``images[:cross_batch]`` (per-network ones in every instance)."""
    if cross_batch and images.shape[0] < max(batch_size, cross_batch):
        raise ValueError(f"give a batch of at least {max(batch_size, cross_batch)} images")
    stats = collect(model, images[:batch_size] if cross_batch else images, seed=seed,
                    order=order)
    if not stats:
        pattern = "ReLU -> Conv2d -> BatchNorm2d" if order == "rcb" else \
            "Conv2d -> BatchNorm2d -> ReLU"
        raise ValueError(f"the model has no {pattern} instance")
    if cross_batch:
        extra, network, _ = collect_cross(model, images[:cross_batch], seed=seed, order=order)
        for inst, more in zip(stats, extra):
            inst.update(more, **network)
    return stats


def score_model(model, images, program, names, *, seed=0, order="rcb", to_scalar="mean",
                aggregate="mean", batch_size=1, cross_batch=0):
    """The score of ``model`` under the paper's form: ``program`` on every instance of its
    statistics (``images``: a normalised (B, C, H, W) batch), ``to_scalar`` per instance,
    ``aggregate`` over them."""
    stats = _statistics(model, images, seed, order, batch_size, cross_batch)
    v = instance_values(stats, program, TO_SCALAR_FNS[to_scalar], names).double()
    total = v.sum()
    result = float(total / len(v)) if aggregate == "mean" else float(total)
    if not math.isfinite(result):
        raise ValueError("the program gives no finite score on this model")
    return result


def network_terminals(stats, names=()):
    """``net_instances``, ``net_params`` and ``net_macs`` of one network, from its shapes, and
    the per-network statistics ``names`` (with a leading axis of one network)."""
    terms = [size_terms(inst["weight"].shape, inst["bn_out.data"].shape) for inst in stats]
    return {"net_instances": torch.tensor([float(len(stats))], dtype=torch.float64),
            "net_params": torch.tensor([sum(p for p, _ in terms)], dtype=torch.float64),
            "net_macs": torch.tensor([sum(m for _, m in terms)], dtype=torch.float64),
            **{n: stats[0][n][None] for n in names}}


def score_network(model, images, instance_part, network_part, n_aggregated, names, *, seed=0,
                  order="rcb", batch_size=1, cross_batch=0, network_names=()):
    """The score of ``model`` under a network-level program: ``instance_part`` on the
    instances (one batch per shape; it returns the ``n_aggregated`` per-instance values the
    network part reads), then ``network_part`` on those values in execution order, the
    instances' places (``Layers``) and the network terminals (``network_names``: the
    per-network statistics it reads)."""
    stats = _statistics(model, images, seed, order, batch_size, cross_batch)
    n = len(stats)
    depth = torch.arange(1, n + 1, dtype=torch.float64) / n
    for i, inst in enumerate(stats):
        inst["layer_position"] = torch.tensor(float(i))
        inst["layer_depth"] = depth[i].float()
    values = [None] * n_aggregated  # one row per instance: a number or a (cross-sample) matrix
    with torch.no_grad():
        for idx in group_by_shape(stats).values():
            batch = {k: torch.stack([stats[i][k] for i in idx]) for k in names}
            for k, v in enumerate(instance_part(batch)):
                if values[k] is None:
                    values[k] = torch.zeros((n, *v.shape[1:]), dtype=torch.float64)
                values[k][idx] = v.double()
        if not all(bool(torch.isfinite(v).all()) for v in values):
            raise ValueError("the program gives no finite value on an instance of this model")
        layers = Layers(torch.zeros(n, dtype=torch.long), 1, depth, torch.arange(n))
        result = float(network_part(values, layers, network_terminals(stats, network_names))[0])
    if not math.isfinite(result):
        raise ValueError("the program gives no finite score on this model")
    return result
