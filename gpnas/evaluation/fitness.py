"""Fitness: rank correlation of a program's network scores with the networks' accuracies."""

from __future__ import annotations

import numpy as np
from scipy import stats

from gpnas.evaluation.engine import InvalidProgram


def _check(scores: np.ndarray, accuracy: np.ndarray) -> None:
    if len(scores) != len(accuracy):
        raise ValueError("scores and accuracies differ in length")
    if len(scores) < 2:
        raise InvalidProgram("fewer than two networks to rank")
    if np.ptp(scores) == 0:
        raise InvalidProgram("constant score: ranks nothing")


def _correlation(statistic, name: str, scores, accuracy) -> float:
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    _check(scores, accuracy)
    value = statistic(scores, accuracy).statistic
    if not np.isfinite(value):
        raise InvalidProgram(f"{name} undefined (constant accuracies?)")
    return float(value)


def kendall(scores, accuracy) -> float:
    """Kendall tau-b (ties handled as scipy does); a constant scorer is invalid, not NaN."""
    return _correlation(stats.kendalltau, "Kendall tau", scores, accuracy)


def spearman(scores, accuracy) -> float:
    """Spearman rho; a constant scorer is invalid."""
    return _correlation(stats.spearmanr, "Spearman rho", scores, accuracy)



def min_over_spaces(per_space: dict[str, float]) -> float:
    """The paper's fitness: the worst correlation over the sampled spaces."""
    return min(per_space.values())
