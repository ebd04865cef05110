"""``gpnas stats build`` and ``gpnas stats info``."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Optional

import numpy as np
import typer
from rich.table import Table

from gpnas.cli.options import bench_dir_option, images_option, opt
from gpnas.cli.supervise import supervised
from gpnas.console import err, out
from gpnas.errors import GpnasError

stats_app = typer.Typer(help="Build and inspect network-statistics stores.",
                        no_args_is_help=True, add_completion=False,
                        pretty_exceptions_enable=False)


def _benchmark_or_none(space: str, bench_dir: Optional[Path], metric: str, required: bool):
    from gpnas.data.groundtruth import load_benchmark
    from gpnas.data.spaces import get_space

    sp = get_space(space)
    try:
        return load_benchmark(sp.name, bench_dir, metric)
    except GpnasError:
        if required or bench_dir is not None:
            raise
        return None


@stats_app.command("build")
def build(
    space: str = typer.Option(..., "--space", help="nb201-cifar10 | nb201-cifar100 | "
                              "nb201-imagenet16 | darts-cifar10"),
    out_dir: Path = typer.Option(..., "--out", help="Store directory (created, or extended)."),
    nets: Optional[int] = typer.Option(None, "--nets", help="Sample N networks of the "
                                       "benchmark (a prefix of one seeded permutation)."),
    arch: Optional[list[str]] = typer.Option(None, "--arch", help="An architecture "
                                             "(repeatable) instead of --nets."),
    batch_size: int = typer.Option(1, "--batch-size", help="Images per statistics batch."),
    cross_batch: int = typer.Option(0, "--cross-batch", help="Also collect cross-sample "
                                    "statistics of a batch of this many images (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Seed of initialisation, images and noise."),
    sample_seed: Optional[int] = typer.Option(None, "--sample-seed", help="Seed of the --nets "
                                              "sample (default: --seed)."),
    order: str = typer.Option("rcb", "--order", help="rcb (ReLU-Conv-BN, the paper) or cbr "
                              "(Conv-BN-ReLU, appendix 2.8)."),
    bench_dir: Optional[Path] = bench_dir_option(),
    metric: str = typer.Option("test", "--metric", help="test | valid (darts: validation "
                               "accuracy only)."),
    images: Optional[Path] = images_option(),
    dtype: str = typer.Option("float16", "--dtype", help="float16 | bfloat16 | float32 on "
                              "disk."),
    threads: int = typer.Option(1, "--threads", help="torch intra-op threads while collecting "
                                "(1 is fastest for batch-1 statistics; --jobs uses more "
                                "cores)."),
    jobs: Optional[int] = opt(None, "--jobs", "-j", help="Worker processes [default: one per "
                              "core] (the store is the same with any number)."),
    executor: str = typer.Option("auto", "--executor", help="auto | serial | process | ray: "
                                 "Ray tasks on a cluster (--ray-address) or a local Ray; auto "
                                 "and process use --jobs processes."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster for "
                                              "--executor ray (host:port or auto)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Collect the statistics of networks of a space into a store (resumable)."""
    from gpnas.data.cluster import require_ray
    from gpnas.config import EXECUTORS
    from gpnas.data.spaces import get_space
    from gpnas.schemas import BatchSize, CrossBatch, Processes, Seed, check_option

    sp = get_space(space)
    if (nets is None) == (not arch):
        raise GpnasError("give either --nets N or one or more --arch A")
    for flag, value, kind in (("--seed", seed, Seed), ("--sample-seed", sample_seed, Seed),
                              ("--batch-size", batch_size, BatchSize),
                              ("--threads", threads, Processes), ("--jobs", jobs, Processes),
                              ("--cross-batch", cross_batch, CrossBatch)):
        check_option(flag, value, kind)
    if executor not in EXECUTORS or (ray_address and executor != "ray"):
        raise GpnasError(f"--executor must be one of {', '.join(EXECUTORS)}; --ray-address "
                         "needs --executor ray")
    if executor == "ray":
        require_ray()
    bench = _benchmark_or_none(sp.name, bench_dir, metric, required=nets is not None)
    if nets is not None:
        archs, acc = bench.sample(nets, seed if sample_seed is None else sample_seed)
        acc = list(acc)
        metric_name = bench.metric
    else:
        archs = [sp.canonical(a) for a in arch]
        if bench is None:
            acc = [None] * len(archs)
            metric_name = "none"
            err.print(f"[yellow]note:[/] no ground truth for {sp.name} without --bench-dir; "
                      "accuracies are left unknown")
        else:
            acc = [bench.lookup(a) for a in archs]
            metric_name = bench.metric
            missing = [a for a, v in zip(archs, acc) if not math.isfinite(v)]
            if missing:
                err.print(f"[yellow]note:[/] {len(missing)} architecture(s) not in "
                          f"{bench.source}; their accuracy is unknown")
    work = (out_dir, sp.name, archs, acc, dict(
        metric=metric_name, batch_size=batch_size, seed=seed, order=order, images_path=images,
        dtype=dtype, progress=not quiet, threads=threads, jobs=1 if executor == "serial" else jobs,
        cross_batch=cross_batch))
    if executor == "ray":
        supervised(_build, *work, True, ray_address, continue_with="the same command")
    else:
        _build(*work)


