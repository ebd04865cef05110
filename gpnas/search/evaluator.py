"""Program -> fitness for the search: validity probe, caches, equivalence, fitness.

* **Probe.** A child is valid when it runs and gives finite values on every instance of a
  few fixed probe networks (the paper's ``selectValid``).  The probe's rounded outputs are the
  program's fingerprint (AutoML-Zero's functional-equivalence check).
* **Caches.** Within a generation (one sample of networks) a program is scored once per
  canonical key, and once per fingerprint: different-looking programs that compute the same
  function share one evaluation.  Caches are cleared with each new sample, so a resumed run
  sees exactly the caches an uninterrupted one had.
* **Racing** (successive halving, ``rungs`` > 1): every program is scored on the first k / 2^(R-1)
  networks of each space's sample, the better half goes on to twice as many, and so on up to all
  k; a program's fitness is that of the last rung it reached (``Evaluation.nets``, ``.rung``), and
  selection ranks a program that went further above one that stopped earlier
  (:meth:`Evaluation.selection_key`).  With one rung every program sees the whole sample, as in
  the paper.
* **Fitness**: one of :data:`~gpnas.evaluation.fitness.FITNESS` per space, combined over the
  spaces by :data:`~gpnas.evaluation.fitness.ACROSS_SPACES` (the minimum: the paper's).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from representations.ir import Program

from gpnas.evaluation.engine import Engine, InvalidProgram
from gpnas.evaluation.fitness import ACROSS_SPACES, FITNESS
from gpnas.evaluation.task import Task

if TYPE_CHECKING:
    from gpnas.evaluation.executor import Executor


@dataclass
class Evaluation:
    fitness: float | None  # None: invalid
    per_space: dict[str, float] = field(default_factory=dict)
    reason: str | None = None
    nets: int | None = None  # networks per space it was scored on (None: the whole sample)
    rung: int = 0  # the last racing rung it reached

    def selection_key(self) -> float | None:
        """What selection compares: the rung reached first, then the fitness (a correlation,
        within [-1, 1])."""
        return None if self.fitness is None else 2.0 * self.rung + self.fitness


@dataclass
class Counters:
    evaluated: int = 0  # programs sent to the executor (first rung)
    key_hits: int = 0
    equivalence_hits: int = 0
    probes: int = 0
    invalid: int = 0
    seconds: float = 0.0
    rungs: list = field(default_factory=list)  # [networks per space, programs] of each rung

    def reset(self) -> None:
        self.__init__()


class Evaluator:
    def __init__(self, executor: Executor, probe_engine: Engine, probe: Task,
                 pools: dict[str, tuple[np.ndarray, ...]], fitness: str = "kendall",
                 rungs: int = 1, across_spaces: str = "min"):
        """``pools``: space -> (store id, accuracy, size) of each network of its evolution pool
        (size: the conv parameter count, for the size-aware fitness functions)."""
        self.fitness_fn = FITNESS[fitness]
        self.across = ACROSS_SPACES[across_spaces]
        self.rungs = int(rungs)
        self.executor = executor
        self.probe_engine = probe_engine
        self.probe_task = probe
        self.pools = pools
        self.counters = Counters()
        self._probe_cache: dict[str, tuple[str | None, str]] = {}
        self._by_key: dict[str, Evaluation] = {}
        self._by_fingerprint: dict[str, Evaluation] = {}
        self.positions: dict[str, np.ndarray] = {}

    def new_sample(self, positions: dict[str, np.ndarray]) -> None:
        """Score on these pool positions of each space from now on."""
        self.positions = {sp: np.asarray(p) for sp, p in positions.items()}
        self.executor.set_sample({sp: tuple(int(i) for i in self.pools[sp][0][p])
                                  for sp, p in self.positions.items()})
        self._by_key.clear()
        self._by_fingerprint.clear()

    def probe(self, program: Program) -> tuple[str | None, str]:
        """(reason it is invalid or None, fingerprint)."""
        hit = self._probe_cache.get(program.key)
        if hit is not None:
            return hit
        self.counters.probes += 1
        try:
            values = self.probe_engine.probe_values(program, self.probe_task)
            arr = values.double().numpy()
            if not np.isfinite(arr).all():
                result = ("non-finite value on the probe", "")
            else:
                text = ",".join(f"{v:.5g}" for v in arr)
                result = (None, hashlib.sha1(text.encode()).hexdigest())
        except InvalidProgram as exc:
            result = (exc.reason, "")
        except Exception as exc:  # noqa: BLE001 - an op failing is an invalid program
            result = (f"execution failed: {type(exc).__name__}: {exc}", "")
        self._probe_cache[program.key] = result
        return result

    def is_valid(self, program: Program) -> bool:
        return self.probe(program)[0] is None

    def evaluate(self, programs: list[Program]) -> list[Evaluation]:
        """Fitness of each program on the current sample (minimum Kendall tau over spaces)."""
        t0 = time.perf_counter()
        results: list[Evaluation | None] = [None] * len(programs)
        todo: dict[str, list[int]] = {}  # fingerprint -> positions sharing one evaluation
        for i, p in enumerate(programs):
            if p.key in self._by_key:
                self.counters.key_hits += 1
                results[i] = self._by_key[p.key]
                continue
            reason, fp = self.probe(p)
            if reason is not None:
                results[i] = Evaluation(None, reason=reason)
                self._by_key[p.key] = results[i]
            elif fp in self._by_fingerprint:
                self.counters.equivalence_hits += 1
                results[i] = self._by_key[p.key] = self._by_fingerprint[fp]
            elif fp in todo:
                self.counters.equivalence_hits += 1
                todo[fp].append(i)
            else:
                todo[fp] = [i]
        firsts = [pos[0] for pos in todo.values()]
        self.counters.evaluated += len(firsts)
        for (fp, positions), ev in zip(todo.items(), self._race([programs[i] for i in firsts])):
            self._by_fingerprint[fp] = ev
            for i in positions:
                results[i] = self._by_key[programs[i].key] = ev
        self.counters.invalid += sum(r.fitness is None for r in results)
        self.counters.seconds += time.perf_counter() - t0
        return results  # type: ignore[return-value]

    def rung_sizes(self) -> list[int | None]:
        """Networks per space of each rung (None: the whole sample)."""
        k = min(len(p) for p in self.positions.values()) if self.positions else 0
        sizes = [max(min(k, 8), -(-k // 2 ** r)) for r in range(self.rungs - 1, 0, -1)]
        return [n for n in dict.fromkeys(sizes) if n < k] + [None]

    def _race(self, programs: list[Program]) -> list[Evaluation]:
        """Successive halving over the rungs (one rung: the whole sample for everyone)."""
        evals: list[Evaluation | None] = [None] * len(programs)
        alive = list(range(len(programs)))
        sizes = self.rung_sizes()
        for r, nets in enumerate(sizes):
            if not alive:
                break
            scored = self.executor.scores([programs[j] for j in alive], nets)
            self.counters.rungs.append([nets, len(alive)])
            for j, scores in zip(alive, scored):
                evals[j] = self._fitness(scores, nets)
                evals[j].rung = r
            if r < len(sizes) - 1:  # the better half (of the valid ones) goes on
                valid = sorted((j for j in alive if evals[j].fitness is not None),
                               key=lambda j: -evals[j].fitness)
                alive = sorted(valid[:-(-len(valid) // 2)])
        return evals  # type: ignore[return-value]

    def _fitness(self, scores, nets: int | None = None) -> Evaluation:
        if isinstance(scores, str):
            return Evaluation(None, reason=scores, nets=nets)
        per_space = {}
        for sp, s in scores.items():
            at = self.positions[sp][:nets]
            acc, size = self.pools[sp][1][at], self.pools[sp][2][at]
            try:
                per_space[sp] = self.fitness_fn(s, acc, size)
            except InvalidProgram as exc:
                return Evaluation(None, reason=f"{sp}: {exc.reason}", nets=nets)
        return Evaluation(self.across(per_space), per_space, nets=nets)

    def fingerprint(self, program: Program) -> str:
        """The program's functional fingerprint on the probe ('' when invalid)."""
        return self.probe(program)[1]
