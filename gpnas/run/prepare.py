"""Data for a run: ground truth, the evolution/test split per space, the pool statistics."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpnas.config import RunConfig
from gpnas.console import err
from gpnas.data.groundtruth import Benchmark, load_benchmark
from gpnas.data.spaces import get_space
from gpnas.data.stats.build import build_store
from gpnas.data.stats.remote import ray_runner
from gpnas.data.stats.store import StatsStore
from gpnas.errors import GpnasError
from gpnas.schemas import path_name


def cache_dir() -> Path:
    """Where statistics are cached between runs: $GPNAS_CACHE or ~/.cache/gpnas."""
    return Path(os.environ.get("GPNAS_CACHE", Path.home() / ".cache" / "gpnas"))


@dataclass
class SpaceData:
    bench: Benchmark
    pool: np.ndarray  # benchmark rows of the evolution pool
    test: np.ndarray  # benchmark rows of the held-out test networks
    store: StatsStore
    store_ids: np.ndarray  # store net id of each pool network


def split(cfg: RunConfig) -> dict[str, tuple[Benchmark, np.ndarray, np.ndarray]]:
    """Per space of ``cfg``: its benchmark and the benchmark rows of the evolution pool and of the
    held-out test networks, drawn from ``data_seed`` (spaces in sorted order, one stream)."""
    data_rng, _ = cfg.rngs()
    out = {}
    for space in sorted(cfg.spaces):
        bench = load_benchmark(space, cfg.bench_dir, cfg.metric)
        n = len(bench.archs)
        if n < cfg.evolution_nets + 2:
            raise GpnasError(f"{space}: the benchmark has {n} networks, too few for "
                             f"{cfg.evolution_nets} evolution networks plus a test set")
        perm = data_rng.permutation(n)
        out[space] = (bench, perm[: cfg.evolution_nets],
                      perm[cfg.evolution_nets: cfg.evolution_nets + cfg.test_nets])
    return out


def prepare(cfg: RunConfig, progress: bool = True) -> dict[str, SpaceData]:
    """Ground truth, the evolution/test split per space, and the pool statistics (cached)."""
    out = {}
    for space, (bench, pool, test) in split(cfg).items():
        cross = f"-x{cfg.cross_batch}" if cfg.cross_batch else ""
        path = cache_dir() / "stats" / path_name(
            f"{space}-{bench.metric}-b{cfg.batch_size}{cross}-{cfg.order}-s{cfg.stats_seed}",
            f"the statistics cache of {space} (metric {bench.metric!r}):")
        if progress:
            err.print(f"[bold]{space}[/]: statistics of {len(pool)} evolution networks "
                      f"(cache {path})")
        store = build_store(path, space, [bench.archs[i] for i in pool], bench.accuracy[pool],
                            metric=bench.metric, batch_size=cfg.batch_size, seed=cfg.stats_seed,
                            order=cfg.order, progress=progress, cross_batch=cfg.cross_batch,
                            runner=ray_runner(cfg.ray_address) if cfg.executor == "ray" else None)
        where, canonical = store.arch_index(), get_space(space).canonical
        store_ids = np.array([where[canonical(bench.archs[i])] for i in pool])
        out[space] = SpaceData(bench, pool, test, store, store_ids)
    return out
