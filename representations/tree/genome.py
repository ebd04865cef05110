"""The tree genome: an immutable, hashable, typed expression tree in prefix (Polish) order.

A :class:`Tree` is a tuple of :class:`TreeNode` ``(name, type, arity)`` in prefix order: an op
node is followed by its argument subtrees, left to right; a terminal (a network statistic) has
arity 0.  Storing the output type and arity in every node makes the genome self-describing:
size, height, subtree slicing and text need no primitive set.  Type-correctness *against* a
primitive set is checked by :func:`check` and guaranteed by every reader (:func:`from_json`,
:func:`parse`) and every creation/variation operator of this package.

JSON form (:func:`to_json`): ``{"repr": "tree", "expr": E}`` where ``E`` is nested:
a statistic is its name (``"weight"``), an application is ``[op, E1, ..., En]``, e.g.
``["mul", "relu_in.data", ["log", "weight"]]``.  :func:`from_json` also accepts a bare ``E``.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, NamedTuple, Sequence

from primitives import PrimitiveError, PrimitiveSet

from ..ir import Program, ProgramBuilder

JSON_TAG = "tree"
#: nesting deeper than this is refused by the readers (a guard against hostile input, far
#: above any height a search produces)
MAX_READ_DEPTH = 200


class TreeNode(NamedTuple):
    """One node: an op (``arity >= 1``) or a statistic (``arity == 0``) and its output type."""

    name: str
    type: str
    arity: int = 0

    @property
    def is_terminal(self) -> bool:
        return self.arity == 0


class Tree:
    """An immutable typed expression tree stored in prefix order.

    ``nodes[i]`` is the root of the subtree ``nodes[i:end(i)]``.  Trees compare and hash by
    their node sequence, so they can key caches (the lowering cache, fitness caches).
    """

    __slots__ = ("nodes", "_ends", "_heights", "_hash", "_depths")

    def __init__(self, nodes: Sequence[TreeNode | tuple]):
        nodes = tuple(n if isinstance(n, TreeNode) else TreeNode(*n) for n in nodes)
        if not nodes:
            raise PrimitiveError("a tree needs at least one node")
        n = len(nodes)
        ends = [0] * n
        heights = [0] * n
        stack: list[int] = []  # roots of finished subtrees, the next argument on top
        for i in range(n - 1, -1, -1):
            k = nodes[i].arity
            if not isinstance(k, int) or k < 0:
                raise PrimitiveError(f"node {i} ({nodes[i].name!r}): bad arity {k!r}")
            if len(stack) < k:
                raise PrimitiveError(
                    f"node {i} ({nodes[i].name!r}) needs {k} argument(s), "
                    f"only {len(stack)} follow it")
            if k == 0:
                ends[i], heights[i] = i + 1, 0
            else:
                kids = [stack.pop() for _ in range(k)]
                ends[i] = ends[kids[-1]]
                heights[i] = 1 + max(heights[c] for c in kids)
            stack.append(i)
        if len(stack) != 1:
            raise PrimitiveError(
                f"the nodes form {len(stack)} trees, not one (too many nodes for the arities)")
        _set = object.__setattr__
        _set(self, "nodes", nodes)
        _set(self, "_ends", tuple(ends))
        _set(self, "_heights", tuple(heights))
        _set(self, "_hash", hash(nodes))
        _set(self, "_depths", None)

    # -- immutability / value semantics ---------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Tree is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Tree is immutable")

    def __reduce__(self):
        return (Tree, (self.nodes,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tree):
            return NotImplemented
        return self._hash == other._hash and self.nodes == other.nodes

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self.nodes)

    def __iter__(self) -> Iterator[TreeNode]:
        return iter(self.nodes)

    def __getitem__(self, i: int) -> TreeNode:
        return self.nodes[i]

    def __repr__(self) -> str:
        return f"Tree({self.text()!r})"

    def __str__(self) -> str:
        return self.text()

    # -- shape ------------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of nodes (shared sub-expressions counted every time they occur)."""
        return len(self.nodes)

    @property
    def height(self) -> int:
        """Edges on the longest root-to-leaf path (a lone statistic has height 0)."""
        return self._heights[0]

    @property
    def type(self) -> str:
        """Output type of the root."""
        return self.nodes[0].type

    def end(self, i: int) -> int:
        """One past the last node of the subtree rooted at ``i``."""
        return self._ends[i]

    def subtree_height(self, i: int) -> int:
        return self._heights[i]

    def depth(self, i: int) -> int:
        """Edges from the root to node ``i``."""
        return self.depths[i]

    @property
    def depths(self) -> tuple[int, ...]:
        if self._depths is None:
            depths = [0] * len(self.nodes)
            for i in range(len(self.nodes)):
                for c in self.children(i):
                    depths[c] = depths[i] + 1
            object.__setattr__(self, "_depths", tuple(depths))
        return self._depths

    def children(self, i: int) -> list[int]:
        """Indices of the argument roots of node ``i``, left to right."""
        out, j = [], i + 1
        for _ in range(self.nodes[i].arity):
            out.append(j)
            j = self._ends[j]
        return out

    def subtree(self, i: int) -> "Tree":
        """The subtree rooted at node ``i`` as a tree of its own."""
        if i == 0:
            return self
        return Tree(self.nodes[i:self._ends[i]])

    def replace(self, i: int, sub: "Tree") -> "Tree":
        """A new tree with the subtree at ``i`` replaced by ``sub`` (types are not checked)."""
        return Tree(self.nodes[:i] + sub.nodes + self.nodes[self._ends[i]:])

    # -- text / JSON ------------------------------------------------------------------------
    def text(self) -> str:
        """The nested form as written, e.g. ``mul(relu_in.data, log(weight))``.

        This is the *genotype's* text: arguments of commutative ops keep their order.  The
        canonical text (the same as ``Program.text()`` of the lowering) is
        :func:`canonical_text`.
        """
        stack: list[str] = []
        for node in reversed(self.nodes):
            if node.arity == 0:
                stack.append(node.name)
            else:
                args = [stack.pop() for _ in range(node.arity)]
                stack.append(f"{node.name}({', '.join(args)})")
        return stack[0]

    def expr(self) -> str | list:
        """The nested JSON expression (see the module docstring)."""
        stack: list[str | list] = []
        for node in reversed(self.nodes):
            if node.arity == 0:
                stack.append(node.name)
            else:
                stack.append([node.name, *(stack.pop() for _ in range(node.arity))])
        return stack[0]

    def to_json(self) -> dict:
        return to_json(self)


