"""Transfer: NASMs found on one space tested on another, where no choice saw a network.

The validation pick and the validation ensemble of finished runs (chosen on their own spaces'
networks only) score every network of the target benchmark, next to the hand-made proxies on
the same networks and initialisation.  Since no network of the target space took part in the
search, the validation or the ensemble's choice, the whole benchmark is a test set for them.
``--compare`` adds runs searched on the target space itself: the transferred programs are then
also scored on those runs' own test networks (their ``test_scores.csv``), side by side.

    GPNAS_CACHE=... python benchmarks/transfer.py --bench-dir ../shared/benchdata \\
        --runs benchmarks/results/discovery/nb201-2000 --space darts-cifar10 \\
        --compare benchmarks/results/discovery/darts-cv --published nwot,synflow,params \\
        --out benchmarks/results/discovery/transfer-darts

Writes ``summary.md``, ``summary.json`` and ``scores.csv`` (every network's scores) to ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from primitives import full_primitive_set  # noqa: E402

from gpnas.atomic import write_atomic  # noqa: E402
from gpnas.baselines.dsl import DSL_PROXIES, dsl_program  # noqa: E402
from gpnas.baselines.evaluate import rank_correlations, score_networks  # noqa: E402
from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.spaces import get_space  # noqa: E402
from gpnas.errors import GpnasError  # noqa: E402
from gpnas.evaluation.engine import Engine, EngineConfig  # noqa: E402
from gpnas.evaluation.ensemble import rank_ensemble  # noqa: E402
from gpnas.evaluation.heldout import score_heldout  # noqa: E402
from gpnas.nasm.programfile import load_program  # noqa: E402
from gpnas.run.ablation import mean_std  # noqa: E402
from gpnas.schemas import read_json  # noqa: E402
from gpnas.threads import available_cores  # noqa: E402


def run_dirs(paths: list[str]) -> list[Path]:
    """Each path that is a finished run directory, or the finished run directories inside it
    whose name starts with ``discovery`` (the preset's runs of ``benchmarks/discovery.py``)."""
    out = []
    for p in map(Path, paths):
        if (p / "results.json").is_file():
            out.append(p)
        else:
            out += sorted(d for d in p.glob("discovery-s*") if (d / "results.json").is_file())
    if not out:
        raise GpnasError(f"no finished run directories in {', '.join(paths)}")
    return out


def run_programs(rundir: Path, pset) -> dict:
    """A run's validation pick and ensemble members (labels, ProgramFiles) and its settings."""
    results = read_json(rundir / "results.json")
    members = (results.get("ensemble") or {}).get("members") or []
    labels = list(dict.fromkeys(["validation-best"] + members))
    files = {label: load_program(rundir, pset, candidate=label) for label in labels}
    return {"name": rundir.name, "results": results, "files": files, "members": members}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bench-dir", default=os.environ.get("GPNAS_BENCH_DIR"))
    ap.add_argument("--runs", required=True, help="comma-separated run directories, or folders "
                    "of discovery-s* run directories")
    ap.add_argument("--space", default="darts-cifar10", help="the target space")
    ap.add_argument("--nets", type=int, default=0, help="networks of the target benchmark "
                    "(a seeded permutation's prefix; default: all)")
    ap.add_argument("--compare", default="", help="folder of runs searched on the target space "
                    "(discovery-s*/test_scores.csv): also score on their test networks")
    ap.add_argument("--references", default="params,flops,naswot,jacov,swap,meco")
    ap.add_argument("--published", default="", help="NASLib proxies of zc_nasbench301.json "
                    "(darts only)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    try:
        summary = transfer(args)
    except GpnasError as exc:
        raise SystemExit(f"error: {exc}") from None
    out = Path(args.out)  # (made by transfer(), which writes scores.csv there)
    write_atomic(out / "summary.json", json.dumps(summary, indent=1))
    md = to_markdown(summary, args)
    write_atomic(out / "summary.md", md)
    print(md)


def transfer(args) -> dict:
    pset = full_primitive_set()
    runs = [run_programs(d, pset) for d in run_dirs(args.runs.split(","))]
    files = [pf for r in runs for pf in r["files"].values()]
    settings = {(pf.to_scalar, pf.aggregate, pf.order, pf.batch_size, pf.cross_batch)
                for pf in files}
    seeds = {r["results"]["config"]["stats_seed"] for r in runs}
    if len(settings) != 1 or len(seeds) != 1:
        raise GpnasError("the runs must share to_scalar, aggregate, order, batch size, "
                         "cross-sample batch and statistics seed")
    pf0, seed = files[0], seeds.pop()
    bench = load_benchmark(args.space, args.bench_dir, "test")
    if args.nets:
        archs, acc = bench.sample(args.nets, seed=0)
    else:
        archs, acc = list(bench.archs), bench.accuracy.copy()

    programs = list({pf.program.key: pf.program for pf in files}.values())
    refs = [n for n in args.references.split(",") if n]
    in_dsl = [n for n in refs if n in DSL_PROXIES and pf0.cross_batch]
    t0 = time.perf_counter()
    res = score_heldout(programs + [dsl_program(n) for n in in_dsl], args.space, archs, acc,
                        Engine(pset, EngineConfig.of(pf0)), batch_size=pf0.batch_size,
                        seed=seed, order=pf0.order, cross_batch=pf0.cross_batch,
                        workers=args.workers)
    seconds = time.perf_counter() - t0
    by_key = {p.key: r for p, r in zip(programs, res)}
    columns: dict[str, np.ndarray] = {}
    for r in runs:
        pick = by_key[r["files"]["validation-best"].program.key]
        columns[f"{r['name']} pick"] = _scores(pick)
        if r["members"]:
            member = [_scores(by_key[r["files"][m].program.key]) for m in r["members"]]
            columns[f"{r['name']} ensemble"] = rank_ensemble(member)
    for n, row in zip(in_dsl, res[len(programs):]):
        columns[n] = _scores(row)
    rest = [n for n in refs if n not in in_dsl]
    if rest:
        metric = {"jacov": "jacob_cov"}
        hand = score_networks(args.space, archs, [metric.get(n, n) for n in rest], seed=seed,
                              label=f"references on {len(archs)} {args.space} nets",
                              jobs=args.workers or available_cores())
        columns.update({n: hand[metric.get(n, n)] for n in rest})
    columns.update(published(args, archs))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy"] + list(columns))
        for i, a in enumerate(archs):
            w.writerow([a, acc[i]] + [f"{columns[c][i]:.9g}" for c in columns])

    subsets = {"all": np.arange(len(archs))}
    compare: dict[str, dict[str, list]] = {}  # subset -> candidate -> each run's tau
    if args.compare:
        index = {a: i for i, a in enumerate(archs)}
        canon = get_space(args.space).canonical
        for d in sorted(Path(args.compare).glob("discovery-s*")):
            with open(d / "test_scores.csv", newline="") as f:
                rows = list(csv.DictReader(f))
            at = np.array([index.get(canon(r["arch"]), -1) for r in rows])
            if (at < 0).any():
                raise GpnasError(f"{d}: test networks that --nets left out; use all networks")
            # runs of one data split share their test networks: one column for them
            name = next((k for k, v in subsets.items() if np.array_equal(v, at)),
                        f"the {len(at)} test networks of {d.parent.name}/{d.name}")
            subsets[name] = at
            own = np.array([float(r["accuracy"]) for r in rows])
            for c in ("validation-best", "validation-ensemble"):
                if c in rows[0]:
                    tau = _tau(np.array([float(r[c]) for r in rows]), own)
                    compare.setdefault(name, {}).setdefault(c, []).append(tau)
    taus = {c: {k: _tau(v[at], acc[at]) for k, at in subsets.items()}
            for c, v in columns.items()}
    return {"space": args.space, "runs": [str(r) for r in args.runs.split(",")],
            "networks": len(archs), "seconds": round(seconds, 1), "stats_seed": seed,
            "programs": {r["name"]: {"pick": r["files"]["validation-best"].text,
                                     "members": [r["files"][m].text for m in r["members"]]}
                         for r in runs},
            "subsets": {k: len(v) for k, v in subsets.items()}, "taus": taus,
            "compare": compare}


def _scores(row: dict) -> np.ndarray:
    return row["scores"] if row["scores"] is not None else np.full(row["n"], np.nan)


def _tau(scores, accuracy) -> float | None:
    return rank_correlations(scores, accuracy)["kendall"]


def naslib_scores(bench_dir, space: str, archs: list[str],
                  names: list[str]) -> dict[str, np.ndarray]:
    """NASLib's published NB301 proxy scores (``naslib_zc/zc_nasbench301.json``) of ``archs``
    of a DARTS space, per proxy name (NaN where the file lacks one)."""
    table = read_json(Path(bench_dir) / "naslib_zc" / "zc_nasbench301.json")["cifar10"]
    canon = get_space(space).canonical
    by_arch = {canon(k): v for k, v in table.items()}
    out = {}
    for n in names:
        vals = [(by_arch.get(a) or {}).get(n) for a in archs]
        out[n] = np.array([np.nan if v is None else (v["score"] if isinstance(v, dict) else v)
                           for v in vals], dtype=float)
    return out


def published(args, archs: list[str]) -> dict[str, np.ndarray]:
    """The ``--published`` proxies' scores of ``archs`` (darts spaces only)."""
    names = [n for n in args.published.split(",") if n]
    if not names or not args.space.startswith("darts"):
        return {}
    return {f"{n} (NASLib, published)": s
            for n, s in naslib_scores(args.bench_dir, args.space, archs, names).items()}


def to_markdown(s: dict, args) -> str:
    runs = list(s["programs"])
    subsets = list(s["subsets"])
    head = [f"all {s['networks']}"] + subsets[1:]
    lines = [f"# Transfer to {s['space']}", "",
             "`python benchmarks/transfer.py " + " ".join(sys.argv[1:]) + "`", "",
             (f"{len(runs)} runs ({', '.join(s['runs'])}); {s['networks']} networks of "
              f"{s['space']}, statistics seed {s['stats_seed']}; collection and scoring "
              f"{s['seconds']:.0f} s."), "",
             "| NASM | " + " | ".join(f"tau, {h}" for h in head) + " |",
             "|---|" + "---:|" * len(head)]
    taus = s["taus"]
    for kind in ("pick", "ensemble"):
        cols = [f"{r} {kind}" for r in runs if f"{r} {kind}" in taus]
        if cols:
            lines.append(f"| transferred validation {kind} ({len(cols)} runs) | " + " | ".join(
                mean_std([taus[c][k] for c in cols]) for k in subsets) + " |")
    for name in dict.fromkeys(c for per in s["compare"].values() for c in per):
        cells = [mean_std(s["compare"][k][name]) if name in s["compare"].get(k, {}) else ""
                 for k in subsets[1:]]
        runs_n = max(len(per.get(name, ())) for per in s["compare"].values())
        lines.append(f"| searched on {s['space']} ({args.compare}): {name} ({runs_n} runs) | | "
                     + " | ".join(cells) + " |")
    for c in taus:
        if c.split(" ")[-1] in ("pick", "ensemble") and c.split(" ")[0] in runs:
            continue
        lines.append(f"| {c} | " + " | ".join(_fmt(taus[c][k]) for k in subsets) + " |")
    lines += ["", "Per run (all networks):", ""]
    for r in runs:
        p = s["programs"][r]
        lines.append(f"- {r}: pick {_fmt(taus[f'{r} pick']['all'])}"
                     + (f", ensemble {_fmt(taus[f'{r} ensemble']['all'])}"
                        f" ({len(p['members'])} members)" if p["members"] else "")
                     + f"; pick `{p['pick']}`")
    return "\n".join(lines) + "\n"


def _fmt(v) -> str:
    return "n/a" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    main()
