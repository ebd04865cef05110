"""The Ray backend of the evaluation: program fitness scores and the held-out test on a cluster.

**Fitness** (:class:`RayExecutor`, behind the same ``set_sample`` / ``scores`` seam as the local
executors).  One actor per worker CPU, each a :class:`~gpnas.evaluation.executor.LocalEvaluation`
(stores memory-mapped by path, or shipped: :mod:`gpnas.data.stats.remote`; an engine with its
sub-expression cache) -- the object the serial executor uses, so scores are the same to the
bit.  Each generation the actors are dealt out over the sampled spaces (actor i serves space
i mod s), so an actor holds the statistics of its own space's sample only, not all of them.
The programs are put in the object store once; each space's programs are cut into chunks that
go to that space's actors as they become free (two in flight per actor); per program the
per-space scores are put together in sample order, or the first space's reason it is invalid,
as :meth:`LocalEvaluation.score` does, for the minimum over spaces
(:mod:`gpnas.search.evaluator`).  A chunk carries the actor's sample, so an actor restarted
after its process died (Ray restarts it and retries its chunks) rebuilds its state from the call.
``scores(programs, nets)`` scores on the first ``nets`` networks of each space's sample only
(racing): each actor cuts that prefix of its task once per generation.

**Held-out test** (:func:`heldout_runner`).  One Ray task per block of networks collects their
statistics and scores every program on them (:func:`~gpnas.evaluation.heldout.score_block`), so
only scores travel; blocks are the local ones, so the scores are too.
"""

from __future__ import annotations

import collections
import math
import os

from representations.ir import Program

from gpnas.data.cluster import RETRIES, Watch, connect, cpus, gather, stream
from gpnas.data.stats.remote import StoreSpec, open_store
from gpnas.errors import GpnasError
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.executor import LocalEvaluation, Sample, Scores

#: chunks per actor and generation: small enough to balance programs of unequal cost
CHUNKS_PER_ACTOR = 4


class _Scorer:
    """The actor: a LocalEvaluation over the stores this node can read or was sent."""

    def __init__(self, specs: dict[str, StoreSpec], engine_config: EngineConfig):
        found = {sp: open_store(spec) for sp, spec in specs.items()}
        self.sources = {sp: source for sp, (_, source) in found.items()}
        self.local = LocalEvaluation({sp: p for sp, (p, _) in found.items() if p is not None},
                                     engine_config)
        self._programs: tuple[str, list] = ("", [])

    def info(self) -> tuple[int, dict[str, str]]:
        """(process id, per space: ``path``, ``copy``, ``shipped`` or ``missing``)."""
        return os.getpid(), self.sources

    def score(self, sample: Sample, space: str, box: list, lo: int, hi: int,
              nets: int | None = None) -> list:
        """Scores (or reasons) of programs ``lo:hi`` on ``space`` (on the first ``nets``
        networks of its sample when given); ``sample``: this actor's spaces of the generation's
        sample."""
        import ray

        ref = box[0]  # boxed: fetched here once per generation, not resolved per call
        if self._programs[0] != ref.hex():
            self._programs = (ref.hex(), ray.get(ref))
        self.local.set_sample(sample)
        pset = self.local.engine.pset
        return [self.local.score_on(Program.from_json(j, pset), space, nets)
                for j in self._programs[1][lo:hi]]


