import numpy as np
import pytest
import torch
from scipy import stats

from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.fitness import ACROSS_SPACES, kendall, spearman
from gpnas.search.sampling import sample_nets
from gpnas.evaluation.naive import naive_net_scores
from primitives import default_primitive_set
from representations.ir import ProgramBuilder
from representations.tree import TreeRepresentation
from synthetic import fake_task

PSET = default_primitive_set()


def random_programs(n, seed):
    rep = TreeRepresentation(PSET, min_depth=1, max_depth=4)
    rng = np.random.default_rng(seed)
    return [rep.lower(rep.random(rng)) for _ in range(n)]


def scores_or_reason(engine, program, task):
    try:
        return engine.net_scores(program, task)
    except InvalidProgram as exc:
        return exc.reason


@pytest.mark.parametrize("kind", ["nb201-like", "darts-like"])
@pytest.mark.parametrize("to_scalar", ["mean", "l2"])
def test_engine_equals_naive_interpreter(kind, to_scalar):
    task = fake_task(4, seed=1, kind=kind)
    engine = Engine(PSET, EngineConfig(to_scalar=to_scalar, block_bytes=4096))
    checked = 0
    for p in random_programs(60, seed=2):
        got = scores_or_reason(engine, p, task)
        if isinstance(got, str):
            continue
        want = naive_net_scores(p, PSET, task, to_scalar=to_scalar)
        np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5, err_msg=p.text())
        checked += 1
    assert checked >= 30


def test_cached_equals_uncached_and_cache_is_used():
    task = fake_task(5, seed=3)
    programs = random_programs(40, seed=4)
    programs += programs  # the second pass hits the cache
    cached = Engine(PSET, EngineConfig(cache_min_cost=0))
    plain = Engine(PSET, EngineConfig(cache_bytes=0))
    for p in programs:
        a, b = scores_or_reason(cached, p, task), scores_or_reason(plain, p, task)
        if isinstance(a, str):
            assert a == b
        else:
            np.testing.assert_array_equal(a, b)
    assert cached.cache.hits > 0 and plain.cache.hits == 0


def test_shared_subexpression_is_computed_once():
    task = fake_task(3, seed=5)
    b = ProgramBuilder(PSET)
    shared = b.apply("logdet", [b.apply("mul", [b.terminal("weight"), b.terminal("weight")])])
    p1 = b.build(b.apply("add", [shared, b.apply("numel", [b.terminal("weight")])]))
    p2 = b.build(b.apply("sub", [shared, b.apply("numel", [b.terminal("weight")])]))
    engine = Engine(PSET)
    engine.net_scores(p1, task)
    hits = engine.cache.hits
    engine.net_scores(p2, task)
    assert engine.cache.hits > hits


def test_fitness_equals_scipy_kendall_and_handles_ties():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=30), rng.normal(size=30)
    assert kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    x[:5] = x[0]  # ties
    assert kendall(x, y) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)


def test_constant_scorer_is_invalid_not_nan():
    with pytest.raises(InvalidProgram, match="constant"):
        kendall(np.ones(10), np.arange(10.0))


def test_across_spaces_min_picks_the_worst_space_and_mean_averages():
    per_space = {"a": 0.5, "b": -0.1, "c": 0.3}
    assert ACROSS_SPACES["min"](per_space) == -0.1
    assert ACROSS_SPACES["mean"](per_space) == pytest.approx(0.7 / 3)


def test_sample_nets_draws_from_the_given_rng():
    a = sample_nets(np.random.default_rng(7), ["s1", "s2", "s3", "s4", "s5"], {f"s{i}": 80 for i in range(1, 6)}, s=4, k=20)
    b = sample_nets(np.random.default_rng(7), ["s1", "s2", "s3", "s4", "s5"], {f"s{i}": 80 for i in range(1, 6)}, s=4, k=20)
    assert list(a) == list(b) and len(a) == 4
    assert all(len(v) == 20 and len(set(v)) == 20 for v in a.values())
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_invalid_program_reports_its_reason():
    task = fake_task(3, seed=6)
    b = ProgramBuilder(PSET)
    # exp(exp(exp(x^2))) overflows -> NaN -> invalid
    x = b.terminal("bn_out.data")
    for _ in range(3):
        x = b.apply("exp", [x])
    p = b.build(b.apply("exp", [b.apply("square", [x])]))
    with pytest.raises(InvalidProgram, match="non-finite"):
        Engine(PSET).net_scores(p, task)


def test_cost_budget_marks_program_invalid():
    task = fake_task(3, seed=7)
    b = ProgramBuilder(PSET)
    p = b.build(b.apply("eig_ratio", [b.terminal("relu_in.data")]))
    with pytest.raises(InvalidProgram, match="budget"):
        Engine(PSET, EngineConfig(cost_budget=1)).net_scores(p, task)


def test_exception_inside_an_op_is_an_invalid_program(monkeypatch):
    task = fake_task(2, seed=8)
    b = ProgramBuilder(PSET)
    p = b.build(b.apply("frobenius", [b.terminal("weight")]))
    engine = Engine(PSET)
    monkeypatch.setattr(engine, "_run_block", lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    with pytest.raises(InvalidProgram, match="boom"):
        engine.net_scores(p, task)


def test_task_subset_keeps_rows_of_chosen_nets():
    task = fake_task(6, seed=9)
    sub = task.subset([4, 1])
    assert sub.n_nets == 2
    assert torch.equal(sub.instances_per_net, task.instances_per_net[[4, 1]])
    b = ProgramBuilder(PSET)
    p = b.build(b.apply("frobenius", [b.terminal("bn_out.noise")]))
    full = Engine(PSET).net_scores(p, task)
    np.testing.assert_allclose(Engine(PSET).net_scores(p, sub), full[[4, 1]], rtol=1e-6)


def test_blocks_are_sized_by_the_largest_statistic():
    """A block holds about block_bytes of the group's largest statistic (float32), whichever
    statistic the group lists first."""
    task = fake_task(6, seed=5)
    engine = Engine(PSET, EngineConfig(block_bytes=1 << 11))
    split = 0
    for gi, group in enumerate(task.groups):
        largest = max(t[0].numel() * 4 for t in group.tensors.values())
        n, per = int(group.net.numel()), max(1, (1 << 11) // largest)
        blocks = engine._blocks(task, gi)
        assert [(b.start, b.stop) for b in blocks] == [(i, min(i + per, n))
                                                       for i in range(0, n, per)]
        split += len(blocks) > 1
    assert split  # the check saw groups of several blocks
