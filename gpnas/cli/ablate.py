"""``gpnas ablate``: program representations compared under the same budget and data."""

from __future__ import annotations

from pathlib import Path

import typer

from gpnas.cli.options import opt
from gpnas.cli.supervise import supervised
from gpnas.console import err
from gpnas.errors import GpnasError


def ablate_command(
    reprs: str = typer.Option("tree,sequential", "--reprs", help="Variants to compare: tree, "
                              "sequential, sequential-introns (sequential without intron "
                              "removal), tree-evolved, sequential-evolved (network-level "
                              "programs, --aggregation evolved)"),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per variant (0..K-1)"),
    budget: str = typer.Option(None, "--budget", help="Same budget for every run: N "
                               "evaluations ('2000') or seconds ('600s'); default: the "
                               "configured generations"),
    space: str = opt(None, "--space", help="Comma-separated spaces [default: nb201-cifar10]"),
    bench_dir: str = opt(None, "--bench-dir", help="Benchmark directory (see gpnas run)"),
    generations: int = opt(None, "--generations", help="Generations [default: 15]"),
    population: int = opt(None, "--population", help="Population [default: 50]"),
    test_nets: int = opt(None, "--test-nets", help="Held-out test networks per space "
                          "[default: 200]"),
    workers: int = opt(None, "--workers", help="Evaluation processes or Ray actors (see gpnas "
                        "run)"),
    executor: str = opt(None, "--executor", help="auto | serial | process | ray (see gpnas run)"),
    ray_address: str = opt(None, "--ray-address", help="Ray cluster for --executor ray "
                            "[default: a local Ray]"),
    config: str = opt(None, "--config", help="TOML/JSON file of run configuration keys"),
    out: str = typer.Option("runs/ablation", "--out", help="Ablation directory (re-running "
                            "resumes unfinished runs)"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
):
    """Compare program representations under the same budget and data.

    Writes one run directory per variant and seed, then ablation.md (test tau mean ± std per
    space, program size / effective length, invalid rate, evaluations/s, wall time),
    ablation.json and ablation.png.
    """
    from gpnas.config import RunConfig
    from gpnas.schemas import Repeats, check_option

    check_option("--seeds", seeds, Repeats)
    variants = [v.strip() for v in reprs.split(",") if v.strip()]
    if not variants:
        raise GpnasError(f"--reprs: give at least one variant (tree, sequential, "
                         f"sequential-introns), got {reprs!r}")
    flags = {"spaces": space, "bench_dir": bench_dir, "generations": generations,
             "population": population, "test_nets": test_nets, "workers": workers,
             "executor": executor, "ray_address": ray_address}
    cfg = RunConfig.from_sources(config, flags)
    max_evaluations = max_seconds = None
    if budget:
        try:
            if budget.endswith("s"):
                max_seconds = float(budget[:-1])
            else:
                max_evaluations = int(budget)
        except ValueError:
            raise GpnasError(f"--budget must be N (evaluations) or Ns (seconds), not {budget!r}")
        amount = max_seconds if max_seconds is not None else max_evaluations
        if not 0 < amount < float("inf"):
            raise GpnasError(f"--budget must be positive and finite, not {budget!r}")
        if cfg.generations == RunConfig().generations and generations is None:
            cfg.generations = 10_000  # the budget ends the runs
    work = (cfg, variants, list(range(seeds)), Path(out), max_evaluations, max_seconds, quiet)
    if cfg.executor == "ray":
        supervised(_ablate, *work, continue_with="the same `gpnas ablate` command")
    else:
        _ablate(*work)


def _ablate(cfg, variants, seeds, out, max_evaluations, max_seconds, quiet) -> None:
    from gpnas.run.ablation import run_ablation, to_markdown

    summary = run_ablation(cfg, variants, seeds, out, max_evaluations, max_seconds,
                           progress=not quiet)
    print(to_markdown(summary))
    err.print(f"ablation written to {out}/ablation.md, ablation.json, ablation.png")
