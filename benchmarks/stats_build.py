"""Speed and size of statistics collection: the builder before issue 17 vs now, side by side.

(1) Networks per second of ``build_store`` on NB201 CIFAR-10 (batch size 1, float16), each builder
as ``gpnas stats build`` runs it by default: the earlier one in one process, the current one with
one worker process per core.  The two run in turn (A B A B ...) on the same benchmark networks,
each in its own subprocess (the earlier revision's source extracted with ``git archive``); medians
over the rounds, and whether the two stores' shards are byte-identical.
(2) Where one network's time goes (CPU seconds of this process, medians over networks), in both
revisions: building and initialising the network, collecting its statistics, encoding and
writing the shard -- and the floor: a plain forward + backward of its three inputs.
(3) For nb201-cifar10 and darts-cifar10 (current builder): MB per network on disk, load speed,
instance counts over the benchmark tables.

    python benchmarks/stats_build.py            # 40 networks x 3 rounds, 16 profiled
    python benchmarks/stats_build.py --quick    # 12 networks x 2 rounds, 6 profiled (1-2 min)

Writes benchmarks/results/stats_build.md (not in --quick mode, unless --md is given).  The last
line printed is ``speedup: X`` (networks per second, current / earlier builder, median of rounds).
"""

from __future__ import annotations

import argparse
import datetime
import inspect
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import abtree

ROOT = Path(__file__).resolve().parents[1]
SPACE = "nb201-cifar10"
SPACES = ("nb201-cifar10", "darts-cifar10")


# -- run inside a subprocess, with one revision's packages (--side TREE) ------------------------

def side_build(n: int, jobs: int) -> dict:
    """Build a store of the first n sampled benchmark networks (after a one-network warm-up)."""
    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.stats.build import build_store

    bench = load_benchmark(SPACE, None, "test")
    archs, acc = bench.sample(n + 1, seed=0)
    with tempfile.TemporaryDirectory() as tmp:
        build_store(Path(tmp) / "warm", SPACE, archs[-1:], acc[-1:], metric=bench.metric,
                    progress=False)
        cpu0 = _cpu_seconds()
        t = time.perf_counter()
        store = build_store(Path(tmp) / "s", SPACE, archs[:n], acc[:n], metric=bench.metric,
                            progress=False, jobs=jobs)
        seconds = time.perf_counter() - t
        return {"seconds": seconds, "nets": len(store), "cpu": _cpu_seconds() - cpu0,
                "sha256": [r["sha256"] for r in store.nets]}


def _cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    import resource

    return sum(r.ru_utime + r.ru_stime for r in (resource.getrusage(resource.RUSAGE_SELF),
                                                 resource.getrusage(resource.RUSAGE_CHILDREN)))


def side_profile(n: int) -> dict:
    """CPU seconds per phase of each of n networks (one process, one torch thread)."""
    import torch

    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.spaces import get_space
    from gpnas.data.stats import trace
    from gpnas.data.stats.build import _settings
    from gpnas.data.stats.images import sample_images
    from gpnas.data.stats.shards import write_net

    torch.set_num_threads(1)
    sp = get_space(SPACE)
    archs, _ = load_benchmark(SPACE, None, "test").sample(n, seed=1)
    img = sample_images(sp, 1, 0)
    gen = torch.Generator().manual_seed(0)
    inputs = [img, torch.randn(img.shape, generator=gen), img + 0.1 * torch.randn(img.shape)]
    fused = "fused" in inspect.signature(trace.collect_with_info).parameters
    extra = (0,) if "cross_batch" in inspect.signature(_settings).parameters else ()
    settings = _settings(SPACE, 1, 0, "rcb", None, "float16", "x", *extra)
    clock = time.thread_time
    phases: dict[str, list[float]] = {}

    def timed(name, fn):
        t = clock()
        out = fn()
        phases.setdefault(name, []).append(clock() - t)
        return out

    def forward_backward(model):
        for x in inputs:
            x = x.clone().requires_grad_(True)
            torch.autograd.grad(model(x).sum(), [x])

    def forward(model):
        with torch.no_grad():
            for x in inputs:
                model(x)

    kw = {"fused": True} if fused else {}
    with tempfile.TemporaryDirectory() as tmp:
        trace.collect_with_info(sp.build(archs[0], seed=0), img, seed=0, **kw)  # warm-up
        for arch in archs:
            model = timed("build + init", lambda: sp.build(arch, seed=0))
            inst, _ = timed("collect (3 inputs)", lambda: trace.collect_with_info(
                model, img, seed=0, **kw))
            model.train()
            timed("floor: plain forward + backward x 3", lambda: forward_backward(model))
            timed("plain forward x 3", lambda: forward(model))
            t = time.perf_counter()
            timed("encode + write (CPU)", lambda: write_net(Path(tmp) / "s.safetensors",
                                                            {"arch": arch}, inst, "float16",
                                                            settings))
            phases.setdefault("encode + write (wall, with fsync)", []).append(
                time.perf_counter() - t)
    return {"phases": {k: statistics.median(v) for k, v in phases.items()}, "fused": fused}


