"""Cost of the cross-sample statistics (the discovery preset's batch of B images per network):
this checkout vs an earlier revision, side by side.

Per NB201 CIFAR-10 network (one process, one torch thread, CPU time of the thread): the
cross-sample collection (``collect_cross``, B = 32) and, as its floor, a plain forward +
backward of the same batch.  The two revisions run in turn (A B A B ...), each in its own
subprocess (the earlier one's source from ``git archive``); medians over networks, then over
rounds; and whether both revisions' matrices are bit-identical (SHA-256 of their bytes).

    python benchmarks/cross_collect.py                 # 12 networks x 3 rounds
    python benchmarks/cross_collect.py --quick         # 4 networks x 2 rounds

Writes benchmarks/results/cross_collect.md (not with --quick unless --md is given).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import time
from pathlib import Path

import abtree

ROOT = Path(__file__).resolve().parents[1]
SPACE = "nb201-cifar10"
BATCH = 32
#: the last commit whose cross-sample kernel was a float64 product
BEFORE = "1dce241"


def side(n: int) -> dict:
    """Median CPU seconds per network of the cross-sample collection and of its floor, and the
    SHA-256 of every network's matrices."""
    import torch

    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.cross import collect_cross
    from gpnas.data.stats.images import sample_images

    torch.set_num_threads(1)
    sp = get_space(SPACE)
    archs, _ = load_benchmark(SPACE, None, "test").sample(n, seed=2)
    images = sample_images(sp, BATCH, 0)
    clock = time.thread_time
    collect_cross(sp.build(archs[0], seed=0), images, seed=0)  # warm-up
    times: dict[str, list[float]] = {"collect": [], "floor": []}
    digest = hashlib.sha256()
    for arch in archs:
        model = sp.build(arch, seed=0)
        t = clock()
        per, net, _ = collect_cross(model, images, seed=0)
        times["collect"].append(clock() - t)
        for stats in per + [net]:
            for key in sorted(stats):
                digest.update(stats[key].numpy().tobytes())
        model.train()
        x = images.clone().requires_grad_(True)
        t = clock()
        torch.autograd.grad(model(x).sum(), [x])
        times["floor"].append(clock() - t)
    return {k: statistics.median(v) for k, v in times.items()} | {"sha256": digest.hexdigest()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="4 networks, 2 rounds")
    ap.add_argument("--baseline", default=BEFORE)
    ap.add_argument("--md", default=None)
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--nets", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        abtree.enter_side(args.side)
        print(json.dumps(side(args.nets)))
        return
    n, rounds = (4, 2) if args.quick else (12, 3)
    md = args.md or (None if args.quick else str(ROOT / "benchmarks/results/cross_collect.md"))
    trees = {"before": abtree.baseline_tree(args.baseline), "now": ROOT}
    load0 = abtree.load()
    runs: dict[str, list[dict]] = {s: [] for s in trees}
    for r in range(rounds):
        for name, tree in trees.items():
            runs[name].append(abtree.run_side(tree, __file__, ["--nets", str(n)]))
            print(f"  round {r + 1} {name}: collect {runs[name][-1]['collect'] * 1e3:.1f} ms, "
                  f"floor {runs[name][-1]['floor'] * 1e3:.1f} ms (load {abtree.load()})",
                  flush=True)
    med = {s: {k: statistics.median(run[k] for run in runs[s]) for k in ("collect", "floor")}
           for s in trees}
    same = len({run["sha256"] for s in trees for run in runs[s]}) == 1
    speedup = med["before"]["collect"] / med["now"]["collect"]
    lines = ["# Cross-sample statistics: collection cost per network", "",
             f"`python benchmarks/cross_collect.py{' --quick' if args.quick else ''}`; "
             f"{platform.machine()}, one torch thread.  Load average (1 / 5 / 15 min) {load0} "
             f"at the start, {abtree.load()} at the end.", "",
             f"{SPACE}, {n} networks, B = {BATCH} images, {rounds} rounds in turn (before, now, "
             f"...); CPU ms of the thread per network, median over networks, then over rounds. "
             "The floor is a plain forward + backward of the same batch.", "",
             "| revision | collection ms | floor ms | collection / floor |", "|---|---|---|---|"]
    for s, label in (("before", args.baseline), ("now", "now")):
        c, f = med[s]["collect"], med[s]["floor"]
        lines.append(f"| {label} | {c * 1e3:.1f} | {f * 1e3:.1f} | {c / f:.2f} |")
    lines += ["", f"Speedup of the collection (before / now): **{speedup:.2f}x**.  Matrices "
              f"bit-identical in both revisions: **{'yes' if same else 'NO'}**.", ""]
    report = "\n".join(lines)
    print(report)
    if md:
        Path(md).write_text(report)
        print(f"wrote {md}")
    print(f"speedup: {speedup:.2f}")


if __name__ == "__main__":
    main()
