"""Testing programs on held-out networks, streamed: statistics are collected a block of
networks at a time, scored by every program, and dropped, so 1000 networks never sit in
memory or on disk at once."""

from __future__ import annotations

import numpy as np
from rich.progress import Progress

from representations.ir import Program

from .console import err
from .engine import Engine, InvalidProgram
from .fitness import kendall, spearman
from .stats.collect import group_instances
from .stats.store import net_statistics
from .task import Task


def test_programs(programs: list[Program], space: str, archs: list[str], accuracy: np.ndarray,
                  engine: Engine, *, batch_size: int = 1, seed: int = 0, order: str = "rcb",
                  progress: bool = True, block: int = 16) -> list[dict]:
    """Per program: kendall, spearman, n, invalid (reason or None) and the scores."""
    accuracy = np.asarray(accuracy, dtype=float)
    scores = [np.empty(len(archs)) for _ in programs]
    invalid: list[str | None] = [None] * len(programs)
    with Progress(console=err, disable=not progress, transient=True) as bar:
        job = bar.add_task(f"testing on {len(archs)} {space} networks", total=len(archs))
        for start in range(0, len(archs), block):
            chunk = archs[start: start + block]
            per_net = [net_statistics(space, a, batch_size=batch_size, seed=seed, order=order)
                       for a in chunk]
            task = Task(space, group_instances(per_net), accuracy[start: start + len(chunk)])
            for i, p in enumerate(programs):
                if invalid[i] is None:
                    try:
                        scores[i][start: start + len(chunk)] = engine.net_scores(p, task)
                    except InvalidProgram as exc:
                        invalid[i] = exc.reason
            engine.cache.clear()
            bar.advance(job, len(chunk))
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