# -- validation ---------------------------------------------------------------------------
def _op_node(pset: PrimitiveSet, name: Any, child_types: tuple[str, ...], where: str) -> TreeNode:
    if not isinstance(name, str):
        raise PrimitiveError(f"{where}: an op name must be a string, got {name!r}")
    if name not in pset:
        if name in pset.terminals:
            raise PrimitiveError(
                f"{where}: {name!r} is a statistic, not an op; it takes no arguments")
        raise PrimitiveError(f"{where}: unknown op {name!r}; known ops: {', '.join(sorted(o.name for o in pset.ops))}")
    op = pset[name]
    if len(child_types) != op.arity:
        raise PrimitiveError(
            f"{where}: op {name!r} takes {op.arity} argument(s), got {len(child_types)}")
    out = op.output_type(child_types)
    if out is None:
        accepted = "; ".join(str(s) for s in op.signatures)
        raise PrimitiveError(
            f"{where}: type mismatch: op {name!r} does not take ({', '.join(child_types)}); "
            f"it accepts {accepted}")
    return TreeNode(name, out, op.arity)


def _terminal_node(pset: PrimitiveSet, name: Any, where: str) -> TreeNode:
    if not isinstance(name, str):
        raise PrimitiveError(f"{where}: expected a statistic name or [op, args...], got {name!r}")
    if name not in pset.terminals:
        if name in pset:
            raise PrimitiveError(
                f"{where}: {name!r} is an op of arity {pset[name].arity}; write it as "
                f"[{name!r}, arg, ...]")
        raise PrimitiveError(
            f"{where}: unknown statistic {name!r}; known statistics: {', '.join(pset.terminals)}")
    return TreeNode(name, pset.terminals[name], 0)


def check(tree: Tree, pset: PrimitiveSet) -> None:
    """Raise :class:`PrimitiveError` unless every node agrees with ``pset``.

    Terminals must be statistics of the stated type; every op node must exist, have the op's
    arity, and its argument types must match one of the op's signatures with the stated
    output type.
    """
    for i, node in enumerate(tree.nodes):
        where = f"node {i} ({node.name!r})"
        if node.arity == 0:
            expect = _terminal_node(pset, node.name, where)
        else:
            kids = tuple(tree.nodes[c].type for c in tree.children(i))
            expect = _op_node(pset, node.name, kids, where)
        if expect != node:
            raise PrimitiveError(
                f"{where}: stored as {tuple(node)}, the primitive set says {tuple(expect)}")


