"""Rank ensembles of NASMs: the members' log ranks summed, as AZ-NAS combines its proxies, and
the greedy choice of the members on validation networks.

A network's ensemble score is ``sum_m log(rank_m / n)`` over the members m, where ``rank_m`` is
its rank (1 = lowest, ties averaged) among the ``n`` networks scored together by member m; NaN
scores rank lowest.  The score of one network therefore depends on the networks it is ranked
with: an ensemble ranks a set of networks, it does not score one alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy import stats

from gpnas.evaluation.engine import InvalidProgram
from gpnas.evaluation.fitness import kendall


def log_ranks(scores) -> np.ndarray:
    """log(rank / n) of each score among ``scores`` (ties averaged, NaN lowest)."""
    s = np.asarray(scores, dtype=float)
    s = np.where(np.isnan(s), -np.inf, s)
    return np.log(stats.rankdata(s) / len(s))


def rank_ensemble(members: Sequence) -> np.ndarray:
    """The ensemble score of each network: its members' log ranks summed."""
    return np.sum([log_ranks(m) for m in members], axis=0)


def greedy_ensemble(scores: Mapping[str, Mapping[str, np.ndarray]],
                    accuracy: Mapping[str, np.ndarray], size: int,
                    across: Callable[[dict[str, float]], float]
                    ) -> tuple[list[str], dict[str, float]]:
    """Forward selection of at most ``size`` members among ``scores`` (key -> space -> scores of
    the validation networks): start from nothing, add the program whose addition gives the best
    ensemble tau (per space, combined by ``across``), stop when no addition improves it.
    Programs that rank every space exactly as a chosen member does are skipped.  Ties go to the
    first key.  (member keys in order of choice, the ensemble's tau per space)."""
    logs = {key: {sp: log_ranks(s) for sp, s in per.items()} for key, per in scores.items()}
    chosen: list[str] = []
    best, best_taus = -np.inf, {}
    while len(chosen) < size:
        step = None
        for key, per in logs.items():
            if key in chosen or any(all(np.array_equal(per[sp], logs[c][sp]) for sp in per)
                                    for c in chosen):
                continue
            try:
                taus = {sp: kendall(np.sum([logs[c][sp] for c in chosen] + [lr], axis=0),
                                    accuracy[sp]) for sp, lr in per.items()}
            except InvalidProgram:
                continue
            value = across(taus)
            if value > best and (step is None or value > step[1]):
                step = (key, value, taus)
        if step is None:
            break
        chosen.append(step[0])
        best, best_taus = step[1], step[2]
    return chosen, best_taus
