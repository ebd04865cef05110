"""A naive interpreter: one torch call per node per layer, as the reference implementation.

It loops over networks and their layer instances and evaluates the program on each instance
alone; a network-level program's aggregations then run on that one network's values in
execution order.  It is the ground truth the engine is tested against, and the baseline of
``benchmarks/engine.py``; it is never used by the search.
"""

from __future__ import annotations

import numpy as np
import torch

from primitives import NET, TO_SCALAR, PrimitiveSet
from primitives.kernels import Layers
from representations.ir import Program

from gpnas.evaluation.engine import aggregate
from gpnas.evaluation.task import Task


def _instance_nodes(program: Program, pset: PrimitiveSet, tensors: dict) -> list:
    """Every per-instance node's value on one instance (tensors with a leading axis of 1)."""
    values = []
    for node in program.nodes:
        if node.type == NET:
            values.append(None)
        elif node.op is None:
            values.append(tensors[node.name].float())
        else:
            values.append(pset[node.op].fn(*[values[a] for a in node.args]))
    return values


def naive_instance_value(program: Program, pset: PrimitiveSet, tensors: dict, to_scalar: str):
    """Evaluate a per-instance program on one instance (tensors with a leading axis of 1)."""
    values = _instance_nodes(program, pset, tensors)
    return TO_SCALAR[to_scalar][0](values[program.output])


def _instances_of(task: Task, net: int) -> list[dict]:
    """The instances of network ``net``, in execution order (one-row tensors)."""
    rows = []
    for group in task.groups:
        for row in (group.net == net).nonzero().flatten().tolist():
            rows.append((int(group.position[row]),
                         {k: v[row:row + 1] for k, v in group.tensors.items()}))
    return [inst for _, inst in sorted(rows, key=lambda r: r[0])]


def naive_net_scores(program: Program, pset: PrimitiveSet, task: Task,
                     to_scalar: str = "mean", how: str = "mean") -> np.ndarray:
    """Per-network scores by looping over networks and layers."""
    if program.type == NET:
        return np.array([_net_program(program, pset, task, n) for n in range(task.n_nets)])
    per_row = []
    with torch.no_grad():
        for net in range(task.n_nets):
            for inst in _instances_of(task, net):
                per_row.append((net, naive_instance_value(program, pset, inst, to_scalar)))
    nets = torch.tensor([n for n, _ in per_row], dtype=torch.long)
    values = torch.cat([v for _, v in per_row]).double()
    return aggregate(values, nets, task.n_nets, how)


def _net_program(program: Program, pset: PrimitiveSet, task: Task, net: int) -> float:
    """A network-level program on one network: its instances one by one, then the network's
    nodes on that network alone."""
    with torch.no_grad():
        per_instance = [_instance_nodes(program, pset, inst) for inst in _instances_of(task, net)]
        n = len(per_instance)
        layers = Layers(torch.zeros(n, dtype=torch.long), 1,
                        torch.arange(1, n + 1, dtype=torch.float64) / n, torch.arange(n))
        values: dict[int, torch.Tensor] = {}
        for i, node in enumerate(program.nodes):
            if node.type != NET:
                continue
            if node.op is None:
                values[i] = task.net_terminals[node.name][net:net + 1]
                continue
            op = pset[node.op]
            if op.kind == "aggregation":
                (a,) = node.args
                x = torch.cat([vals[a].reshape(1) for vals in per_instance]).double()
                values[i] = op.fn(x, layers)
            else:
                values[i] = op.fn(*[values[a] for a in node.args])
    return float(values[program.output][0])
