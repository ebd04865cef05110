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
                   label: str | None = None) -> dict[str, np.ndarray]:
    """Per metric, the scores of ``archs`` (built with ``seed``).

    ``batch_size`` overrides every data metric's default batch (not params, flops, synflow,
    which use one image's shape only); ZiCo needs at least 2."""
    from gpnas.console import progress_bar
    from gpnas.data.spaces import get_space
    from gpnas.data.stats.images import sample_images

    sp = get_space(space)
    images: dict[int, object] = {}
    scores = {m: np.empty(len(archs)) for m in metrics}
    with progress_bar(progress) as bar:
        job = bar.add_task(label or f"{space}: {len(metrics)} metrics x {len(archs)} networks",
                           total=len(archs))
        for i, arch in enumerate(archs):
            model = sp.build(arch, seed=seed)
            for name in metrics:
                b = BASELINES[name]
                bs = b.batch_size
                if batch_size is not None and name not in ("params", "flops", "synflow"):
                    bs = int(batch_size)
                if bs not in images:
                    images[bs] = sample_images(sp, bs, seed, images_path)
                scores[name][i] = b(model, images[bs], seed)
            bar.advance(job)
    return scores


def evaluate_space(space: str, test_nets: int, metrics: list[str] | str | None = None, *,
                   bench_dir=None, metric: str = "test", batch_size: int | None = None,
                   seed: int = 0, images_path=None, progress: bool = True) -> dict:
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
                            images_path=images_path, progress=progress)
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
