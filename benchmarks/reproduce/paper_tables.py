"""The paper's tables, reproduced: evolved NASMs against the baselines per space (Table 1) and
evolved on one space, tested on every other (Figure 13).

    python benchmarks/reproduce/paper_tables.py RUN_DIR [RUN_DIR ...] \\
        --bench-dir ../shared/benchdata --test-nets 150 --space-nets darts-cifar10=100 \\
        --test-archs nb201-cifar10=benchmarks/results/reproduce/test_archs_nb201.txt \\
        --scores benchmarks/results/reproduce/baseline_scores --out benchmarks/results/reproduce

RUN_DIR: finished ``gpnas run`` directories; each contributes its final best program (top-1 of
the last generation) and is labelled by representation, the spaces it evolved on and its seed.

Test networks per space: the architectures listed in ``--test-archs SPACE=FILE`` (one arch string
per line), or else the benchmark in the order of one seed-``--seed`` permutation; minus every
architecture that any run evolved on in the same search space family (an NB201 network seen with
its CIFAR-10 accuracy is not held out on CIFAR-100 either); the first ``--test-nets`` of them.
Every NASM and every baseline is scored on exactly those networks.

Baselines (``gpnas.baselines``) are computed at ``--batch-size`` images (NASLib's 32; EZNAS-A at
its own 16, the official code's) with the networks, initialisation and images of ``--seed``, and
cached per architecture in ``--scores DIR/<space>.csv`` so an interrupted run resumes;
``--baselines-only`` fills the cache and stops.  Evolved programs are scored on statistics collected with each run's own settings.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gpnas.baselines import BASELINES  # noqa: E402
from gpnas.baselines.evaluate import rank_correlations, score_networks  # noqa: E402
from gpnas.config import RunConfig  # noqa: E402
from gpnas.evaluation.engine import Engine, EngineConfig  # noqa: E402
from gpnas.errors import GpnasError  # noqa: E402
from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.evaluation.heldout import score_heldout  # noqa: E402
from gpnas.run.prepare import split  # noqa: E402
from gpnas.run.rundir import RunDir  # noqa: E402
from gpnas.data.spaces import get_space  # noqa: E402
from primitives import default_primitive_set  # noqa: E402
from representations.ir import Program  # noqa: E402

SHORT = {"nb201-cifar10": "NB201 C10", "nb201-cifar100": "NB201 C100",
         "nb201-imagenet16": "NB201 IN16", "darts-cifar10": "DARTS C10"}
#: spaces of the paper whose data cannot be had offline
OFFLINE = ["NDS Amoeba", "NDS DARTS", "NDS ENAS", "NDS PNAS", "NDS NASNet", "NAS-Bench-ASR"]
#: EZNAS's own Kendall tau (DESIGN §7: official code, batch 16; NDS from the paper), for reference
PUBLISHED = {"nb201-cifar10": "0.620", "nb201-cifar100": "0.617", "NDS Amoeba": "0.413",
             "NDS DARTS": "0.547", "NDS ENAS": "0.511", "NDS PNAS": "0.478",
             "NDS NASNet": "0.431"}
STAT_KEYS = ("batch_size", "order", "stats_seed", "to_scalar", "aggregate")
#: baselines computed at their own batch size (not --batch-size): the official code's
OWN_BATCH = ("eznas_a", "eznas_a_code")


def family(space: str) -> str:
    return space.split("-")[0]


def evolved_on(spaces) -> str:
    spaces = sorted(spaces)
    if len(spaces) > 1 and all(family(s) == "nb201" for s in spaces):
        return "NB201 x3 jointly" if len(spaces) == 3 else "+".join(SHORT[s] for s in spaces)
    return "+".join(SHORT.get(s, s) for s in spaces)


def load_runs(paths: list[str], pset, finished: bool = True) -> list[dict]:
    """The runs' settings and final best programs (``finished=False``: settings only, which is
    all the test split needs)."""
    runs = []
    for path in paths:
        rd = RunDir(path)
        cfg = RunConfig.from_dict(rd.config())
        best, seconds = {"program": None, "ir": None}, None
        if finished:
            results = rd.read_json("results.json")
            try:
                best, seconds = results["candidates"][0], results["search_seconds"]
            except (KeyError, IndexError) as exc:
                raise GpnasError(f"{path}: results.json has no candidates ({exc})") from None
        runs.append({"dir": str(path), "cfg": cfg, "repr": cfg.repr, "seed": cfg.seed,
                     "search_seconds": seconds, "evolved_on": evolved_on(cfg.spaces),
                     "program": best["program"],
                     "ir": best["ir"] and Program.from_json(best["ir"], pset)})
    first = runs[0]["cfg"] if runs else None
    for r in runs[1:]:
        if any(getattr(r["cfg"], k) != getattr(first, k) for k in STAT_KEYS):
            raise GpnasError(f"runs must share {', '.join(STAT_KEYS)}: {r['dir']} differs")
    return runs


def seen_archs(runs: list[dict]) -> dict[str, set[str]]:
    """Per space family, the canonical architectures of every run's evolution pool."""
    out: dict[str, set[str]] = {}
    for r in runs:
        for space, (bench, pool, _, _) in split(r["cfg"]).items():
            canon = get_space(space).canonical
            out.setdefault(family(space), set()).update(canon(bench.archs[i]) for i in pool)
    return out