class RayExecutor:
    """Fitness scores computed by Ray actors (see the module docstring)."""

    def __init__(self, stores: dict[str, str], engine_config: EngineConfig,
                 workers: int | None = None, address: str | None = None):
        self.ray = ray = connect(address)
        specs = {sp: StoreSpec.of(path) for sp, path in stores.items()}
        if any(s.ship for s in specs.values()):
            specs = {sp: s.shipped() for sp, s in specs.items()}
        self.workers = workers or cpus()
        actor = ray.remote(num_cpus=1, max_restarts=RETRIES, max_task_retries=RETRIES)(_Scorer)
        self.actors = [actor.remote(specs, engine_config) for _ in range(self.workers)]
        infos = gather([a.info.remote() for a in self.actors])
        missing = sorted({sp for _, src in infos for sp, s in src.items() if s == "missing"})
        if missing:  # some node cannot read these stores: send their files, start again
            specs.update({sp: specs[sp].shipped() for sp in missing})
            self.close()
            self.actors = [actor.remote(specs, engine_config) for _ in range(self.workers)]
            infos = gather([a.info.remote() for a in self.actors])
        self.sources = [src for _, src in infos]
        lost = sorted({sp for src in self.sources for sp, s in src.items() if s == "missing"})
        if lost:
            raise GpnasError(f"Ray workers cannot read the statistics of {', '.join(lost)}")
        self.sample: Sample = {}

    def set_sample(self, sample: Sample) -> None:
        self.sample = dict(sample)

    def scores(self, programs: list[Program], nets: int | None = None) -> list[Scores]:
        """Per program its scores on every space of the sample, or the reason it is invalid;
        ``nets``: score only the first ``nets`` networks of each space's sample (racing)."""
        spaces = list(self.sample)
        if not programs or not spaces:
            return [{} for _ in programs]
        box = [self.ray.put([p.to_json() for p in programs])]
        # actor i serves space i mod s (and, with fewer actors than spaces, every W-th after it)
        homes = [spaces[i % len(spaces)::len(self.actors)] for i in range(len(self.actors))]
        queues = {}  # space -> chunks (lo, hi) of its programs
        for sp in spaces:
            n_actors = sum(sp in h for h in homes)
            size = math.ceil(len(programs) / (CHUNKS_PER_ACTOR * n_actors))
            queues[sp] = collections.deque((lo, min(lo + size, len(programs)))
                                           for lo in range(0, len(programs), size))
        per_space: dict[str, list] = {sp: [None] * len(programs) for sp in spaces}
        running: dict = {}  # ref -> (actor, space, lo, hi)

        def give(actor: int) -> None:
            sp = next((sp for sp in homes[actor] if queues[sp]), None)
            if sp is not None:
                lo, hi = queues[sp].popleft()
                sample = {s: self.sample[s] for s in homes[actor]}
                ref = self.actors[actor].score.remote(sample, sp, box, lo, hi, nets)
                running[ref] = (actor, sp, lo, hi)

        for actor in range(len(self.actors)):
            give(actor)
            give(actor)
        watch = Watch()
        while running:
            for ref in watch.ready(list(running)):
                actor, sp, lo, hi = running.pop(ref)
                per_space[sp][lo:hi] = watch.get(ref)
                give(actor)
        out: list[Scores] = []
        for i in range(len(programs)):
            reason = next((per_space[sp][i] for sp in spaces
                           if isinstance(per_space[sp][i], str)), None)
            out.append(reason if reason is not None else {sp: per_space[sp][i] for sp in spaces})
        return out

    def pids(self) -> list[int]:
        """The actors' process ids (tests and benchmarks kill them)."""
        return [pid for pid, _ in gather([a.info.remote() for a in self.actors])]

    def close(self) -> None:
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001 - a cluster already gone has nothing to free
                pass
        self.actors = []


def _heldout_block(setup, box: list, space: str, archs: list[str], accuracy, batch_size: int,
                   seed: int, order: str, cross_batch: int, skip: set[int]) -> list:
    """On a worker: collect one block's statistics, score every program on them."""
    import ray

    from gpnas.data.stats.build import net_statistics
    from gpnas.evaluation.heldout import score_block
    from gpnas.evaluation.task import Task

    pset, config = setup
    programs = [Program.from_json(j, pset) for j in ray.get(box[0])]
    per_net = [net_statistics(space, a, batch_size=batch_size, seed=seed, order=order,
                              cross_batch=cross_batch) for a in archs]
    task = Task.from_instances(space, per_net, accuracy)
    return score_block(programs, Engine(pset, config), task, skip)


def heldout_runner(address: str | None = None):
    """A runner for ``score_heldout(runner=...)``: one Ray task per block, at most two per
    cluster CPU in flight; the programs, primitive set and engine settings are sent once."""

    def run(programs, engine: Engine, space, blocks, *, batch_size, seed, order, cross_batch,
            skip=frozenset()):
        ray = connect(address)
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(_heldout_block)
        setup = ray.put((engine.pset, engine.config))
        box = [ray.put([p.to_json() for p in programs])]

        def submit(block):
            archs, accuracy = block
            return task.remote(setup, box, space, list(archs), accuracy, batch_size, seed, order,
                               cross_batch, set(skip))

        yield from stream(submit, blocks, 2 * cpus())

    return run