def from_expr(expr: Any, pset: PrimitiveSet) -> Tree:
    """Build a type-checked tree from the nested expression form."""
    nodes: list[TreeNode] = []

    def build(e: Any, path: str, depth: int) -> str:
        if depth > MAX_READ_DEPTH:
            raise PrimitiveError(f"at {path}: nested deeper than {MAX_READ_DEPTH}")
        if isinstance(e, list):
            if not e:
                raise PrimitiveError(f"at {path}: empty list; expected [op, arg, ...]")
            slot = len(nodes)
            nodes.append(None)  # type: ignore[arg-type]  # filled once the args are known
            kinds = tuple(build(a, f"{path}/{k + 1}", depth + 1) for k, a in enumerate(e[1:]))
            if len(kinds) == 0 and isinstance(e[0], str) and e[0] in pset.terminals:
                raise PrimitiveError(
                    f"at {path}: write the statistic {e[0]!r} as a plain string, not a list")
            nodes[slot] = _op_node(pset, e[0], kinds, f"at {path}")
            return nodes[slot].type
        node = _terminal_node(pset, e, f"at {path}")
        nodes.append(node)
        return node.type

    build(expr, "root", 0)
    return Tree(nodes)


def to_json(tree: Tree) -> dict:
    return {"repr": JSON_TAG, "expr": tree.expr()}


def from_json(data: Any, pset: PrimitiveSet) -> Tree:
    """Read :func:`to_json` output (or a bare nested expression); fully validated."""
    if isinstance(data, dict):
        if data.get("repr", JSON_TAG) != JSON_TAG:
            raise PrimitiveError(f"not a tree genome: repr is {data.get('repr')!r}, expected 'tree'")
        if "expr" not in data:
            raise PrimitiveError("a tree genome needs an 'expr' entry")
        unknown = sorted(set(data) - {"repr", "expr"})
        if unknown:
            raise PrimitiveError(f"unknown key(s) in a tree genome: {unknown}")
        data = data["expr"]
    return from_expr(data, pset)


_TOKEN = re.compile(r"\s*(?:([A-Za-z_][A-Za-z0-9_.]*)|([(),]))")


def parse(text: str, pset: PrimitiveSet) -> Tree:
    """Read the text form, e.g. ``mul(relu_in.data, log(weight))``; fully validated."""
    tokens: list[str] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise PrimitiveError(f"cannot read {text[pos:pos + 20]!r} at character {pos}")
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    at = 0

    def expr(depth: int) -> Any:
        nonlocal at
        if depth > MAX_READ_DEPTH:
            raise PrimitiveError(f"nested deeper than {MAX_READ_DEPTH}")
        if at >= len(tokens) or tokens[at] in "(),":
            got = tokens[at] if at < len(tokens) else "the end"
            raise PrimitiveError(f"expected a name, got {got!r} (token {at})")
        name = tokens[at]
        at += 1
        if at < len(tokens) and tokens[at] == "(":
            at += 1
            args = [expr(depth + 1)]
            while at < len(tokens) and tokens[at] == ",":
                at += 1
                args.append(expr(depth + 1))
            if at >= len(tokens) or tokens[at] != ")":
                raise PrimitiveError(f"expected ')' or ',' after the arguments of {name!r}")
            at += 1
            return [name, *args]
        return name

    e = expr(0)
    if at != len(tokens):
        raise PrimitiveError(f"unexpected {tokens[at]!r} after a complete expression")
    return from_expr(e, pset)


# -- lowering -----------------------------------------------------------------------------
def lower(tree: Tree, pset: PrimitiveSet) -> Program:
    """The shared program IR of ``tree``: a hash-consed DAG (equal subtrees become one node)."""
    b = ProgramBuilder(pset)
    stack: list[int] = []
    for node in reversed(tree.nodes):
        if node.arity == 0:
            stack.append(b.terminal(node.name))
        else:
            stack.append(b.apply(node.name, [stack.pop() for _ in range(node.arity)]))
    return b.build(stack[0])


def canonical_text(tree: Tree, pset: PrimitiveSet) -> str:
    """Canonical text: ``Program.text()`` of the lowering (commutative arguments sorted)."""
    return lower(tree, pset).text()
