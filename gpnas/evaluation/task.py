"""A task: the statistics of a set of networks of one space, held in memory for evaluation."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from primitives.kernels import Layers, size_terms

from gpnas.data.stats.collect import InstanceGroup, group_instances, network_tensors
from gpnas.data.stats.store import LazyStatistics

_uids = itertools.count()


@dataclass
class Task:
    """Instances of ``n_nets`` networks grouped by shape, and the networks' accuracies.

    Rows are the groups' rows in group order.  Besides the statistics, every group holds the
    per-instance terminals ``layer_position`` and ``layer_depth`` ((position + 1) / instances),
    and :attr:`net_terminals` the network terminals (``net_instances``, ``net_params``,
    ``net_macs``) computed from the recorded shapes; :attr:`layers` places every row in its
    network for aggregations; :attr:`row_elements` is, per group, the elements in one row of
    its largest statistic.  ``uid`` identifies the task's data in caches: two tasks never
    share a uid within a process.
    """

    space: str
    groups: list[InstanceGroup]
    accuracy: np.ndarray
    net_ids: tuple[int, ...] = ()
    network: dict[str, torch.Tensor] = field(default_factory=dict)  # per-network statistics
    uid: int = field(default_factory=lambda: next(_uids))

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=np.float64)
        nets = [g.net for g in self.groups]
        self.row_net = torch.cat(nets) if nets else torch.zeros(0, dtype=torch.long)
        counts = torch.bincount(self.row_net, minlength=self.n_nets)
        if self.n_nets and bool((counts == 0).any()):
            missing = (counts == 0).nonzero().flatten().tolist()
            raise ValueError(f"{self.space}: networks {missing} have no ReLU-Conv-BN instance")
        self.instances_per_net = counts
        position = torch.cat([g.position for g in self.groups]) if nets else \
            torch.zeros(0, dtype=torch.long)
        depth = (position + 1).double() / counts[self.row_net].double()
        order = torch.argsort(self.row_net * (int(position.max()) + 1 if len(position) else 1)
                              + position, stable=True)
        self.layers = Layers(self.row_net, self.n_nets, depth, order)
        start = 0
        params = torch.zeros(self.n_nets, dtype=torch.float64)
        macs = torch.zeros(self.n_nets, dtype=torch.float64)
        for g in self.groups:
            n = len(g)
            g.tensors["layer_position"] = g.position.float()
            g.tensors["layer_depth"] = depth[start:start + n].float()
            p, m = size_terms(shape_of(g, "weight")[1:], shape_of(g, "bn_out.data")[1:])
            params.index_add_(0, g.net, torch.full((n,), p, dtype=torch.float64))
            macs.index_add_(0, g.net, torch.full((n,), m, dtype=torch.float64))
            start += n
        self.row_elements = [max((math.prod(shape_of(g, k)[1:]) for k in
                                  getattr(g.tensors, "shapes", g.tensors)), default=1)
                             for g in self.groups]
        self.net_terminals = {"net_instances": counts.double(), "net_params": params,
                              "net_macs": macs, **self.network}

    @property
    def n_nets(self) -> int:
        return len(self.accuracy)

    @property
    def n_rows(self) -> int:
        return int(self.row_net.numel())

    @classmethod
    def from_store(cls, store, net_ids: Sequence[int], dtype=torch.float32,
                   lazy: bool = False) -> "Task":
        """Load the given networks of a :class:`~gpnas.data.stats.store.StatsStore` (``lazy``:
        each statistic when a program first reads it)."""
        net_ids = tuple(int(i) for i in net_ids)
        groups = store.load_groups(net_ids, dtype=dtype, lazy=lazy)
        acc = store.accuracies()[list(net_ids)]
        space = store.nets[net_ids[0]]["space"] if net_ids else "empty"
        return cls(space, groups, acc, net_ids, store.load_network(net_ids))

    @classmethod
    def from_instances(cls, space: str, per_net, accuracy) -> "Task":
        """A task of networks collected in memory: ``per_net[n]`` is network n's instances (as
        :func:`~gpnas.data.stats.collect.collect` returns them)."""
        return cls(space, group_instances(per_net), accuracy, (), network_tensors(per_net))

    def subset(self, positions: Sequence[int]) -> "Task":
        """A task with only the networks at these positions (rows copied once)."""
        positions = torch.as_tensor(list(positions), dtype=torch.long)
        remap = torch.full((self.n_nets,), -1, dtype=torch.long)
        remap[positions] = torch.arange(len(positions))
        groups = []
        for g in self.groups:
            keep = remap[g.net] >= 0
            if bool(keep.any()):
                rows = keep.nonzero().flatten()
                names = getattr(g.tensors, "shapes", g.tensors)
                groups.append(InstanceGroup(
                    net=remap[g.net[rows]], position=g.position[rows],
                    tensors={k: g.tensors[k].index_select(0, rows) for k in names}))
        ids = tuple(self.net_ids[i] for i in positions.tolist()) if self.net_ids else ()
        network = {k: v.index_select(0, positions) for k, v in self.network.items()}
        return Task(self.space, groups, self.accuracy[positions.numpy()], ids, network)

    def prefix(self, n: int) -> "Task":
        """The task of the first ``n`` networks, sharing this task's memory (rows are ordered
        by network within each group, so they are a slice of each group)."""
        if n >= self.n_nets:
            return self
        groups = []
        for g in self.groups:
            m = int((g.net < n).sum())
            if not m:
                continue
            if isinstance(g.tensors, LazyStatistics):
                shapes = {k: (m,) + v[1:] for k, v in g.tensors.shapes.items()}
                tensors = LazyStatistics(lambda name, g=g, m=m: g.tensors[name][:m], shapes)
            else:
                tensors = {k: v[:m] for k, v in g.tensors.items()}
            groups.append(InstanceGroup(net=g.net[:m], position=g.position[:m], tensors=tensors))
        network = {k: v[:n] for k, v in self.network.items()}
        return Task(self.space, groups, self.accuracy[:n], self.net_ids[:n], network)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for g in self.groups for t in g.tensors.values())


def shape_of(group: InstanceGroup, name: str) -> tuple[int, ...]:
    """The (L, ...) shape of a group's statistic, without reading a lazy one."""
    if isinstance(group.tensors, LazyStatistics) and name in group.tensors.shapes:
        return group.tensors.shapes[name]
    return tuple(group.tensors[name].shape)
