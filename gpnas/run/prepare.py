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
    validation: np.ndarray  # benchmark rows of the validation networks (may be empty)
    validation_ids: np.ndarray  # their store net ids
    sizes: np.ndarray  # conv parameter count of each pool network


def split(cfg: RunConfig) -> dict[str, tuple[Benchmark, np.ndarray, np.ndarray, np.ndarray]]:
    """Per space of ``cfg``: its benchmark and the benchmark rows of the evolution pool, of the
    validation networks and of the held-out test networks -- disjoint, drawn from ``data_seed``
    (spaces in sorted order, one stream): pool, then validation, then test of one permutation."""
    data_rng, _ = cfg.rngs()
    out = {}
    e, v = cfg.evolution_nets, cfg.validation_nets
    for space in sorted(cfg.spaces):
        bench = load_benchmark(space, cfg.bench_dir, cfg.metric)
        n = len(bench.archs)
        if n < e + v + 2:
            raise GpnasError(f"{space}: the benchmark has {n} networks, too few for "
                             f"{e} evolution and {v} validation networks plus a test set")
        perm = data_rng.permutation(n)
        out[space] = (bench, perm[:e], perm[e:e + v], perm[e + v:e + v + cfg.test_nets])
    return out


def prepare(cfg: RunConfig, progress: bool = True) -> dict[str, SpaceData]:
    """Ground truth, the evolution/test split per space, and the pool statistics (cached; built
    on every available core)."""
    out = {}
    for space, (bench, pool, validation, test) in split(cfg).items():
        cross = f"-x{cfg.cross_batch}" if cfg.cross_batch else ""
        path = cache_dir() / "stats" / path_name(
            f"{space}-{bench.metric}-b{cfg.batch_size}{cross}-{cfg.order}-s{cfg.stats_seed}",
            f"the statistics cache of {space} (metric {bench.metric!r}):")
        if progress:
            err.print(f"[bold]{space}[/]: statistics of {len(pool)} evolution and "
                      f"{len(validation)} validation networks (cache {path})")
        rows = np.concatenate([pool, validation])
        store = build_store(path, space, [bench.archs[i] for i in rows], bench.accuracy[rows],
                            metric=bench.metric, batch_size=cfg.batch_size, seed=cfg.stats_seed,
                            order=cfg.order, progress=progress, cross_batch=cfg.cross_batch,
                            jobs=None,
                            runner=ray_runner(cfg.ray_address) if cfg.executor == "ray" else None)
        where, canonical = store.arch_index(), get_space(space).canonical
        ids = np.array([where[canonical(bench.archs[i])] for i in rows], dtype=int)
        out[space] = SpaceData(bench, pool, test, store, ids[:len(pool)], validation,
                               ids[len(pool):], store.conv_params()[ids[:len(pool)]])
    return out
