"""Selection operators.  Fitness None (an invalid program) loses to any valid one.

With ``parsimony`` the comparison key is (fitness, -size): among equal fitness the smaller
program wins (lexicographic parsimony pressure, a bloat control).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def sort_key(fitness: float | None, size: int, parsimony: bool) -> tuple[float, float]:
    f = -np.inf if fitness is None else fitness
    return (f, -size if parsimony else 0)


def top_k(fitness: Sequence[float | None], sizes: Sequence[int], k: int,
          parsimony: bool) -> list[int]:
    """Indices of the k best, best first (stable: earlier index wins a full tie)."""
    order = sorted(range(len(fitness)), key=lambda i: sort_key(fitness[i], sizes[i], parsimony),
                   reverse=True)
    return order[:k]


def tournament(fitness, sizes, k: int, size: int, rng: np.random.Generator,
               parsimony: bool) -> list[int]:
    """k winners of tournaments of ``size`` individuals drawn with replacement."""
    winners = []
    for _ in range(k):
        aspirants = rng.integers(0, len(fitness), size=size)
        winners.append(int(max(aspirants, key=lambda i: sort_key(fitness[i], sizes[i], parsimony))))
    return winners


def double_tournament(fitness, sizes, k: int, size: int, rng: np.random.Generator,
                      parsimony_size: float = 1.4) -> list[int]:
    """Luke & Panait's double tournament, fitness first: two fitness-tournament winners meet
    in a size tournament where the smaller wins with probability parsimony_size / 2."""
    winners = []
    for _ in range(k):
        a, b = tournament(fitness, sizes, 2, size, rng, parsimony=False)
        if sizes[a] > sizes[b]:
            a, b = b, a
        winners.append(a if rng.random() < parsimony_size / 2 else b)
    return winners
