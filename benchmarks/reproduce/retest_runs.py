"""Re-test finished runs on (a prefix of) their held-out test networks and tabulate them.

    python benchmarks/reproduce/retest_runs.py RUN_DIR [RUN_DIR ...] --test-nets 250 \
        --out benchmarks/results/nb201_seeds.md

The runs must share data settings (data_seed, spaces' benchmarks, collection settings); their
candidates are tested together in one streamed pass per space, each run's results.json is
rewritten, and a table of test Kendall tau per run and space (mean ± std over runs) is written.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from gpnas.config import RunConfig
from gpnas.search.representations import make_representation
from gpnas.run.evolve import Outcome
from gpnas.run.prepare import prepare
from gpnas.run.report import test_and_report
from gpnas.run.rundir import RunDir
from gpnas.search.checkpoint import state_from_json


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--test-nets", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    outcomes = []
    for path in args.runs:
        rd = RunDir(path)
        cfg = replace(RunConfig.from_dict(rd.config()), test_nets=args.test_nets).validate()
        rep = make_representation(cfg)
        outcomes.append(Outcome(cfg, rd, state_from_json(rd.checkpoint(), rep), rep))
    data = prepare(outcomes[0].cfg)
    results = test_and_report(outcomes, data)
    spaces = sorted(results[0]["test_nets"])
    lines = ["| run | seed | best program (final top-1) | search s | "
             + " | ".join(f"{s} tau (rho)" for s in spaces) + " |",
             "|---|---|---|---|" + "---|" * len(spaces)]
    taus = {s: [] for s in spaces}
    for o, r in zip(outcomes, results):
        best = r["candidates"][0]
        cells = []
        for s in spaces:
            t = best["test"][s]
            taus[s].append(t["kendall"])
            cells.append("invalid" if t["kendall"] is None else
                         f"{t['kendall']:.3f} ({t['spearman']:.3f})")
        lines.append(f"| {o.rundir.path.name} | {o.cfg.seed} | `{best['program']}` | "
                     f"{r['search_seconds']:.0f} | " + " | ".join(cells) + " |")
    lines.append("| mean ± std | | | | " + " | ".join(
        f"{np.mean([t for t in taus[s] if t is not None]):.3f} ± "
        f"{np.std([t for t in taus[s] if t is not None]):.3f}" for s in spaces) + " |")
    lines += ["", "All candidates (final top-3 and best ever) per run:", ""]
    for o, r in zip(outcomes, results):
        for c in r["candidates"]:
            cells = ", ".join(f"{s} {c['test'][s]['kendall']:.3f}" if c["test"][s]["kendall"]
                              is not None else f"{s} invalid" for s in spaces)
            lines.append(f"- {o.rundir.path.name} {c['label']}: `{c['program']}` ({cells})")
    text = "\n".join(lines) + "\n"
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