# -- the benchmark ---------------------------------------------------------------------------

def nb201_count(arch: str) -> int:
    """ReLU-Conv-BN instances of an NB201 network: 15 cells x conv edges + 2 reductions x 2."""
    from gpnas.data.spaces import nb201

    cell = nb201.parse(arch)
    return 15 * sum(op.startswith("nor_conv") for node in cell for op, _ in node) + 4


def darts_count(arch: str) -> tuple[int, int]:
    """(instances, of which ReLU-Conv-Conv-BN) of the C=16, 8-cell DARTS network."""
    from gpnas.data.spaces import darts

    normal, reduce = darts.parse(arch)
    per = {"sep_conv_3x3": 2, "sep_conv_5x5": 2, "dil_conv_3x3": 1, "dil_conv_5x5": 1}

    def cell(pairs):
        return sum(per.get(darts.OPS[op], 0) for _, op in pairs)

    n_red = 2
    sep = (darts.LAYERS - n_red) * cell(normal) + n_red * cell(reduce)
    return sep + 2 * darts.LAYERS - n_red, sep  # preprocessing: 2 per cell, FR after reductions


def ab_build(trees: dict[str, Path], n: int, rounds: int, cores: int) -> dict:
    jobs = {"before": 1, "now": cores}
    runs: dict[str, list[dict]] = {side: [] for side in trees}
    for r in range(rounds):
        for side, tree in trees.items():  # A B A B ...
            out = abtree.run_side(tree, __file__, ["--build", str(n), "--jobs",
                                                   str(jobs[side])])
            runs[side].append(out)
            print(f"  round {r + 1} {side}: {out['nets'] / out['seconds']:.2f} nets/s, "
                  f"{out['cpu'] / out['nets'] * 1000:.0f} CPU ms/net (load {abtree.load()})",
                  flush=True)
    rates = {side: [o["nets"] / o["seconds"] for o in v] for side, v in runs.items()}
    cpu = {side: statistics.median(o["cpu"] / o["nets"] for o in v) for side, v in runs.items()}
    pairs = [b["nets"] / b["seconds"] / (a["nets"] / a["seconds"])
             for a, b in zip(runs["before"], runs["now"])]
    identical = all(a["sha256"] == b["sha256"] for a in runs["before"] for b in runs["now"])
    return {"rates": rates, "median": {s: statistics.median(v) for s, v in rates.items()},
            "pairs": pairs, "identical": identical, "jobs": jobs, "cpu": cpu}


