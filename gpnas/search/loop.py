"""The search loop: Algorithm 1 of the EZNAS appendix, with checkpoints for exact resume.

Per generation: draw a sample of networks (s spaces x k networks) from the run's RNG; the top
``elite`` of the last generation pass unchanged; VarOr (crossover / mutation / reproduction)
until N/2 valid children; N/2 fresh random valid programs; evaluate; keep the top ``elite``;
tournament selection of N.  The sample is drawn once per generation, so every program of a
generation is ranked on the same networks (the paper leaves this open).

The state at the end of each generation (population, elites, RNG state, hall of fame) is
written atomically; a resumed run restarts the interrupted generation from that state and ends
identical to an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from representations.ir import Program

from gpnas.config import RunConfig
from gpnas.errors import GpnasError
from gpnas.search.sampling import sample_nets
from gpnas.search.evaluator import Evaluation, Evaluator
from gpnas.search.halloffame import Entry, HallOfFame
from gpnas.search.selection import double_tournament, top_k, tournament


class Representation(Protocol):
    name: str

    def random(self, rng: np.random.Generator): ...
    def crossover(self, a, b, rng: np.random.Generator): ...
    def mutate(self, g, rng: np.random.Generator): ...
    def lower(self, g) -> Program: ...
    def size(self, g) -> int: ...
    def to_json(self, g): ...
    def from_json(self, data): ...
    def text(self, g) -> str: ...


@dataclass
class State:
    generation: int = -1  # last completed generation; 0 is the evaluated initial population
    population: list = field(default_factory=list)  # genomes selected for variation
    elites: list = field(default_factory=list)  # genomes passed unchanged to the next generation
    last: list = field(default_factory=list)  # (genome, Evaluation) of the last generation
    rng_state: dict | None = None
    hof: HallOfFame = field(default_factory=HallOfFame)
    elapsed: float = 0.0
    evaluations: int = 0  # fitness evaluations so far (one per individual, cached or not)


class Search:
    def __init__(self, config: RunConfig, representation: Representation, evaluator: Evaluator,
                 pool_sizes: dict[str, int],
                 on_generation: Callable[[State, dict], None] | None = None,
                 max_evaluations: int | None = None, max_seconds: float | None = None,
                 seeds: list | None = None):
        """``max_evaluations`` / ``max_seconds``: an optional budget (fitness evaluations,
        one per individual whether cached or not / search seconds); the search ends after
        the generation that reaches it.  ``seeds``: genomes that open the first population
        (random valid programs fill the rest)."""
        self.seeds = [g for g in (seeds or []) if evaluator.is_valid(representation.lower(g))]
        self.max_evaluations, self.max_seconds = max_evaluations, max_seconds
        self.config = config
        self.repr = representation
        self.evaluator = evaluator
        self.pool_sizes = pool_sizes
        self.on_generation = on_generation or (lambda state, record: None)
        self.rejected = 0  # invalid programs discarded while making a generation

    # -- program making ---------------------------------------------------------------------
    def _valid(self, genome) -> bool:
        ok = self.evaluator.is_valid(self.repr.lower(genome))
        self.rejected += not ok
        return ok

    def random_valid(self, n: int, rng: np.random.Generator) -> list:
        out, tries = [], 0
        while len(out) < n:
            tries += 1
            if tries > 200 * n + 1000:
                raise GpnasError("could not generate valid programs: every candidate failed the "
                                 "probe (are the statistics all zero?)")
            g = self.repr.random(rng)
            if self._valid(g):
                out.append(g)
        return out

    def var_or(self, population: list, n: int, rng: np.random.Generator) -> list:
        """Children by crossover (p=cx), mutation (p=mut) or reproduction, valid ones only."""
        cx, mut = self.config.crossover, self.config.mutation
        out, tries = [], 0
        while len(out) < n:
            tries += 1
            if tries > 200 * n + 1000:
                raise GpnasError("variation produced no valid children")
            r = rng.random()
            if r < cx and len(population) > 1:
                child = self._crossover(population, rng)
            elif r < cx + mut:
                child = self.repr.mutate(population[rng.integers(len(population))], rng)
            else:
                child = population[rng.integers(len(population))]
            if self._valid(child):
                out.append(child)
        return out

    def _crossover(self, population: list, rng: np.random.Generator, partners: int = 4):
        """One-point crossover; when the pair shares no crossover point (the child is the
        first parent again), up to ``partners`` other partners are tried."""
        i, j = rng.choice(len(population), size=2, replace=False)
        a = population[i]
        key = self.repr.lower(a).key
        for _ in range(partners):
            child = self.repr.crossover(a, population[j], rng)
            if self.repr.lower(child).key != key:
                return child
            j = int(rng.integers(len(population)))
        return child

    # -- the loop -----------------------------------------------------------------------------
    def run(self, state: State | None = None) -> State:
        cfg = self.config
        state = state or State()
        rng = cfg.rngs()[1]
        if state.rng_state is not None:
            rng.bit_generator.state = state.rng_state
        while state.generation < cfg.generations and not self._budget_spent(state):
            t0 = time.perf_counter()
            self.rejected = 0
            self.evaluator.counters.reset()
            gen = state.generation + 1
            sample = sample_nets(rng, list(cfg.spaces), self.pool_sizes, cfg.sample_spaces,
                                 cfg.sample_nets)
            self.evaluator.new_sample(sample)
            if gen == 0:
                offspring = list(self.seeds[:cfg.population])
                offspring += self.random_valid(cfg.population - len(offspring), rng)
            else:
                half = cfg.population // 2
                offspring = list(state.elites)
                offspring += self.var_or(state.population, max(0, half - len(offspring)), rng)
                offspring += self.random_valid(cfg.population - half, rng)
            evals = self.evaluator.evaluate([self.repr.lower(g) for g in offspring])
            sizes = [self.repr.size(g) for g in offspring]
            fits = [e.selection_key() for e in evals]  # the fitness (plus the rung when racing)
            if cfg.dedup:  # functionally equal programs: only the first one found is selected
                fits = self._dedup(offspring, fits, sizes)
            parsimony = cfg.bloat == "parsimony"
            state.elites = [offspring[i] for i in top_k(fits, sizes, cfg.elite, parsimony)
                            if fits[i] is not None]
            if gen == 0:  # Algorithm 1 starts variation from the random population
                state.population = offspring
            elif gen < cfg.generations:
                if cfg.bloat == "double-tournament":
                    chosen = double_tournament(fits, sizes, cfg.population, cfg.tournament, rng)
                else:
                    chosen = tournament(fits, sizes, cfg.population, cfg.tournament, rng,
                                        parsimony)
                state.population = [offspring[i] for i in chosen]
            state.last = list(zip(offspring, evals))
            state.hof.update(self._entries(offspring, evals, sizes, gen))
            state.generation = gen
            state.rng_state = rng.bit_generator.state
            seconds = time.perf_counter() - t0
            state.elapsed += seconds
            state.evaluations += len(offspring)
            self.on_generation(state, self._record(gen, sample, offspring, evals, sizes, seconds))
        return state

    def _dedup(self, genomes, fits, sizes) -> list[float | None]:
        """Fitness for selection with functional duplicates removed: of the programs with one
        fingerprint (same outputs on the probe), the fittest (then smallest, then first) keeps
        its fitness and the others count as invalid."""
        order = sorted(range(len(genomes)), key=lambda i: (
            -np.inf if fits[i] is None else -fits[i], sizes[i], i))
        seen, out = set(), list(fits)
        for i in order:
            fp = self.evaluator.fingerprint(self.repr.lower(genomes[i]))
            if fp in seen:
                out[i] = None
            seen.add(fp)
        return out

    def _budget_spent(self, state: State) -> bool:
        return ((self.max_evaluations is not None and state.evaluations >= self.max_evaluations)
                or (self.max_seconds is not None and state.elapsed >= self.max_seconds))

    def _entries(self, genomes, evals: list[Evaluation], sizes, gen) -> list[Entry]:
        out = []
        for g, e, s in zip(genomes, evals, sizes):
            if e.fitness is not None and e.nets is None:  # only fitness on the whole sample
                p = self.repr.lower(g)
                out.append(Entry(p.key, self.repr.to_json(g), e.fitness, s, self.repr.text(g), gen))
        return out

    def _record(self, gen, sample, offspring, evals, sizes, seconds) -> dict:
        valid = [e.fitness for e in evals if e.fitness is not None]
        c = self.evaluator.counters
        best = max(range(len(evals)), key=lambda i: -np.inf if evals[i].fitness is None
                   else evals[i].fitness)
        made = len(offspring) + self.rejected
        programs = [self.repr.lower(g) for g in offspring]
        functions = {self.evaluator.fingerprint(p) for p, e in zip(programs, evals)
                     if e.fitness is not None}
        return {
            "generation": gen,
            "best_fitness": max(valid) if valid else None,
            "median_fitness": float(np.median(valid)) if valid else None,
            "best_program": self.repr.text(offspring[best]),
            "best_per_space": evals[best].per_space,
            "mean_size": float(np.mean(sizes)),
            "max_size": int(max(sizes)),
            "mean_length": (float(np.mean([self.repr.total_length(g) for g in offspring]))
                            if hasattr(self.repr, "total_length") else None),
            "invalid_rate": (self.rejected + c.invalid) / made if made else 0.0,
            "evaluations": c.evaluated,
            "rungs": c.rungs,  # [networks per space (None: all), programs] of each rung
            "distinct_programs": len({p.key for p in programs}),
            "distinct_functions": len(functions),
            "cache_hits": c.key_hits,
            "equivalence_hits": c.equivalence_hits,
            "evaluations_per_s": c.evaluated / c.seconds if c.seconds else None,
            "seconds": seconds,
            "spaces": sorted(sample),
        }
