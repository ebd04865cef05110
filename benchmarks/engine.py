"""Engine benchmark: the naive per-layer interpreter vs the batched engine, and the engine vs the
machine's own limit.

Data: the NB201 CIFAR-10 evolution task (80 networks; the embedded analog-nasbench ground
truth), statistics from the gpnas cache (built on first use).  Programs: the first two
generations' populations of one tree search, made by the search's own creation and variation
operators, so they share sub-trees as real populations do.

    (a) naive interpreter: loops over networks and layers, one torch call per node per layer
    (b) engine on population 1 (cold caches), then population 2 (warm: sub-expressions of
        population 1 are reused), with one block thread per core -- the engine's default
    (c) the same with one block thread

Both sides run with one torch intra-op thread (the naive interpreter's fastest setting on small
per-layer tensors, and what the engine uses inside each block), in turn (a b c a b c ...);
medians over the repetitions.

The floor: each program must read the statistics it names at least once, so a population needs at
least (bytes of the distinct statistics of each program, float32, summed over programs) /
(streaming bandwidth, measured with a large torch.add).  Per op class, the floor of the ops the
engine ran: the bytes of their inputs and outputs / bandwidth, against the engine's thread-seconds
in those ops.

Run ``python benchmarks/engine.py`` (80 networks, population 20, 3 repetitions; writes
benchmarks/results/engine.md) or ``--quick`` (12 networks, population 12: a few minutes).  The
last line printed is ``speedup: <naive / engine>`` (medians; engine with one thread per core).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from gpnas.config import RunConfig
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.plan import SHAPE_ONLY, plan
from gpnas.evaluation.executor import SerialExecutor
from gpnas.evaluation.naive import naive_net_scores
from gpnas.evaluation.task import Task
from gpnas.run.prepare import prepare
from gpnas.search.evaluator import Evaluator
from gpnas.search.loop import Search
from gpnas.search.representations import make_representation
from gpnas.threads import available_cores, torch_threads
from primitives import default_primitive_set

RESULTS = Path(__file__).parent / "results"
KINDS = ("elementwise", "reduction", "linalg")


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


def time_engine(engine: Engine, programs, task) -> float:
    t0 = time.perf_counter()
    for p in programs:
        try:
            engine.net_scores(p, task)
        except InvalidProgram:
            pass
    return time.perf_counter() - t0


def time_naive(programs, task, pset) -> float:
    t0 = time.perf_counter()
    for p in programs:
        try:
            naive_net_scores(p, pset, task)
        except Exception:  # noqa: BLE001 - the naive interpreter has no protection of its own
            pass
    return time.perf_counter() - t0


def bandwidth(threads: int, mb: int = 256) -> float:
    """Bytes per second that ``torch.add(a, b, out=c)`` moves on large arrays (best of 5)."""
    n = mb * 2**20 // 4
    a, b, c = torch.randn(n), torch.randn(n), torch.empty(n)
    best = float("inf")
    with torch_threads(threads):
        for _ in range(6):
            t = time.perf_counter()
            torch.add(a, b, out=c)
            best = min(best, time.perf_counter() - t)
    return 3 * n * 4 / best


def floors(programs, task, pset) -> tuple[float, dict[str, float]]:
    """(bytes of the distinct statistics each program reads, summed; per op class, the bytes
    in and out of the ops the engine runs, as its plan says)."""
    size = {name: sum(g.tensors[name].numel() * 4 for g in task.groups)
            for name in task.groups[0].tensors}
    of_type = {}
    for name, t in pset.terminals.items():
        of_type.setdefault(t, size[name])
    of_type["scalar"] = task.n_rows * 4
    reads, per_kind = 0, defaultdict(float)
    for p in programs:
        reads += sum(size[n] for n in {n.name for n in p.nodes if n.op is None})
        steps = plan(p)
        for i, node in enumerate(p.nodes):
            if node.op is None or not steps.needed[i] or steps.same_as[i] is not None:
                continue
            kind = pset[node.op].kind
            per_kind[kind] += of_type[node.type]  # the output
            if steps.fill[i] is None and node.op not in SHAPE_ONLY:
                per_kind[kind] += sum(of_type[p.nodes[a].type] for a in node.args)
    return reads, dict(per_kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="12 networks, population 12")
    ap.add_argument("--nets", type=int, help="networks in the task (default 80, quick 12)")
    ap.add_argument("--population", type=int, help="population (default 20, quick 12)")
    ap.add_argument("--repeats", type=int, default=3, help="repetitions (default 3)")
    args = ap.parse_args()
    nets = args.nets or (12 if args.quick else 80)
    pop = args.population or (12 if args.quick else 20)
    cores = available_cores()
    cfg = RunConfig(spaces=["nb201-cifar10"], generations=1, population=pop, evolution_nets=nets,
                    sample_nets=min(20, nets), test_nets=0, seed=0).validate()
    pset = default_primitive_set()
    data = prepare(cfg, progress=True)
    d = data["nb201-cifar10"]
    pop1, pop2 = populations(cfg, data, pset)
    programs = pop1 + pop2
    task = Task.from_store(d.store, d.store_ids)
    print(f"task: {task.n_nets} networks, {task.n_rows} instances, {len(task.groups)} shape "
          f"groups, {task.nbytes() / 1e9:.2f} GB float32; populations {len(pop1)} + {len(pop2)} "
          f"programs; {cores} cores", flush=True)

    load0 = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    times: dict[str, list[float]] = defaultdict(list)
    with torch_threads(1):
        for r in range(args.repeats):
            times["naive"].append(time_naive(programs, task, pset))
            for threads in (cores, 1):
                engine = Engine(pset, EngineConfig(threads=threads))
                cold = time_engine(engine, pop1, task)
                warm = time_engine(engine, pop2, task)
                times[f"cold{threads}"].append(cold)
                times[f"warm{threads}"].append(warm)
                times[f"engine{threads}"].append(cold + warm)
            print(f"  repetition {r + 1}: naive {times['naive'][-1]:.2f} s, engine "
                  f"{times[f'engine{cores}'][-1]:.2f} s ({cores} threads), "
                  f"{times['engine1'][-1]:.2f} s (1 thread)", flush=True)
        profiled = Engine(pset, EngineConfig(threads=1), profile=True)
        time_engine(profiled, pop1, task)
        time_engine(profiled, pop2, task)
    load1 = " / ".join(f"{v:.1f}" for v in os.getloadavg())
    med = {k: statistics.median(v) for k, v in times.items()}
    bw1, bwn = bandwidth(1), bandwidth(cores)
    reads, per_kind = floors(programs, task, pset)
    n1, n2 = len(pop1), len(pop2)

    lines = ["| run | programs | seconds (median) | per repetition | vs naive |",
             "|---|---|---|---|---|"]

    def row(name, key, n):
        lines.append(f"| {name} | {n} | {med[key]:.2f} | "
                     f"{', '.join(f'{v:.2f}' for v in times[key])} | "
                     f"{med['naive'] / med[key]:.1f}x |")

    row("(a) naive, both populations", "naive", n1 + n2)
    for threads in (cores, 1):
        label = f"{threads} thread{'s' if threads > 1 else ''}"
        row(f"(b) engine, {label}: population 1 (cold)", f"cold{threads}", n1)
        row(f"(b) engine, {label}: population 2 (warm)", f"warm{threads}", n2)
        row(f"(b) engine, {label}: both", f"engine{threads}", n1 + n2)
    floor1, floorn = reads / bw1, reads / bwn
    lines += ["", f"Floor: the programs read {reads / 1e9:.2f} GB of distinct statistics "
              f"(float32, summed over programs); streaming bandwidth (torch.add on 256 MB "
              f"arrays) {bw1 / 1e9:.1f} GB/s on 1 thread, {bwn / 1e9:.1f} GB/s on {cores}: "
              f"floor {floor1:.3f} s (1 thread) / {floorn:.3f} s ({cores}).  Engine / floor: "
              f"**{med['engine1'] / floor1:.1f}x** on 1 thread, "
              f"**{med[f'engine{cores}'] / floorn:.1f}x** on {cores}.", "",
              "| op class | engine thread-seconds (1 thread, both populations) | bytes in + out "
              "of the ops run | floor at 1-thread bandwidth | engine / floor |",
              "|---|---|---|---|---|"]
    for kind in KINDS:
        sec = profiled.op_seconds.get(kind, 0.0)
        b = per_kind.get(kind, 0.0)
        ratio = f"{sec / (b / bw1):.1f}x" if b else "-"
        lines.append(f"| {kind} | {sec:.2f} | {b / 1e9:.2f} GB | {b / bw1:.3f} s | {ratio} |")
    lines += ["", f"cache: {profiled.cache.hits} hits, {profiled.cache.misses} misses (the "
              "profiled 1-thread run).  Bytes of an op class count every op the engine ran "
              "(cache hits included), so its ratio is a lower bound on how far those kernels are "
              "from streaming speed; linalg ops (det, logdet, eigenvalues, matmul of small "
              "matrices) are compute-bound, their ratio is not a bandwidth gap."]
    report = "\n".join(lines)
    print(report)
    speedup = med["naive"] / med[f"engine{cores}"]
    if not args.quick:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "engine.md").write_text(
            f"# Engine benchmark\n\n`python benchmarks/engine.py` on {platform.machine()}, "
            f"{cores} cores, torch {torch.__version__}.  Load average (1 / 5 / 15 min) {load0} "
            f"at the start, {load1} at the end (other jobs shared the machine).\n\n"
            f"Task: {task.n_nets} NB201 CIFAR-10 networks, {task.n_rows} instances, "
            f"{task.nbytes() / 1e9:.2f} GB float32 in memory.  Populations: generations 0 and 1 "
            f"of a tree search (population {pop}, seed 0).  Both sides with one torch intra-op "
            f"thread, in turn, {args.repeats} repetitions.\n\n{report}\n\n"
            f"speedup: {speedup:.1f}\n")
    print(f"speedup: {speedup:.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
