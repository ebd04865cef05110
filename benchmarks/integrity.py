"""What the integrity checks of issue 18 cost: opening a statistics store for a run with the
SHA-256 of every pool shard checked (``build_store(verify=True)``, once per shard per process)
against the size-and-header check alone (``verify=False``), and validating the files a run reads
back (the store index, a checkpoint) against their schemas.

    python benchmarks/integrity.py                  # builds a 20-network nb201-cifar10 store
    python benchmarks/integrity.py --store DIR      # an existing store (e.g. from the cache)

A and B are interleaved (A B A B ...), repeated; medians are reported with the machine's load.
Writes benchmarks/results/integrity.md (``--md`` to change).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.stats import build  # noqa: E402
from gpnas.data.stats.store import StatsStore  # noqa: E402
from gpnas.schemas import SearchState, StoreIndex, parse  # noqa: E402


def _open(store: StatsStore, verify: bool) -> float:
    archs = [r["arch"] for r in store.nets]
    build._CHECKED.clear()  # a fresh process: nothing checked yet
    t = time.perf_counter()
    build.build_store(store.path, store.space, archs, metric=store.settings["metric"],
                      batch_size=store.batch_size, seed=store.settings["seed"],
                      order=store.settings["order"], dtype=store.dtype, progress=False,
                      verify=verify)
    return time.perf_counter() - t


def _checkpoint(population: int) -> dict:
    genome = {"repr": "tree", "expr": ["mul", ["log", "relu_in.data"], ["abs", "weight"]]}
    entry = {"key": "k", "genome": genome, "fitness": 0.5, "size": 5, "text": "t",
             "generation": 3}
    return {"generation": 3, "population": [genome] * population, "elites": [genome] * 3,
            "last": [[genome, 0.5, {"nb201-cifar10": 0.5}, None]] * population,
            "rng_state": {"bit_generator": "PCG64", "state": {"state": 2**120, "inc": 2**100 + 1},
                          "has_uint32": 0, "uinteger": 0},
            "hof": {"capacity": 5, "best": [entry] * 5, "pareto": [entry] * 20},
            "elapsed": 12.5, "evaluations": 200}


def _time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--store", type=Path, help="an existing store (default: build one)")
    ap.add_argument("--nets", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--md", type=Path, default=ROOT / "benchmarks/results/integrity.md")
    args = ap.parse_args()
    torch.set_num_threads(1)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        if args.store is None:
            bench = load_benchmark("nb201-cifar10")
            archs, acc = bench.sample(args.nets, 0)
            t = time.perf_counter()
            store = build.build_store(Path(tmp) / "s", "nb201-cifar10", archs, acc,
                                      metric=bench.metric, progress=False)
            collect_s = time.perf_counter() - t
        else:
            store = StatsStore(args.store)
            collect_s = sum(r.get("seconds", 0.0) for r in store.nets)
        mb = sum(r["bytes"] for r in store.nets) / 1e6
        plain, checked = [], []
        for _ in range(args.repeat):  # interleaved
            plain.append(_open(store, verify=False))
            checked.append(_open(store, verify=True))
        index = json.loads((store.path / "stats.json").read_text())
        big = dict(index, nets=[dict(index["nets"][0], id=i, shard=f"shards/{i:06d}.safetensors")
                                for i in range(1000)])
        t_index = _time(lambda: parse(StoreIndex, big, "stats.json"), args.repeat)
        ck = _checkpoint(50)
        t_ck = _time(lambda: parse(SearchState, ck, "checkpoint.json"), args.repeat)
    p, c = statistics.median(plain), statistics.median(checked)
    lines = [
        "# Integrity checks: what they cost", "",
        f"{datetime.date.today()}, `python benchmarks/integrity.py"
        f"{'' if args.store is None else ' --store ...'}`; load average before: "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (2 cores, shared); one torch thread; "
        f"medians of {args.repeat}, interleaved.", "",
        f"Store: {len(store)} nb201-cifar10 networks, {mb:.0f} MB of shards "
        f"(collecting them took {collect_s:.1f} s).", "",
        "| opening the store for a run | seconds | per network |", "|---|---|---|",
        f"| size + header of each shard (`verify=False`) | {p:.3f} | {p / len(store) * 1e3:.1f} ms |",
        f"| + SHA-256 of each shard, first time in a process (`verify=True`) | {c:.3f} | "
        f"{c / len(store) * 1e3:.1f} ms |",
        f"| SHA-256 throughput | {mb / max(c - p, 1e-9):.0f} MB/s | |", "",
        f"The checksums add {c - p:.2f} s for {len(store)} networks, "
        f"{(c - p) / max(collect_s, 1e-9):.1%} of the time their collection took; a run pays "
        "it once per process for its evolution pool (80 networks per space by default), the "
        "second opening in a process only stats the files.", "",
        "| schema validation | milliseconds |", "|---|---|",
        f"| stats.json of 1000 networks | {t_index * 1e3:.1f} |",
        f"| a checkpoint state of population 50 | {t_ck * 1e3:.2f} |", ""]
    args.md.write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
