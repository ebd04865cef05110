"""Mutation operators for typed trees.  Every operator keeps every node's type.

* ``subtree`` (DEAP ``mutUniform`` with ``genFull(min_=0, max_=2)``): a random node's subtree is
  replaced by a new full tree of the same type and height 0..2 (raised to the type's minimum).
* ``point`` (``mutNodeReplacement``): one op is replaced by another op that takes the same
  argument types to the same output type, or one statistic by another of the same type.
* ``shrink`` (``mutShrink``): an op node is replaced by one of its arguments of the same type.
* ``hoist``: a proper subtree becomes the whole tree; by default only one of the root's type,
  so the program's output type never changes.

The operator functions return ``None`` when they cannot apply to a tree (no candidate node);
:func:`mutate` then falls back to ``subtree``, which always applies, so a mutation is always a
mutation.  Shrink and hoist only ever make trees smaller: with ``point`` they are the bloat
control operators.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from primitives import PrimitiveSet

from .. import operators
from .create import FULL, generate
from .genome import Tree, TreeNode
from .limits import static_limit

SUBTREE, POINT, SHRINK, HOIST = "subtree", "point", "shrink", "hoist"

DEFAULT_WEIGHTS: dict[str, float] = {SUBTREE: 0.5, POINT: 0.2, SHRINK: 0.15, HOIST: 0.15}

#: height range of the replacement tree in subtree mutation (DEAP genFull min_=0, max_=2)
SUBTREE_MIN_HEIGHT, SUBTREE_MAX_HEIGHT = 0, 2


def subtree_mutation(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet,
                     min_height: int = SUBTREE_MIN_HEIGHT,
                     max_height: int = SUBTREE_MAX_HEIGHT) -> Tree:
    """Replace the subtree at a uniformly drawn node by a fresh full tree of its type."""
    i = int(rng.integers(len(tree)))
    height = int(rng.integers(min_height, max_height + 1))
    new = generate(pset, rng, tree.nodes[i].type, height, FULL)
    return tree.replace(i, new)


def _alternatives(tree: Tree, i: int, pset: PrimitiveSet) -> list[TreeNode]:
    node = tree.nodes[i]
    if node.arity == 0:
        return [TreeNode(name, node.type, 0) for name in pset.terminals_of(node.type)
                if name != node.name]
    kids = tuple(tree.nodes[c].type for c in tree.children(i))
    return [TreeNode(op.name, node.type, node.arity) for op in pset.ops
            if op.name != node.name and op.arity == node.arity
            and op.output_type(kids) == node.type]


def point_mutation(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet) -> Tree | None:
    """Replace one node by a different op/statistic of the same signature/type."""
    options = [(i, alts) for i in range(len(tree)) if (alts := _alternatives(tree, i, pset))]
    if not options:
        return None
    i, alts = options[int(rng.integers(len(options)))]
    nodes = list(tree.nodes)
    nodes[i] = alts[int(rng.integers(len(alts)))]
    return Tree(nodes)


def shrink_mutation(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet | None = None
                    ) -> Tree | None:
    """Replace an op node (the root included) by one of its same-typed argument subtrees."""
    options = []
    for i, node in enumerate(tree.nodes):
        if node.arity:
            same = [c for c in tree.children(i) if tree.nodes[c].type == node.type]
            if same:
                options.append((i, same))
    if not options:
        return None
    i, same = options[int(rng.integers(len(options)))]
    j = same[int(rng.integers(len(same)))]
    return tree.replace(i, tree.subtree(j))


def hoist_mutation(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet | None = None,
                   same_type: bool = True) -> Tree | None:
    """A proper subtree (of the root's type unless ``same_type=False``) becomes the tree."""
    options = [i for i in range(1, len(tree))
               if not same_type or tree.nodes[i].type == tree.type]
    if not options:
        return None
    return tree.subtree(options[int(rng.integers(len(options)))])


OPERATORS: dict[str, Callable[..., Tree | None]] = {
    SUBTREE: subtree_mutation,
    POINT: point_mutation,
    SHRINK: shrink_mutation,
    HOIST: hoist_mutation,
}


def normalize_weights(weights: Mapping[str, float] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Operator names and their probabilities; missing operators get weight 0."""
    return operators.normalize_weights(weights, OPERATORS, DEFAULT_WEIGHTS)


def mutate(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet,
           weights: Mapping[str, float] | None = None,
           max_height: int | None = None) -> Tree:
    """Apply one operator drawn by ``weights`` (default :data:`DEFAULT_WEIGHTS`).

    An operator that cannot apply falls back to subtree mutation.  A child taller than
    ``max_height`` is replaced by the parent (static limit).
    """
    names, probs = normalize_weights(weights)
    return mutate_with(tree, rng, pset, names, probs, max_height)


def mutate_with(tree: Tree, rng: np.random.Generator, pset: PrimitiveSet,
                names: tuple[str, ...], probs: np.ndarray, max_height: int | None = None) -> Tree:
    """:func:`mutate` with weights already checked by :func:`normalize_weights`."""
    op = OPERATORS[operators.choose(names, probs, rng)]
    child = op(tree, rng, pset)
    if child is None:
        child = subtree_mutation(tree, rng, pset)
    return static_limit(child, tree, max_height)
