"""Typed expression trees (the paper's main representation).

:class:`TreeRepresentation` is the interface the search loop uses; the modules hold one concern
each: :mod:`.genome` (the immutable :class:`Tree`, JSON/text, validation, lowering),
:mod:`.create` (ramped half-and-half), :mod:`.crossover`, :mod:`.mutation`, :mod:`.limits`.
All randomness comes from the ``numpy.random.Generator`` passed in: same seed, same trees.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

import numpy as np

from primitives import PrimitiveSet

from ..ir import Program
from . import create, crossover, mutation
from .genome import (Tree, TreeNode, canonical_text, check, from_expr, from_json, lower, parse,
                     to_json)
from .limits import DEFAULT_MAX_HEIGHT, static_limit
from .mutation import DEFAULT_WEIGHTS


class TreeRepresentation:
    """Typed expression trees: creation, variation, lowering, (de)serialisation.

    ``min_depth``/``max_depth``: height range of random trees (paper: 2..6).
    ``max_height``: static limit on children of variation (paper: 10; None for none).
    ``mutation_weights``: operator -> weight among ``subtree``, ``point``, ``shrink``, ``hoist``
    (default :data:`DEFAULT_WEIGHTS`).  ``root_type``: type of random trees' roots (default:
    drawn uniformly among all types; the engine applies ``to_scalar`` to a tensor root).
    """

    name = "tree"

    def __init__(self, pset: PrimitiveSet, min_depth: int = 2, max_depth: int = 6,
                 max_height: int | None = DEFAULT_MAX_HEIGHT,
                 mutation_weights: Mapping[str, float] | None = None,
                 root_type: str | None = None, cache_size: int = 1 << 16):
        create.check_depths(min_depth, max_depth)
        if max_height is not None and max_height < max_depth:
            raise ValueError(f"max_height {max_height} is below max_depth {max_depth}")
        if root_type is not None and root_type not in pset.min_height:
            raise ValueError(f"root_type {root_type!r} is not a type of the primitive set "
                             f"({pset.types})")
        self.pset = pset
        self.min_depth, self.max_depth = int(min_depth), int(max_depth)
        self.max_height = max_height
        self.root_type = root_type
        self._mut_names, self._mut_probs = mutation.normalize_weights(mutation_weights)
        self.mutation_weights = dict(zip(self._mut_names, map(float, self._mut_probs)))
        self._cache: OrderedDict[Tree, Program] = OrderedDict()
        self._cache_size = int(cache_size)

    def __repr__(self) -> str:
        return (f"TreeRepresentation(depth={self.min_depth}..{self.max_depth}, "
                f"max_height={self.max_height}, mutation={self.mutation_weights})")

    # -- creation / variation ---------------------------------------------------------------
    def random(self, rng: np.random.Generator) -> Tree:
        return create.half_and_half(self.pset, rng, self.min_depth, self.max_depth,
                                    self.root_type)

    def crossover(self, a: Tree, b: Tree, rng: np.random.Generator) -> Tree:
        return crossover.one_point(a, b, rng, self.max_height)

    def mutate(self, g: Tree, rng: np.random.Generator) -> Tree:
        return mutation.mutate_with(g, rng, self.pset, self._mut_names, self._mut_probs,
                                    self.max_height)

    # -- lowering and measures --------------------------------------------------------------
    def lower(self, g: Tree) -> Program:
        """The program IR of ``g``, from an LRU cache keyed by the (hashable) genome."""
        cache = self._cache
        prog = cache.get(g)
        if prog is not None:
            cache.move_to_end(g)
            return prog
        prog = lower(g, self.pset)
        cache[g] = prog
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return prog

    def size(self, g: Tree) -> int:
        return len(g)

    def height(self, g: Tree) -> int:
        return g.height

    def text(self, g: Tree) -> str:
        """Canonical text, equal to ``self.lower(g).text()``."""
        return self.lower(g).text()

    def check(self, g: Tree) -> None:
        """PrimitiveError unless ``g`` is type-correct for this primitive set."""
        check(g, self.pset)

    # -- (de)serialisation -----------------------------------------------------------------
    def to_json(self, g: Tree) -> dict:
        return to_json(g)

    def from_json(self, data: Any) -> Tree:
        return from_json(data, self.pset)

    def parse(self, text: str) -> Tree:
        return parse(text, self.pset)

    def from_program(self, program: Program) -> Tree:
        """The tree of an IR program (shared sub-expressions written out); PrimitiveError when
        it uses what this primitive set lacks."""
        exprs: list = []
        for n in program.pruned().nodes:
            exprs.append(n.name if n.op is None else [n.op, *(exprs[a] for a in n.args)])
        return from_expr(exprs[-1], self.pset)


__all__ = [
    "DEFAULT_MAX_HEIGHT", "DEFAULT_WEIGHTS", "Tree", "TreeNode", "TreeRepresentation",
    "canonical_text", "check", "from_json", "lower", "parse", "static_limit", "to_json",
]
