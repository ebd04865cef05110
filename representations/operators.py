"""Choosing a mutation operator by weight, shared by the tree and sequential representations.

Each representation keeps its own operator table (name -> function, in a fixed order) and its
default weights; :func:`normalize_weights` checks a weight mapping against that table once, and
:func:`choose` draws an operator name from the result.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np


def normalize_weights(weights: Mapping[str, float] | None, operators: Iterable[str],
                      defaults: Mapping[str, float]) -> tuple[tuple[str, ...], np.ndarray]:
    """Operator names (in the order of ``operators``) and their probabilities; missing
    operators get weight 0, ``None`` means ``defaults``.  ValueError for an unknown operator,
    a negative or non-finite weight, or no positive weight."""
    known = tuple(operators)
    weights = defaults if weights is None else dict(weights)
    unknown = sorted(set(weights) - set(known))
    if unknown:
        raise ValueError(f"unknown mutation operator(s) {unknown}; known: {sorted(known)}")
    if any(not np.isfinite(float(v)) or float(v) < 0 for v in weights.values()):
        raise ValueError(f"mutation weights must be finite and >= 0, got {weights}")
    names = tuple(n for n in known if weights.get(n, 0) > 0)
    if not names:
        raise ValueError("at least one mutation weight must be positive")
    w = np.array([float(weights[n]) for n in names], dtype=float)
    return names, w / w.sum()


def choose(names: tuple[str, ...], probs: np.ndarray, rng: np.random.Generator) -> str:
    """One name drawn by ``probs`` (from :func:`normalize_weights`); a lone name is returned
    without drawing, so the generator is not advanced."""
    return names[int(rng.choice(len(names), p=probs))] if len(names) > 1 else names[0]
