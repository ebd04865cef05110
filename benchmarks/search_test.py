"""Wall time of a search and the held-out test of its candidates: before issue 17 vs now.

``gpnas run`` on NB201 CIFAR-10 with the paper's settings scaled down (by default 3 generations of
20 programs on the 80-network evolution pool, 20 sampled networks per generation, 48 held-out
test networks instead of 15 x 50 and 1000), each side as the command runs by default, in its own
subprocess (the earlier revision's source from ``git archive``).  Each side first runs once to
fill its own statistics cache (the evolution pool; timed as "prepare, cold"), then the timed runs
alternate (before, now, before, now ...) with the cache warm, as the paper's protocol would run
them.  Search seconds and test seconds are what the run records in results.json; medians over
the rounds.  Both sides search the same seed, so they evolve the same programs (checked: the same
candidates and the same test scores).

    python benchmarks/search_test.py              # 3 x 20, 48 test networks, 2 rounds
    python benchmarks/search_test.py --quick      # 2 x 8, 16 test networks, 1 round

Writes benchmarks/results/search_test.md (not with --quick unless --md is given).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import abtree

ROOT = Path(__file__).resolve().parents[1]
SIDES = ("before", "now")


def run_once(tree: Path, cache: Path, out: Path, settings: list[str]) -> dict:
    """One ``gpnas run`` with ``tree``'s packages; its wall time and what results.json records."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from gpnas.cli import main; main()"
    env = {**os.environ, "GPNAS_CACHE": str(cache), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("GPNAS_BENCH_DIR", None)
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, "run", *settings, "--out", str(out),
                           "--quiet"], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"gpnas run ({tree}) failed:\n{proc.stderr[-3000:]}")
    res = json.loads((out / "results.json").read_text())
    return {"wall": wall, "search": float(res["search_seconds"]), "test": float(res["test_seconds"]),
            "tested": {c["label"]: (c["program"], json.dumps(c.get("test"), sort_keys=True))
                       for c in res["candidates"]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="2 generations x 8, 16 test networks")
    ap.add_argument("--generations", type=int)
    ap.add_argument("--population", type=int)
    ap.add_argument("--test-nets", type=int)
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--baseline", default=abtree.BEFORE_ISSUE_17)
    ap.add_argument("--md", default=None)
    args = ap.parse_args()
    gens = args.generations or (2 if args.quick else 3)
    pop = args.population or (8 if args.quick else 20)
    test_nets = args.test_nets or (16 if args.quick else 48)
    rounds = args.rounds or (1 if args.quick else 2)
    settings = ["--space", "nb201-cifar10", "--generations", str(gens), "--population", str(pop),
                "--evolution-nets", "80", "--sample-nets", "20", "--test-nets", str(test_nets),
                "--seed", "0"]
    trees = {"before": abtree.baseline_tree(args.baseline), "now": ROOT}
    work = Path(tempfile.mkdtemp(prefix="gpnas-search-test-"))
    load_start = abtree.load()
    cold = {}
    for side in SIDES:
        r = run_once(trees[side], work / f"cache-{side}", work / f"cold-{side}", settings)
        cold[side] = r
        print(f"{side} (cold cache): wall {r['wall']:.1f} s, search {r['search']:.1f} s, "
              f"test {r['test']:.1f} s  [load {abtree.load()}]", flush=True)
    runs = {side: [] for side in SIDES}
    for k in range(rounds):
        for side in SIDES:
            r = run_once(trees[side], work / f"cache-{side}", work / f"r{k}-{side}", settings)
            runs[side].append(r)
            print(f"round {k + 1} {side}: wall {r['wall']:.1f} s, search {r['search']:.1f} s, "
                  f"test {r['test']:.1f} s  [load {abtree.load()}]", flush=True)
    load_end = abtree.load()
    # candidates both revisions report (later revisions add labels, e.g. best-ever2): the same
    # programs with the same test scores
    ref = runs["now"][0]["tested"]
    same = all(r["tested"][k] == ref[k] for side in SIDES for r in runs[side]
               for k in r["tested"].keys() & ref.keys())
    med = {side: {k: statistics.median(r[k] for r in runs[side]) for k in ("wall", "search", "test")}
           for side in SIDES}
    prep = {side: cold[side]["wall"] - cold[side]["search"] - cold[side]["test"] for side in SIDES}

    lines = [
        "# Search and held-out test: wall time before and after issue 17", "",
        f"`python benchmarks/search_test.py{' --quick' if args.quick else ''}` "
        f"({datetime.date.today()}): `gpnas run --space nb201-cifar10 --generations {gens} "
        f"--population {pop} --evolution-nets 80 --sample-nets 20 --test-nets {test_nets} "
        f"--seed 0`, default workers; before = {args.baseline}, now = this checkout.  "
        + ("These are the paper's settings (15 x 50, 1000 test networks)."
           if (gens, pop, test_nets) == (15, 50, 1000) else
           "The paper's settings are 15 x 50 and 1000 test networks: this is a scaled-down "
           "run (the search scales with generations x population, the test with the test "
           "networks)."), "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared "
        f"with other sessions; load average (1/5/15 min) {load_start} at the start, {load_end} "
        f"at the end.  {rounds} round(s), interleaved, medians.", "",
        "| phase | before (s) | now (s) | before / now |", "|---|---|---|---|",
        f"| prepare (collect 80 evolution networks, cold cache; one run) | {prep['before']:.1f} | "
        f"{prep['now']:.1f} | {prep['before'] / prep['now']:.2f}x |",
    ]
    for k, label in (("search", f"search ({gens} x {pop}, statistics cached)"),
                     ("test", f"held-out test ({test_nets} networks)"),
                     ("wall", "whole run (warm cache)")):
        lines.append(f"| {label} | {med['before'][k]:.1f} | {med['now'][k]:.1f} | "
                     f"{med['before'][k] / med['now'][k]:.2f}x |")
    per_net = {side: med[side]["test"] / test_nets for side in SIDES}
    lines += ["", f"Held-out test per network: before {per_net['before']:.2f} s, now "
              f"{per_net['now']:.2f} s; 1000 networks would take about "
              f"{1000 * per_net['before'] / 60:.1f} vs {1000 * per_net['now'] / 60:.1f} minutes "
              "at this load.", "",
              "Same programs and test scores for the candidates both sides report: "
              f"{'yes' if same else 'NO'}.", "",
              "Rounds: " + "; ".join(f"{side} " + ", ".join(
                  f"{r['search']:.1f}+{r['test']:.1f} s" for r in runs[side]) for side in SIDES)
              + " (search + test)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.md or not args.quick:
        path = Path(args.md) if args.md else ROOT / "benchmarks" / "results" / "search_test.md"
        path.write_text(text)
        print(f"wrote {path}")
    print(f"speedup: {med['before']['wall'] / med['now']['wall']:.2f}")


if __name__ == "__main__":
    main()
