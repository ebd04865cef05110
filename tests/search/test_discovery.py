"""The discovery machinery: size-aware fitness, racing, functional dedup in selection, prefix and
lazy tasks, the validation split, seeds from program files, presets."""

import numpy as np
import pytest
from scipy import stats

from gpnas.config import PRESETS, RunConfig
from gpnas.errors import GpnasError
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.fitness import partial_kendall, stratified_kendall
from gpnas.search.evaluator import Evaluator
from gpnas.search.representations import representation_for
from primitives import full_primitive_set
from synthetic import fake_task

pytestmark = pytest.mark.usefixtures("one_thread")


def test_partial_kendall_removes_what_size_explains():
    rng = np.random.default_rng(0)
    size = rng.uniform(1, 100, 200)
    acc = np.log(size) + rng.normal(0, 1, 200)
    with pytest.raises(InvalidProgram, match="size"):
        partial_kendall(size ** 2, acc, size)  # a function of size alone
    other = rng.normal(0, 1, 200)
    t = lambda a, b: stats.kendalltau(a, b).statistic  # noqa: E731
    z = np.log(size)
    want = (t(other, acc) - t(other, z) * t(acc, z)) / np.sqrt((1 - t(other, z) ** 2)
                                                               * (1 - t(acc, z) ** 2))
    assert partial_kendall(other, acc, size) == pytest.approx(want)
    # a score that is accuracy's residual after size ranks better beyond size than size does
    assert partial_kendall(acc - np.log(size), acc, size) > 0.3


def test_stratified_kendall_looks_within_size_bins():
    size = np.repeat([1.0, 2.0, 3.0, 4.0], 10)
    acc = np.tile(np.arange(10.0), 4)
    assert stratified_kendall(acc, acc, size) == pytest.approx(1.0)
    with pytest.raises(InvalidProgram, match="stratum"):  # a pure size proxy ranks nothing
        stratified_kendall(size, acc, size)
    noise = np.random.default_rng(0).normal(0, 1, 40)
    assert abs(stratified_kendall(size + 1e-3 * noise, acc, size)) < 0.3


class _Executor:
    """Scores a program as accuracy + its noise level (``program.size``): fitter with less."""

    def __init__(self, acc):
        self.acc, self.calls = acc, []

    def set_sample(self, sample):
        self.sample = sample

    def scores(self, programs, nets=None):
        self.calls.append((nets, len(programs)))
        ids = list(self.sample["s"])[:nets]
        rng = np.random.default_rng(0)
        return [{"s": self.acc[ids] + p.size * rng.normal(0, 1, len(ids))} for p in programs]


def test_racing_halves_the_field_and_keeps_the_fittest():
    task = fake_task(3, seed=0)
    acc = np.random.default_rng(1).uniform(50, 90, 64)
    ex = _Executor(acc)
    ev = Evaluator(ex, Engine(full_primitive_set()), task,
                   {"s": (np.arange(64), acc, np.ones(64))}, rungs=3)
    ev.new_sample({"s": np.arange(64)})
    assert ev.rung_sizes() == [16, 32, None]
    rep = representation_for("tree")
    rng = np.random.default_rng(3)
    programs, seen = [], set()
    while len(programs) < 12:
        p = rep.lower(rep.random(rng))
        if ev.is_valid(p) and ev.fingerprint(p) not in seen:
            seen.add(ev.fingerprint(p))
            programs.append(p)
    evals = ev.evaluate(programs)
    assert [c[1] for c in ex.calls] == [12, 6, 3] and [c[0] for c in ex.calls] == [16, 32, None]
    assert ev.counters.rungs == [[16, 12], [32, 6], [None, 3]]
    full = [e for e in evals if e.nets is None]
    assert len(full) == 3
    # the programs that reached the last rung are among the best of the first
    first = sorted(evals, key=lambda e: -(e.fitness if e.fitness is not None else -9))
    assert all(e.nets is None for e in first[:1])
    # selection ranks a program that went further above any that stopped earlier
    assert sorted(e.rung for e in evals) == [0] * 6 + [1] * 3 + [2] * 3
    by_key = sorted(evals, key=lambda e: -e.selection_key())
    assert [e.rung for e in by_key[:3]] == [2, 2, 2] and by_key[-1].rung == 0


class _TwoSpaces(_Executor):
    """Space "a" scores as accuracy + noise, space "b" as its reverse: fitness +x and -x."""

    def scores(self, programs, nets=None):
        ids = list(self.sample["a"])[:nets]
        s = self.acc[ids] + np.random.default_rng(0).normal(0, 1, len(ids))
        return [{"a": s, "b": -s} for _ in programs]


