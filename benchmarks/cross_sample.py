"""Cross-sample statistics: the DSL programs of ``programs/`` against their hand-written baselines.

For N NB201 CIFAR-10 networks (a seeded sample of the benchmark) and each cross-sample batch size
B: build a statistics store with the cross-sample statistics of B images, score the networks with
each DSL program (NASWOT, jacov, SWAP-like, MeCo-like) and with the matching baseline of
``gpnas.baselines`` on the same B images (``sample_images(space, B, seed)``), and report Kendall
tau between the two and each one's tau with test accuracy; plus the store's size and build time
per network with and without the cross-sample statistics (same networks, same run).

    python benchmarks/cross_sample.py --bench-dir ../shared/benchdata            # 100 nets
    python benchmarks/cross_sample.py --bench-dir ../shared/benchdata --nets 20 --batches 16

Writes benchmarks/results/cross_sample.md (``--md`` to change).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from primitives import full_primitive_set  # noqa: E402

from gpnas.baselines import BASELINES  # noqa: E402
from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.spaces import get_space  # noqa: E402
from gpnas.data.stats.build import build_store  # noqa: E402
from gpnas.data.stats.images import sample_images  # noqa: E402
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram  # noqa: E402
from gpnas.evaluation.task import Task  # noqa: E402
from gpnas.nasm.programfile import load_program  # noqa: E402

SPACE = "nb201-cifar10"
#: DSL program file -> its hand-written baseline
PAIRS = {"naswot": "naswot", "jacov": "jacob_cov", "swap": "swap", "meco": "meco"}


def tau(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(stats.kendalltau(a[ok], b[ok]).statistic) if ok.sum() > 2 else float("nan")


def build(out: Path, archs, acc, metric, cross_batch: int):
    t0 = time.perf_counter()
    store = build_store(out, SPACE, archs, acc, metric=metric, cross_batch=cross_batch,
                        progress=False)
    return store, (time.perf_counter() - t0) / len(archs), store.disk_bytes() / len(archs) / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", default=os.environ.get("GPNAS_BENCH_DIR"))
    ap.add_argument("--nets", type=int, default=100)
    ap.add_argument("--batches", default="16,32,64")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--md", default=str(ROOT / "benchmarks" / "results" / "cross_sample.md"))
    args = ap.parse_args()
    bench = load_benchmark(SPACE, args.bench_dir, "test")
    archs, acc = bench.sample(args.nets, args.seed)
    space = get_space(SPACE)
    engine = Engine(full_primitive_set(), EngineConfig(cost_budget=float("inf")))
    programs = {name: load_program(ROOT / "programs" / f"{name}.json").program for name in PAIRS}
    rows, sizes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        base, base_s, base_mb = build(Path(tmp) / "plain", archs, acc, bench.metric, 0)
        for b in [int(x) for x in args.batches.split(",")]:
            store, secs, mb = build(Path(tmp) / f"x{b}", archs, acc, bench.metric, b)
            sizes.append((b, base_s, secs, base_mb, mb))
            task = Task.from_store(store, range(len(store)))
            images = sample_images(SPACE, b, args.seed)
            for name, metric in PAIRS.items():
                try:
                    dsl = engine.net_scores(programs[name], task)
                except InvalidProgram as exc:
                    dsl = np.full(len(archs), np.nan)
                    print(f"{name} B={b}: invalid ({exc.reason})")
                t0 = time.perf_counter()
                ref = [BASELINES[metric](space.build(a, seed=args.seed), images, args.seed)
                       for a in archs]
                rows.append((name, metric, b, tau(dsl, ref), tau(dsl, acc), tau(ref, acc),
                             (time.perf_counter() - t0) / len(archs)))
                print(f"B={b:>3} {name:>7}: tau(dsl, {metric}) {rows[-1][3]:.3f}  "
                      f"tau(dsl, acc) {rows[-1][4]:.3f}  tau({metric}, acc) {rows[-1][5]:.3f}",
                      flush=True)
    lines = ["# Cross-sample statistics: DSL programs vs hand-written baselines", "",
             f"`python benchmarks/cross_sample.py --nets {args.nets} --batches {args.batches}` "
             f"on {datetime.date.today()}, {os.cpu_count()} cores, load average "
             f"{os.getloadavg()[0]:.1f} at the end.  {args.nets} NB201 CIFAR-10 networks "
             f"(seed-{args.seed} sample of {bench.source}), test accuracy; DSL programs from "
             "`programs/`, baselines from `gpnas.baselines`, both on the same B images.", "",
             "| program | baseline | B | tau(DSL, baseline) | tau(DSL, acc) | tau(baseline, acc) "
             "| baseline s/net |", "|---|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {n} | {m} | {b} | {t1:.3f} | {t2:.3f} | {t3:.3f} | {s:.2f} |"
              for n, m, b, t1, t2, t3, s in rows]
    lines += ["", "Store per network, without and with the cross-sample statistics (float16 "
              "statistics, float32 matrices; build includes network construction):", "",
              "| B | build s/net without | with | MB/net without | with | growth |",
              "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {b} | {s0:.2f} | {s1:.2f} | {m0:.2f} | {m1:.2f} | {100 * (m1 / m0 - 1):.1f} % |"
              for b, s0, s1, m0, m1 in sizes]
    Path(args.md).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.md}")


if __name__ == "__main__":
    main()
