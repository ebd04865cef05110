"""The search of a run: Algorithm 1 on prepared data, checkpointed into the run directory."""

from __future__ import annotations

from dataclasses import dataclass

from primitives import full_primitive_set

from gpnas.config import RunConfig
from gpnas.console import err
from gpnas.errors import GpnasError
from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.executor import make_executor
from gpnas.evaluation.task import Task
from gpnas.run.prepare import SpaceData
from gpnas.run.rundir import RunDir
from gpnas.search.checkpoint import state_from_json, state_to_json
from gpnas.search.evaluator import Evaluator
from gpnas.search.halloffame import HallOfFame
from gpnas.search.loop import Search, State
from gpnas.search.representations import make_representation


@dataclass
class Outcome:
    """A finished search: its configuration, run directory, final state and representation."""

    cfg: RunConfig
    rundir: RunDir
    state: State
    representation: object


def evolve(cfg: RunConfig, rundir: RunDir, data: dict[str, SpaceData], resume: bool = False,
           progress: bool = True, max_evaluations: int | None = None,
           max_seconds: float | None = None, seeds: dict | None = None) -> Outcome:
    """Run (or resume) the search of ``cfg`` in ``rundir`` on prepared data.  ``seeds``: the
    programs of ``cfg.seed_programs`` (path -> IR program) that open the first generation."""
    representation = make_representation(cfg)
    ecfg = EngineConfig.of(cfg)
    first = sorted(cfg.spaces)[0]
    probe = Task.from_store(data[first].store, data[first].store_ids[: cfg.probe_nets])
    executor = make_executor({sp: str(data[sp].store.path) for sp in cfg.spaces}, ecfg,
                             cfg.workers, executor=cfg.executor, ray_address=cfg.ray_address)
    evaluator = Evaluator(executor, Engine(full_primitive_set(), ecfg), probe,
                          {sp: (data[sp].store_ids, data[sp].bench.accuracy[data[sp].pool],
                                data[sp].sizes) for sp in cfg.spaces},
                          fitness=cfg.fitness, rungs=cfg.rungs,
                          across_spaces=cfg.across_spaces)
    state = State(hof=HallOfFame())
    ckpt = rundir.checkpoint() if resume else None
    if ckpt is not None:
        state = state_from_json(ckpt, representation, str(rundir.path / "checkpoint.json"))
        rundir.truncate_log(state.generation)
        err.print(f"resuming {rundir.path} after generation {state.generation}")
    elif resume:  # killed before the first generation was saved: start afresh
        rundir.truncate_log(-1)

    def on_generation(st: State, record: dict) -> None:
        rundir.append_log(record)
        rundir.save_checkpoint(state_to_json(st, representation))
        if progress:
            err.print(f"gen {record['generation']:>3}  best {_r(record['best_fitness'])}  "
                      f"median {_r(record['median_fitness'])}  size {record['mean_size']:.1f}  "
                      f"invalid {record['invalid_rate']:.0%}  {record['seconds']:.1f}s  "
                      f"{record['best_program'][:70]}")

    loop = Search(cfg, representation, evaluator, {sp: len(data[sp].pool) for sp in cfg.spaces},
                  on_generation, max_evaluations=max_evaluations, max_seconds=max_seconds,
                  seeds=seed_genomes(seeds or {}, representation))
    try:
        state = loop.run(state)
    finally:
        executor.close()
    return Outcome(cfg, rundir, state, representation)


def seed_genomes(seeds: dict, representation) -> list:
    """The genomes of the seed programs (name -> IR program) in the run's representation; a
    program the run's DSL cannot express is a one-line error."""
    from primitives import PrimitiveError

    out = []
    for name, program in seeds.items():
        try:
            out.append(representation.from_program(program))
        except PrimitiveError as exc:
            raise GpnasError(f"seed program {name} does not fit this run's representation and "
                             f"DSL: {exc}") from None
    return out


def _r(x):
    return None if x is None else round(x, 4)
