"""Executors: where program scores are computed.

The search talks to an executor only through :meth:`Executor.set_sample` and
:meth:`Executor.scores`; the Ray backend is :class:`gpnas.evaluation.ray_backend.RayExecutor`.
The local executors read the statistics stores by path (memory-mapped), so workers share the
page cache, not copies.
"""

from __future__ import annotations

import multiprocessing as mp
from typing import Protocol

import numpy as np
import torch

from primitives import full_primitive_set
from representations.ir import Program

from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.data.stats.store import StatsStore
from gpnas.evaluation.task import Task

Sample = dict[str, tuple[int, ...]]  # space -> network ids of its pool store
Scores = dict[str, np.ndarray] | str  # per-space network scores, or the reason it is invalid


class Executor(Protocol):
    """``scores(programs, nets)``: each program's scores on the first ``nets`` networks of each
    space's sample (all of them when None) -- the rungs of a race share one sample."""

    def set_sample(self, sample: Sample) -> None: ...
    def scores(self, programs: list[Program], nets: int | None = None) -> list[Scores]: ...
    def close(self) -> None: ...


class LocalEvaluation:
    """An engine and the tasks of the current sample, in this process."""

    def __init__(self, stores: dict[str, str], engine_config: EngineConfig,
                 dtype: torch.dtype = torch.float32):
        """``dtype``: how the sample's statistics are held in memory (float16 halves it; the
        engine computes in float32 either way)."""
        self.stores = {sp: StatsStore(path) for sp, path in stores.items()}
        self.engine = Engine(full_primitive_set(), engine_config)
        self.dtype = dtype
        self.tasks: dict[str, Task] = {}
        self.prefixes: dict[tuple[str, int], Task] = {}  # (space, nets) -> first nets networks
        self.sample: Sample = {}

    def set_sample(self, sample: Sample) -> None:
        if sample == self.sample:
            return
        self.tasks = {sp: Task.from_store(self.stores[sp], ids, dtype=self.dtype, lazy=True)
                      for sp, ids in sample.items()}
        self.prefixes = {}
        self.sample = dict(sample)
        self.engine.cache.clear()

    def score(self, program: Program, nets: int | None = None) -> Scores:
        out = {}
        for sp in self.tasks:
            out[sp] = self.score_on(program, sp, nets)
            if isinstance(out[sp], str):
                return out[sp]
        return out

    def score_on(self, program: Program, space: str, nets: int | None = None) -> np.ndarray | str:
        """Scores on one space of the sample (``nets``: on its first ``nets`` networks only), or
        the reason the program is invalid there."""
        task = self.tasks[space]
        if nets is not None and nets < task.n_nets:
            if (space, nets) not in self.prefixes:
                self.prefixes[space, nets] = task.prefix(nets)
            task = self.prefixes[space, nets]
        try:
            return self.engine.net_scores(program, task)
        except InvalidProgram as exc:
            return f"{space}: {exc.reason}"


class SerialExecutor:
    """Everything in the calling process."""

    def __init__(self, stores: dict[str, str], engine_config: EngineConfig,
                 dtype: torch.dtype = torch.float32):
        self.local = LocalEvaluation(stores, engine_config, dtype)

    def set_sample(self, sample: Sample) -> None:
        self.local.set_sample(sample)

    def scores(self, programs: list[Program], nets: int | None = None) -> list[Scores]:
        return [self.local.score(p, nets) for p in programs]

    def close(self) -> None:
        pass


_worker: LocalEvaluation | None = None


def _init_worker(stores, engine_config, threads, dtype):
    global _worker
    torch.set_num_threads(threads)
    _worker = LocalEvaluation(stores, engine_config, dtype)


def _score_in_worker(args):
    sample, program_json, nets = args
    _worker.set_sample(sample)
    program = Program.from_json(program_json, _worker.engine.pset)
    return _worker.score(program, nets)


class ProcessExecutor:
    """A pool of local worker processes; each keeps its own engine and sub-expression cache."""

    def __init__(self, stores: dict[str, str], engine_config: EngineConfig, workers: int,
                 dtype: torch.dtype = torch.float32):
        threads = max(1, torch.get_num_threads() // workers)
        ctx = mp.get_context("spawn")
        self.pool = ctx.Pool(workers, _init_worker, (stores, engine_config, threads, dtype))
        self.sample: Sample = {}

    def set_sample(self, sample: Sample) -> None:
        self.sample = dict(sample)

    def scores(self, programs: list[Program], nets: int | None = None) -> list[Scores]:
        jobs = [(self.sample, p.to_json(), nets) for p in programs]
        return self.pool.map(_score_in_worker, jobs, chunksize=1)

    def close(self) -> None:
        self.pool.close()
        self.pool.join()


def make_executor(stores: dict[str, str], engine_config: EngineConfig, workers: int = 1,
                  dtype: torch.dtype = torch.float32, executor: str = "auto",
                  ray_address: str | None = None):
    """The executor named by a run's ``executor`` setting (``gpnas.config.EXECUTORS``);
    ``dtype``: how local executors hold the sample's statistics."""
    if executor == "ray":
        from gpnas.evaluation.ray_backend import RayExecutor

        return RayExecutor(stores, engine_config, workers if workers > 1 else None, ray_address)
    if executor == "serial" or (executor == "auto" and workers <= 1):
        return SerialExecutor(stores, engine_config, dtype)
    return ProcessExecutor(stores, engine_config, workers, dtype)
