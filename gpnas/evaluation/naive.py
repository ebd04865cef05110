"""A naive interpreter: one torch call per node per layer, as the reference implementation.

It loops over networks and their layer instances and evaluates the program tree on each
instance alone.  It is the ground truth the engine is tested against, and the baseline of
``benchmarks/engine.py``; it is never used by the search.
"""

from __future__ import annotations

import numpy as np
import torch

from primitives import TO_SCALAR, PrimitiveSet
from representations.ir import Program

from gpnas.evaluation.engine import aggregate
from gpnas.evaluation.task import Task


def naive_instance_value(program: Program, pset: PrimitiveSet, tensors: dict, to_scalar: str):
    """Evaluate the program on one instance (tensors with a leading axis of 1)."""
    values = []
    for node in program.nodes:
        if node.op is None:
            values.append(tensors[node.name].float())
        else:
            values.append(pset[node.op].fn(*[values[a] for a in node.args]))
    return TO_SCALAR[to_scalar][0](values[program.output])


def naive_net_scores(program: Program, pset: PrimitiveSet, task: Task,
                     to_scalar: str = "mean", how: str = "mean") -> np.ndarray:
    """Per-network scores by looping over networks and layers (rows in the task's order)."""
    per_row = []
    with torch.no_grad():
        for net in range(task.n_nets):
            for group in task.groups:
                for row in (group.net == net).nonzero().flatten().tolist():
                    inst = {k: v[row:row + 1] for k, v in group.tensors.items()}
                    per_row.append((net, naive_instance_value(program, pset, inst, to_scalar)))
    nets = torch.tensor([n for n, _ in per_row], dtype=torch.long)
    values = torch.cat([v for _, v in per_row]).double()
    return aggregate(values, nets, task.n_nets, how)
