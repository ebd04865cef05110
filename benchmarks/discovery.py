"""The headline experiment of the discovery preset, and its ablation.

Every variant searches the same evolution pools and is tested on the same held-out networks in
one streamed pass (the data split comes from ``data_seed`` and the shared pool / validation /
test sizes), next to hand-made proxies computed by gpnas on those networks:

=================  ===============================================================================
variant            settings (on top of ``--preset discovery``)
=================  ===============================================================================
discovery          the preset: network-level programs, cross-sample statistics (B = 32), racing
                   fitness on k = 100 networks per space averaged over the spaces, validation
                   pick and ensemble, no duplicate functions
paper              EZNAS's algorithm (aggregation paper, no cross-sample statistics, k = 20, one
                   rung, no dedup) on the same pools; its final-top1 is reported, as the paper's
no-network         discovery without network-level programs (the paper's fixed mean over layers)
no-cross           discovery without cross-sample statistics
small-k            discovery with the paper's k = 20 networks per space and one rung
no-dedup           discovery without the removal of functional duplicates in selection
min                discovery whose fitness is the minimum of the spaces' taus (the paper's), not
                   their mean
no-cv              discovery whose ensemble has up to 3 members while they raise its validation
                   tau, not as many (up to 8) as cross-validation on the validation networks finds
seeded             discovery whose first generation opens with the DSL forms of the hand-made
                   proxies (``programs/{naswot,jacov,swap,meco}.json``)
fitness-*          discovery with another fitness (kendall-partial-size, kendall-size-strata, ...)
=================  ===============================================================================

"no validation pick" needs no run of its own: it is the discovery runs' final-top1.  Every run
with ``ensemble`` > 0 (the preset's 3) also reports its validation ensemble, the "(ensemble)" rows.

    python benchmarks/discovery.py --bench-dir ../shared/benchdata \\
        --space nb201-cifar10,nb201-cifar100,nb201-imagenet16 --seeds 0,1,2 \\
        --variants discovery,paper --out benchmarks/results/discovery/nb201

Re-running resumes unfinished runs; finished ones are only re-tested.  ``--search-only`` stops
before the test, so that several processes can search different variants side by side and one
last call tests them all in one pass.  Writes ``summary.md`` and
``summary.json`` in ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpnas.atomic import write_atomic  # noqa: E402
from gpnas.cli.run import load_seeds  # noqa: E402
from gpnas.config import PRESETS, RunConfig  # noqa: E402
from gpnas.errors import GpnasError  # noqa: E402
from gpnas.run.ablation import mean_std  # noqa: E402
from gpnas.run.evolve import evolve  # noqa: E402
from gpnas.run.prepare import prepare  # noqa: E402
from gpnas.run.report import test_and_report  # noqa: E402
from gpnas.run.rundir import RunDir  # noqa: E402

PAPER = {k: getattr(RunConfig(), k) for k in PRESETS["discovery"] if k not in
         ("evolution_nets", "validation_nets", "references")}
VARIANTS = {
    "discovery": {},
    "paper": {**PAPER, "preset": "paper"},
    "no-network": {"aggregation": "paper"},
    "no-cross": {"cross_batch": 0},
    "small-k": {"sample_nets": 20, "rungs": 1},
    "no-dedup": {"dedup": False},
    "min": {"across_spaces": "min"},
    "no-cv": {"ensemble": 3, "ensemble_folds": 0},
    "seeded": {"seed_programs": [f"programs/{n}.json" for n in ("naswot", "jacov", "swap",
                                                                "meco")]},
}
HEADLINE = ("discovery", "seeded", "min", "no-cv")  # run with --seeds (the others: --ablation-seeds)


def variant(name: str) -> dict:
    if name.startswith("fitness-"):
        return {"fitness": name[len("fitness-"):]}
    if name not in VARIANTS:
        raise SystemExit(f"unknown variant {name!r}; known: {list(VARIANTS)} and fitness-<name>")
    return VARIANTS[name]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", default=os.environ.get("GPNAS_BENCH_DIR"))
    ap.add_argument("--space", default="nb201-cifar10,nb201-cifar100,nb201-imagenet16")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--ablation-seeds", default=None,
                    help="seeds of the variants other than discovery and seeded (default: --seeds)")
    ap.add_argument("--variants", default="discovery,paper")
    ap.add_argument("--generations", type=int, default=15)
    ap.add_argument("--population", type=int, default=50)
    ap.add_argument("--test-nets", type=int, default=500)
    ap.add_argument("--evolution-nets", type=int, default=PRESETS["discovery"]["evolution_nets"])
    ap.add_argument("--validation-nets", type=int,
                    default=PRESETS["discovery"]["validation_nets"])
    ap.add_argument("--sample-nets", type=int, default=PRESETS["discovery"]["sample_nets"])
    ap.add_argument("--references", default="params,flops,naswot,jacov,synflow,zico")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--out", required=True)
    ap.add_argument("--search-only", action="store_true",
                    help="run (or resume) the searches, leave the test to a later call")
    ap.add_argument("--published", default="",
                    help="comma-separated NASLib proxies (nwot, synflow, jacov, ...) whose "
                    "published scores of the DARTS test networks (naslib_zc/zc_nasbench301.json "
                    "in --bench-dir) join the table")
    args = ap.parse_args()
    base = RunConfig.from_sources(flags={
        "preset": "discovery", "spaces": args.space, "bench_dir": args.bench_dir,
        "generations": args.generations, "population": args.population,
        "test_nets": args.test_nets, "references": args.references, "workers": args.workers,
        "evolution_nets": args.evolution_nets, "validation_nets": args.validation_nets,
        "sample_nets": args.sample_nets})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = prepare(base)  # every variant reads the base's stores (a superset of what it needs)
    with contextlib.ExitStack() as held:  # one writer per run directory
        outcomes, labels = run_all(args, base, out, data, held)
        if args.search_only:
            return
        results = test_and_report(outcomes, data)
    summary = summarise(labels, outcomes, results, base.spaces)
    summary["published"] = published(args, data, base.spaces)
    write_atomic(out / "summary.json", json.dumps(summary, indent=2))
    write_atomic(out / "summary.md", to_markdown(summary, args))
    print(to_markdown(summary, args))


def run_all(args, base, out, data, held) -> tuple[list, list]:
    """Run (or resume) every variant's searches, each run directory's lock entered into
    ``held``; (outcomes, labels (variant, seed, seconds))."""
    outcomes, labels = [], []
    for name in args.variants.split(","):
        seeds = args.seeds if name in HEADLINE else (args.ablation_seeds or args.seeds)
        for seed in [int(s) for s in seeds.split(",")]:
            cfg = replace(base, seed=seed, **variant(name)).validate()
            rundir = RunDir(out / f"{name}-s{seed}").make()
            held.enter_context(rundir.lock())
            resume = rundir.checkpoint() is not None
            if not resume:
                rundir.create(cfg.to_dict())
            t0 = time.time()
            print(f"== {name}, seed {seed}", flush=True)
            openers = load_seeds(ROOT / p for p in cfg.seed_programs)
            outcomes.append(evolve(cfg, rundir, data, resume, seeds=openers))
            labels.append((name, seed, time.time() - t0))
    return outcomes, labels


def summarise(labels, outcomes, results, spaces) -> dict:
    rows = []
    for (name, seed, _), o, res in zip(labels, outcomes, results):
        by_label = {c["label"]: c for c in res["candidates"]}
        pick = "final-top1" if name == "paper" else "validation-best"
        for label in dict.fromkeys([pick, "final-top1"]):
            # a final top-1 that is the validation pick is listed once, as the pick
            c = by_label.get(label) or (by_label.get("validation-best")
                                        if label == "final-top1" else None)
            if c is None:
                continue
            rows.append({"variant": name if label == pick else f"{name} (final-top1)",
                         "seed": seed, "program": c["program"], "size": c["size"],
                         "test": {sp: c["test"].get(sp, {}).get("kendall") for sp in spaces},
                         "validation": c.get("validation"),
                         "search_seconds": o.state.elapsed})
        ens = res.get("ensemble")
        if ens and name != "paper":
            rows.append({"variant": f"{name} (ensemble)", "seed": seed, "program": ens["program"],
                         "size": None, "test": {sp: ens["test"].get(sp, {}).get("kendall")
                                                for sp in spaces},
                         "validation": ens["validation"], "search_seconds": o.state.elapsed})
    references = results[0].get("references", {}) if results else {}
    return {"spaces": list(spaces), "runs": rows,
            "references": {n: {sp: r.get("kendall") for sp, r in per.items()}
                           for n, per in references.items()}}


def published(args, data, spaces) -> dict:
    """Kendall tau of NASLib's published NB301 proxies with the accuracy of each DARTS space's
    test networks (proxy -> space -> tau); networks the file lacks are left out."""
    names = [n for n in args.published.split(",") if n]
    darts = [sp for sp in spaces if sp.startswith("darts")]
    if not names or not darts:
        return {}
    from transfer import naslib_scores

    out: dict = {n: {} for n in names}
    for sp in darts:
        bench, test = data[sp].bench, data[sp].test
        scores = naslib_scores(args.bench_dir, sp, [bench.archs[i] for i in test], names)
        for n, s in scores.items():
            known = np.isfinite(s)
            out[n][sp] = float(stats.kendalltau(s[known], bench.accuracy[test][known]).statistic)
    return out


def to_markdown(summary: dict, args) -> str:
    spaces = summary["spaces"]
    lines = ["# Discovery: evolved NASMs vs hand-made proxies on the same held-out networks", "",
             f"`python benchmarks/discovery.py --space {args.space} --seeds {args.seeds} "
             f"--ablation-seeds {args.ablation_seeds or args.seeds} "
             f"--variants {args.variants} --generations {args.generations} --population "
             f"{args.population} --evolution-nets {args.evolution_nets} --validation-nets "
             f"{args.validation_nets} --sample-nets {args.sample_nets} --test-nets "
             f"{args.test_nets}`", "",
             "| NASM | " + " | ".join(f"test tau {s}" for s in spaces) + " | search s |",
             "|---|" + "---:|" * (len(spaces) + 1)]
    variants = list(dict.fromkeys(r["variant"] for r in summary["runs"]))
    for v in variants:
        runs = [r for r in summary["runs"] if r["variant"] == v]
        lines.append(f"| {v} ({len(runs)} seeds) | "
                     + " | ".join(mean_std([r["test"][s] for r in runs]) for s in spaces)
                     + f" | {np.mean([r['search_seconds'] for r in runs]):.0f} |")
    for n, per in summary["references"].items():
        lines.append(f"| {n} (gpnas, reference) | "
                     + " | ".join("-" if per.get(s) is None else f"{per[s]:.3f}" for s in spaces)
                     + " | |")
    for n, per in summary.get("published", {}).items():
        lines.append(f"| {n} (NASLib, published scores of the same networks) | "
                     + " | ".join("-" if per.get(s) is None else f"{per[s]:.3f}" for s in spaces)
                     + " | |")
    lines += ["", "Programs found (validation pick, validation ensemble; final-top1 for paper):",
              ""]
    for r in summary["runs"]:
        if "(final-top1)" not in r["variant"]:
            lines.append(f"- {r['variant']}, seed {r['seed']}: `{r['program']}`")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    try:
        main()
    except GpnasError as exc:  # e.g. a run directory that another process is writing
        raise SystemExit(f"error: {exc}") from None
