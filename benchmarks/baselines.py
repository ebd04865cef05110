"""Cost of the baseline metrics: ``gpnas baselines`` before issue 17 vs now, and NASWOT vs a plain
forward pass of its batch.

(1) Seconds per network per metric of ``score_networks`` (what ``gpnas baselines`` runs) on NB201
CIFAR-10 benchmark networks, each side as the command runs by default: before, one process with
torch's default threads; now, one worker process per core.  The two run in turn (before, now,
before, now ...), each in its own subprocess (the earlier revision's source from ``git archive``).
(2) NASWOT (batch 128) / a plain forward of the same batch (train mode, no gradients), per
network, both in the same process, in turn; medians -- in both revisions.

    python benchmarks/baselines.py            # 8 networks, 2 rounds
    python benchmarks/baselines.py --quick    # 3 networks, 1 round

Writes benchmarks/results/baselines.md (not with --quick unless --md is given).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import abtree

ROOT = Path(__file__).resolve().parents[1]
SPACE = "nb201-cifar10"


def side_metrics(n: int, jobs: int) -> dict:
    """Seconds per network of each metric (score_networks on n networks, one metric at a time)."""
    import inspect

    from gpnas.baselines import BASELINES
    from gpnas.baselines.evaluate import score_networks
    from gpnas.data.groundtruth import load_benchmark

    archs, _ = load_benchmark(SPACE, None, "test").sample(n + 1, seed=0)
    kw = {"jobs": jobs} if "jobs" in inspect.signature(score_networks).parameters else {}
    score_networks(SPACE, archs[-1:], list(BASELINES), progress=False)  # warm-up
    out = {}
    for name in BASELINES:
        t = time.perf_counter()
        score_networks(SPACE, archs[:n], [name], progress=False, **kw)
        out[name] = (time.perf_counter() - t) / n
    return out


def side_naswot(n: int) -> dict:
    """Per network: NASWOT seconds / seconds of a plain forward of the same batch."""
    import torch

    from gpnas.baselines.naswot import naswot
    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.images import sample_images

    torch.set_num_threads(1)
    sp = get_space(SPACE)
    archs, _ = load_benchmark(SPACE, None, "test").sample(n, seed=2)
    x = sample_images(sp, 128, 0)
    ratios, fwd, nw = [], [], []
    for arch in archs:
        model = sp.build(arch, seed=0).train()
        with torch.no_grad():
            model(x)  # warm-up
        times = {"forward": [], "naswot": []}
        for _ in range(3):
            t = time.perf_counter()
            with torch.no_grad():
                model(x)
            times["forward"].append(time.perf_counter() - t)
            t = time.perf_counter()
            naswot(model, x)
            times["naswot"].append(time.perf_counter() - t)
        f, s = min(times["forward"]), min(times["naswot"])
        fwd.append(f)
        nw.append(s)
        ratios.append(s / f)
    return {"ratio": statistics.median(ratios), "ratios": ratios,
            "forward": statistics.median(fwd), "naswot": statistics.median(nw)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 networks, 1 round")
    ap.add_argument("--nets", type=int, help="networks (default 8, quick 3)")
    ap.add_argument("--rounds", type=int, help="rounds (default 2, quick 1)")
    ap.add_argument("--baseline", default=abtree.BEFORE_ISSUE_17)
    ap.add_argument("--md", default=None)
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--metrics", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--naswot", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--jobs", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        abtree.enter_side(args.side)
        out = side_metrics(args.metrics, args.jobs) if args.metrics else side_naswot(args.naswot)
        print(json.dumps(out))
        return

    from gpnas.threads import available_cores

    n = args.nets or (3 if args.quick else 8)
    rounds = args.rounds or (1 if args.quick else 2)
    md = args.md or (None if args.quick else str(ROOT / "benchmarks/results/baselines.md"))
    cores = available_cores()
    trees = {"before": abtree.baseline_tree(args.baseline), "now": ROOT}
    jobs = {"before": 1, "now": cores}
    load0 = abtree.load()
    per: dict[str, list[dict]] = {s: [] for s in trees}
    ns: dict[str, list[dict]] = {s: [] for s in trees}
    for r in range(rounds):
        for side, tree in trees.items():
            per[side].append(abtree.run_side(tree, __file__, ["--metrics", str(n), "--jobs",
                                                              str(jobs[side])]))
            ns[side].append(abtree.run_side(tree, __file__, ["--naswot", str(n)]))
            print(f"  round {r + 1} {side}: {sum(per[side][-1].values()):.1f} s/network (all "
                  f"metrics), NASWOT/forward {ns[side][-1]['ratio']:.2f} (load {abtree.load()})",
                  flush=True)
    load1 = abtree.load()
    metrics = [m for m in per["now"][0] if m in per["before"][0]]  # metrics new since: left out
    med = {s: {m: statistics.median(run[m] for run in per[s]) for m in metrics} for s in trees}
    ratio = {s: statistics.median(run["ratio"] for run in ns[s]) for s in trees}
    lines = ["# Baseline metrics: cost per network, before and after issue 17", "",
             f"`python benchmarks/baselines.py{' --quick' if args.quick else ''}`; "
             f"{platform.machine()}, {cores} cores.  Load average (1 / 5 / 15 min) {load0} at "
             f"the start, {load1} at the end (other jobs shared the machine).", "",
             f"## (1) Seconds per network per metric ({SPACE}, {n} networks, median of {rounds} "
             f"round(s))", "",
             f"Before ({args.baseline}): one process, torch's default threads (as `gpnas "
             f"baselines` ran); now: `gpnas baselines` default, {cores} worker processes with "
             "one torch thread each.", "",
             "| metric | before s/net | now s/net | before / now |", "|---|---|---|---|"]
    for m in metrics:
        b, a = med["before"][m], med["now"][m]
        lines.append(f"| {m} | {b:.3f} | {a:.3f} | {b / a:.1f}x |")
    tb, ta = sum(med["before"].values()), sum(med["now"].values())
    lines += [f"| **all metrics** | {tb:.2f} | {ta:.2f} | {tb / ta:.1f}x |", "",
              f"## (2) NASWOT / plain forward of its batch (128 images, {n} networks, one torch "
              "thread, best of 3 each, median over networks)", "",
              "| revision | NASWOT s | forward s | NASWOT / forward |", "|---|---|---|---|"]
    for s in trees:
        lines.append(f"| {s} | {statistics.median(r['naswot'] for r in ns[s]):.3f} | "
                     f"{statistics.median(r['forward'] for r in ns[s]):.3f} | "
                     f"**{ratio[s]:.2f}** |")
    lines += ["", "NASWOT's time includes its deep copy of the model and the kernel of the ReLU "
              "codes; the forward is the model's own, in train mode without gradients.", ""]
    report = "\n".join(lines)
    print(report)
    if md:
        Path(md).write_text(report)
        print(f"wrote {md}")


if __name__ == "__main__":
    main()
