"""Rank correlation of the baseline metrics with trained accuracy on test networks of a space.

:func:`evaluate_space` samples ``test_nets`` architectures of the space's benchmark with
``seed`` (``Benchmark.sample``: a prefix of one seeded permutation), builds each network with
``Space.build(arch, seed=seed)`` and scores it with every chosen metric on one image batch per
batch size (``sample_images(space, batch, seed, images_path)``, the same batch for every
network) -- the same networks, initialisation and images as gpnas's statistics collection uses
for that seed.  Then Kendall tau-b and Spearman rho (scipy) of each metric's scores vs the
accuracies.

A non-finite score is kept: ``-inf`` / ``+inf`` rank lowest / highest and NaN is ranked lowest
(as ``-inf``); the count of non-finite scores is reported.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np
from scipy import stats

from gpnas.errors import GpnasError
from gpnas.baselines import BASELINES, parse_metrics


def rank_correlations(scores, accuracy) -> dict:
    """kendall (tau-b), spearman and n of ``scores`` vs ``accuracy`` (NaN scores rank lowest).

    A correlation that is undefined (constant scores) is ``None``."""
    s = np.asarray(scores, dtype=float)
    a = np.asarray(accuracy, dtype=float)
    if s.shape != a.shape or s.ndim != 1:
        raise GpnasError(f"{s.shape} scores for {a.shape} accuracies")
    s = np.where(np.isnan(s), -np.inf, s)
    # ranks make +-inf safe for both statistics
    r = stats.rankdata(s)
    out = {"n": int(len(s))}
    if len(s) < 2 or np.all(r == r[0]):
        out.update(kendall=None, spearman=None)
        return out
    tau = stats.kendalltau(r, a).statistic
    rho = stats.spearmanr(r, a).statistic
    out["kendall"] = float(tau) if math.isfinite(tau) else None
    out["spearman"] = float(rho) if math.isfinite(rho) else None
    return out


def score_networks(space: str, archs: list[str], metrics: list[str], *, seed: int = 0,
                   batch_size: int | None = None, images_path=None, progress: bool = True,
                   label: str | None = None, jobs: int = 1) -> dict[str, np.ndarray]:
    """Per metric, the scores of ``archs`` (built with ``seed``).

    ``batch_size`` overrides every data metric's default batch (not params, flops, synflow,
    which use one image's shape only); ZiCo needs at least 2.  ``jobs`` > 1 scores the networks
    in that many worker processes (one torch thread each); the scores are the same."""
    from gpnas.console import progress_bar

    scores = {m: np.empty(len(archs)) for m in metrics}
    job = (space, tuple(metrics), seed, batch_size, None if images_path is None else
           str(images_path))
    with progress_bar(progress) as bar:
        task = bar.add_task(label or f"{space}: {len(metrics)} metrics x {len(archs)} networks",
                            total=len(archs))
        for i, row in enumerate(_score_all(job, archs, jobs)):
            for name in metrics:
                scores[name][i] = row[name]
            bar.advance(task)
    return scores


def _score_one(job: tuple, arch: str) -> dict[str, float]:
    """Every metric of one network (its images from :func:`_images`)."""
    from gpnas.data.spaces import get_space

    space, metrics, seed, batch_size, images_path = job
    model = get_space(space).build(arch, seed=seed)
    out = {}
    for name in metrics:
        b = BASELINES[name]
        bs = b.batch_size
        if batch_size is not None and name not in ("params", "flops", "synflow"):
            bs = int(batch_size)
        out[name] = b(model, _images(space, bs, seed, images_path), seed)
    return out


@functools.lru_cache(maxsize=8)
def _images(space: str, batch_size: int, seed: int, images_path: str | None):
    from gpnas.data.stats.images import sample_images

    return sample_images(space, batch_size, seed, images_path)


def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def _score_all(job: tuple, archs: list[str], jobs: int):
    """Per network, in order: {metric: score}, from this process or ``jobs`` workers."""
    if jobs <= 1 or len(archs) <= 1:
        for arch in archs:
            yield _score_one(job, arch)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    with ProcessPoolExecutor(min(jobs, len(archs)), multiprocessing.get_context(method),
                             initializer=_worker_init) as pool:
        yield from pool.map(functools.partial(_score_one, job), archs)


def evaluate_space(space: str, test_nets: int, metrics: list[str] | str | None = None, *,
                   bench_dir=None, metric: str = "test", batch_size: int | None = None,
                   seed: int = 0, images_path=None, progress: bool = True,
                   jobs: int = 1) -> dict:
    """``{metric: {"kendall", "spearman", "n", "nonfinite", "seconds"}}`` for one space."""
    from gpnas.data.groundtruth import load_benchmark

    names = metrics if isinstance(metrics, list) else parse_metrics(metrics)
    if batch_size is not None and batch_size < 1:
        raise GpnasError(f"--batch-size must be at least 1, got {batch_size}")
    if test_nets < 2:
        raise GpnasError(f"--test-nets must be at least 2 (a rank correlation), got {test_nets}")
    bench = load_benchmark(space, bench_dir, metric)
    archs, acc = bench.sample(test_nets, seed)
    result = {}
    t0 = time.time()
    scores = score_networks(space, archs, names, seed=seed, batch_size=batch_size,
                            images_path=images_path, progress=progress, jobs=jobs)
    seconds = time.time() - t0
    for name in names:
        row = rank_correlations(scores[name], acc)
        row["nonfinite"] = int((~np.isfinite(scores[name])).sum())
        result[name] = row
    result["_info"] = {"benchmark": bench.source, "metric": bench.metric, "seconds": seconds,
                       "seed": seed}
    return result


def evaluate(spaces: list[str], test_nets: int, metrics=None, **kw) -> dict:
    """:func:`evaluate_space` for each space: ``{space: {metric: {...}, "_info": {...}}}``."""
    return {s: evaluate_space(s, test_nets, metrics, **kw) for s in spaces}


__all__ = ["evaluate", "evaluate_space", "rank_correlations", "score_networks"]
