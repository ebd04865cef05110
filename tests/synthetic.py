"""Synthetic tasks for engine and search tests: random statistics with realistic shape groups."""

from __future__ import annotations

import numpy as np
import torch

from gpnas.data.stats.collect import InstanceGroup
from gpnas.evaluation.task import Task
from primitives import STATISTICS

#: (act, bn, weight) instance shapes of a few layer kinds, batch size 1 or 2
SHAPE_SETS = {
    "nb201-like": [((1, 4, 8, 8), (1, 4, 8, 8), (4, 4, 3, 3)),
                   ((1, 4, 8, 8), (1, 8, 4, 4), (8, 4, 3, 3)),
                   ((1, 8, 4, 4), (1, 8, 4, 4), (8, 8, 1, 1))],
    "darts-like": [((2, 6, 6, 6), (2, 6, 6, 6), (6, 6, 1, 1)),
                   ((2, 6, 6, 6), (2, 6, 3, 3), (6, 6, 3, 3))],
}


def fake_task(n_nets: int, seed: int, kind: str = "nb201-like", space: str = "fake") -> Task:
    """Every network gets 1..3 instances of every layer kind; accuracies are random."""
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    groups, groups_of = [], []
    for shapes in SHAPE_SETS[kind]:
        per_net = rng.integers(1, 4, size=n_nets)
        net = torch.repeat_interleave(torch.arange(n_nets), torch.as_tensor(per_net))
        groups_of.append(net)
        tensors = {}
        for name, t in STATISTICS.items():
            shape = {"act": shapes[0], "bn": shapes[1], "weight": shapes[2]}[t]
            tensors[name] = torch.randn(len(net), *shape, generator=gen)
        groups.append((net, tensors))
    # execution positions: each network's instances of all groups, in a random order
    order = {n: iter(rng.permutation(sum(int((g == n).sum()) for g in groups_of)).tolist())
             for n in range(n_nets)}
    out = [InstanceGroup(net=net, position=torch.tensor([next(order[int(n)]) for n in net]),
                         tensors=tensors) for net, tensors in groups]
    return Task(space, out, rng.uniform(50, 95, size=n_nets))
