"""A whole run: data preparation, search, test on held-out networks, results and plots."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from primitives import default_primitive_set

from gpnas.config import RunConfig
from gpnas.console import err
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.errors import GpnasError
from gpnas.evaluation.executor import make_executor
from gpnas.data.groundtruth import Benchmark, load_benchmark
from gpnas.evaluation.heldout import test_programs
from gpnas.run.plots import fitness_curve, score_scatter
from gpnas.search.representations import make_representation
from gpnas.run.rundir import RunDir
from gpnas.search.evaluator import Evaluator
from gpnas.search.halloffame import HallOfFame
from gpnas.search.checkpoint import state_from_json, state_to_json
from gpnas.search.loop import Search, State
from gpnas.data.spaces import get_space
from gpnas.data.stats.build import build_store
from gpnas.data.stats.store import StatsStore
from gpnas.evaluation.task import Task


def cache_dir() -> Path:
    """Where statistics are cached between runs: $GPNAS_CACHE or ~/.cache/gpnas."""
    return Path(os.environ.get("GPNAS_CACHE", Path.home() / ".cache" / "gpnas"))


@dataclass
class SpaceData:
    bench: Benchmark
    pool: np.ndarray  # benchmark rows of the evolution pool
    test: np.ndarray  # benchmark rows of the held-out test networks
    store: StatsStore
    store_ids: np.ndarray  # store net id of each pool network


def split(cfg: RunConfig) -> dict[str, tuple[Benchmark, np.ndarray, np.ndarray]]:
    """Per space of ``cfg``: its benchmark and the benchmark rows of the evolution pool and of the
    held-out test networks, drawn from ``data_seed`` (spaces in sorted order, one stream)."""
    data_rng, _ = cfg.rngs()
    out = {}
    for space in sorted(cfg.spaces):
        bench = load_benchmark(space, cfg.bench_dir, cfg.metric)
        n = len(bench.archs)
        if n < cfg.evolution_nets + 2:
            raise GpnasError(f"{space}: the benchmark has {n} networks, too few for "
                             f"{cfg.evolution_nets} evolution networks plus a test set")
        perm = data_rng.permutation(n)
        out[space] = (bench, perm[: cfg.evolution_nets],
                      perm[cfg.evolution_nets: cfg.evolution_nets + cfg.test_nets])
    return out


def prepare(cfg: RunConfig, progress: bool = True) -> dict[str, SpaceData]:
    """Ground truth, the evolution/test split per space, and the pool statistics (cached)."""
    out = {}
    for space, (bench, pool, test) in split(cfg).items():
        path = cache_dir() / "stats" / (f"{space}-{bench.metric}-b{cfg.batch_size}-{cfg.order}"
                                        f"-s{cfg.stats_seed}")
        if progress:
            err.print(f"[bold]{space}[/]: statistics of {len(pool)} evolution networks "
                      f"(cache {path})")
        store = build_store(path, space, [bench.archs[i] for i in pool], bench.accuracy[pool],
                            metric=bench.metric, batch_size=cfg.batch_size, seed=cfg.stats_seed,
                            order=cfg.order, progress=progress)
        where, canonical = store.arch_index(), get_space(space).canonical
        store_ids = np.array([where[canonical(bench.archs[i])] for i in pool])
        out[space] = SpaceData(bench, pool, test, store, store_ids)
    return out


def engine_config(cfg: RunConfig) -> EngineConfig:
    return EngineConfig(to_scalar=cfg.to_scalar, aggregate=cfg.aggregate)


@dataclass
class Outcome:
    """A finished search: its configuration, run directory, final state and representation."""

    cfg: RunConfig
    rundir: RunDir
    state: State
    representation: object


def search(cfg: RunConfig, rundir: RunDir, data: dict[str, SpaceData], resume: bool = False,
           progress: bool = True, max_evaluations: int | None = None,
           max_seconds: float | None = None) -> Outcome:
    """Run (or resume) the search of ``cfg`` in ``rundir`` on prepared data."""
    pset = default_primitive_set()
    representation = make_representation(cfg, pset)
    ecfg = engine_config(cfg)
    first = sorted(cfg.spaces)[0]
    probe = Task.from_store(data[first].store, data[first].store_ids[: cfg.probe_nets])
    executor = make_executor({sp: str(data[sp].store.path) for sp in cfg.spaces}, ecfg,
                             cfg.workers)
    evaluator = Evaluator(executor, Engine(pset, ecfg), probe,
                          {sp: (data[sp].store_ids, data[sp].bench.accuracy[data[sp].pool])
                           for sp in cfg.spaces})
    state = State(hof=HallOfFame())
    ckpt = rundir.checkpoint() if resume else None
    if ckpt is not None:
        state = state_from_json(ckpt, representation)
        rundir.truncate_log(state.generation)
        err.print(f"resuming {rundir.path} after generation {state.generation}")

    def on_generation(st: State, record: dict) -> None:
        rundir.append_log(record)
        rundir.save_checkpoint(state_to_json(st, representation))
        if progress:
            err.print(f"gen {record['generation']:>3}  best {_r(record['best_fitness'])}  "
                      f"median {_r(record['median_fitness'])}  size {record['mean_size']:.1f}  "
                      f"invalid {record['invalid_rate']:.0%}  {record['seconds']:.1f}s  "
                      f"{record['best_program'][:70]}")

    loop = Search(cfg, representation, evaluator, {sp: len(data[sp].pool) for sp in cfg.spaces},
                  on_generation, max_evaluations=max_evaluations, max_seconds=max_seconds)
    try:
        state = loop.run(state)
    finally:
        executor.close()
    return Outcome(cfg, rundir, state, representation)


def execute(cfg: RunConfig, rundir: RunDir, resume: bool = False, progress: bool = True) -> dict:
    """Run (or resume) the search in ``rundir``, test the winners and write the results."""
    data = prepare(cfg, progress)
    return test_and_report([search(cfg, rundir, data, resume, progress)], data, progress)[0]


def _r(x):
    return None if x is None else round(x, 4)


def candidates(cfg: RunConfig, state: State, representation) -> list[tuple[str, object]]:
    """The final top-3 (Algorithm 1) and the two best programs ever seen, without repeats."""
    from gpnas.search.selection import top_k

    genomes = [g for g, _ in state.last]
    fits = [e.fitness for _, e in state.last]
    sizes = [representation.size(g) for g in genomes]
    out, seen = [], set()
    for rank, i in enumerate(top_k(fits, sizes, 3, cfg.bloat == "parsimony")):
        if fits[i] is not None and representation.lower(genomes[i]).key not in seen:
            seen.add(representation.lower(genomes[i]).key)
            out.append((f"final-top{rank + 1}", genomes[i]))
    for rank, e in enumerate(state.hof.best[:2]):
        if e.key not in seen:
            seen.add(e.key)
            out.append((f"best-ever{rank + 1}", representation.from_json(e.genome)))
    return out


def test_and_report(outcomes: list[Outcome], data: dict[str, SpaceData],
                    progress: bool = True) -> list[dict]:
    """Test every outcome's candidates on the held-out networks, in one streamed pass per
    space for all outcomes (they share the data split and collection settings), then write
    each run's results.json, test_scores.csv and plots."""
    t0 = time.perf_counter()
    cfg0 = outcomes[0].cfg
    keys = ("batch_size", "order", "stats_seed", "to_scalar", "aggregate", "data_seed",
            "evolution_nets", "test_nets")
    if any(getattr(o.cfg, k) != getattr(cfg0, k) for o in outcomes for k in keys):
        raise GpnasError(f"runs tested together must share {', '.join(keys)}")
    pset = default_primitive_set()
    cands = [candidates(o.cfg, o.state, o.representation) for o in outcomes]
    programs = [o.representation.lower(g) for o, cs in zip(outcomes, cands) for _, g in cs]
    spaces = sorted({sp for o in outcomes for sp in o.cfg.spaces})
    tested_all = {}
    for sp in spaces:
        d = data[sp]
        if len(d.test):
            tested_all[sp] = test_programs(
                programs, sp, [d.bench.archs[i] for i in d.test], d.bench.accuracy[d.test],
                Engine(pset, engine_config(cfg0)), batch_size=cfg0.batch_size,
                seed=cfg0.stats_seed, order=cfg0.order, progress=progress)
    seconds = time.perf_counter() - t0
    out, offset = [], 0
    for o, cs in zip(outcomes, cands):
        tested = {sp: res[offset: offset + len(cs)] for sp, res in tested_all.items()
                  if sp in o.cfg.spaces}
        offset += len(cs)
        out.append(_report(o, cs, tested, data, seconds))
    return out


