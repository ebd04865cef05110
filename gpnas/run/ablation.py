"""The representation ablation: tree vs sequential (with and without intron removal), with the
paper's fixed aggregation or evolved network-level programs, under the same budget and data,
several seeds each, tested on the same held-out networks; a table and a plot in the ablation
directory."""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from gpnas.atomic import dir_lock, write_atomic
from gpnas.config import RunConfig
from gpnas.console import err
from gpnas.errors import GpnasError
from gpnas.run.rundir import RunDir
from gpnas.run.evolve import evolve
from gpnas.run.plots import png
from gpnas.run.prepare import prepare
from gpnas.run.report import test_and_report

VARIANTS = {
    "tree": {"repr": "tree", "aggregation": "paper"},
    "sequential": {"repr": "sequential", "keep_introns": False, "aggregation": "paper"},
    "sequential-introns": {"repr": "sequential", "keep_introns": True, "aggregation": "paper"},
    "tree-evolved": {"repr": "tree", "aggregation": "evolved"},
    "sequential-evolved": {"repr": "sequential", "keep_introns": False, "aggregation": "evolved"},
}


def run_ablation(base: RunConfig, variants: list[str], seeds: list[int], out: Path,
                 max_evaluations: int | None = None, max_seconds: float | None = None,
                 progress: bool = True) -> dict:
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise GpnasError(f"unknown variant(s) {unknown}; known: {sorted(VARIANTS)}")
    if not variants or not seeds:
        raise GpnasError("an ablation needs at least one variant and one seed")
    RunDir(out).make()
    with contextlib.ExitStack() as held:
        held.enter_context(dir_lock(out, "ablation directory"))
        data = prepare(base, progress)
        outcomes, labels = [], []
        for variant in variants:
            for seed in seeds:
                cfg = replace(base, seed=seed, **VARIANTS[variant]).validate()
                rundir = held.enter_context(RunDir(out / f"{variant}-s{seed}").make().lock())
                resume = rundir.checkpoint() is not None
                if resume and rundir.run_config() != cfg:  # keys added since: their defaults
                    raise GpnasError(f"{rundir.path} holds a run with another configuration; "
                                     "use another --out for these settings")
                if not resume:
                    rundir.create(cfg.to_dict())
                if progress:
                    err.print(f"[bold]{variant}[/], seed {seed}")
                outcomes.append(evolve(cfg, rundir, data, resume, progress, max_evaluations,
                                       max_seconds))
                labels.append((variant, seed))
        results = test_and_report(outcomes, data, progress)
        summary = summarise(labels, outcomes, results, base.spaces)
        summary["settings"] = {"base": base.to_dict(), "variants": variants, "seeds": seeds,
                               "max_evaluations": max_evaluations, "max_seconds": max_seconds}
        write_atomic(out / "ablation.json", json.dumps(summary, indent=2))
        write_atomic(out / "ablation.md", to_markdown(summary))
        write_atomic(out / "ablation.png", plot(summary))
    return summary


def summarise(labels, outcomes, results, spaces) -> dict:
    rows: dict[str, list[dict]] = {}
    for (variant, seed), o, res in zip(labels, outcomes, results):
        log = o.rundir.log()
        best = res["candidates"][0] if res["candidates"] else None
        rep = o.representation
        total = None
        if best is not None and hasattr(rep, "total_length"):
            total = rep.total_length(rep.from_json(best["genome"]))
        rows.setdefault(variant, []).append({
            "seed": seed,
            "test": {sp: (best["test"].get(sp, {}).get("kendall") if best else None)
                     for sp in spaces},
            "program": best["program"] if best else None,
            "size": best["size"] if best else None,
            "total_length": total,
            "invalid_rate": float(np.mean([r["invalid_rate"] for r in log])),
            "evaluations": int(sum(r["evaluations"] for r in log)),
            "evaluations_per_s": float(sum(r["evaluations"] for r in log)
                                       / max(o.state.elapsed, 1e-9)),
            "seconds": o.state.elapsed,
            "generations": o.state.generation,
            "best_fitness": [r["best_fitness"] for r in log],
        })
    return {"spaces": list(spaces), "variants": rows}


def mean_std(values) -> str:
    """'mean ± std' of the values that are not None, and how many are (a table cell)."""
    v = [x for x in values if x is not None]
    if not v:
        return "invalid"
    return f"{np.mean(v):.3f} ± {np.std(v):.3f}" + (f" ({len(values) - len(v)} invalid)"
                                                      if len(v) < len(values) else "")


def to_markdown(summary: dict) -> str:
    spaces = summary["spaces"]
    head = ("| variant | " + " | ".join(f"test tau {s}" for s in spaces)
            + " | best size (effective) | total length | invalid rate | evaluations/s "
              "| search s | generations |")
    lines = [head, "|" + "---|" * (len(spaces) + 7)]
    for variant, runs in summary["variants"].items():
        tau = [mean_std([r["test"][s] for r in runs]) for s in spaces]
        total = [r["total_length"] for r in runs if r["total_length"] is not None]
        cells = tau + [
            f"{np.mean([r['size'] or 0 for r in runs]):.1f}",
            f"{np.mean(total):.1f}" if total else "-",
            f"{np.mean([r['invalid_rate'] for r in runs]):.0%}",
            f"{np.mean([r['evaluations_per_s'] for r in runs]):.2f}",
            f"{np.mean([r['seconds'] for r in runs]):.0f}",
            f"{np.mean([r['generations'] for r in runs]):.1f}",
        ]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    lines += ["", "Best program per run:", ""]
    for variant, runs in summary["variants"].items():
        for r in runs:
            lines.append(f"- {variant}, seed {r['seed']}: `{r['program']}`")
    return "\n".join(lines) + "\n"


def plot(summary: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spaces, variants = summary["spaces"], summary["variants"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(1, len(variants))
    for k, (variant, runs) in enumerate(variants.items()):
        means, stds = [], []
        for s in spaces:
            v = [r["test"][s] for r in runs if r["test"][s] is not None]
            means.append(np.mean(v) if v else np.nan)
            stds.append(np.std(v) if v else 0)
        ax1.bar(np.arange(len(spaces)) + k * width, means, width, yerr=stds, label=variant,
                capsize=3)
        curves = [r["best_fitness"] for r in runs]
        n = min(len(c) for c in curves)
        arr = np.array([[np.nan if x is None else x for x in c[:n]] for c in curves])
        ax2.plot(range(n), np.nanmean(arr, axis=0), marker="o", label=variant)
    ax1.set_xticks(np.arange(len(spaces)) + width * (len(variants) - 1) / 2, spaces)
    ax1.set_ylabel("test Kendall tau (mean ± std over seeds)")
    ax1.legend()
    ax2.set_xlabel("generation")
    ax2.set_ylabel("best fitness (mean over seeds)")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
    return png(fig)