@pytest.mark.parametrize("across", ["min", "mean"])
def test_fitness_combines_the_spaces_as_configured(across):
    task = fake_task(3, seed=0)
    acc = np.random.default_rng(1).uniform(50, 90, 32)
    pools = {sp: (np.arange(32), acc, np.ones(32)) for sp in ("a", "b")}
    ev = Evaluator(_TwoSpaces(acc), Engine(full_primitive_set()), task, pools,
                   across_spaces=across)
    ev.new_sample({sp: np.arange(32) for sp in pools})
    rep = representation_for("tree")
    rng = np.random.default_rng(3)
    p = rep.lower(rep.random(rng))
    while not ev.is_valid(p):
        p = rep.lower(rep.random(rng))
    (e,) = ev.evaluate([p])
    a, b = e.per_space["a"], e.per_space["b"]
    assert a > 0.5 and b == pytest.approx(-a)
    assert e.fitness == pytest.approx(min(a, b) if across == "min" else 0.0)


def test_prefix_and_lazy_tasks_score_like_the_whole(tmp_path):
    from gpnas.data.stats.build import build_store
    from gpnas.evaluation.task import Task

    archs = ["|nor_conv_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|",
             "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|",
             "|nor_conv_1x1~0|+|none~0|avg_pool_3x3~1|+|nor_conv_3x3~0|skip_connect~1|none~2|"]
    store = build_store(tmp_path / "s", "nb201-cifar10", archs, [60.0, 70.0, 80.0],
                        metric="test", progress=False)
    eager, lazy = Task.from_store(store, [0, 1, 2]), Task.from_store(store, [0, 1, 2], lazy=True)
    engine = Engine(full_primitive_set(), EngineConfig(cache_bytes=0))
    rep = representation_for("tree", ("network",))
    rng = np.random.default_rng(5)
    for _ in range(10):
        p = rep.lower(rep.random(rng))
        try:
            want = engine.net_scores(p, eager)
        except InvalidProgram:
            continue
        assert np.array_equal(engine.net_scores(p, lazy), want)
        assert np.array_equal(engine.net_scores(p, lazy.prefix(2)), want[:2])
        assert np.array_equal(engine.net_scores(p, eager.prefix(2)),
                              engine.net_scores(p, eager.subset([0, 1])))
    assert len(dict.items(lazy.groups[0].tensors)) < len(lazy.groups[0].tensors.shapes) + 2


def test_validation_split_is_disjoint_and_the_paper_split_is_unchanged():
    from gpnas.run.prepare import split

    cfg = RunConfig(evolution_nets=30, validation_nets=20, test_nets=40).validate()
    (bench, pool, val, test), = split(cfg).values()
    assert not (set(pool) & set(val) or set(pool) & set(test) or set(val) & set(test))
    assert (len(pool), len(val), len(test)) == (30, 20, 40)
    (_, pool0, val0, test0), = split(RunConfig(evolution_nets=30, test_nets=40)).values()
    assert list(pool0) == list(pool) and len(val0) == 0 and list(test0) == \
        list(np.concatenate([val, test])[:40])


@pytest.mark.parametrize("name", ["tree", "sequential"])
def test_seed_programs_become_genomes_of_the_same_program(name):
    from gpnas.baselines.dsl import DSL, DSL_PROXIES, dsl_program

    rep = representation_for(name, DSL)
    for proxy in DSL_PROXIES:
        p = dsl_program(proxy)
        assert rep.lower(rep.from_program(p)).key == p.key
    paper = representation_for(name)
    with pytest.raises(Exception):
        paper.from_program(dsl_program("naswot"))


def test_presets_are_starting_points_that_file_and_flags_override(tmp_path):
    cfg = RunConfig.from_sources(flags={"preset": "discovery"}, env={})
    assert all(getattr(cfg, k) == v for k, v in PRESETS["discovery"].items())
    f = tmp_path / "c.json"
    f.write_text('{"preset": "discovery", "rungs": 2}')
    cfg = RunConfig.from_sources(f, {"sample_nets": 40}, env={})
    assert (cfg.rungs, cfg.sample_nets, cfg.cross_batch) == (2, 40, 32)
    assert RunConfig.from_sources(env={}) == RunConfig()
    with pytest.raises(GpnasError, match="preset"):
        RunConfig.from_sources(flags={"preset": "fast"}, env={})
