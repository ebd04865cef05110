"""Validate gpnas's baseline metrics against the published NAS-Bench-Suite-Zero scores.

NASLib's ``zc_nasbench201.json`` (in ``<bench-dir>/naslib_zc/``; joined with the NB201 index,
arch string and 200-epoch test accuracy in ``<bench-dir>/derived/nb201_naslib_zc_<ds>.csv``)
holds precomputed zero-cost proxies for ~724 NB201 architectures per dataset.  For a random
subset of them (the same architectures on every dataset) this script computes gpnas's own
score of every metric and reports, per dataset and metric:

* Kendall tau between gpnas's score and the published score of the same metric (agreement);
* Kendall tau of gpnas's score vs the 200-epoch test accuracy, and of the published score vs
  the same accuracy, on the same architectures, and their difference.

Scores are cached in a CSV (``--scores``) so an interrupted run resumes; the markdown report
(``--out``) is rewritten from the cache at the end.

Usage (from the repository root)::

    python benchmarks/reproduce/validate_baselines.py --bench-dir ../shared/benchdata \\
        --per-dataset 150 --seed 0 --batch-size 32

``--init pytorch`` re-initialises every layer with PyTorch's default initialisation (what
NASLib's NB201 graph uses) instead of NB201's reference initialisation, to measure how much of a
gap comes from the initialisation.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from gpnas.baselines import BASELINES, Baseline  # noqa: E402
from gpnas.data.spaces import get_space  # noqa: E402
from gpnas.data.stats.images import describe_source, sample_images  # noqa: E402

#: NASLib dataset name -> gpnas space
DATASETS = {"cifar10": "nb201-cifar10", "cifar100": "nb201-cifar100",
            "ImageNet16-120": "nb201-imagenet16"}
#: gpnas metric -> NASLib proxy column (None: not in the published file)
PUBLISHED = {"params": "params", "flops": "flops", "naswot": "nwot", "synflow": "synflow",
             "grad_norm": "grad_norm", "snip": "snip", "grasp": "grasp", "fisher": "fisher",
             "jacob_cov": "jacov", "zen": None, "zico": None, "fisher_naslib": "fisher"}
#: variants that follow NASLib's convention where it differs from the paper's definition
VARIANTS = {"fisher_naslib": Baseline("fisher_naslib", "pruning:fisher_fan_in_weighted", 64,
                                      "fisher with NASLib's per-weight broadcast")}


BASE = {"fisher_naslib": "fisher"}


def metric(name: str) -> Baseline:
    return VARIANTS[name] if name in VARIANTS else BASELINES[name]
SCORE_FIELDS = ["dataset", "nb201_index", "metric", "score", "seconds"]


def load_table(bench_dir: Path, ds: str):
    import pandas as pd

    path = bench_dir / "derived" / f"nb201_naslib_zc_{ds}.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found (see PROVENANCE.md section 4 of the bench dir)")
    return pd.read_csv(path)


def subset_indices(bench_dir: Path, n: int, seed: int) -> list[int]:
    """NB201 indices present on every dataset, sorted, then a seeded permutation prefix."""
    common = None
    for ds in DATASETS:
        idx = set(int(i) for i in load_table(bench_dir, ds)["nb201_index"])
        common = idx if common is None else common & idx
    common = sorted(common)
    perm = np.random.default_rng(seed).permutation(len(common))[:n]
    return [common[i] for i in perm]


def pytorch_default_init(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every layer's own ``reset_parameters`` (PyTorch default init), drawn from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in model.modules():
            if hasattr(m, "reset_parameters") and m is not model:
                m.reset_parameters()
    return model


def read_cache(path: Path) -> dict:
    done = {}
    if path.is_file():
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                done[(r["dataset"], int(r["nb201_index"]), r["metric"])] = float(r["score"])
    return done


def compute(args, bench_dir: Path, metrics: list[str], indices: list[int]) -> None:
    cache = read_cache(args.scores)
    new = not args.scores.is_file()
    args.scores.parent.mkdir(parents=True, exist_ok=True)
    with open(args.scores, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SCORE_FIELDS)
        if new:
            w.writeheader()
        tables = {ds: load_table(bench_dir, ds).set_index("nb201_index") for ds in DATASETS}
        images = {}
        t0 = time.time()
        # architecture-major, so that a stopped run leaves a complete prefix on every dataset
        for k, idx in enumerate(indices):
            for ds, space in DATASETS.items():
                sp = get_space(space)
                todo = [m for m in metrics if (ds, idx, m) not in cache]
                if not todo:
                    continue
                arch = tables[ds].loc[idx, "arch_str"]
                model = sp.build(arch, seed=args.seed)
                if args.init == "pytorch":
                    pytorch_default_init(model, args.seed)
                for name in todo:
                    b = metric(name)
                    bs = b.batch_size if name in ("params", "flops", "synflow") else args.batch_size
                    if (space, bs) not in images:
                        images[(space, bs)] = sample_images(sp, bs, args.seed, args.images)
                    t = time.time()
                    score = b(model, images[(space, bs)], args.seed)
                    w.writerow({"dataset": ds, "nb201_index": idx, "metric": name,
                                "score": repr(score),
                                "seconds": f"{time.time() - t:.3f}"})
                    cache[(ds, idx, name)] = score
                f.flush()
            print(f"{k + 1}/{len(indices)} archs ({time.time() - t0:.0f}s)", flush=True)


def _tau(a, b) -> float:
    a = np.where(np.isnan(a), -np.inf, np.asarray(a, float))
    return float(stats.kendalltau(a, b).statistic)


def complete_prefix(cache: dict, metrics: list[str], indices: list[int]) -> list[int]:
    """The longest prefix of ``indices`` scored by every metric on every dataset."""
    n = 0
    for idx in indices:
        if not all((ds, idx, m) in cache for ds in DATASETS for m in metrics):
            break
        n += 1
    return indices[:n]


def report(args, bench_dir: Path, metrics: list[str], indices: list[int]):
    cache = read_cache(args.scores)
    indices = complete_prefix(cache, metrics, indices)
    rows, flagged = [], []
    if len(indices) < 3:
        return "(fewer than 3 architectures scored)", rows, flagged, indices
    for ds in DATASETS:
        table = load_table(bench_dir, ds).set_index("nb201_index")
        acc = table.loc[indices, "test_acc_200ep"].to_numpy(float)
        for name in metrics:
            if not all((ds, i, name) in cache for i in indices):
                continue
            ours = np.array([cache[(ds, i, name)] for i in indices])
            col = PUBLISHED.get(name)
            pub = table.loc[indices, col].to_numpy(float) if col else None
            r = {"ds": ds, "metric": name, "col": col or "-", "n": len(indices),
                 "agree": _tau(ours, pub) if col else None,
                 "ours_acc": _tau(ours, acc),
                 "pub_acc": _tau(pub, acc) if col else None,
                 "nonfinite": int((~np.isfinite(ours)).sum())}
            r["diff"] = None if pub is None else r["ours_acc"] - r["pub_acc"]
            rows.append(r)
            if r["diff"] is not None and abs(r["diff"]) > 0.05:
                flagged.append(r)

    def f(x):
        return "-" if x is None else f"{x:+.3f}" if isinstance(x, float) else str(x)

    lines = ["| dataset | metric (NASLib name) | n | tau(gpnas, published) | "
             "tau(gpnas, test acc) | tau(published, test acc) | difference | non-finite |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        diff = f(r["diff"])
        if r["diff"] is not None and abs(r["diff"]) > 0.05:
            diff = f"**{diff}**"
        lines.append(f"| {r['ds']} | {r['metric']} ({r['col']}) | {r['n']} | {f(r['agree'])} | "
                     f"{f(r['ours_acc'])} | {f(r['pub_acc'])} | {diff} | {r['nonfinite']} |")
    return "\n".join(lines), rows, flagged, indices


def compare(args, bench_dir: Path, other: Path, metrics: list[str], indices: list[int]):
    """Another run's scores (``other``: a different seed or init) against the main run's, on the
    architectures both have complete: tau(main, other), tau(other, published), tau(other, acc)."""
    main_cache, other_cache = read_cache(args.scores), read_cache(other)
    others = sorted({k[2] for k in other_cache}, key=list(PUBLISHED).index)
    base = {m: BASE.get(m, m) for m in others}  # the main run's metric to compare with
    idx = complete_prefix(other_cache, others,
                          complete_prefix(main_cache, sorted(set(base.values())), indices))
    if len(idx) < 3:
        return f"(fewer than 3 architectures in both {args.scores.name} and {other.name})", idx
    lines = ["| dataset | metric | n | tau(main, this run) | tau(this run, published) | "
             "tau(this run, test acc) | tau(main, test acc) | tau(published, test acc) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for ds in DATASETS:
        table = load_table(bench_dir, ds).set_index("nb201_index")
        acc = table.loc[idx, "test_acc_200ep"].to_numpy(float)
        for name in others:
            a = np.array([main_cache[(ds, i, base[name])] for i in idx])
            b = np.array([other_cache[(ds, i, name)] for i in idx])
            col = PUBLISHED.get(name)
            pub = table.loc[idx, col].to_numpy(float) if col else None
            cells = [_tau(a, b), _tau(b, pub) if col else None, _tau(b, acc), _tau(a, acc),
                     _tau(pub, acc) if col else None]
            lines.append(f"| {ds} | {name} | {len(idx)} | " + " | ".join(
                "-" if c is None else f"{c:+.3f}" for c in cells) + " |")
    return "\n".join(lines), idx


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench-dir", type=Path, default=ROOT.parent / "shared" / "benchdata")
    p.add_argument("--per-dataset", type=int, default=150)
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the initialisation, images and random labels")
    p.add_argument("--subset-seed", type=int, default=None,
                   help="seed of the architecture subset (default: --seed)")
    p.add_argument("--batch-size", type=int, default=32,
                   help="images per batch for the data metrics (NAS-Bench-Suite-Zero used 32)")
    p.add_argument("--metrics", default=",".join(m for m, c in PUBLISHED.items()
                                                 if c and m not in VARIANTS),
                   help="default: the nine metrics with published NAS-Bench-Suite-Zero scores")
    p.add_argument("--init", choices=("reference", "pytorch"), default="reference")
    p.add_argument("--images", default=None, help="image source (default: gpnas's offline "
                   "photograph crops)")
    p.add_argument("--scores", type=Path,
                   default=ROOT / "benchmarks" / "results" / "baseline_validation_scores.csv")
    p.add_argument("--out", type=Path, default=None,
                   help="markdown table to write (default: print only)")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--compare", type=Path, action="append", default=[],
                   help="scores CSV of another run (other --seed / --init) to compare with the "
                   "main --scores, on the architectures complete in both (repeatable)")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    subset_seed = args.seed if args.subset_seed is None else args.subset_seed
    indices = subset_indices(args.bench_dir, args.per_dataset, subset_seed)
    torch.set_num_threads(args.threads)
    if not args.report_only:
        compute(args, args.bench_dir, metrics, indices)
    table, _, flagged, done = report(args, args.bench_dir, metrics, indices)
    settings = (f"{len(done)} archs per dataset (the first {len(done)} of the seed-{subset_seed} "
                f"permutation; target {len(indices)}), seed {args.seed}, init {args.init}, "
                f"batch {args.batch_size}, images {describe_source(args.images)}")
    print(settings)
    print(table)
    if flagged:
        print(f"{len(flagged)} gaps above 0.05: " + ", ".join(
            f"{r['ds']}/{r['metric']} {r['diff']:+.3f}" for r in flagged))
    extra = []
    for other in args.compare:
        text, idx = compare(args, args.bench_dir, other, metrics, indices)
        extra.append(f"compared with {other.name} ({len(idx)} archs):\n{text}")
        print(extra[-1])
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"<!-- settings: {settings} -->\n{table}\n"
                            + "".join(f"\n{e}\n" for e in extra))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
