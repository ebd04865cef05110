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
                    across: Callable[[dict[str, float]], float], stop: bool = True
                    ) -> tuple[list[str], dict[str, float]]:
    """Forward selection of at most ``size`` members among ``scores`` (key -> space -> scores of
    the validation networks): start from nothing, add the program whose addition gives the best
    ensemble tau (per space, combined by ``across``), stop when no addition improves it (with
    ``stop``; without, go on to ``size`` members).  Programs that rank every space exactly as a
    chosen member does are skipped.  Ties go to the first key.  (member keys in order of
    choice, the ensemble's tau per space)."""
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
            if (value > best or not stop) and (step is None or value > step[1]):
                step = (key, value, taus)
        if step is None:
            break
        chosen.append(step[0])
        best, best_taus = step[1], step[2]
    return chosen, best_taus


#: how often the validation networks are split anew into folds by :func:`cv_ensemble_size`
CV_REPEATS = 4


def cv_ensemble_size(scores: Mapping[str, Mapping[str, np.ndarray]],
                     accuracy: Mapping[str, np.ndarray], size: int,
                     across: Callable[[dict[str, float]], float], folds: int,
                     rng: np.random.Generator) -> tuple[int, list[float], list[float]]:
    """The ensemble size, by cross-validation on the validation networks: ``CV_REPEATS``
    times, each space's networks are split into ``folds`` parts; on all parts but one, members
    are chosen greedily up to ``size``; on the part left out, the ensembles of the first 1,
    2, ... members are scored (tau per space, combined by ``across``).  The size is the
    smallest whose mean held-out score is within one standard error of the best size's (the
    one-standard-error rule: on a noisy plateau, the fewer members).  (that size, the mean
    held-out score of each size 1..``size``, its standard error)."""
    held_scores: list[list[float]] = [[] for _ in range(size)]
    spaces = list(accuracy)
    for _ in range(CV_REPEATS):
        parts = {sp: np.array_split(rng.permutation(len(accuracy[sp])), folds) for sp in spaces}
        for f in range(folds):
            held = {sp: parts[sp][f] for sp in spaces}
            kept = {sp: np.concatenate([p for i, p in enumerate(parts[sp]) if i != f])
                    for sp in spaces}
            path, _ = greedy_ensemble(
                {k: {sp: s[kept[sp]] for sp, s in per.items()} for k, per in scores.items()},
                {sp: accuracy[sp][kept[sp]] for sp in spaces}, size, across, stop=False)
            # the held-out log ranks of each member once; the first m members' ensemble is
            # their running sum
            prefix = {sp: np.cumsum([log_ranks(scores[k][sp][held[sp]]) for k in path], axis=0)
                      for sp in spaces}
            for m in range(len(path)):
                try:
                    taus = {sp: kendall(prefix[sp][m], accuracy[sp][held[sp]]) for sp in spaces}
                except InvalidProgram:
                    continue
                held_scores[m].append(across(taus))
    means = [float(np.mean(h)) if h else -np.inf for h in held_scores]
    errors = [float(np.std(h) / np.sqrt(len(h))) if h else np.inf for h in held_scores]
    best = int(np.argmax(means))
    chosen = next(m for m in range(size) if means[m] >= means[best] - errors[best])
    return chosen + 1, means, errors
