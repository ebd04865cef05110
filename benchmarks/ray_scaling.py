"""The Ray backend against the local executors on this machine: a statistics build and one
generation's fitness evaluation with the serial and process executors and with Ray on 1 and 2
CPUs, interleaved repetitions (serial, process, ray-1, ray-2, then again), medians; Ray's fixed
start-up cost; the bytes that travel; and from these a throughput estimate for N machines.

    python benchmarks/ray_scaling.py                 # 16 networks, 48 programs, 3 repetitions
    python benchmarks/ray_scaling.py --quick         # 6 networks, 12 programs, 1 repetition

Every configuration must give the same store (shard digests) and the same scores as the serial
one; the script stops otherwise.  Writes benchmarks/results/ray_scaling.md (``--md``) and the
raw seconds beside it (ray_scaling.json).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pickle
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.stats.build import build_store  # noqa: E402
from gpnas.data.stats.remote import ray_runner  # noqa: E402
from gpnas.evaluation.engine import Engine, EngineConfig  # noqa: E402
from gpnas.evaluation.executor import ProcessExecutor, SerialExecutor  # noqa: E402
from gpnas.evaluation.ray_backend import RayExecutor  # noqa: E402
from gpnas.evaluation.task import Task  # noqa: E402
from gpnas.search.evaluator import Evaluator  # noqa: E402
from primitives import default_primitive_set  # noqa: E402
from representations.tree import TreeRepresentation  # noqa: E402

SPACE = "nb201-cifar10"
CONFIGS = ("serial", "process-2", "ray-1", "ray-2")


def load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def programs_for(store, n: int, seed: int) -> list:
    """``n`` distinct random tree programs that pass the validity probe (as a generation's)."""
    pset = default_primitive_set()
    rep = TreeRepresentation(pset, 2, 6, 10)
    probe = Evaluator(None, Engine(pset), Task.from_store(store, [0, 1]), {})
    rng, out, keys = np.random.default_rng(seed), [], set()
    while len(out) < n:
        p = rep.lower(rep.random(rng))
        if p.key not in keys and probe.is_valid(p):
            keys.add(p.key)
            out.append(p)
    return out


def start_ray(cpus: int) -> dict:
    """A local Ray with ``cpus`` CPUs; its start-up seconds (init; first task on every worker,
    which imports torch and gpnas)."""
    import ray

    t0 = time.perf_counter()
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level="WARNING")
    t1 = time.perf_counter()

    @ray.remote(num_cpus=1)
    def warm(_):
        import gpnas.data.stats.build  # noqa: F401
        return os.getpid()

    ray.get([warm.remote(i) for i in range(cpus)])
    return {"init": t1 - t0, "workers": time.perf_counter() - t1}


def build(config: str, archs, acc, out: Path):
    t0 = time.perf_counter()
    runner = ray_runner() if config.startswith("ray") else None
    store = build_store(out, SPACE, archs, acc, metric="test", progress=False,
                        jobs=2 if config == "process-2" else 1, runner=runner)
    return store, time.perf_counter() - t0


def evaluate(config: str, stores, samples, programs):
    """(executor start seconds, per generation seconds, scores of the last generation)."""
    t0 = time.perf_counter()
    ecfg = EngineConfig(threads=1)
    ex = {"serial": lambda: SerialExecutor(stores, ecfg),
          "process-2": lambda: ProcessExecutor(stores, ecfg, 2)}.get(
        config, lambda: RayExecutor(stores, ecfg))()
    start = time.perf_counter() - t0
    gens, scores = [], None
    try:
        for sample in samples:
            t = time.perf_counter()
            ex.set_sample(sample)
            scores = ex.scores(programs)
            gens.append(time.perf_counter() - t)
    finally:
        ex.close()
    return start, gens, scores


def same_scores(a, b) -> bool:
    return all((x == y) if isinstance(x, str) or isinstance(y, str) else
               x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
               for x, y in zip(a, b))