def _report(o: Outcome, cands, tested, data, test_seconds: float) -> dict:
    rep, rundir = o.representation, o.rundir
    rows = []
    for ci, (label, g) in enumerate(cands):
        p = rep.lower(g)
        entry = {"label": label, "program": rep.text(g), "key": p.key, "genome": rep.to_json(g),
                 "ir": p.to_json(), "size": rep.size(g), "test": {}}
        for sp, res in tested.items():
            entry["test"][sp] = {k: v for k, v in res[ci].items() if k != "scores"}
        rows.append(entry)
    results = {
        "config": o.cfg.to_dict(),
        "generations": o.state.generation,
        "search_seconds": o.state.elapsed,
        "test_seconds": test_seconds,
        "candidates": rows,
        "pareto": o.state.hof.to_json()["pareto"],
        "test_nets": {sp: int(len(data[sp].test)) for sp in o.cfg.spaces},
    }
    rundir.write_results(results)
    _write_test_scores(rundir, cands, tested, data)
    fitness_curve(rundir.log(), rundir.path / "fitness.png")
    if rows and tested:
        per_space = {sp: (res[0]["scores"], data[sp].bench.accuracy[data[sp].test],
                          res[0]["kendall"]) for sp, res in tested.items()
                     if res[0]["scores"] is not None}
        if per_space:
            score_scatter(per_space, rows[0]["program"], rundir.path / "scatter.png")
    return results


def _write_test_scores(rundir: RunDir, cands, tested, data) -> None:
    lines = ["space,arch,accuracy," + ",".join(label for label, _ in cands)]
    for sp, res in tested.items():
        d = data[sp]
        for j, i in enumerate(d.test):
            vals = [("" if r["scores"] is None else f"{r['scores'][j]:.9g}") for r in res]
            lines.append(f"{sp},\"{d.bench.archs[i]}\",{d.bench.accuracy[i]:.4f}," + ",".join(vals))
    (rundir.path / "test_scores.csv").write_text("\n".join(lines) + "\n")
