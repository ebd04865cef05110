"""Which networks score the programs of a generation: drawn once per generation from the run's
RNG, shared by every program of that generation."""

from __future__ import annotations

import numpy as np


def sample_nets(rng: np.random.Generator, spaces: list[str], pool_sizes: dict[str, int],
                s: int = 4, k: int = 20) -> dict[str, np.ndarray]:
    """Choose ``s`` spaces (all when fewer) and ``k`` networks of each, from the run's RNG.

    With fewer spaces than ``s``, every space is used (the paper draws 4 of 8).
    """
    chosen = list(spaces) if len(spaces) <= s else list(rng.choice(spaces, size=s, replace=False))
    return {sp: np.sort(rng.choice(pool_sizes[sp], size=min(k, pool_sizes[sp]), replace=False))
            for sp in sorted(chosen)}
