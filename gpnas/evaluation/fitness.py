"""Fitness: rank correlation of a program's network scores with the networks' accuracies.

:data:`FITNESS` names the choices a run makes (``RunConfig.fitness``): plain Kendall tau or
Spearman rho, and two aimed at the size trap (programs that rank networks by their size, as
#params does): Kendall's partial tau given log(size), and Kendall tau within size strata.  The
size of a network is its conv parameter count (``net_params``).
"""

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



def partial_kendall(scores, accuracy, sizes) -> float:
    """Kendall's partial tau of scores and accuracy given log(size): what the scores rank
    beyond what size alone ranks.  (tau_sa - tau_sz tau_az) / sqrt((1 - tau_sz^2)(1 - tau_az^2));
    invalid where the scores are a function of size alone (tau_sz = +-1)."""
    t_sa = kendall(scores, accuracy)
    z = np.log(np.maximum(np.asarray(sizes, float), 1e-300))
    t_sz = float(stats.kendalltau(np.asarray(scores, float), z).statistic)
    t_az = float(stats.kendalltau(np.asarray(accuracy, float), z).statistic)
    if not (np.isfinite(t_sz) and np.isfinite(t_az)) or 1 - t_sz**2 < 1e-9 or 1 - t_az**2 < 1e-9:
        raise InvalidProgram("partial correlation undefined (scores or accuracy set by size)")
    return (t_sa - t_sz * t_az) / float(np.sqrt((1 - t_sz**2) * (1 - t_az**2)))


def stratified_kendall(scores, accuracy, sizes, strata: int = 4) -> float:
    """Kendall tau within ``strata`` equal-count bins of size, averaged weighted by each bin's
    pairs: how well the scores rank networks of about the same size."""
    scores, accuracy = np.asarray(scores, float), np.asarray(accuracy, float)
    _check(scores, accuracy)
    order = np.argsort(np.asarray(sizes, float), kind="stable")
    total = weight = 0.0
    for part in np.array_split(order, strata):
        s, a = scores[part], accuracy[part]
        if len(part) < 2 or np.ptp(s) == 0 or np.ptp(a) == 0:
            continue
        pairs = len(part) * (len(part) - 1) / 2
        total += pairs * float(stats.kendalltau(s, a).statistic)
        weight += pairs
    if weight == 0:
        raise InvalidProgram("constant score within every size stratum")
    return total / weight


#: fitness name -> f(scores, accuracy, sizes)
FITNESS = {
    "kendall": lambda s, a, z: kendall(s, a),
    "spearman": lambda s, a, z: spearman(s, a),
    "kendall-partial-size": partial_kendall,
    "kendall-size-strata": stratified_kendall,
}


#: how per-space fitnesses become one (``RunConfig.across_spaces``): the worst space (the
#: paper's), or the mean, whose noise falls with the number of spaces
ACROSS_SPACES = {
    "min": lambda per_space: min(per_space.values()),
    "mean": lambda per_space: float(np.mean(list(per_space.values()))),
}
