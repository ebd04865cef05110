"""Rank ensembles: log ranks, and the greedy choice of members on validation networks."""

import numpy as np
import pytest
from scipy import stats

from gpnas.evaluation.ensemble import (cv_ensemble_size, greedy_ensemble, log_ranks,
                                       rank_ensemble)
from gpnas.evaluation.fitness import ACROSS_SPACES


def tau(a, b):
    return stats.kendalltau(a, b).statistic


def test_log_ranks_average_ties_and_put_nan_lowest():
    r = log_ranks([3.0, np.nan, 1.0, 3.0])
    assert r == pytest.approx(np.log(np.array([3.5, 1, 2, 3.5]) / 4))
    assert r.max() <= 0
    x = np.random.default_rng(0).normal(size=50)
    assert tau(rank_ensemble([x]), x) == pytest.approx(1.0)  # one member ranks as it does
    assert tau(rank_ensemble([x, np.exp(x)]), x) == pytest.approx(1.0)  # ranks, not values


def _complementary(n=300, seed=0):
    """Accuracy driven by two factors; each scorer sees one of them."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    acc = a + b
    return acc, {"sees-a": a + 0.3 * rng.normal(size=n), "sees-b": b + 0.3 * rng.normal(size=n),
                 "noise": rng.normal(size=n)}


def test_greedy_ensemble_joins_complementary_programs_and_skips_noise_and_twins():
    acc, s = _complementary()
    scores = {k: {"sp": v} for k, v in s.items()}
    scores["twin-of-a"] = {"sp": np.exp(s["sees-a"])}  # ranks exactly as sees-a
    keys, taus = greedy_ensemble(scores, {"sp": acc}, 4, ACROSS_SPACES["min"])
    assert sorted(keys) == ["sees-a", "sees-b"]  # noise does not help, the twin is skipped
    singles = [tau(s[k], acc) for k in ("sees-a", "sees-b")]
    assert taus["sp"] > max(singles) + 0.1
    assert taus["sp"] == pytest.approx(tau(rank_ensemble([s[k] for k in keys]), acc))
    one, taus1 = greedy_ensemble(scores, {"sp": acc}, 1, ACROSS_SPACES["min"])
    assert one == [max(("sees-a", "sees-b"), key=lambda k: tau(s[k], acc))]
    assert taus1["sp"] == pytest.approx(max(singles))


def test_greedy_ensemble_combines_spaces_as_told():
    acc1, s1 = _complementary(seed=1)
    acc2, s2 = _complementary(seed=2)
    noise = np.random.default_rng(3).normal(size=len(acc2))
    # "sharp" ranks space x perfectly and space y poorly; "fair" ranks both fairly
    scores = {"sharp": {"x": acc1, "y": acc2 + 4 * noise},
              "fair": {"x": s1["sees-a"], "y": s2["sees-a"]}}
    accuracy = {"x": acc1, "y": acc2}
    t = {k: {sp: tau(v, accuracy[sp]) for sp, v in per.items()} for k, per in scores.items()}
    assert min(t["sharp"].values()) < min(t["fair"].values())
    assert np.mean(list(t["sharp"].values())) > np.mean(list(t["fair"].values()))
    assert greedy_ensemble(scores, accuracy, 1, ACROSS_SPACES["min"])[0] == ["fair"]
    assert greedy_ensemble(scores, accuracy, 1, ACROSS_SPACES["mean"])[0] == ["sharp"]
    assert greedy_ensemble({}, accuracy, 3, ACROSS_SPACES["min"]) == ([], {})


def test_greedy_ensemble_without_stop_goes_on_to_size():
    acc, s = _complementary()
    scores = {k: {"sp": v} for k, v in s.items()}
    keys, _ = greedy_ensemble(scores, {"sp": acc}, 3, ACROSS_SPACES["min"], stop=False)
    assert sorted(keys[:2]) == ["sees-a", "sees-b"] and keys[2] == "noise"


def _many(n, seed, good=("sees-a", "sees-b"), noise=6):
    """Complementary scorers of one space, weaker than in _complementary, and noisy ones."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=n), rng.normal(size=n)
    scores = {"sees-a": a + 0.8 * rng.normal(size=n), "sees-b": b + 0.8 * rng.normal(size=n)}
    scores = {k: v for k, v in scores.items() if k in good}
    scores.update({f"noise{i}": rng.normal(size=n) for i in range(noise)})
    return a + b, {k: {"sp": v} for k, v in scores.items()}


def test_cv_ensemble_size_keeps_members_that_help_on_unseen_networks():
    acc, scores = _many(120, seed=4)
    across = ACROSS_SPACES["mean"]
    size, means, errors = cv_ensemble_size(scores, {"sp": acc}, 5, across, 5,
                                           np.random.default_rng(0))
    assert size == 2 and len(means) == len(errors) == 5
    assert means[1] > means[0] + errors[1]  # the second member helps beyond the noise
    assert means[1] > max(means[2:])  # noise members hurt unseen networks
    again = cv_ensemble_size(scores, {"sp": acc}, 5, across, 5, np.random.default_rng(0))
    assert again == (size, means, errors)  # the folds come from the generator


def test_cv_ensemble_size_stops_at_one_where_more_members_only_fit_noise():
    # one real scorer: a greedy choice on the whole set still adds noise members that happen
    # to raise the tau of these few networks, cross-validation sees that they do not generalise
    acc, scores = _many(60, seed=5, good=("sees-a",), noise=30)
    across = ACROSS_SPACES["mean"]
    greedy, _ = greedy_ensemble(scores, {"sp": acc}, 4, across)
    assert len(greedy) > 1
    size, means, errors = cv_ensemble_size(scores, {"sp": acc}, 4, across, 5,
                                           np.random.default_rng(1))
    assert size == 1 and means[0] == max(means)


def test_cv_ensemble_size_takes_the_fewest_members_within_one_standard_error():
    # a third member that adds a little signal: the best mean may be at 3, but within one
    # standard error of 2, and the rule takes 2
    acc, scores = _many(120, seed=4)
    rng = np.random.default_rng(6)
    scores["weak"] = {"sp": acc + 4 * rng.normal(size=len(acc))}
    size, means, errors = cv_ensemble_size(scores, {"sp": acc}, 4, ACROSS_SPACES["mean"], 5,
                                           np.random.default_rng(0))
    assert int(np.argmax(means)) == 2 and size == 2
    assert means[1] >= means[2] - errors[2] and means[0] < means[2] - errors[2]