def med(values) -> float:
    return statistics.median(values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", type=int, default=16)
    ap.add_argument("--programs", type=int, default=48)
    ap.add_argument("--sample", type=int, default=12, help="networks per space and generation")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--md", default=str(ROOT / "benchmarks" / "results" / "ray_scaling.md"))
    args = ap.parse_args()
    if args.quick:
        args.nets, args.programs, args.sample, args.reps = 6, 12, 4, 1
    import ray

    torch.set_num_threads(1)
    load_start = load()
    bench = load_benchmark(SPACE, None, "test")
    archs, acc = bench.sample(args.nets, seed=0)
    tmp = Path(tempfile.mkdtemp(prefix="gpnas-ray-bench-"))
    reference = build_store(tmp / "reference", SPACE, archs, acc, metric="test", progress=False)
    digests = [r["sha256"] for r in reference.nets]
    stores = {"a": str(reference.path), "b": str(reference.path)}  # two spaces, one store
    programs = programs_for(reference, args.programs, seed=1)
    rng = np.random.default_rng(2)
    ref_scores = None
    rows = {c: {"build": [], "start": [], "gen1": [], "gen2": [], "ray_init": [],
                "ray_workers": []} for c in CONFIGS}
    for rep in range(args.reps):
        samples = [{sp: tuple(sorted(rng.choice(args.nets, args.sample, replace=False).tolist()))
                    for sp in stores} for _ in range(2)]
        for config in CONFIGS:
            r = rows[config]
            if config.startswith("ray"):
                up = start_ray(int(config[-1]))
                r["ray_init"].append(up["init"])
                r["ray_workers"].append(up["workers"])
            try:
                store, seconds = build(config, archs, acc, tmp / f"{config}-{rep}")
                if [x["sha256"] for x in store.nets] != digests:
                    sys.exit(f"{config}: the store differs from the serial build")
                r["build"].append(seconds)
                start, gens, scores = evaluate(config, stores, samples, programs)
            finally:
                if config.startswith("ray"):
                    ray.shutdown()
            if config == "serial":  # first in every repetition
                ref_scores = scores
            elif not same_scores(scores, ref_scores):
                sys.exit(f"{config}: scores differ from the serial executor's")
            r["start"].append(start)
            r["gen1"].append(gens[0])
            r["gen2"].append(gens[1])
            print(f"rep {rep} {config:>9}: build {seconds:6.2f}s  executor start {start:5.2f}s  "
                  f"gen {gens[0]:5.2f}s / {gens[1]:5.2f}s  (load {load()})", flush=True)

    sizes = transfer_sizes(reference, programs, ref_scores)
    per_net = med([r["seconds"] for r in reference.nets])
    write_md(Path(args.md), args, rows, sizes, per_net, load_start, load())
    Path(args.md).with_suffix(".json").write_text(json.dumps(
        {"args": vars(args), "seconds": rows, "sizes": sizes, "per_net_s": per_net}, indent=1))
    shutil.rmtree(tmp, ignore_errors=True)


def transfer_sizes(store, programs, scores) -> dict:
    shard = [r["bytes"] for r in store.nets]
    return {"programs": len(pickle.dumps([p.to_json() for p in programs])),
            "scores": len(pickle.dumps(scores)), "n_programs": len(programs),
            "shard_mb": med(shard) / 1e6, "store_mb": store.disk_bytes() / 1e6}


def write_md(path: Path, args, rows, sizes, per_net, load_start, load_end) -> None:
    def cell(config, key):
        v = rows[config][key]
        if len(v) > 1:
            return f"{med(v):.2f} ({min(v):.1f}..{max(v):.1f})"
        return f"{med(v):.2f}" if v else "-"

    base = {k: med(rows["serial"][k]) for k in ("build", "gen1", "gen2")}
    lines = [
        "# The Ray backend on one machine: statistics build and one generation",
        "",
        f"`python benchmarks/ray_scaling.py` ({datetime.date.today()}).  {args.nets} NB201 "
        f"networks (a seeded sample of the embedded table), batch size 1, float16; "
        f"{sizes['n_programs']} random valid tree programs (one generation's worth) scored on "
        f"2 spaces x {args.sample} networks (one store used as two spaces; a new sample for "
        f"generation 2); {args.reps} interleaved repetitions (serial, process-2, ray-1, ray-2, "
        "then again), medians.  Every configuration gave the serial store (shard digests) "
        "and the serial scores, bit for bit.",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, Python {platform.python_version()}.  Load average "
        f"{load_start} at the start, {load_end} at the end (other jobs share the machine).",
        "",
        "| executor | build s | build vs serial | executor start s | generation 1 s | "
        "generation 2 s | gen 2 vs serial | Ray init s | Ray workers ready s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in CONFIGS:
        r = rows[c]
        lines.append(
            f"| {c} | {cell(c, 'build')} | {base['build'] / med(r['build']):.2f}x | "
            f"{cell(c, 'start')} | {cell(c, 'gen1')} | {cell(c, 'gen2')} | "
            f"{base['gen2'] / med(r['gen2']):.2f}x | {cell(c, 'ray_init')} | "
            f"{cell(c, 'ray_workers')} |")
    t_prog = base["gen2"] / sizes["n_programs"]

    def link(gbit: float) -> float:
        return round(gbit * 125 / sizes["shard_mb"], 1)

    lines += [
        "",
        "Columns: *build* is `build_store` of all networks (for Ray: tasks, shards written by "
        "this process); *executor start* creates the executor (process pool: spawn and import; "
        "Ray: the actors, which load the stores); *generation 1/2* is `set_sample` + `scores` "
        "on a new sample (generation 1 includes the actors' first store reads); *Ray init* is "
        "`ray.init` of a local Ray, *Ray workers ready* the first task on every worker (import "
        "of torch and gpnas).  Medians (min..max over the repetitions); ratios of medians, > 1 "
        "is faster than serial.",
        "",
        f"Transfers: a generation's programs {sizes['programs'] / 1e3:.1f} kB (put once), its "
        f"scores {sizes['scores'] / 1e3:.1f} kB back; a shard {sizes['shard_mb']:.1f} MB per "
        f"network (median) from worker to driver in a build; a whole store "
        f"{sizes['store_mb']:.0f} MB when it is shipped to a node without the shared path "
        "(once per node).",
        "",
        "## Estimate for N machines",
        "",
        f"Measured per-task costs on this machine: collecting one network "
        f"{per_net:.2f} s (median over the build, one core), scoring one program on "
        f"2 x {args.sample} networks {t_prog * 1e3:.0f} ms (serial generation 2 / programs).  "
        f"With N machines of c cores a build runs N*c networks at once, about N*c / "
        f"{per_net:.2f} networks/s, and the driver receives and writes "
        f"{sizes['shard_mb']:.1f} MB per network, which caps the rate at its link: "
        f"~{link(1)} networks/s on 1 Gbit/s, ~{link(10)} on 10 Gbit/s.  A 1000-network store "
        f"takes about {1000 * per_net / 60:.0f} min on one core; on 64 cores (8 machines x 8) "
        f"the workers could collect {64 / per_net:.0f} networks/s, so it takes about "
        f"{1000 / min(64 / per_net, link(1)) / 60:.1f} min behind a 1 Gbit/s link and "
        f"{1000 / min(64 / per_net, link(10)):.0f} s behind 10 Gbit/s.  "
        "A generation's new programs (about P for a population of P) are "
        f"dealt to the actors of each sampled space in chunks; it takes about s x P x "
        f"{t_prog * 1e3 / 2:.0f} ms / (N*c) for s sampled spaces (each program scored on each "
        "space by one actor), plus a round trip per chunk and the slowest program; the "
        "programs and scores are a few kB.  So fitness scales up to about s x P actors (4 "
        f"spaces x 50 programs: 200 cores; on 64 cores a generation of 50 on 4 spaces would "
        f"take ~{4 * 50 * t_prog / 2 / 64:.1f} s against {4 * 50 * t_prog / 2:.0f} s serial) "
        "before cores idle, and an actor holds only its "
        "space's sample, so memory per node grows with the actors on it, not with the spaces.  "
        "Larger samples (the discovery runs' 100+ networks per space) make each program dearer "
        "and scale the same way.  Each node first reads the pool statistics once (its page "
        "cache, or the shipped store), and Ray's start-up is a fixed cost per run (table).",
        "",
    ]
    path.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
