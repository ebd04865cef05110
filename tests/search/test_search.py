import json

import numpy as np
import pytest

from gpnas.config import RunConfig
from gpnas.evaluation.engine import Engine, InvalidProgram
from gpnas.errors import GpnasError
from gpnas.search.checkpoint import state_from_json, state_to_json
from gpnas.run.rundir import RunDir
from gpnas.search.evaluator import Evaluator
from gpnas.search.halloffame import Entry, HallOfFame
from gpnas.search.loop import Search
from gpnas.search.selection import double_tournament, top_k, tournament
from primitives import default_primitive_set
from representations.tree import TreeRepresentation
from synthetic import fake_task

PSET = default_primitive_set()


class InMemoryExecutor:
    """The executor interface over tasks held in this process (pool positions = store ids)."""

    def __init__(self, tasks, fail_after=None):
        self.tasks, self.engine, self.sample = tasks, Engine(PSET), {}
        self.calls, self.fail_after = 0, fail_after

    def set_sample(self, sample):
        self.sample = {sp: self.tasks[sp].subset(list(ids)) for sp, ids in sample.items()}

    def scores(self, programs, nets=None):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt  # a kill in the middle of a generation
        out = []
        for p in programs:
            try:
                out.append({sp: self.engine.net_scores(p, t if nets is None else t.prefix(nets))
                            for sp, t in self.sample.items()})
            except InvalidProgram as exc:
                out.append(exc.reason)
        return out

    def close(self):
        pass


def make_search(cfg, fail_after=None, on_generation=None):
    tasks = {sp: fake_task(12, seed=i, space=sp) for i, sp in enumerate(cfg.spaces)}
    pools = {sp: (np.arange(12), t.accuracy, np.ones(12)) for sp, t in tasks.items()}
    probe = tasks[cfg.spaces[0]].subset([0, 1])
    ev = Evaluator(InMemoryExecutor(tasks, fail_after), Engine(PSET), probe, pools)
    rep = TreeRepresentation(PSET, cfg.min_depth, cfg.max_depth, cfg.max_height)
    return Search(cfg, rep, ev, {sp: 12 for sp in cfg.spaces}, on_generation), rep


def small_config(**kw):
    base = dict(spaces=["a", "b"], generations=3, population=10, evolution_nets=12,
                sample_nets=6, max_depth=4, seed=5)
    base.update(kw)
    return RunConfig(**base).validate()


def summary(state, rep):
    return ([rep.text(g) for g in state.population], [rep.text(g) for g in state.elites],
            [(rep.text(g), e.fitness) for g, e in state.last],
            [(e.key, e.fitness) for e in state.hof.best], state.rng_state)


def test_same_seed_same_run_and_other_seed_differs():
    cfg = small_config()
    s1, rep = make_search(cfg)
    s2, _ = make_search(cfg)
    a, b = s1.run(), s2.run()
    assert summary(a, rep) == summary(b, rep)
    c = make_search(small_config(seed=6))[0].run()
    assert summary(c, rep) != summary(a, rep)


def test_generation_follows_algorithm_1():
    cfg = small_config(generations=2)
    records = []
    search, rep = make_search(cfg, on_generation=lambda st, rec: records.append((rec, list(st.last))))
    state = search.run()
    assert [r["generation"] for r, _ in records] == [0, 1, 2]
    for rec, last in records:
        assert len(last) == cfg.population
        assert rec["best_fitness"] is not None and -1 <= rec["best_fitness"] <= 1
    # the elites of generation 1 open generation 2 unchanged
    gen1_last, gen2_last = records[1][1], records[2][1]
    fits = [e.fitness for _, e in gen1_last]
    sizes = [rep.size(g) for g, _ in gen1_last]
    elites = [rep.text(gen1_last[i][0]) for i in top_k(fits, sizes, 3, True)]
    assert [rep.text(g) for g, _ in gen2_last[:3]] == elites
    assert state.hof.best and state.hof.best[0].fitness == max(
        e.fitness for r in records for _, e in r[1] if e.fitness is not None)


