"""Engine benchmark: naive per-layer interpreter vs the batched engine, cold and warm.

Data: the NB201 CIFAR-10 evolution task (80 networks; the embedded analog-nasbench ground
truth), statistics from the gpnas cache (built on first use).  Programs: the first two
generations' populations of one tree search, made by the search's own creation and variation
operators, so they share sub-trees as real populations do.

    (a) naive interpreter: loops over networks and layers, one torch call per node per layer
    (b) engine on population 1 (cold caches)
    (c) engine on population 2 (warm caches: sub-expressions of population 1 are reused)

Run ``python benchmarks/engine.py`` (full; writes benchmarks/results/engine.md) or ``--quick``
(under a minute).  The last line printed is ``speedup: <a / (b + c)>``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from gpnas.config import RunConfig
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.executor import SerialExecutor
from gpnas.evaluation.naive import naive_net_scores
from gpnas.search.representations import make_representation
from gpnas.run.prepare import prepare
from gpnas.search.evaluator import Evaluator
from gpnas.search.loop import Search
from gpnas.evaluation.task import Task
from primitives import default_primitive_set

RESULTS = Path(__file__).parent / "results"


def populations(cfg: RunConfig, data, pset):
    """Programs of generations 0 and 1 of a real tree search."""
    rep = make_representation(cfg)
    d = data[cfg.spaces[0]]
    recorded: list[list] = []
    executor = SerialExecutor({cfg.spaces[0]: str(d.store.path)}, EngineConfig())
    probe = Task.from_store(d.store, d.store_ids[:2])
    ev = Evaluator(executor, Engine(pset), probe,
                   {cfg.spaces[0]: (d.store_ids, d.bench.accuracy[d.pool], d.sizes)})
    inner = ev.evaluate

    def record(programs):
        recorded.append(list(programs))
        return inner(programs)

    ev.evaluate = record
    Search(cfg, rep, ev, {cfg.spaces[0]: len(d.pool)}).run()
    return recorded[0], recorded[1]


def time_engine(engine: Engine, programs, task) -> tuple[float, int]:
    invalid = 0
    t0 = time.perf_counter()
    for p in programs:
        try:
            engine.net_scores(p, task)
        except InvalidProgram:
            invalid += 1
    return time.perf_counter() - t0, invalid


def time_naive(programs, task, pset) -> float:
    t0 = time.perf_counter()
    for p in programs:
        try:
            naive_net_scores(p, pset, task)
        except Exception:  # noqa: BLE001 - the naive interpreter has no protection of its own
            pass
    return time.perf_counter() - t0


def op_kind_breakdown(programs, pset) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for p in programs:
        for n in p.nodes:
            if n.op is not None:
                counts[pset[n.op].kind] += 1
    return dict(counts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small version, under a minute")
    ap.add_argument("--nets", type=int, help="networks in the task (default 80, quick 12)")
    ap.add_argument("--population", type=int, help="population (default 50, quick 12)")
    args = ap.parse_args()
    nets = args.nets or (12 if args.quick else 80)
    pop = args.population or (12 if args.quick else 50)
    cfg = RunConfig(spaces=["nb201-cifar10"], generations=1, population=pop, evolution_nets=nets,
                    sample_nets=min(20, nets), test_nets=0, seed=0).validate()
    pset = default_primitive_set()
    data = prepare(cfg, progress=True)
    d = data["nb201-cifar10"]
    pop1, pop2 = populations(cfg, data, pset)
    task = Task.from_store(d.store, d.store_ids)
    print(f"task: {task.n_nets} networks, {task.n_rows} instances, {len(task.groups)} shape "
          f"groups, {task.nbytes() / 1e9:.2f} GB float32; populations {len(pop1)} + {len(pop2)} "
          f"programs; torch threads {torch.get_num_threads()}")

    naive = time_naive(pop1 + pop2, task, pset)
    engine = Engine(pset, EngineConfig(), profile=True)
    cold, inv1 = time_engine(engine, pop1, task)
    hits_cold = engine.cache.hits
    warm, inv2 = time_engine(engine, pop2, task)
    n1, n2 = len(pop1), len(pop2)
    rows = [
        ("(a) naive, both populations", n1 + n2, naive),
        ("(b) engine, population 1 (cold)", n1, cold),
        ("(c) engine, population 2 (warm)", n2, warm),
    ]
    lines = ["| run | programs | seconds | program-evaluations/s | vs naive |", "|---|---|---|---|---|"]
    naive_rate = (n1 + n2) / naive
    for name, n, sec in rows:
        lines.append(f"| {name} | {n} | {sec:.2f} | {n / sec:.2f} | {n / sec / naive_rate:.1f}x |")
    total = sum(engine.op_seconds.values())
    kinds = op_kind_breakdown(pop1 + pop2, pset)
    lines += ["", "| op class | engine thread-seconds | share | op nodes in populations |", "|---|---|---|---|"]
    for kind in ("elementwise", "reduction", "linalg"):
        sec = engine.op_seconds.get(kind, 0.0)
        lines.append(f"| {kind} | {sec:.2f} | {sec / total:.0%} | {kinds.get(kind, 0)} |")
    lines += ["", f"cache: {engine.cache.hits} hits ({hits_cold} during population 1), "
              f"{engine.cache.misses} misses; invalid programs {inv1} + {inv2}"]
    report = "\n".join(lines)
    print(report)
    speedup = naive / (cold + warm)
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "engine.md").write_text(
            f"# Engine benchmark\n\n`python benchmarks/engine.py` on {platform.machine()} "
            f"({torch.get_num_threads()} torch threads), torch {torch.__version__}.\n\n"
            f"Task: {task.n_nets} NB201 CIFAR-10 networks, {task.n_rows} instances, "
            f"{task.nbytes() / 1e9:.2f} GB float32 in memory. Populations: generations 0 and 1 of "
            f"a tree search (population {pop}, seed 0).\n\n{report}\n\nspeedup: {speedup:.1f}\n")
    print(f"speedup: {speedup:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