def sizes(space: str, n: int, bench_dir, tmp: Path) -> dict:
    """Size, load speed and instance counts of the current builder's store of n networks."""
    import torch

    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.build import build_store
    from gpnas.data.stats.store import StatsStore

    sp = get_space(space)
    bench = load_benchmark(space, bench_dir if space.startswith("darts") else None,
                           "valid" if space.startswith("darts") else "test")
    archs, acc = bench.sample(n, seed=0)
    store = build_store(tmp / space, space, archs, acc, metric=bench.metric, progress=False,
                        jobs=None)
    mb = np.array([r["bytes"] for r in store.nets]) / 1e6
    inst = np.array(store.instances())
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t = time.perf_counter()
        groups = StatsStore(tmp / space).load_groups(range(len(store)))
        load_s = time.perf_counter() - t
    finally:
        torch.set_num_threads(before)
    f32_mb = sum(v.numel() * 4 for g in groups for v in g.tensors.values()) / 1e6
    count = nb201_count if sp.family == "nb201" else (lambda a: darts_count(a)[0])
    counts = np.array([count(a) for a in bench.archs])
    # the counts from the encodings agree with a forward trace
    from gpnas.data.stats.collect import instance_info
    from gpnas.data.stats.images import sample_images
    img = sample_images(sp, 1, 0)
    for a in archs[:5]:
        assert len(instance_info(sp.build(a, seed=0), img).convs) == count(a), a
    return {"space": space, "nets": len(store), "mb": mb, "inst": inst, "load_mb_s": f32_mb / load_s,
            "f32_mb": f32_mb, "load_s": load_s, "table_n": len(bench.archs), "counts": counts,
            "metric": bench.metric}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="12 networks x 2 rounds, 6 profiled")
    ap.add_argument("--nets", type=int, help="networks per build (default 40, quick 12)")
    ap.add_argument("--rounds", type=int, help="A/B rounds (default 3, quick 2)")
    ap.add_argument("--profile-nets", type=int, help="networks profiled (default 16, quick 6)")
    ap.add_argument("--baseline", default=abtree.BEFORE_ISSUE_17,
                    help="git revision of the earlier builder (default: main before issue 17)")
    ap.add_argument("--bench-dir", default=None,
                    help="benchmark data for darts (default: ../shared/benchdata when present)")
    ap.add_argument("--md", default=None, help="results file (default: "
                    "benchmarks/results/stats_build.md; none in --quick mode)")
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--build", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--profile", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:  # a subprocess of the A/B comparison
        abtree.enter_side(args.side)
        out = side_build(args.build, args.jobs) if args.build else side_profile(args.profile)
        print(json.dumps(out))
        return

    from gpnas.threads import available_cores

    n = args.nets or (12 if args.quick else 40)
    rounds = args.rounds or (2 if args.quick else 3)
    n_prof = args.profile_nets or (6 if args.quick else 16)
    md = args.md or (None if args.quick else str(ROOT / "benchmarks/results/stats_build.md"))
    bench_dir = args.bench_dir
    if bench_dir is None and (ROOT / ".." / "shared" / "benchdata").is_dir():
        bench_dir = str((ROOT / ".." / "shared" / "benchdata").resolve())
    cores = available_cores()
    trees = {"before": abtree.baseline_tree(args.baseline), "now": ROOT}
    load0 = abtree.load()
    print(f"(1) {SPACE}: {n} networks, {rounds} rounds, before ({args.baseline}) vs now")
    ab = ab_build(trees, n, rounds, cores)
    print(f"(2) profile of {n_prof} networks per revision")
    prof = {side: abtree.run_side(tree, __file__, ["--profile", str(n_prof)])
            for side, tree in trees.items()}
    load1 = abtree.load()
    rows = []
    if not args.quick:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [sizes(sp, 8, bench_dir, Path(tmp)) for sp in SPACES]
    speedup = ab["median"]["now"] / ab["median"]["before"]

    lines = [
        "# Statistics collection: speed and size", "",
        f"`python benchmarks/stats_build.py{' --quick' if args.quick else ''}` "
        f"({datetime.date.today().isoformat()}); {platform.processor() or platform.machine()}, "
        f"{cores} cores, Python {platform.python_version()}.  Load average (1 / 5 / 15 min) "
        f"{load0} at the start, {load1} at the end: other jobs shared the machine.", "",
        f"## (1) Builder before ({args.baseline}) vs now, {SPACE}", "",
        f"{n} benchmark networks per build, batch size 1, float16; each builder as `gpnas stats "
        f"build` runs it by default (before: 1 process; now: {cores} worker processes); "
        f"{rounds} rounds, the two in turn (before, now, before, now, ...), each in its own "
        "process after a one-network warm-up.", "",
        "| builder | networks/s per round | median | CPU ms per network (all processes, "
        "median) |", "|---|---|---|---|",
    ]
    for side in ("before", "now"):
        lines.append(f"| {side} ({ab['jobs'][side]} process{'es' if ab['jobs'][side] > 1 else ''})"
                     f" | {', '.join(f'{v:.2f}' for v in ab['rates'][side])} | "
                     f"{ab['median'][side]:.2f} | {ab['cpu'][side] * 1000:.0f} |")
    lines += ["", f"Speedup (median now / median before): **{speedup:.2f}x**; per round "
              f"{', '.join(f'{p:.2f}' for p in ab['pairs'])}.  CPU per network: "
              f"{ab['cpu']['before'] / ab['cpu']['now']:.2f}x less.  Shards byte-identical "
              f"between the two builders: **{'yes' if ab['identical'] else 'NO'}**.  (Linux "
              "shares the CPU between sessions (autogroups), not processes: on a machine busy "
              "with other sessions, more worker processes get no more CPU, and the speedup "
              "shows little more than the CPU saved per network.)", "",
              f"## (2) Where one network's time goes ({n_prof} networks, medians, CPU ms of one "
              "process with one torch thread)", "",
              "| phase | before | now |", "|---|---|---|"]
    names = list(dict.fromkeys(list(prof["before"]["phases"]) + list(prof["now"]["phases"])))
    for name in names:
        cells = [f"{prof[s]['phases'][name] * 1000:.1f}" if name in prof[s]["phases"] else "-"
                 for s in ("before", "now")]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} |")
    total = {s: sum(prof[s]["phases"][k] for k in ("build + init", "collect (3 inputs)",
                                                   "encode + write (CPU)"))
             for s in prof}
    lines += [f"| **build + collect + encode + write (CPU)** | {total['before'] * 1000:.1f} | "
              f"{total['now'] * 1000:.1f} |", "",
              "collect: three passes before, one fused pass now (bit-identical, "
              "`tests/data/test_collect.py`).  The floor of collection is the plain forward + "
              "backward of the three inputs (no hooks, no recorded tensors).", ""]
    if rows:
        lines += ["## (3) Size on disk, load speed, instance counts (current builder)", "",
                  "| space | nets | MB/net on disk (float16) | min..max MB | instances/net | "
                  "load_groups, float32 (1 thread) |", "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['space']} | {r['nets']} | {r['mb'].mean():.1f} | "
                         f"{r['mb'].min():.1f}..{r['mb'].max():.1f} | {r['inst'].min()}.."
                         f"{r['inst'].max()} (mean {r['inst'].mean():.1f}) | "
                         f"{r['load_mb_s']:.0f} MB/s ({r['f32_mb']:.0f} MB in "
                         f"{r['load_s']:.2f} s) |")
        lines += ["", "| space | table | archs | instances min..max | mean |",
                  "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['space']} | {r['metric']} | {r['table_n']} | "
                         f"{r['counts'].min()}..{r['counts'].max()} | {r['counts'].mean():.1f} |")
        lines += ["", "Possible ranges: NB201 4 (every edge `none`) .. 94 (every edge "
                  "`nor_conv_3x3`); DARTS (C=16, 8 cells) 14 (pools/skip only) .. 142 (sep convs "
                  "only).", ""]
    report = "\n".join(lines)
    print(report)
    if md:
        Path(md).parent.mkdir(parents=True, exist_ok=True)
        Path(md).write_text(report)
        print(f"wrote {md}")
    print(f"speedup: {speedup:.2f}")


if __name__ == "__main__":
    main()