def test_set(space: str, bench, n: int, seen: set[str], archs_file: str | None, seed: int):
    canon = get_space(space).canonical
    row = {canon(a): i for i, a in enumerate(bench.archs)}
    if archs_file:
        order = [row[canon(a.strip())] for a in Path(archs_file).read_text().split() if a.strip()]
    else:
        order = np.random.default_rng(seed).permutation(len(bench.archs)).tolist()
    picked = [i for i in order if canon(bench.archs[i]) not in seen][:n]
    if len(picked) < 2:
        raise GpnasError(f"{space}: fewer than 2 held-out test networks")
    return [bench.archs[i] for i in picked], bench.accuracy[picked].copy()


def baseline_scores(space, archs, metrics, *, batch, seed, cache: Path) -> dict[str, np.ndarray]:
    """Scores per metric, from the cache where present, computed (and appended) where not."""
    from rich.progress import Progress

    from gpnas.console import err

    done: dict[tuple[str, str], float] = {}
    if cache.exists():
        with cache.open() as f:
            for rec in csv.DictReader(f):
                done[(rec["arch"], rec["metric"])] = float(rec["score"])
    else:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text("arch,metric,score,seconds\n")
    todo = [a for a in archs if any((a, m) not in done for m in metrics)]
    with cache.open("a", newline="") as f, Progress(console=err, transient=True) as bar:
        job = bar.add_task(f"{space}: baselines of {len(todo)} networks", total=len(todo))
        out = csv.writer(f)
        for a in todo:
            for m in [m for m in metrics if (a, m) not in done]:
                t0 = time.perf_counter()
                s = score_networks(space, [a], [m], seed=seed, progress=False,
                                   batch_size=None if m in OWN_BATCH else batch)[m][0]
                done[(a, m)] = float(s)
                out.writerow([a, m, repr(float(s)), f"{time.perf_counter() - t0:.3f}"])
            f.flush()
            bar.advance(job)
    return {m: np.array([done[(a, m)] for a in archs]) for m in metrics}


def nasm_results(runs, space, archs, acc, pset) -> list[dict]:
    cfg = runs[0]["cfg"]
    engine = Engine(pset, EngineConfig(to_scalar=cfg.to_scalar, aggregate=cfg.aggregate))
    return score_heldout([r["ir"] for r in runs], space, archs, acc, engine,
                         batch_size=cfg.batch_size, seed=cfg.stats_seed, order=cfg.order)


def fmt(row, with_rho=True) -> str:
    if row is None:
        return "-"
    if row.get("kendall") is None:
        return "invalid" if row.get("invalid") else "-"
    return f"{row['kendall']:.3f}" + (f" ({row['spearman']:.3f})" if with_rho else "")


def mean_std(rows) -> dict | None:
    taus = [r["kendall"] for r in rows if r and r.get("kendall") is not None]
    rhos = [r["spearman"] for r in rows if r and r.get("spearman") is not None]
    if not taus:
        return None
    return {"kendall": float(np.mean(taus)), "spearman": float(np.mean(rhos)),
            "std": float(np.std(taus)), "k": len(taus)}


