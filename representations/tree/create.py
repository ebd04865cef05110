"""Random creation of typed trees: grow, full and ramped half-and-half (Koza; DEAP's semantics).

Creation never fails.  At a node that must produce type ``t`` with ``r`` levels left below it,
only an (op, signature) whose every input type can be finished in ``r - 1`` levels
(``pset.min_height[input] <= r - 1``) is a candidate; a terminal is used when the method says
stop (or no candidate op exists).  Starting from ``min_height[root] <= height`` this keeps the
invariant ``min_height[t] <= r`` at every node, so a type without terminals (``scalar``) is never
requested where no level is left.

Heights count edges: a lone statistic has height 0.  ``min_depth``/``max_depth`` bound the
height drawn for a tree (DEAP's ``min_``/``max_``; the paper uses 2..6).
"""

from __future__ import annotations

import numpy as np

from primitives import PrimitiveSet, Signature, Op

from .genome import Tree, TreeNode

GROW = "grow"
FULL = "full"


def terminal_ratio(pset: PrimitiveSet) -> float:
    """DEAP's ``terminalRatio``: share of terminals among terminals and typed primitives."""
    n_terms = len(pset.terminals)
    n_prims = sum(len(op.signatures) for op in pset.ops)
    return n_terms / (n_terms + n_prims)


def fitting_producers(pset: PrimitiveSet, t: str, levels: int) -> list[tuple[Op, Signature]]:
    """(op, signature) pairs producing ``t`` whose inputs can be finished in ``levels - 1``."""
    if levels <= 0:
        return []
    mh = pset.min_height
    return [(op, sig) for op, sig in pset.producers(t)
            if all(mh[x] <= levels - 1 for x in sig.inputs)]


def generate(pset: PrimitiveSet, rng: np.random.Generator, root_type: str, height: int,
             method: str = GROW, min_depth: int = 0,
             terminal_prob: float | None = None) -> Tree:
    """One tree of type ``root_type`` and height at most ``height`` (raised to the type's
    ``min_height`` if lower).

    ``full``: every branch goes down to ``height`` (where the types allow it).
    ``grow``: below ``min_depth`` ops are preferred; from there a node becomes a terminal with
    probability ``terminal_prob`` (default: :func:`terminal_ratio`), as in DEAP's genGrow.
    """
    if method not in (GROW, FULL):
        raise ValueError(f"method must be {GROW!r} or {FULL!r}, got {method!r}")
    if root_type not in pset.min_height:
        raise ValueError(f"type {root_type!r} cannot be produced by this primitive set "
                         f"(types: {pset.types})")
    height = max(int(height), pset.min_height[root_type])
    p_stop = terminal_ratio(pset) if terminal_prob is None else float(terminal_prob)
    grow = method == GROW
    terms_of: dict[str, list[str]] = {}

    nodes: list[TreeNode] = []
    stack: list[tuple[str, int]] = [(root_type, 0)]  # (type, depth), next node on top
    while stack:
        t, d = stack.pop()
        r = height - d
        if t not in terms_of:
            terms_of[t] = pset.terminals_of(t)
        terms = terms_of[t]
        ops = fitting_producers(pset, t, r)
        stop = r <= 0 or (grow and d >= min_depth and rng.random() < p_stop)
        if terms and (stop or not ops):
            nodes.append(TreeNode(terms[int(rng.integers(len(terms)))], t, 0))
        else:
            # min_height[t] <= r holds here, so with no terminal at least one op fits
            assert ops, f"no way to produce {t!r} in {r} level(s) (min_height invariant broken)"
            op, sig = ops[int(rng.integers(len(ops)))]
            nodes.append(TreeNode(op.name, t, len(sig.inputs)))
            for it in reversed(sig.inputs):
                stack.append((it, d + 1))
    return Tree(nodes)


def grow(pset, rng, root_type, min_depth, max_depth, terminal_prob=None) -> Tree:
    """DEAP genGrow: height drawn in [min_depth, max_depth], branches may stop from min_depth."""
    height = int(rng.integers(min_depth, max_depth + 1))
    return generate(pset, rng, root_type, height, GROW, min_depth, terminal_prob)


def full(pset, rng, root_type, min_depth, max_depth) -> Tree:
    """DEAP genFull: height drawn in [min_depth, max_depth], every branch reaches it."""
    height = int(rng.integers(min_depth, max_depth + 1))
    return generate(pset, rng, root_type, height, FULL)


def half_and_half(pset: PrimitiveSet, rng: np.random.Generator, min_depth: int = 2,
                  max_depth: int = 6, root_type: str | None = None,
                  terminal_prob: float | None = None) -> Tree:
    """Ramped half-and-half: grow or full (even odds) with a height drawn in
    [min_depth, max_depth].  ``root_type=None`` draws the root type uniformly among all types
    the primitive set can produce (the engine applies ``to_scalar`` to a tensor root).
    """
    check_depths(min_depth, max_depth)
    if root_type is None:
        types = pset.types
        root_type = types[int(rng.integers(len(types)))]
    if rng.random() < 0.5:
        return grow(pset, rng, root_type, min_depth, max_depth, terminal_prob)
    return full(pset, rng, root_type, min_depth, max_depth)


def check_depths(min_depth: int, max_depth: int) -> None:
    if not (isinstance(min_depth, (int, np.integer)) and isinstance(max_depth, (int, np.integer))):
        raise ValueError("min_depth and max_depth must be integers")
    if not 0 <= min_depth <= max_depth:
        raise ValueError(f"need 0 <= min_depth <= max_depth, got {min_depth}..{max_depth}")
