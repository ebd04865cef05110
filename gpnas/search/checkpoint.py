"""Search state <-> JSON, for the atomic per-generation checkpoint of a run directory."""

from __future__ import annotations

import numpy as np

from gpnas.errors import GpnasError
from gpnas.search.evaluator import Evaluation
from gpnas.search.halloffame import HallOfFame
from gpnas.search.loop import State


def state_to_json(st: State, representation) -> dict:
    return {
        "generation": st.generation,
        "population": [representation.to_json(g) for g in st.population],
        "elites": [representation.to_json(g) for g in st.elites],
        "last": [[representation.to_json(g), e.fitness, e.per_space, e.reason, e.nets, e.rung]
                 for g, e in st.last],
        "rng_state": st.rng_state,
        "hof": st.hof.to_json(),
        "elapsed": st.elapsed,
        "evaluations": st.evaluations,
    }


def state_from_json(d: dict, representation, where: str = "checkpoint") -> State:
    """The state of a checkpoint (checked by the run directory); GpnasError when a genome or
    the RNG state cannot be restored."""
    try:
        np.random.PCG64().state = d["rng_state"]  # numpy's own check of the RNG state
        return State(
            generation=d["generation"],
            population=[representation.from_json(g) for g in d["population"]],
            elites=[representation.from_json(g) for g in d["elites"]],
            last=[(representation.from_json(g), Evaluation(*e)) for g, *e in d["last"]],
            rng_state=d["rng_state"],
            hof=HallOfFame.from_json(d["hof"]),
            elapsed=d["elapsed"],
            evaluations=d.get("evaluations", 0),
        )
    except (KeyError, TypeError, ValueError) as exc:  # (PrimitiveError is a ValueError)
        raise GpnasError(f"{where}: not a gpnas search state: {exc}") from None
