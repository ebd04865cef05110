"""Hall of fame: the best programs ever seen, and a Pareto front of fitness vs size."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Entry:
    key: str  # canonical program key
    genome: object  # the representation's JSON form
    fitness: float
    size: int
    text: str
    generation: int


class HallOfFame:
    """``best`` keeps the ``capacity`` fittest distinct programs; ``pareto`` every program not
    dominated in (higher fitness, smaller size), as PySR's hall of fame by complexity."""

    def __init__(self, capacity: int = 5):
        self.capacity = capacity
        self.best: list[Entry] = []
        self.pareto: list[Entry] = []

    def update(self, entries: list[Entry]) -> None:
        for e in entries:
            if all(b.key != e.key for b in self.best):
                self.best.append(e)
        self.best.sort(key=lambda e: (-e.fitness, e.size, e.generation))
        del self.best[self.capacity:]
        front = {e.key: e for e in self.pareto}
        for e in entries:
            front.setdefault(e.key, e)
        self.pareto = _non_dominated(list(front.values()))

    def to_json(self) -> dict:
        return {"capacity": self.capacity, "best": [asdict(e) for e in self.best],
                "pareto": [asdict(e) for e in self.pareto]}

    @classmethod
    def from_json(cls, data: dict) -> "HallOfFame":
        h = cls(data["capacity"])
        h.best = [Entry(**e) for e in data["best"]]
        h.pareto = [Entry(**e) for e in data["pareto"]]
        return h


def _non_dominated(entries: list[Entry]) -> list[Entry]:
    """Smallest-first front: each entry is fitter than every smaller one."""
    front: list[Entry] = []
    for e in sorted(entries, key=lambda e: (e.size, -e.fitness, e.generation)):
        if not front or e.fitness > front[-1].fitness:
            front.append(e)
    return front
