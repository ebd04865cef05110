"""One-point subtree crossover for typed trees (DEAP ``cxOnePoint``, first child only).

A type is drawn uniformly among the output types that occur at a non-root node of *both*
parents; a node of that type is drawn uniformly in each parent, and the child is the first
parent with its subtree replaced by the second parent's.  The paper keeps the first child.
"""

from __future__ import annotations

import numpy as np

from .genome import Tree
from .limits import static_limit


def crossover_points(tree: Tree) -> dict[str, list[int]]:
    """Non-root node indices of ``tree`` by output type."""
    points: dict[str, list[int]] = {}
    for i in range(1, len(tree)):
        points.setdefault(tree.nodes[i].type, []).append(i)
    return points


def one_point(a: Tree, b: Tree, rng: np.random.Generator,
              max_height: int | None = None) -> Tree:
    """The first child of a typed one-point crossover of ``a`` and ``b``.

    Returns ``a`` itself (trees are immutable: that is the copy) when no non-root point of a
    common type exists, or when the child would be taller than ``max_height``.
    """
    pa, pb = crossover_points(a), crossover_points(b)
    common = sorted(set(pa) & set(pb))  # sorted: independent of string hashing
    if not common:
        return a
    t = common[int(rng.integers(len(common)))]
    i = pa[t][int(rng.integers(len(pa[t])))]
    j = pb[t][int(rng.integers(len(pb[t])))]
    return static_limit(a.replace(i, b.subtree(j)), a, max_height)