def _build(out_dir, space, archs, acc, options, on_ray=False, ray_address=None) -> None:
    from gpnas.data.stats.build import build_store
    from gpnas.data.stats.remote import ray_runner

    runner = ray_runner(ray_address) if on_ray else None
    store = build_store(out_dir, space, archs, acc, runner=runner, **options)
    inst = store.instances()
    err.print(f"store {store.path}: {len(store)} networks of {store.space} "
              f"({min(inst)}..{max(inst)} instances), {store.disk_bytes() / 2**20:.1f} MiB, "
              f"metric {options['metric']}")


def info_dict(store, problems: list[str]) -> dict:
    inst = store.instances()
    acc = store.accuracies()
    finite = acc[np.isfinite(acc)]
    size = store.disk_bytes()
    return {
        "path": str(store.path),
        "space": store.space,
        "nets": len(store),
        "instances": inst,
        "sep_instances": [int(r.get("sep_instances", 0)) for r in store.nets],
        "tensors": list(store.tensor_names),
        "dtype": store.dtype,
        "batch_size": store.batch_size,
        "cross_batch": store.cross_batch,
        "seed": store.settings.get("seed"),
        "order": store.settings.get("order"),
        "images": store.settings.get("images"),
        "metric": store.settings.get("metric"),
        "accuracy": {"known": int(finite.size),
                     "min": float(finite.min()) if finite.size else None,
                     "max": float(finite.max()) if finite.size else None},
        "disk_bytes": size,
        "disk_mb": round(size / 1e6, 3),
        "mb_per_net": round(size / 1e6 / max(len(store), 1), 3),
        "problems": problems,
    }


@stats_app.command("info")
def info(
    path: Path = typer.Argument(..., help="Store directory."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    no_checksum: bool = typer.Option(False, "--no-checksum", help="Skip the SHA-256 check of "
                                     "every shard (faster)."),
):
    """Describe a store and check its shards (exit status 1 when problems are found)."""
    from gpnas.data.stats.store import StatsStore

    store = StatsStore(path, check_shards=False)
    problems = store.verify(deep=not no_checksum)
    d = info_dict(store, problems)
    if as_json:
        print(json.dumps(d, indent=2))
    else:
        inst = d["instances"]
        t = Table(title=f"statistics store {d['path']}", show_header=False)
        t.add_column("key", style="bold")
        t.add_column("value", overflow="fold")
        t.add_row("space", d["space"])
        t.add_row("networks", str(d["nets"]))
        t.add_row("instances / net",
                  f"{min(inst)}..{max(inst)} (mean {sum(inst) / len(inst):.1f}, total "
                  f"{sum(inst)})" if inst else "-")
        t.add_row("sep instances", str(sum(d["sep_instances"])))
        t.add_row("tensors", f"{len(d['tensors'])}: " + ", ".join(d["tensors"]))
        t.add_row("dtype", d["dtype"])
        t.add_row("batch size", str(d["batch_size"]))
        t.add_row("cross-sample batch", str(d["cross_batch"] or "none"))
        t.add_row("seed / order", f"{d['seed']} / {d['order']}")
        t.add_row("images", str(d["images"]))
        a = d["accuracy"]
        t.add_row("accuracy", f"{d['metric']}: {a['known']} known"
                  + (f", {a['min']:.2f}..{a['max']:.2f} %" if a["known"] else ""))
        t.add_row("disk", f"{d['disk_mb']:.1f} MB ({d['mb_per_net']:.2f} MB / net)")
        t.add_row("problems", str(len(problems)) if problems else "none")
        out.print(t)
        for p in problems:
            err.print(f"[red]problem:[/] {p}")
    if problems:
        raise typer.Exit(1)


__all__ = ["stats_app"]
