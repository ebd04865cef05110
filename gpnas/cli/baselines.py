"""``gpnas baselines``: Kendall tau and Spearman rho of the hand-designed metrics per space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from gpnas.cli.options import bench_dir_option, images_option, opt
from gpnas.console import err, out
from gpnas.errors import GpnasError

DEFAULT_TEST_NETS = 100


def baselines(
    space: str = typer.Option("nb201-cifar10", "--space", help="Comma-separated spaces: "
                              "nb201-cifar10, nb201-cifar100, nb201-imagenet16, darts-cifar10."),
    test_nets: int = typer.Option(DEFAULT_TEST_NETS, "--test-nets", help="Networks sampled per "
                                  "space (a prefix of one seeded permutation of the benchmark; "
                                  "the paper tests on 1000)."),
    metrics: Optional[str] = typer.Option(None, "--metrics", help="Comma-separated metrics "
                                          "(default: all): params, flops, naswot, synflow, "
                                          "grad_norm, snip, grasp, fisher, jacob_cov, zen, zico, swap, "
                                          "meco, eznas_a, eznas_a_code.",
                                          show_default=False),
    bench_dir: Optional[Path] = bench_dir_option(),
    metric: str = typer.Option("test", "--metric", help="Ground truth: test | valid (darts: "
                               "validation accuracy only)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per batch for "
                                             "every data metric (default: each metric's own, "
                                             "see gpnas.baselines); params, flops and synflow "
                                             "use one image's shape.", show_default=False),
    seed: int = typer.Option(0, "--seed", help="Seed of the network sample, initialisation, "
                             "images and random labels."),
    images: Optional[Path] = images_option(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {space: {metric: "
                                 "{kendall, spearman, n}}}."),
    jobs: Optional[int] = opt(None, "--jobs", "-j", help="Worker processes [default: one per "
                              "core] (the scores are the same with any number)."),
) -> None:
    """Rank correlation (Kendall tau, Spearman rho) of the baseline NASMs with accuracy."""
    from gpnas.baselines import parse_metrics
    from gpnas.baselines.evaluate import evaluate_space
    from gpnas.schemas import BatchSize, Processes, Seed, check_option
    from gpnas.threads import available_cores

    check_option("--seed", seed, Seed)
    check_option("--batch-size", batch_size, BatchSize)
    check_option("--jobs", jobs, Processes)

    spaces = [s.strip() for s in space.split(",") if s.strip()]
    if not spaces:
        raise GpnasError("--space: give at least one space")
    names = parse_metrics(metrics)
    if batch_size is not None and batch_size < 2 and "zico" in names:
        raise GpnasError("--batch-size: ZiCo needs at least 2 images")
    results = {}
    for s in spaces:
        res = evaluate_space(s, test_nets, names, bench_dir=bench_dir, metric=metric,
                             batch_size=batch_size, seed=seed, images_path=images,
                             progress=not as_json,
                             jobs=available_cores() if jobs is None else jobs)
        results[s] = res
        if not as_json:
            _print_table(s, res, names, batch_size)
    if as_json:
        print(json.dumps({s: {m: {k: r[m][k] for k in ("kendall", "spearman", "n")}
                              for m in names} for s, r in results.items()}, indent=2))


def _print_table(space: str, res: dict, names: list[str], batch_size) -> None:
    from gpnas.baselines import BASELINES

    info = res["_info"]
    n = res[names[0]]["n"]
    table = Table(title=f"{space}: {n} networks, {info['metric']} accuracy, seed {info['seed']} "
                  f"({info['seconds']:.0f}s)")
    for col, just in (("metric", "left"), ("kendall", "right"), ("spearman", "right"),
                      ("batch", "right"), ("non-finite", "right")):
        table.add_column(col, justify=just)
    for m in names:
        r = res[m]
        b = BASELINES[m]
        bs = b.batch_size if batch_size is None or m in ("params", "flops", "synflow") \
            else batch_size
        fmt = (lambda v: "-" if v is None else f"{v:.3f}")
        table.add_row(m, fmt(r["kendall"]), fmt(r["spearman"]),
                      "-" if m == "params" else str(bs), str(r["nonfinite"]) or "0")
    out.print(table)
    err.print(f"[dim]ground truth: {info['benchmark']}[/]")
