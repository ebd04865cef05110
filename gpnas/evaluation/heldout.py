"""Testing programs on held-out networks, streamed: statistics are collected a block of
networks at a time, scored by every program at once and dropped, so 1000 networks never sit in
memory or on disk at once, and each network is collected once whatever the number of programs.

Locally, with ``workers`` > 1, each worker process collects a whole block and scores it with every
program, and sends back only the scores (as the Ray runner does on a cluster): no statistics cross
a process boundary (pickling a network's tens of MB of float32 cost about a third of collecting
it), and collection and scoring of different blocks overlap on every core.
"""

from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import torch

from primitives import full_primitive_set
from representations.ir import Program

from gpnas.console import progress_bar
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.fitness import kendall, spearman
from gpnas.data.stats.build import net_statistics
from gpnas.errors import GpnasError
from gpnas.evaluation.task import Task
from gpnas.threads import available_cores


HELDOUT_BLOCK = 16  # networks collected and scored at a time

_worker: tuple | None = None  # a worker process's (engine, programs)


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


def _collect_and_score(engine: Engine, programs: list[Program], space: str, archs: list[str],
                       accuracy, batch_size: int, seed: int, order: str, cross_batch: int,
                       skip: set[int]) -> list[np.ndarray | str | None]:
    """Collect one block of networks and score it: :func:`score_block`."""
    per_net = [net_statistics(space, a, batch_size=batch_size, seed=seed, order=order,
                              cross_batch=cross_batch) for a in archs]
    return score_block(programs, engine, Task.from_instances(space, per_net, accuracy), skip)


def _init_worker(config: EngineConfig, programs_json: list[str]) -> None:
    global _worker
    torch.set_num_threads(1)
    pset = full_primitive_set()  # every program reads with the full DSL (as the executor's)
    engine = Engine(pset, EngineConfig(**{**vars(config), "threads": 1}))
    _worker = (engine, [Program.from_json(p, pset) for p in programs_json])


def _in_worker(job):
    return _collect_and_score(*_worker, *job)


def local_runner(workers: int):
    """The default runner of :func:`score_heldout`: blocks collected and scored here, or by
    ``workers`` processes (started fresh, so they hold none of this process's locks or files)."""

    def run(programs, engine: Engine, space, blocks, *, batch_size, seed, order, cross_batch,
            skip=frozenset()):
        jobs = [(space, list(archs), accuracy, batch_size, seed, order, cross_batch, set(skip))
                for archs, accuracy in blocks]
        if workers <= 1 or len(jobs) <= 1:
            for job in jobs:
                yield _collect_and_score(engine, programs, *job)
            return
        pool = ProcessPoolExecutor(min(workers, len(jobs)), mp.get_context("spawn"),
                                   _init_worker, (engine.config, [p.to_json() for p in programs]))
        try:
            yield from pool.map(_in_worker, jobs)
        except BrokenProcessPool:
            raise GpnasError("a worker process of the held-out test died (out of memory?); "
                             "the blocks scored so far are kept") from None
        finally:
            pool.shutdown(cancel_futures=True)

    return run


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
    for each block, in order (e.g. :func:`gpnas.evaluation.ray_backend.heldout_runner`; default:
    :func:`local_runner` with ``workers`` processes, one per core by default)."""
    accuracy = np.asarray(accuracy, dtype=float)
    workers = available_cores() if workers is None else workers
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
        results = (runner or local_runner(workers))(
            programs, engine, space,
            [(archs[i: i + block], accuracy[i: i + block]) for i in starts],
            batch_size=batch_size, seed=seed, order=order, cross_batch=cross_batch,
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
