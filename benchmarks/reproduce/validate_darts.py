"""Validate gpnas's baselines on the DARTS space against NASLib's published NB301 proxies.

    python benchmarks/reproduce/validate_darts.py --bench-dir ../shared/benchdata \\
        --scores benchmarks/results/reproduce/baseline_scores/darts-cifar10.csv \\
        --out benchmarks/results/baseline_validation_darts.md

Reads gpnas's per-architecture scores from the cache that ``paper_tables.py`` fills (the DARTS
test networks of the reproduction tables) and ``<bench-dir>/naslib_zc/zc_nasbench301.json``, and
reports per metric: Kendall tau between gpnas's and the published score of the same
architectures, and of each with the NB301 validation accuracy.  No network is recomputed, except
with ``--self-agreement N``: gpnas's own seed-to-seed agreement (seed 1: another init, other crops
and labels) of the metrics with a gap, on the first N architectures, as the NB201 validation's
table B.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gpnas.data.spaces import get_space  # noqa: E402
from validate_baselines import PUBLISHED  # noqa: E402  (gpnas metric -> NASLib proxy)

def tau(a, b) -> float:
    return float(stats.kendalltau(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", default="../shared/benchdata")
    ap.add_argument("--scores",
                    default="benchmarks/results/reproduce/baseline_scores/darts-cifar10.csv")
    ap.add_argument("--out", default="benchmarks/results/baseline_validation_darts.md")
    ap.add_argument("--self-agreement", type=int, default=0, metavar="N")
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    path = Path(args.bench_dir) / "naslib_zc" / "zc_nasbench301.json"
    if not path.is_file():
        sys.exit(f"error: {path} not found (NASLib's NB301 zero-cost file)")
    canon = get_space("darts-cifar10").canonical
    published = {canon(k): v for k, v in json.loads(path.read_text())["cifar10"].items()}
    ours: dict[str, dict[str, float]] = defaultdict(dict)
    with open(args.scores) as f:
        for rec in csv.DictReader(f):
            ours[rec["metric"]][rec["arch"]] = float(rec["score"])
    lines = ["# Baseline metrics: validation on the DARTS space (NB301, NASLib's published "
             "proxies)", "",
             f"gpnas's scores: `{args.scores}` (the DARTS test networks of "
             "`reproduce/tables.md`: gpnas's DARTS network at C=16, 8 cells, reference init, "
             "seed 0, batch 32 crops of the offline photograph, random labels). Published: "
             f"`{path.name}` (NASLib's NB301 network and zero-cost configuration: a real, labelled "
             "CIFAR-10 training batch per arch, PyTorch's default init). Accuracy: NB301 "
             "validation accuracy (the only one published). Kendall tau-b.", "",
             "| metric (NASLib name) | n | tau(gpnas, published) | tau(gpnas, acc) | "
             "tau(published, acc) | difference |", "|---|---:|---:|---:|---:|---:|"]
    gaps = []
    for m, name in PUBLISHED.items():
        if name is None:  # zen, zico: not published
            continue
        archs = [a for a in ours.get(m, {}) if a in published and name in published[a]]
        if len(archs) < 2:
            continue
        g = np.array([ours[m][a] for a in archs])
        p = np.array([published[a][name]["score"] for a in archs])
        acc = np.array([published[a]["val_accuracy"] for a in archs])
        d = tau(g, acc) - tau(p, acc)
        if abs(d) > 0.05:
            gaps.append(m)
        lines.append(f"| {m} ({name}) | {len(archs)} | {tau(g, p):+.3f} | {tau(g, acc):+.3f} | "
                     f"{tau(p, acc):+.3f} | " + (f"**{d:+.3f}**" if abs(d) > 0.05 else
                                                 f"{d:+.3f}") + " |")
    if args.self_agreement and gaps:
        from gpnas.baselines.evaluate import score_networks

        archs = list(ours[gaps[0]])[: args.self_agreement]
        again = score_networks("darts-cifar10", archs, gaps, seed=1, batch_size=args.batch_size)
        lines += ["", f"gpnas's own seed-to-seed agreement (seed 0 vs seed 1) on the first "
                  f"{len(archs)} of these architectures:", "", "| metric | tau(seed 0, seed 1) |",
                  "|---|---:|"]
        lines += [f"| {m} | {tau([ours[m][a] for a in archs], again[m]):+.3f} |" for m in gaps]
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
