"""The program IR both representations lower to: a hash-consed DAG of primitive applications.

A :class:`Program` is a tuple of :class:`Node` in topological order; the last node is the output.
Nodes are hash-consed while building, so a sub-expression used twice appears once.  Every node
has a structural key (a hash of its op and its children's keys; arguments of commutative ops are
sorted), so equal sub-expressions of different programs share a key: the engine caches values
by it and the search caches fitness by the output's key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property

from primitives import PrimitiveError, PrimitiveSet


@dataclass(frozen=True)
class Node:
    """A terminal (``op`` is None, ``name`` a statistic) or an op applied to earlier nodes."""

    op: str | None
    args: tuple[int, ...]
    type: str
    name: str | None = None


class ProgramBuilder:
    """Builds a :class:`Program` node by node, type-checked and hash-consed."""

    def __init__(self, pset: PrimitiveSet):
        self.pset = pset
        self.nodes: list[Node] = []
        self.keys: list[str] = []
        self._index: dict[str, int] = {}

    def _add(self, node: Node, key: str) -> int:
        if key not in self._index:
            self._index[key] = len(self.nodes)
            self.nodes.append(node)
            self.keys.append(key)
        return self._index[key]

    def terminal(self, name: str) -> int:
        if name not in self.pset.terminals:
            raise PrimitiveError(f"unknown statistic {name!r}")
        return self._add(Node(None, (), self.pset.terminals[name], name), _digest("T", name))

    def apply(self, op_name: str, args: tuple[int, ...] | list[int]) -> int:
        op = self.pset[op_name]
        args = tuple(args)
        in_types = tuple(self.nodes[a].type for a in args)
        out = op.output_type(in_types)
        if out is None:
            raise PrimitiveError(f"op {op_name!r} does not take {in_types}")
        child_keys = [self.keys[a] for a in args]
        if op.commutative:
            order = sorted(range(len(args)), key=lambda i: child_keys[i])
            args = tuple(args[i] for i in order)
            child_keys = [child_keys[i] for i in order]
        return self._add(Node(op_name, args, out), _digest(op_name, *child_keys))

    def build(self, output: int, keep_dead: bool = False) -> "Program":
        """The program computing node ``output``, keeping only the nodes it reaches.

        With ``keep_dead`` every node built so far is kept and executed (dead code included),
        which is what evaluating a linear program without intron removal costs; its key then
        differs from the pruned program's, so caches do not conflate the two.
        """
        if keep_dead:
            keys = tuple(self.keys)
            dead = _digest("dead-code", *keys, keys[output])
            return Program(tuple(self.nodes), keys, output, dead)
        live = sorted(_reachable(self.nodes, output))
        remap = {old: new for new, old in enumerate(live)}
        nodes = tuple(
            Node(self.nodes[i].op, tuple(remap[a] for a in self.nodes[i].args),
                 self.nodes[i].type, self.nodes[i].name) for i in live)
        return Program(nodes, tuple(self.keys[i] for i in live))


def _digest(*parts: str) -> str:
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:20]


def _reachable(nodes, output: int) -> set[int]:
    seen, stack = set(), [output]
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(nodes[i].args)
    return seen


@dataclass(frozen=True)
class Program:
    """A typed DAG; ``keys[i]`` is the structural key of node i.

    The output is the last node, except in a program built with dead code kept
    (:meth:`ProgramBuilder.build` with ``keep_dead``), where ``output_index`` names it.
    """

    nodes: tuple[Node, ...]
    keys: tuple[str, ...]
    output_index: int | None = None
    dead_code_key: str | None = None

    @property
    def output(self) -> int:
        return len(self.nodes) - 1 if self.output_index is None else self.output_index

    @property
    def key(self) -> str:
        """Stable hash of the canonical form: equal programs have equal keys."""
        return self.dead_code_key or self.keys[self.output]

    @property
    def type(self) -> str:
        return self.nodes[self.output].type

    @property
    def size(self) -> int:
        """Number of distinct nodes (shared sub-expressions counted once)."""
        return len(self.nodes)

    @cached_property
    def statistics(self) -> tuple[str, ...]:
        return tuple(sorted({n.name for n in self.nodes if n.op is None}))

    def pruned(self) -> "Program":
        """The program without dead code (itself when it has none)."""
        if self.output_index is None:
            return self
        b = ProgramBuilder.__new__(ProgramBuilder)
        b.nodes, b.keys = list(self.nodes), list(self.keys)
        return b.build(self.output)

    def text(self) -> str:
        """Readable nested form, e.g. ``mul(relu_in.data, log(weight))``."""
        memo: list[str] = []
        for n in self.nodes[: self.output + 1]:
            memo.append(n.name if n.op is None else f"{n.op}({', '.join(memo[a] for a in n.args)})")
        return memo[self.output]

    def __str__(self) -> str:
        return self.text()

    # -- (de)serialisation ----------------------------------------------------------------
    def to_json(self) -> list | dict:
        nodes = [[n.name] if n.op is None else [n.op, *n.args] for n in self.nodes]
        return nodes if self.output_index is None else {"nodes": nodes, "output": self.output}

    @classmethod
    def from_json(cls, data: list, pset: PrimitiveSet) -> "Program":
        """Rebuild (and re-check) a program; PrimitiveError on any malformed entry."""
        b = ProgramBuilder(pset)
        ids: list[int] = []
        output = None
        if isinstance(data, dict):  # a program with its dead code kept
            data, output = data.get("nodes"), data.get("output")
            if not isinstance(output, int) or not isinstance(data, list) or not 0 <= output < len(data):
                raise PrimitiveError("a program with dead code needs 'nodes' and a valid 'output'")
        if not isinstance(data, list) or not data:
            raise PrimitiveError("a program is a non-empty list of nodes")
        for i, entry in enumerate(data):
            if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
                raise PrimitiveError(f"node {i}: expected [name] or [op, arg, ...], got {entry!r}")
            if len(entry) == 1 and entry[0] not in pset:
                ids.append(b.terminal(entry[0]))
                continue
            args = entry[1:]
            if not all(isinstance(a, int) and 0 <= a < i for a in args):
                raise PrimitiveError(f"node {i}: arguments must be indices of earlier nodes")
            ids.append(b.apply(entry[0], [ids[a] for a in args]))
        if output is not None:
            return b.build(ids[output], keep_dead=True)
        return b.build(ids[-1])

    def dumps(self) -> str:
        return json.dumps(self.to_json())