def nasm_columns(groups):
    """gpnas columns of Table 1: per representation, the runs that evolved on the row's own
    space; then each multi-space group (e.g. NB201 x3 jointly)."""
    cols = [(f"gpnas {rep} (evolved on this space)", rep, None)
            for rep in sorted({rep for rep, on in groups if on in SHORT.values()})]
    cols += [(f"gpnas {rep} (evolved on {on})", rep, on) for rep, on in groups
             if on not in SHORT.values()]
    return cols


def table1(spaces, metrics, base, groups, tested, key="kendall") -> list[str]:
    """Rows: spaces (the offline ones marked); columns: baselines, then gpnas's evolved NASMs
    (mean ± std over seeds where a cell has several runs)."""
    cols = nasm_columns(groups)
    lines = ["| space | " + " | ".join(metrics) + " | " + " | ".join(c[0] for c in cols)
             + (" | EZNAS (published) |" if key == "kendall" else " |"),
             "|---|" + "---:|" * (len(metrics) + len(cols) + (key == "kendall"))]
    published = (lambda name: f" {PUBLISHED.get(name, '-')} |") if key == "kendall" else \
        (lambda name: "")
    for s in spaces:
        cells = [base[s][m].get(key) for m in metrics]
        for _, rep, on in cols:
            idx = groups.get((rep, on or SHORT[s]), [])
            vals = [tested[s][i].get(key) for i in idx]
            vals = [v for v in vals if v is not None]
            cells.append((float(np.mean(vals)), float(np.std(vals)), len(vals), len(idx))
                         if vals else ("invalid" if idx else None))
        top = max([c[0] if isinstance(c, tuple) else c for c in cells
                   if isinstance(c, (tuple, float))], default=None)
        text = []
        for c in cells:
            if c is None or isinstance(c, str):
                text.append(c or "-")
                continue
            v = c[0] if isinstance(c, tuple) else c
            t = f"{v:.3f}"
            if isinstance(c, tuple) and c[3] > 1:
                t += f" ± {c[1]:.3f}" + (f" ({c[2]}/{c[3]} valid)" if c[2] < c[3] else "")
            text.append(f"**{t}**" if top is not None and abs(v - top) < 5e-4 else t)
        lines.append(f"| {SHORT[s]} | " + " | ".join(text) + " |" + published(s))
    for name in OFFLINE:
        lines.append(f"| {name} | not reproducible offline |"
                     + " - |" * (len(metrics) + len(cols) - 1) + published(name))
    return lines