def test_resume_after_kill_mid_generation_equals_uninterrupted(tmp_path):
    cfg = small_config(generations=4)
    full = make_search(cfg)[0].run()

    rundir = RunDir(tmp_path / "run").create(cfg.to_dict())

    def save(st, rec):
        rundir.append_log(rec)
        rundir.save_checkpoint(state_to_json(st, rep))

    # the executor is called once per generation: fail inside generation 2
    search, rep = make_search(cfg, fail_after=2, on_generation=save)
    with pytest.raises(KeyboardInterrupt):
        search.run()
    ckpt = rundir.checkpoint()
    assert ckpt["generation"] == 1
    resumed_search, _ = make_search(cfg, on_generation=save)
    state = resumed_search.run(state_from_json(json.loads(json.dumps(ckpt)), rep))
    assert summary(state, rep) == summary(full, rep)
    assert [r["generation"] for r in rundir.log()] == [0, 1, 2, 3, 4]


def test_selection_prefers_fit_then_small():
    fits = [0.1, 0.5, 0.5, None]
    sizes = [3, 9, 4, 1]
    assert top_k(fits, sizes, 2, parsimony=True) == [2, 1]
    assert top_k(fits, sizes, 2, parsimony=False) == [1, 2]
    rng = np.random.default_rng(0)
    won = tournament(fits, sizes, 200, 4, rng, parsimony=True)
    assert 3 not in won or all(f is None for f in fits)  # invalid never beats a valid one here
    d = double_tournament(fits, sizes, 200, 4, np.random.default_rng(1))
    assert set(d) <= {0, 1, 2, 3}


def test_hall_of_fame_pareto_front():
    h = HallOfFame(capacity=2)
    h.update([Entry("a", None, 0.3, 5, "a", 0), Entry("b", None, 0.5, 9, "b", 0),
              Entry("c", None, 0.2, 7, "c", 0), Entry("d", None, 0.6, 20, "d", 1)])
    assert [e.key for e in h.best] == ["d", "b"]
    assert [e.key for e in h.pareto] == ["a", "b", "d"]
    assert HallOfFame.from_json(h.to_json()).to_json() == h.to_json()


def test_config_rejects_bad_values_and_unknown_keys(tmp_path):
    with pytest.raises(GpnasError, match="population"):
        RunConfig(population=2).validate()
    with pytest.raises(GpnasError, match="unknown configuration key"):
        RunConfig.from_dict({"popsize": 3})
    f = tmp_path / "c.toml"
    f.write_text('generations = 2\nspaces = "nb201-cifar10,nb201-cifar100"\n')
    cfg = RunConfig.from_sources(f, env={})
    assert cfg.generations == 2 and cfg.spaces == ["nb201-cifar10", "nb201-cifar100"]
    f.write_text("generations = [")
    with pytest.raises(GpnasError, match="not valid"):
        RunConfig.from_sources(f, env={})


def test_config_sources_override_in_order(tmp_path):
    """defaults < $GPNAS_BENCH_DIR < config file < flags (None flags do not count)."""
    env = {"GPNAS_BENCH_DIR": "/from/env"}
    assert RunConfig.from_sources(env=env).bench_dir == "/from/env"
    assert RunConfig.from_sources(env={}).bench_dir is None
    f = tmp_path / "c.json"
    f.write_text('{"bench_dir": "/from/file", "population": 8}')
    cfg = RunConfig.from_sources(f, env=env)
    assert (cfg.bench_dir, cfg.population) == ("/from/file", 8)
    cfg = RunConfig.from_sources(f, {"bench_dir": "/from/flag", "population": None}, env=env)
    assert (cfg.bench_dir, cfg.population) == ("/from/flag", 8)
    f.write_text("[]")
    with pytest.raises(GpnasError, match="table of configuration keys"):
        RunConfig.from_sources(f, env={})
