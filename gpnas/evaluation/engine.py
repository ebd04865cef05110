"""The evaluation engine: a program IR executed on a task, batched over all layer instances.

For each shape group of the task, the program's per-instance DAG runs once per block of rows
(instances), one torch call per node: no Python loop per layer or per network.  Blocks keep
intermediates cache-sized.  Values of sub-expressions are cached across programs by (task,
group, block, node key) in a byte-bounded LRU, so a population sharing sub-trees computes each
once.

Two program forms:

* the paper's (a per-instance root): the root value becomes one number per instance
  (``to_scalar``), then one per network (``aggregate`` over the network's instances);
* network-level (a root of type ``net``, the ``network`` DSL extension): the per-instance
  sub-programs that feed aggregation nodes run as above (all of them in one pass over the
  blocks); then every aggregation node is one scatter over all rows of all networks, and the
  network-level nodes run on one value per network (float64), cached by (task, node key).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from primitives import NET, NETWORK_TYPES, SCALAR, TO_SCALAR, PrimitiveSet
from representations.ir import Program

from gpnas.config import AGGREGATES
from gpnas.evaluation.plan import Plan, plan
from gpnas.evaluation.task import Task, shape_of
from gpnas.threads import keep_freed_memory, torch_threads



class InvalidProgram(Exception):
    """The program cannot score this task; ``reason`` says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ValueCache:
    """Byte-bounded LRU of tensors keyed by tuples."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._data: OrderedDict[tuple, torch.Tensor] = OrderedDict()

    def get(self, key: tuple) -> torch.Tensor | None:
        value = self._data.get(key)
        if value is None:
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return value

    def put(self, key: tuple, value: torch.Tensor) -> None:
        size = value.numel() * value.element_size()
        if size > self.max_bytes // 4 or key in self._data:
            return
        self._data[key] = value
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, old = self._data.popitem(last=False)
            self.bytes -= old.numel() * old.element_size()

    def clear(self) -> None:
        self._data.clear()
        self.bytes = 0


@dataclass
class EngineConfig:
    to_scalar: str = "mean"
    aggregate: str = "mean"
    block_bytes: int = 1 << 21  # rows per block so the largest float32 terminal block is this
    cache_bytes: int = 1 << 30  # sub-expression value cache
    cache_min_cost: float = 3.0  # cache tensor values whose sub-tree cost is at least this
    cost_budget: float = 400.0  # max estimated cost, in passes over one statistic of the task
    threads: int = 0  # blocks evaluated in parallel (0: torch's thread count, i.e. the cores)

    @classmethod
    def of(cls, settings, **overrides) -> "EngineConfig":
        """The configuration for the ``to_scalar`` / ``aggregate`` of ``settings`` (a run's
        configuration or a program file); ``overrides`` that are not None replace fields."""
        values = {"to_scalar": settings.to_scalar, "aggregate": settings.aggregate}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


class Engine:
    """Executes programs on tasks; see the module docstring."""

    def __init__(self, pset: PrimitiveSet, config: EngineConfig | None = None, profile=False):
        self.pset = pset
        self.config = config or EngineConfig()
        if self.config.to_scalar not in TO_SCALAR:
            raise ValueError(f"to_scalar must be one of {sorted(TO_SCALAR)}")
        if self.config.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}")
        self._to_scalar = TO_SCALAR[self.config.to_scalar][0]
        self.cache = ValueCache(self.config.cache_bytes)
        self.profile = profile
        self.op_seconds: dict[str, float] = defaultdict(float)  # by op kind, when profiling
        self.threads = self.config.threads or torch.get_num_threads()
        keep_freed_memory()  # block-sized temporaries: no page faults (see there)
        self._pool = ThreadPoolExecutor(self.threads) if self.threads > 1 else None
        self._lock = threading.Lock()

    # -- public --------------------------------------------------------------------------
    def instance_values(self, program: Program, task: Task) -> torch.Tensor:
        """One value per instance row of the task (rows in group order): ``to_scalar`` of the
        root of a per-instance program.  (A network-level program has no such value: see
        :meth:`probe_values`.)"""
        if program.type == NET:
            raise ValueError("a network-level program has no per-instance value")
        self._check_cost(program, task)
        (values,) = self._per_instance(program, [program.output], task, self._to_scalar)
        return values

    def net_scores(self, program: Program, task: Task) -> np.ndarray:
        """One score per network; raises :class:`InvalidProgram` with the reason."""
        try:
            if program.type == NET:
                self._check_cost(program, task)
                scores = self._net_values(program, task)[program.output].numpy()
            else:
                values = self.instance_values(program, task)
                scores = aggregate(values.double(), task.row_net, task.n_nets,
                                   self.config.aggregate)
        except InvalidProgram:
            raise
        except Exception as exc:  # an op failing on odd data is an invalid program, not a crash
            raise InvalidProgram(f"execution failed: {type(exc).__name__}: {exc}") from None
        if not np.isfinite(scores).all():
            raise InvalidProgram("non-finite score (NaN or inf)")
        return scores

    def probe_values(self, program: Program, task: Task) -> torch.Tensor:
        """What the search's validity probe and equivalence fingerprint look at: the
        per-instance values of a paper program; for a network-level program its network scores
        followed by the per-instance values of every aggregated sub-program (float64)."""
        if program.type != NET:
            return self.instance_values(program, task).double()
        self._check_cost(program, task)
        values = self._net_values(program, task)
        return torch.cat([values[program.output]] +
                         [values[i] for i in _aggregated(program)]).double()

    def estimate_cost(self, program: Program, task: Task) -> float:
        """Op cost x elements touched, in units of one pass over one statistic of the task."""
        unit: dict[str, int] = {}
        for name, t in self.pset.terminals.items():  # (those the task holds; none is read)
            if t not in (SCALAR, *NETWORK_TYPES) and t not in unit and \
                    all(name in getattr(g.tensors, "shapes", g.tensors) for g in task.groups):
                unit[t] = sum(math.prod(shape_of(g, name)) for g in task.groups)
        total_stat = max(unit.values()) if unit else 1
        unit.update({SCALAR: task.n_rows, **dict.fromkeys(NETWORK_TYPES, task.n_nets)})
        cost = 0.0
        for node in program.nodes:
            if node.op is not None:
                op = self.pset[node.op]
                cost += op.cost * unit.get(program.nodes[node.args[0]].type, total_stat)
        return cost / max(total_stat, 1)

    # -- internals ------------------------------------------------------------------------
    def _check_cost(self, program: Program, task: Task) -> None:
        cost = self.estimate_cost(program, task)
        if cost > self.config.cost_budget:
            raise InvalidProgram(f"estimated cost {cost:.0f} over budget {self.config.cost_budget:g}")

    def _blocks(self, task: Task, gi: int) -> list[slice]:
        """Row slices of group ``gi``: a block of its largest statistic is ``block_bytes``."""
        n = int(task.groups[gi].net.numel())
        per = max(1, self.config.block_bytes // max(task.row_elements[gi] * 4, 1))
        return [slice(i, min(i + per, n)) for i in range(0, n, per)]

    def _per_instance(self, program: Program, outputs: list[int], task: Task,
                      reduce=None) -> list[torch.Tensor]:
        """The values of the per-instance nodes ``outputs`` on every row (group order), each
        block's value passed through ``reduce`` when given; one pass over the blocks."""
        jobs = [(gi, bi, group, rows) for gi, group in enumerate(task.groups)
                for bi, rows in enumerate(self._blocks(task, gi))]
        steps = plan(program, outputs)
        run = lambda job: self._run_block(program, steps, outputs, task.uid, *job,  # noqa: E731
                                          reduce)
        # blocks run in parallel threads, each op on one core (intra-op threads on top of them
        # oversubscribe the cores)
        with torch.no_grad(), torch_threads(1):
            parts = list(self._pool.map(run, jobs) if self._pool else map(run, jobs))
        if not parts:
            return [torch.zeros(0) for _ in outputs]
        return [torch.cat([p[k] for p in parts]) for k in range(len(outputs))]

    def _net_values(self, program: Program, task: Task) -> dict[int, torch.Tensor]:
        """Every network-level node's value (float64, one per network: a number or a matrix),
        and the per-instance values of the aggregated nodes (float64, one per row)."""
        nodes, keys = program.nodes, program.keys
        inputs = _aggregated(program)
        values: dict[int, torch.Tensor] = {}
        if inputs:
            for i, v in zip(inputs, self._per_instance(program, inputs, task)):
                v = v.double()
                if not bool(torch.isfinite(v).all()):
                    raise InvalidProgram("non-finite value on an instance (NaN or inf)")
                values[i] = v
        with torch.no_grad():
            for i, node in enumerate(nodes):
                if node.type not in NETWORK_TYPES:
                    continue
                ckey = (task.uid, "net", keys[i])
                with self._lock:
                    v = self.cache.get(ckey)
                if v is None:
                    if node.op is None:
                        v = task.net_terminals[node.name]
                    else:
                        op = self.pset[node.op]
                        args = [values[a] for a in node.args]
                        v = op.fn(*args, task.layers) if op.kind == "aggregation" else op.fn(*args)
                    with self._lock:
                        self.cache.put(ckey, v)
                values[i] = v
        return values

    def _run_block(self, program: Program, steps: Plan, outputs: list[int], uid: int, gi: int,
                   bi: int, group, rows: slice, reduce=None) -> list[torch.Tensor]:
        nodes, keys = program.nodes, program.keys
        need = _ancestors(program, outputs)
        last_use = [0] * len(nodes)
        for i in need:
            for a in nodes[i].args:
                last_use[a] = i
        for o in outputs:
            last_use[o] = len(nodes)  # never freed
        subtree_cost = [0.0] * len(nodes)
        values: list[torch.Tensor | None] = [None] * len(nodes)
        for i in need:
            node = nodes[i]
            if node.op is not None:
                subtree_cost[i] = (self.pset[node.op].cost
                                   + sum(subtree_cost[a] for a in node.args))
            if not steps.needed[i]:
                continue
            if node.op is None:
                v = group.tensors[node.name][rows]
                if v.dtype != torch.float32:
                    v = v.float()
            elif steps.same_as[i] is not None:  # known without running the op (plan)
                v = values[steps.same_as[i]]
            elif steps.fill[i] is not None:
                v = torch.full(self._shape(group, rows, node.type), steps.fill[i])
            else:
                v = self._run_op(self.pset[node.op], node, values, (uid, gi, bi, keys[i]),
                                 subtree_cost[i], group, rows, nodes)
            for a in node.args:  # free what no later node needs
                if last_use[a] == i:
                    values[a] = None
            values[i] = v
        return [values[o] if reduce is None else reduce(values[o]) for o in outputs]

    def _run_op(self, op, node, values, ckey, subtree_cost, group, rows, nodes):
        """The op's value on this block: from the cache, or computed (and cached)."""
        with self._lock:
            v = self.cache.get(ckey)
        if v is not None:
            return v
        args = [values[a] if values[a] is not None else  # shape-only ops: a stand-in
                torch.empty(self._shape(group, rows, nodes[a].type)) for a in node.args]
        if self.profile:
            t0 = time.perf_counter()
            v = op.fn(*args)
            with self._lock:
                self.op_seconds[op.kind] += time.perf_counter() - t0
        else:
            v = op.fn(*args)
        if node.type == SCALAR or subtree_cost >= self.config.cache_min_cost:
            with self._lock:
                self.cache.put(ckey, v)
        return v

    def _shape(self, group, rows: slice, type_: str) -> tuple[int, ...]:
        """The shape of a value of ``type_`` in this block (that of its terminals)."""
        n = len(range(*rows.indices(int(group.net.numel()))))
        if type_ == SCALAR:
            return (n,)
        name = next(k for k, t in self.pset.terminals.items()
                    if t == type_ and k in getattr(group.tensors, "shapes", group.tensors))
        return (n, *shape_of(group, name)[1:])


def _aggregated(program: Program) -> list[int]:
    """The per-instance nodes that network-level nodes read (aggregation inputs), in order."""
    return sorted({a for n in program.nodes if n.type in NETWORK_TYPES for a in n.args
                   if program.nodes[a].type not in NETWORK_TYPES})


def _ancestors(program: Program, outputs: list[int]) -> list[int]:
    """The nodes the outputs depend on (themselves included), in topological order."""
    seen, stack = set(), list(outputs)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(program.nodes[i].args)
    return sorted(seen)


def aggregate(values: torch.Tensor, row_net: torch.Tensor, n_nets: int, how: str) -> np.ndarray:
    """Per-instance values -> per-network scores (scatter over ``row_net``)."""
    sums = torch.zeros(n_nets, dtype=values.dtype).index_add_(0, row_net, values)
    if how == "sum":
        return sums.numpy()
    counts = torch.bincount(row_net, minlength=n_nets).to(values.dtype)
    return (sums / counts).numpy()