def cross_space(spaces, runs, tested) -> list[str]:
    lines = []
    for rep in sorted({r["repr"] for r in runs}):
        rows = [(i, r) for i, r in enumerate(runs)
                if r["repr"] == rep and len(r["cfg"].spaces) == 1]
        if not rows:
            continue
        lines += [f"**{rep}** (rows: evolved on; columns: tested on; diagonal = same space)", "",
                  "| evolved on \\ tested on | " + " | ".join(SHORT[s] for s in spaces) + " |",
                  "|---|" + "---:|" * len(spaces)]
        for i, r in sorted(rows, key=lambda x: spaces.index(x[1]["cfg"].spaces[0])
                           if x[1]["cfg"].spaces[0] in spaces else 99):
            cells = []
            for s in spaces:
                text = fmt(tested[s][i], with_rho=False)
                cells.append(f"**{text}**" if s in r["cfg"].spaces else text)
            lines.append(f"| {r['evolved_on']} (seed {r['seed']}) | " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def heatmap(ax, matrix, rows, cols, title):
    m = np.array([[np.nan if v is None else v for v in row] for row in matrix], dtype=float)
    im = ax.imshow(m, cmap="viridis", vmin=np.nanmin(m) if np.isfinite(m).any() else 0,
                   vmax=np.nanmax(m) if np.isfinite(m).any() else 1, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, "inv." if np.isnan(m[i, j]) else f"{m[i, j]:.2f}", ha="center",
                    va="center", color="w" if np.isnan(m[i, j]) or m[i, j] < np.nanmean(m)
                    else "k", fontsize=8)
    ax.set_title(title)
    return im


def plots(spaces, metrics, base, groups, runs, tested, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(metrics) + [f"gpnas {rep} ({on})" for rep, on in groups]
    matrix = [[base[s][m]["kendall"] for s in spaces] for m in metrics]
    matrix += [[(mean_std([tested[s][i] for i in idx]) or {}).get("kendall") for s in spaces]
               for idx in groups.values()]
    fig, ax = plt.subplots(figsize=(2 + 1.3 * len(spaces), 0.9 + 0.32 * len(labels)))
    heatmap(ax, matrix, labels, [SHORT[s] for s in spaces], "Kendall tau vs accuracy (test nets)")
    fig.tight_layout()
    fig.savefig(out / "table1.png", dpi=130)
    plt.close(fig)
    reps = sorted({r["repr"] for r in runs if len(r["cfg"].spaces) == 1})
    if not reps:
        return
    fig, axes = plt.subplots(1, len(reps), figsize=(1 + 4.2 * len(reps), 3.6), squeeze=False)
    for ax, rep in zip(axes[0], reps):
        idx = [i for i, r in enumerate(runs) if r["repr"] == rep and len(r["cfg"].spaces) == 1]
        heatmap(ax, [[tested[s][i]["kendall"] for s in spaces] for i in idx],
                [f"{runs[i]['evolved_on']} s{runs[i]['seed']}" for i in idx],
                [SHORT[s] for s in spaces],
                f"{rep}: evolved on (rows) / tested on")
    fig.tight_layout()
    fig.savefig(out / "cross_space.png", dpi=130)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="*")
    ap.add_argument("--bench-dir", default=None)
    ap.add_argument("--spaces", default="nb201-cifar10,nb201-cifar100,nb201-imagenet16,"
                    "darts-cifar10")
    ap.add_argument("--test-nets", type=int, default=150)
    ap.add_argument("--space-nets", action="append", default=[], metavar="SPACE=N",
                    help="another --test-nets for one space")
    ap.add_argument("--test-archs", action="append", default=[], metavar="SPACE=FILE")
    ap.add_argument("--metrics", default=",".join(BASELINES))
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scores", default="benchmarks/results/reproduce/baseline_scores")
    ap.add_argument("--out", default="benchmarks/results/reproduce")
    ap.add_argument("--baselines-only", action="store_true")
    args = ap.parse_args()
    try:
        run(args)
    except GpnasError as exc:
        sys.exit(f"error: {exc}")


def run(args) -> None:
    pset = default_primitive_set()
    spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    files = dict(item.split("=", 1) for item in args.test_archs)
    nets = {k: int(v) for k, v in (item.split("=", 1) for item in args.space_nets)}
    runs = load_runs(args.runs, pset, finished=not args.baselines_only)
    if not runs and not args.baselines_only:
        raise GpnasError("give at least one finished run directory")
    seen = seen_archs(runs)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    base, tested, info = {}, {}, {}
    for s in spaces:
        bench = load_benchmark(s, args.bench_dir, "test")
        archs, acc = test_set(s, bench, nets.get(s, args.test_nets),
                              seen.get(family(s), set()), files.get(s), args.seed)
        t0 = time.perf_counter()
        scores = baseline_scores(s, archs, metrics, batch=args.batch_size, seed=args.seed,
                                 cache=Path(args.scores) / f"{s}.csv")
        base[s] = {m: rank_correlations(scores[m], acc) for m in metrics}
        info[s] = {"n": len(archs), "benchmark": bench.source, "metric": bench.metric,
                   "baseline_seconds": round(time.perf_counter() - t0, 1),
                   "test_archs": files.get(s, f"seed-{args.seed} permutation of the benchmark")}
        print(f"{s}: {len(archs)} test networks; " + ", ".join(
            f"{m} {fmt(base[s][m], False)}" for m in metrics), flush=True)
        if args.baselines_only:
            continue
        t0 = time.perf_counter()
        tested[s] = nasm_results(runs, s, archs, acc, pset)
        info[s]["nasm_seconds"] = round(time.perf_counter() - t0, 1)
        write_scores(out / f"scores_{s}.csv", archs, acc, scores, runs, tested[s])
    if args.baselines_only:
        return
    groups: dict[tuple[str, str], list[int]] = {}
    for i, r in enumerate(runs):
        groups.setdefault((r["repr"], r["evolved_on"]), []).append(i)
    report(args, spaces, metrics, base, groups, runs, tested, info, out)
    plots(spaces, metrics, base, groups, runs, tested, out)


def write_scores(path: Path, archs, acc, scores, runs, tested) -> None:
    names = list(scores) + [f"{r['repr']}:{r['evolved_on']}:s{r['seed']}" for r in runs]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arch", "accuracy", *names])
        for j, a in enumerate(archs):
            w.writerow([a, acc[j], *[repr(float(v[j])) for v in scores.values()],
                        *["" if t["scores"] is None else repr(float(t["scores"][j]))
                          for t in tested]])


def report(args, spaces, metrics, base, groups, runs, tested, info, out: Path) -> None:
    cfg = runs[0]["cfg"]
    lines = ["# Reproduction tables (paper Table 1 and Figure 13)", "",
             "Kendall tau-b and Spearman rho of each NASM's score vs trained accuracy on held-out "
             "test networks, all NASMs on the same networks; **bold**: best in the row; "
             "mean ± std over seeds where a cell has several runs. EZNAS (published) is not "
             "measured here: the paper's / official code's figure, on other test sets.", "",
             "## Settings", "",
             "Command: `python benchmarks/reproduce/paper_tables.py "
             + " ".join(a for a in sys.argv[1:] if a not in args.runs)
             + "` with the run directories listed below as arguments", "",
             "| space | test networks | ground truth | test architectures |", "|---|---:|---|---|"]
    lines += [f"| {s} | {info[s]['n']} | {info[s]['metric']} ({info[s]['benchmark']}) | "
              f"{info[s]['test_archs']}, minus every architecture a run evolved on |"
              for s in spaces]
    lines += ["", f"- Baselines: `gpnas.baselines`, batch {args.batch_size} images for the data "
              f"metrics (params, flops, synflow: one image's shape; eznas_a*: 16, the official "
              f"code's), networks/initialisation/images of seed {args.seed}, random labels.",
              f"- Evolved NASMs: the final best program (top-1 of the last generation) of each "
              f"run, statistics at batch {cfg.batch_size}, order {cfg.order}, seed "
              f"{cfg.stats_seed}, to_scalar {cfg.to_scalar}, aggregate {cfg.aggregate}.",
              "- Runs (settings in each run's config.json):", ""]
    lines += [f"  - `{r['dir']}`: {r['repr']}, evolved on {r['evolved_on']}, seed {r['seed']}, "
              f"{r['cfg'].generations} generations x {r['cfg'].population}, "
              f"{r['cfg'].evolution_nets} evolution nets/space, search {r['search_seconds']:.0f} s:"
              f" `{r['program']}`" for r in runs]
    lines += ["", "## Table 1: Kendall tau per space", ""]
    lines += table1(spaces, metrics, base, groups, tested)
    lines += ["", "Spearman rho:", ""] + table1(spaces, metrics, base, groups, tested, "spearman")
    lines += ["", "NDS (Amoeba, DARTS, ENAS, PNAS, NASNet) and NAS-Bench-ASR: not reproducible "
              "offline (their trained accuracies and architectures are not available here); "
              "`gpnas.data.groundtruth` reads the official NDS JSON when given one.", "",
              "![table 1](table1.png)", "", "## Figure 13: evolved on one space, tested on each",
              ""] + cross_space(spaces, runs, tested) + ["![cross-space](cross_space.png)", ""]
    (out / "tables.md").write_text("\n".join(lines) + "\n")
    payload = {"settings": {"spaces": info, "batch_size": args.batch_size, "seed": args.seed,
                            "runs": [{k: r[k] for k in ("dir", "repr", "seed", "evolved_on",
                                                        "program")} for r in runs]},
               "baselines": base,
               "nasms": {s: [{k: v for k, v in t.items() if k != "scores"} for t in tested[s]]
                         for s in spaces}}
    (out / "tables.json").write_text(json.dumps(payload, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
