"""Variation of linear programs, as EZNAS appendix 2.3: Mate, InsertOP, RemoveOP, MutateOP and
MutateOpArg.

* **Mate** (:func:`mate`, the crossover): the first half of each parent (``ceil(n / 2)``
  instructions), interleaved into one child ``a0, b0, a1, b1, ...``; the longer half's surplus
  follows at the end.  Deterministic: it draws nothing.
* **InsertOP** (:func:`insert_op`): a random instruction (drawn as in creation, executable at
  that point) inserted at a uniformly drawn point ``0..n``.
* **RemoveOP** (:func:`remove_op`): a uniformly drawn instruction is removed.
* **MutateOP** (:func:`mutate_op`): a uniformly drawn instruction gets a new op id, its four
  addresses kept.
* **MutateOpArg** (:func:`mutate_op_arg`): one read address actually used by a uniformly drawn
  instruction (read 1, or read 1 or 2 for a binary op) is replaced by another address of the
  same address space: tensor (static or dynamic) for a tensor address, scalar for a scalar
  one, never across.

Both draw the replacement uniformly among a preferred pool (:func:`_prefer`): the candidates
with which the instruction, given the address types at its position, writes the same type as
before (so no later instruction changes its fate); if there is none, those that keep it
executable; if none does either (e.g. it reads an address never written), all candidates
(all other op ids, all other addresses of the space).

Every child must be *valid* (write ``s0``) and at most ``max_length`` long.  The randomised
operators retry up to :data:`TRIES` draws and return None when none gave a valid child; Mate
and :func:`mutate` then return the (first) parent itself, which is also what the static length
limit does (:mod:`.limits`).  Variation therefore never hands the search an invalid genome.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from primitives import PrimitiveSet

from .. import operators
from .create import P_OUTPUT, P_RECENT, random_instruction
from .genome import Layout, Linear
from .introns import is_valid, memory_state, run_types, step_type
from .limits import static_limit

INSERT_OP, REMOVE_OP, MUTATE_OP, MUTATE_OP_ARG = "insert_op", "remove_op", "mutate_op", "mutate_op_arg"

DEFAULT_WEIGHTS: dict[str, float] = {INSERT_OP: 0.25, REMOVE_OP: 0.25, MUTATE_OP: 0.25,
                                     MUTATE_OP_ARG: 0.25}

#: draws a randomised operator makes before giving up on a valid child
TRIES = 8


def _valid(instrs: tuple, pset: PrimitiveSet, layout: Layout) -> bool:
    return bool(instrs) and is_valid(instrs, pset, layout)


def mate(a: Linear, b: Linear, pset: PrimitiveSet, layout: Layout,
         max_length: int | None = None) -> Linear:
    """The first halves of ``a`` and ``b`` interleaved; ``a`` itself when that child is
    invalid or longer than ``max_length``."""
    ha = a.instructions[:(len(a) + 1) // 2]
    hb = b.instructions[:(len(b) + 1) // 2]
    child: list = []
    for k in range(max(len(ha), len(hb))):
        child.extend(ha[k:k + 1])
        child.extend(hb[k:k + 1])
    if not _valid(tuple(child), pset, layout):
        return a
    return static_limit(Linear(child), a, max_length)


def insert_op(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
              max_length: int | None = None, p_recent: float = P_RECENT,
              p_output: float = P_OUTPUT) -> Linear | None:
    if max_length is not None and len(g) >= max_length:
        return None
    instrs = g.instructions
    for _ in range(TRIES):
        pos = int(rng.integers(len(instrs) + 1))
        types, stamps = memory_state(instrs, pset, layout, pos)
        drawn = random_instruction(pset, layout, types, stamps, rng, p_recent, p_output)
        if drawn is None:
            continue
        child = instrs[:pos] + (drawn[0],) + instrs[pos:]
        if _valid(child, pset, layout):
            return Linear(child)
    return None


def remove_op(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
              max_length: int | None = None, **_) -> Linear | None:
    instrs = g.instructions
    if len(instrs) <= 1:
        return None
    for _ in range(TRIES):
        pos = int(rng.integers(len(instrs)))
        child = instrs[:pos] + instrs[pos + 1:]
        if _valid(child, pset, layout):
            return Linear(child)
    return None


def _prefer(candidates: list, out_of, current: str | None) -> list:
    """The candidates that keep the instruction's output type (when it was executed), else
    those that keep it executable, else all of them."""
    outs = [out_of(c) for c in candidates]
    if current is not None:
        same = [c for c, o in zip(candidates, outs) if o == current]
        if same:
            return same
    return [c for c, o in zip(candidates, outs) if o is not None] or candidates


def mutate_op(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
              max_length: int | None = None, **_) -> Linear | None:
    if len(pset) < 2:
        return None
    instrs = g.instructions
    for _ in range(TRIES):
        pos = int(rng.integers(len(instrs)))
        types, _ = run_types(instrs, pset, layout, stop=pos)
        w, op_id, r1, r2 = instrs[pos]
        current = step_type(types, instrs[pos], pset, layout)
        others = [op.paper_id for op in pset.ops if op.paper_id != op_id]
        pool = _prefer(others, lambda o: step_type(types, (w, o, r1, r2), pset, layout), current)
        new = (w, pool[int(rng.integers(len(pool)))], r1, r2)
        child = instrs[:pos] + (new,) + instrs[pos + 1:]
        if _valid(child, pset, layout):
            return Linear(child)
    return None


def mutate_op_arg(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
                  max_length: int | None = None, **_) -> Linear | None:
    instrs = g.instructions
    for _ in range(TRIES):
        pos = int(rng.integers(len(instrs)))
        ins = instrs[pos]
        slot = 2 if pset[ins[1]].arity == 2 and rng.random() < 0.5 else 1
        old = ins[1 + slot]
        space = layout.read_range(layout.read_space(old))
        if len(space) < 2:
            continue
        types, _ = run_types(instrs, pset, layout, stop=pos)
        current = step_type(types, ins, pset, layout)

        def with_read(addr: int) -> tuple:
            return (*ins[:1 + slot], addr, *ins[2 + slot:])

        others = [a for a in space if a != old]
        pool = _prefer(others, lambda a: step_type(types, with_read(a), pset, layout), current)
        child = instrs[:pos] + (with_read(pool[int(rng.integers(len(pool)))]),) + instrs[pos + 1:]
        if _valid(child, pset, layout):
            return Linear(child)
    return None


OPERATORS: dict[str, Callable[..., Linear | None]] = {
    INSERT_OP: insert_op,
    REMOVE_OP: remove_op,
    MUTATE_OP: mutate_op,
    MUTATE_OP_ARG: mutate_op_arg,
}


def normalize_weights(weights: Mapping[str, float] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """Operator names and their probabilities; missing operators get weight 0."""
    return operators.normalize_weights(weights, OPERATORS, DEFAULT_WEIGHTS)


def mutate(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
           weights: Mapping[str, float] | None = None, max_length: int | None = None,
           p_recent: float = P_RECENT, p_output: float = P_OUTPUT) -> Linear:
    """Apply one operator drawn by ``weights`` (default :data:`DEFAULT_WEIGHTS`); the parent
    itself when it gives no valid child within the length limit."""
    names, probs = normalize_weights(weights)
    return mutate_with(g, rng, pset, layout, names, probs, max_length, p_recent, p_output)


def mutate_with(g: Linear, rng: np.random.Generator, pset: PrimitiveSet, layout: Layout,
                names: tuple[str, ...], probs: np.ndarray, max_length: int | None = None,
                p_recent: float = P_RECENT, p_output: float = P_OUTPUT) -> Linear:
    """:func:`mutate` with weights already checked by :func:`normalize_weights`."""
    op = OPERATORS[operators.choose(names, probs, rng)]
    child = op(g, rng, pset, layout, max_length=max_length, p_recent=p_recent, p_output=p_output)
    if child is None:
        return g
    return static_limit(child, g, max_length)
