"""Speed and size of statistics collection: networks per second and MB per network on disk.

For nb201-cifar10 and darts-cifar10: build a store of a few benchmark networks (batch size 1,
float16, 1 torch thread as ``gpnas stats build`` does), then read it back with ``load_groups``.
Also the ReLU-Conv-BN instance counts over every architecture of the benchmark tables, computed
from the encodings and checked against a forward trace on a sample.

    python benchmarks/stats_build.py            # 8 networks per space
    python benchmarks/stats_build.py --quick    # 3 networks per space
    python benchmarks/stats_build.py --bench-dir ../shared/benchdata

Writes benchmarks/results/stats_build.md (``--md`` to change).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.spaces import darts, get_space, nb201  # noqa: E402
from gpnas.data.stats.collect import collect, instance_info  # noqa: E402
from gpnas.data.stats.images import sample_images  # noqa: E402
from gpnas.data.stats.build import build_store  # noqa: E402
from gpnas.data.stats.store import StatsStore  # noqa: E402

SPACES = ("nb201-cifar10", "darts-cifar10")


def nb201_count(arch: str) -> int:
    """15 cells x conv edges + 2 reductions x 2."""
    cell = nb201.parse(arch)
    return 15 * sum(op.startswith("nor_conv") for node in cell for op, _ in node) + 4


def darts_count(arch: str) -> tuple[int, int]:
    """(instances, of which ReLU-Conv-Conv-BN) of the C=16, 8-cell network."""
    normal, reduce = darts.parse(arch)
    per = {"sep_conv_3x3": 2, "sep_conv_5x5": 2, "dil_conv_3x3": 1, "dil_conv_5x5": 1}

    def cell(pairs):
        return sum(per.get(darts.OPS[op], 0) for _, op in pairs)

    n_red = 2
    n_norm = darts.LAYERS - n_red
    sep = n_norm * cell(normal) + n_red * cell(reduce)
    return sep + 2 * darts.LAYERS - n_red, sep  # preprocessing: 2 per cell, FR after reductions


def archs_for(space: str, n: int, bench_dir):
    try:
        b = load_benchmark(space, bench_dir, "valid" if space.startswith("darts") else "test")
        archs, acc = b.sample(n, seed=0)
        return b, archs, acc, b.metric
    except Exception as exc:  # no benchmark for darts without --bench-dir
        print(f"  ({space}: {exc}; using random architectures)", file=sys.stderr)
        rng = np.random.default_rng(0)
        sp = get_space(space)
        return None, [sp.random_arch(rng) for _ in range(n)], None, "none"


def measure(space: str, n: int, bench_dir, tmp: Path, threads: int, batch_size: int,
            jobs: int) -> dict:
    bench, archs, acc, metric = archs_for(space, n, bench_dir)
    sp = get_space(space)
    # warm-up (first-call allocations, image decoding) outside the timing
    build_store(tmp / f"{space}-warm", space, archs[:1], None if acc is None else acc[:1],
                metric=metric, progress=False, threads=threads, batch_size=batch_size)
    out = tmp / space
    t = time.perf_counter()
    store = build_store(out, space, archs, acc, metric=metric, progress=False, threads=threads,
                        batch_size=batch_size, jobs=jobs)
    build_s = time.perf_counter() - t
    sizes = np.array([r["bytes"] for r in store.nets]) / 1e6
    inst = np.array(store.instances())
    per_net = np.array([r["seconds"] for r in store.nets])
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        t = time.perf_counter()
        groups = StatsStore(out).load_groups(range(len(store)))
        load_s = time.perf_counter() - t
    finally:
        torch.set_num_threads(threads_before)
    f32_mb = sum(v.numel() * 4 for g in groups for v in g.tensors.values()) / 1e6
    # instance counts of the whole benchmark table, from the encodings
    count = nb201_count if sp.family == "nb201" else (lambda a: darts_count(a)[0])
    table = bench.archs if bench is not None else archs
    counts = np.array([count(a) for a in table])
    img = sample_images(sp, batch_size, 0)
    # the largest network of the space, best of 3 (robust to other jobs on the machine)
    big = (nb201.to_string(tuple(tuple(("nor_conv_3x3", i) for i in range(k)) for k in (1, 2, 3)))
           if sp.family == "nb201" else str([[(j % 2, 3) for j in range(8)]] * 2))
    best = []
    threads_before = torch.get_num_threads()
    torch.set_num_threads(threads)
    for _ in range(3):
        t = time.perf_counter()
        collect(sp.build(big, seed=0), img, seed=0)
        best.append(time.perf_counter() - t)
    torch.set_num_threads(threads_before)
    img = sample_images(sp, 1, 0)
    checked = archs[: min(len(archs), 5)]
    traced = [len(instance_info(sp.build(a, seed=0), img).convs) for a in checked]
    assert traced == [count(a) for a in checked], (traced, [count(a) for a in checked])
    return {
        "space": space, "nets": len(store), "build_s": build_s, "nets_per_s": len(store) / build_s,
        "s_per_net_collect": float(per_net.mean()), "mb_per_net": float(sizes.mean()),
        "mb_min": float(sizes.min()), "mb_max": float(sizes.max()),
        "inst_mean": float(inst.mean()), "inst_min": int(inst.min()), "inst_max": int(inst.max()),
        "load_s": load_s, "f32_mb": f32_mb, "load_mb_s": f32_mb / load_s,
        "table": "benchmark" if bench is not None else "random sample", "table_n": len(table),
        "table_min": int(counts.min()), "table_max": int(counts.max()),
        "table_mean": float(counts.mean()), "metric": metric,
        "big_instances": count(big), "big_best_s": min(best),
    }



def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 networks per space")
    ap.add_argument("--nets", type=int, default=None, help="networks per space (default 8)")
    ap.add_argument("--bench-dir", default=None,
                    help="benchmark data (default: ../shared/benchdata when present)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (build_store jobs)")
    ap.add_argument("--md", default=str(ROOT / "benchmarks" / "results" / "stats_build.md"))
    args = ap.parse_args()
    n = args.nets or (3 if args.quick else 8)
    bench_dir = args.bench_dir
    if bench_dir is None and (ROOT / ".." / "shared" / "benchdata").is_dir():
        bench_dir = str((ROOT / ".." / "shared" / "benchdata").resolve())
    load0 = os.getloadavg()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for space in SPACES:
            r = measure(space, n, bench_dir if space.startswith("darts") else None, Path(tmp),
                        args.threads, args.batch_size, args.jobs)
            rows.append(r)
            print(f"{space}: {r['nets_per_s']:.2f} nets/s ({r['s_per_net_collect']:.2f} s/net "
                  f"build+collect+encode), {r['mb_per_net']:.1f} MB/net on disk "
                  f"(float16; {r['mb_min']:.1f}..{r['mb_max']:.1f}), instances "
                  f"{r['inst_min']}..{r['inst_max']}; load {r['load_mb_s']:.0f} MB/s float32; "
                  f"{r['table']} ({r['table_n']} archs) instances {r['table_min']}.."
                  f"{r['table_max']} (mean {r['table_mean']:.1f}); largest net "
                  f"({r['big_instances']} instances) {r['big_best_s']:.2f} s best of 3")
    load1 = os.getloadavg()[0]
    lines = [
        "# Statistics collection: speed and size",
        "",
        f"`python benchmarks/stats_build.py{' --quick' if args.quick else ''}` "
        f"({datetime.date.today().isoformat()}).  {n} benchmark networks per space (a seeded "
        f"sample), batch size {args.batch_size}, float16 on disk, {args.jobs} process(es) x "
        f"{args.threads} torch thread(s), default image sample.  nets/s is the wall time of "
        "`build_store` (build, collect, encode, write, index); s/net is build+collect+encode "
        "of one network.",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}, Python "
        f"{platform.python_version()}.  Load average {load0:.1f} at the start, {load1:.1f} at "
        "the end (other jobs shared the machine: treat the speeds as lower bounds).",
        "",
        "| space | nets/s | s/net (build+collect+encode) | MB/net on disk (float16) | min..max MB "
        "| instances/net (sample) | load_groups, float32 | largest net: build+collect, best of 3 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['space']} | {r['nets_per_s']:.2f} | {r['s_per_net_collect']:.2f} | "
            f"{r['mb_per_net']:.1f} | {r['mb_min']:.1f}..{r['mb_max']:.1f} | "
            f"{r['inst_min']}..{r['inst_max']} (mean {r['inst_mean']:.1f}) | "
            f"{r['load_mb_s']:.0f} MB/s ({r['f32_mb']:.0f} MB in {r['load_s']:.2f} s) | "
            f"{r['big_best_s']:.2f} s ({r['big_instances']} instances) |")
    lines += [
        "",
        "Instance counts over whole tables (from the encodings; checked against a forward trace "
        "on the sampled networks):",
        "",
        "| space | table | archs | instances min..max | mean |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['space']} | {r['table']} ({r['metric']}) | {r['table_n']} | "
                     f"{r['table_min']}..{r['table_max']} | {r['table_mean']:.1f} |")
    lines += [
        "",
        "Possible ranges: NB201 4 (every edge `none`) .. 94 (every edge `nor_conv_3x3`); DARTS "
        "(C=16, 8 cells) 14 (pools/skip only) .. 142 (sep convs only).  Size scales with the "
        "instances and their resolution: an all-`nor_conv_3x3` NB201 network is about 88 MB in "
        "float32 (44 MB float16) at batch size 1; disk size grows linearly with the batch size "
        "except for the weight tensors.",
        "",
    ]
    Path(args.md).parent.mkdir(parents=True, exist_ok=True)
    Path(args.md).write_text("\n".join(lines))
    print(f"wrote {args.md}")


if __name__ == "__main__":
    main()
