"""Collection as gpnas uses it: :mod:`.trace` (the torch-only collector) with gpnas's errors,
and instances of many networks grouped by shape for batched evaluation.

See :mod:`gpnas.data.stats.trace` for what is recorded and how instances are found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from primitives import STAT_NAMES
from primitives.cross import INSTANCE_TERMINALS as CROSS_INSTANCE
from primitives.cross import NETWORK_TERMINALS as CROSS_NETWORK

from gpnas.config import ORDERS
from gpnas.data.stats import cross, trace
from gpnas.data.stats.trace import PERTURB_SCALE, CollectInfo
from gpnas.errors import GpnasError


@dataclass
class InstanceGroup:
    """Rows (layer instances) of one shape, of one or many networks.

    ``net[i]`` is the position, in the list of networks requested, of row i's network, and
    ``position[i]`` the row's execution index in its network (0-based, over all its instances);
    rows are ordered by network, then by execution order; ``tensors`` maps each of the 22
    statistic names to a tensor of shape (L, *instance_shape).
    """

    net: torch.Tensor
    position: torch.Tensor
    tensors: dict[str, torch.Tensor]

    def __len__(self) -> int:
        return int(self.net.numel())


def check_order(order: str) -> None:
    """GpnasError unless ``order`` is one of :data:`~gpnas.config.ORDERS`."""
    if order not in ORDERS:
        raise GpnasError(f"unknown collection order {order!r}; use one of {', '.join(ORDERS)}")


def collect_with_info(model: nn.Module, images: torch.Tensor, *, seed: int, order: str = "rcb",
                      fused: bool = False) -> tuple[list[dict[str, torch.Tensor]], CollectInfo]:
    """:func:`collect` and what the trace found (recorded conv names, sep instances)."""
    check_order(order)
    try:
        return trace.collect_with_info(model, images, seed=seed, order=order, fused=fused)
    except trace.CollectError as exc:
        raise GpnasError(str(exc)) from None


def instance_info(model: nn.Module, images: torch.Tensor, order: str = "rcb") -> CollectInfo:
    """The instances :func:`collect` would record (one forward pass, no gradients): cheap."""
    check_order(order)
    return trace.instance_info(model, images, order)


def collect_cross(model: nn.Module, images: torch.Tensor, *, seed: int, order: str = "rcb"):
    """The cross-sample statistics of a batch of images (:func:`.cross.collect_cross`)."""
    check_order(order)
    try:
        return cross.collect_cross(model, images, seed=seed, order=order)
    except trace.CollectError as exc:
        raise GpnasError(str(exc)) from None


def collect(model: nn.Module, images: torch.Tensor, *, seed: int, order: str = "rcb",
            fused: bool = False) -> list[dict[str, torch.Tensor]]:
    """The 22 statistics of every instance of ``model``, in execution order.

    ``images``: a (B, C, H, W) batch (B is the statistics' batch size).  Returns one dict per
    instance mapping each name of ``primitives.STAT_NAMES`` to a float32 tensor of the instance's
    shape (``relu_*``: conv input (B, C_in, H, W); ``bn_*``: conv output; ``weight*``: conv weight).
    ``fused``: the three inputs in one pass where that is exact (batch size 1, and a model whose
    batch rows meet only in BatchNorm2d, as gpnas's spaces); the same tensors, faster.
    See :mod:`gpnas.data.stats.trace` for the exact definitions.
    """
    return collect_with_info(model, images, seed=seed, order=order, fused=fused)[0]


def group_instances(per_net: Sequence[Sequence[dict[str, torch.Tensor]]],
                    dtype: torch.dtype = torch.float32) -> list[InstanceGroup]:
    """Group the instances of many networks by shape (:func:`~.trace.shape_key`).

    ``per_net[n]`` is network n's list of instances (as :func:`collect` returns).  Groups are in
    order of first appearance; rows by network, then execution order.
    """
    flat = [(n, p, inst) for n, insts in enumerate(per_net) for p, inst in enumerate(insts)]
    extra = [n for n in CROSS_INSTANCE if flat and n in flat[0][2]]  # cross-sample statistics
    groups = []
    try:
        for positions in trace.group_by_shape([inst for _, _, inst in flat]).values():
            rows = [flat[i] for i in positions]
            net = torch.tensor([n for n, _, _ in rows], dtype=torch.int64)
            position = torch.tensor([p for _, p, _ in rows], dtype=torch.int64)
            tensors = {name: torch.stack([inst[name] for _, _, inst in rows]).to(dtype)
                       for name in STAT_NAMES}
            tensors.update({name: torch.stack([inst[name] for _, _, inst in rows])
                            for name in extra})
            groups.append(InstanceGroup(net=net, position=position, tensors=tensors))
    except KeyError as exc:
        raise GpnasError(f"instance lacks the statistic {exc.args[0]!r}") from None
    return groups


def network_tensors(per_net: Sequence[Sequence[dict[str, torch.Tensor]]]
                    ) -> dict[str, torch.Tensor]:
    """The per-network tensors that ride along in every instance of a network (the cross-sample
    ``input_grad.gram``), stacked over the networks."""
    names = [n for n in CROSS_NETWORK if per_net and per_net[0] and n in per_net[0][0]]
    return {name: torch.stack([insts[0][name] for insts in per_net]) for name in names}


__all__ = ["CollectInfo", "InstanceGroup", "PERTURB_SCALE", "check_order", "collect",
           "collect_with_info", "collect_cross", "group_instances", "instance_info",
           "network_tensors"]
