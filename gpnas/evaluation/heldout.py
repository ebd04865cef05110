"""Testing programs on held-out networks, streamed: statistics are collected a block of
networks at a time (in parallel worker processes, one block ahead), scored by every program,
and dropped, so 1000 networks never sit in memory or on disk at once."""

from __future__ import annotations

import multiprocessing as mp
import os

import numpy as np
import torch

from representations.ir import Program

from gpnas.console import progress_bar
from gpnas.evaluation.engine import Engine, InvalidProgram
from gpnas.evaluation.fitness import kendall, spearman
from gpnas.data.stats.build import net_statistics
from gpnas.evaluation.task import Task


HELDOUT_BLOCK = 16  # networks collected and scored at a time


def _collect(job):
    """One network's statistics as numpy arrays: pickled through the pipe as bytes.  Torch
    tensors would travel as one shared-memory file descriptor each, and a block of networks
    (tens of thousands of tensors) exhausts the process's descriptor limit."""
    space, arch, batch_size, seed, order, cross_batch = job
    return [{k: v.numpy() for k, v in inst.items()}
            for inst in net_statistics(space, arch, batch_size=batch_size, seed=seed, order=order,
                                       cross_batch=cross_batch)]


def _as_tensors(net):
    return [{k: torch.from_numpy(v) for k, v in inst.items()} for inst in net]


def _blocks(space, archs, batch_size, seed, order, cross_batch, workers, block):
    """Yield the statistics of consecutive blocks of networks.  Worker processes collect the
    next block while the caller scores this one, so at most two blocks are ever in memory."""
    jobs = [(space, a, batch_size, seed, order, cross_batch) for a in archs]
    chunks = [jobs[i: i + block] for i in range(0, len(jobs), block)]
    if workers <= 1:
        for chunk in chunks:
            yield [_as_tensors(_collect(job)) for job in chunk]
        return
    with mp.get_context("spawn").Pool(workers) as pool:
        pending = pool.map_async(_collect, chunks[0], chunksize=1) if chunks else None
        for following in chunks[1:] + [None]:
            ready = pending.get()
            pending = pool.map_async(_collect, following, chunksize=1) if following else None
            yield [_as_tensors(net) for net in ready]


def score_block(programs: list[Program], engine: Engine, task: Task,
                skip: set[int] = frozenset()) -> list[np.ndarray | str | None]:
    """Each program's scores on one block of networks, or the reason it is invalid (None for
    the positions in ``skip``)."""
    out: list[np.ndarray | str | None] = []
    for i, p in enumerate(programs):
        try:
            out.append(None if i in skip else engine.net_scores(p, task))
        except InvalidProgram as exc:
            out.append(exc.reason)
    engine.cache.clear()
    return out


def _local_results(programs, engine, space, archs, accuracy, batch_size, seed, order,
                   cross_batch, workers, block, invalid):
    """Per block, in order: :func:`score_block` here, on statistics collected by workers."""
    blocks = _blocks(space, archs, batch_size, seed, order, cross_batch,
                     min(workers, len(archs)), block)
    try:
        for start, per_net in zip(range(0, len(archs), block), blocks):
            task = Task.from_instances(space, per_net, accuracy[start: start + len(per_net)])
            yield score_block(programs, engine, task,
                              {i for i, r in enumerate(invalid) if r is not None})
    finally:
        blocks.close()


def score_heldout(programs: list[Program], space: str, archs: list[str], accuracy: np.ndarray,
                  engine: Engine, *, batch_size: int = 1, seed: int = 0, order: str = "rcb",
                  progress: bool = True, block: int = HELDOUT_BLOCK, workers: int | None = None,
                  cross_batch: int = 0, done: tuple[int, list, list] | None = None,
                  on_block=None, runner=None) -> list[dict]:
    """Per program: kendall, spearman, n, invalid (reason or None) and the scores.
    ``cross_batch``: collect the cross-sample statistics too (a batch of that many images).

    Resumable: ``on_block(n, scores, invalid)`` is called after each block with the number of
    networks scored so far, every program's scores of them and the invalid reasons; ``done``,
    such a triple saved earlier (``n`` a multiple of ``block``), skips those networks.  Blocks
    are the same as in an uninterrupted test, so the results are too.

    ``runner(programs, engine, space, blocks, batch_size=, seed=, order=, cross_batch=, skip=)``,
    where ``blocks`` lists (archs, accuracies) of consecutive blocks and ``skip`` the programs
    already invalid, replaces the local worker processes: it yields :func:`score_block`'s list
    for each block, in order (e.g. :func:`gpnas.evaluation.ray_backend.heldout_runner`)."""
    accuracy = np.asarray(accuracy, dtype=float)
    workers = (os.cpu_count() or 1) if workers is None else workers
    scores = [np.full(len(archs), np.nan) for _ in programs]
    invalid: list[str | None] = [None] * len(programs)
    first = 0
    if done is not None:
        first, old_scores, invalid = done[0], done[1], list(done[2])
        for s, old in zip(scores, old_scores):
            s[:first] = old[:first]
    starts = range(first, len(archs), block)
    with progress_bar(progress) as bar:
        job = bar.add_task(f"testing on {len(archs)} {space} networks", total=len(archs),
                           completed=first)
        if runner is None:
            results = _local_results(programs, engine, space, archs[first:], accuracy[first:],
                                     batch_size, seed, order, cross_batch, workers, block,
                                     invalid)
        else:
            results = runner(programs, engine, space,
                             [(archs[i: i + block], accuracy[i: i + block]) for i in starts],
                             batch_size=batch_size, seed=seed, order=order,
                             cross_batch=cross_batch,
                             skip={i for i, r in enumerate(invalid) if r is not None})
        try:
            for start, per_program in zip(starts, results):
                count = min(block, len(archs) - start)
                for i, r in enumerate(per_program):
                    if invalid[i] is None and isinstance(r, str):
                        invalid[i] = r
                    elif invalid[i] is None and r is not None:
                        scores[i][start: start + count] = r
                bar.advance(job, count)
                if on_block is not None:
                    on_block(start + count, [s[: start + count] for s in scores], invalid)
        finally:
            results.close()
    out = []
    for i in range(len(programs)):
        row = {"n": len(archs), "invalid": invalid[i], "kendall": None, "spearman": None,
               "scores": None}
        if invalid[i] is None:
            try:
                row.update(kendall=kendall(scores[i], accuracy),
                           spearman=spearman(scores[i], accuracy), scores=scores[i])
            except InvalidProgram as exc:
                row["invalid"] = exc.reason
        out.append(row)
    return out
