"""Random creation of valid linear programs.

Instructions are drawn *type-aware*, so every instruction of a new program is executable where
it stands (AutoML-Zero draws addresses uniformly; with 80 + 20 dynamic addresses almost every
such instruction would read an address never written and be skipped):

* with probability ``p_recent`` (and once some dynamic address has been written) the first
  operand is a written dynamic address, the k-th most recently written with probability
  proportional to ``2^-k``, and the op is drawn uniformly among the ops with a signature taking
  that type first (and the other inputs available).  This builds chains of computation; with
  uniform reads of 80 + 20 addresses almost nothing would flow into the output;
* otherwise the op is drawn uniformly among the ops with a signature whose input types are
  all held by some address at that point;
* then one such signature is drawn uniformly, and each remaining read is an address holding
  the needed type: with probability ``p_recent`` a written dynamic one (by recency, as above),
  otherwise any address holding the type (statics included), uniformly.  A unary op's ignored
  second read is drawn the same way, so that MutateOP turning it into a binary op is likely
  to give an executable instruction;
* the write address is uniform over the space of the output type (80 dynamic tensor
  addresses, or 20 scalar ones), except that a scalar goes to the output ``s0`` with
  probability ``p_output`` (so the output is written at several points of a program and Mate,
  which keeps only first halves, often yields a valid child).

:func:`random_program` draws a length in ``[min_length, max_length]`` and retries until the
program writes ``s0``; its last try forces the final instruction to write ``s0``, and if even
that is impossible (a primitive set with no one-step route to a scalar) it falls back to a
constructive program (:func:`constructive`).  It never fails.
"""

from __future__ import annotations

import numpy as np

from primitives import Op, PrimitiveSet, Signature

from .genome import Instruction, Layout, Linear, space_of_type

#: probability that a read picks a recently written dynamic address (see the module docstring)
P_RECENT = 0.8
#: probability that a scalar result is written to the output address s0
P_OUTPUT = 0.2
#: random programs drawn before the last, forced, try
TRIES = 10


def holders(types: list, layout: Layout, stamps: list
            ) -> tuple[dict[str, tuple[list[int], list[int]]], list[int]]:
    """type -> (all addresses holding it, the dynamic ones among them, most recent first),
    and all written dynamic addresses, most recently written first (``stamps[a]``: index of
    the instruction that last wrote ``a``, -1 for never)."""
    out: dict[str, tuple[list[int], list[int]]] = {}
    written = []
    for addr, t in enumerate(types):
        if t is not None:
            every, dyn = out.setdefault(t, ([], []))
            every.append(addr)
            if addr >= layout.n_static:
                dyn.append(addr)
                written.append(addr)
    for _, dyn in out.values():
        dyn.sort(key=lambda a: -stamps[a])
    written.sort(key=lambda a: -stamps[a])
    return out, written


def executable_choices(pset: PrimitiveSet, available, want: str | None = None,
                       first: str | None = None) -> list[tuple[Op, list[Signature]]]:
    """Ops (registry order) with their signatures whose inputs are all available; with ``want``
    set, only signatures with that output type; with ``first`` set, only signatures whose first
    input has that type."""
    out = []
    for op in pset.ops:
        sigs = [s for s in op.signatures if all(t in available for t in s.inputs)
                and (want is None or s.output == want)
                and (first is None or s.inputs[0] == first)]
        if sigs:
            out.append((op, sigs))
    return out


def draw_recent(rng: np.random.Generator, addrs: list[int]) -> int:
    """``addrs[k]`` with probability proportional to ``2^-k`` (most recent first)."""
    k = int(rng.geometric(0.5)) - 1
    while k >= len(addrs):
        k = int(rng.geometric(0.5)) - 1
    return addrs[k]


def draw_read(rng: np.random.Generator, t: str, available, p_recent: float) -> int:
    """With probability ``p_recent`` a written dynamic address of type ``t`` (by recency, see
    :func:`draw_recent`), otherwise any address holding ``t`` uniformly."""
    every, dyn = available[t]
    if dyn and rng.random() < p_recent:
        return draw_recent(rng, dyn)
    return every[int(rng.integers(len(every)))]


def draw_write(rng: np.random.Generator, out_type: str, layout: Layout, p_output: float,
               force_output: bool = False) -> int:
    """A register of the bank of ``out_type``; a value of the output's type goes to the output
    address with probability ``p_output`` (always when forced)."""
    if out_type == layout.output_type and (force_output or rng.random() < p_output):
        return layout.output
    r = layout.write_range(space_of_type(out_type))
    return r.start + int(rng.integers(len(r)))


def random_instruction(pset: PrimitiveSet, layout: Layout, types: list, stamps: list,
                       rng: np.random.Generator, p_recent: float = P_RECENT,
                       p_output: float = P_OUTPUT, force_output: bool = False
                       ) -> tuple[Instruction, str] | None:
    """An instruction executable on a memory with these ``types``, and its output type.

    ``stamps[a]``: index of the instruction that last wrote ``a`` (-1: never).  With
    probability ``p_recent`` the first operand is a written dynamic address drawn by recency
    (:func:`draw_recent`) and the op is drawn among those taking its type first (chains of
    computation); otherwise the op is drawn first.  ``force_output``: it must write the output (``s0``, or ``n0``)
    (None when no scalar can be made in one step).
    """
    available, written = holders(types, layout, stamps)
    want = layout.output_type if force_output else None
    first, choices = None, []
    if written and rng.random() < p_recent:
        first = draw_recent(rng, written)
        choices = executable_choices(pset, available, want, types[first])
    if not choices:
        first = None
        choices = executable_choices(pset, available, want)
        if not choices:
            return None
    op, sigs = choices[int(rng.integers(len(choices)))]
    sig = sigs[int(rng.integers(len(sigs)))]
    reads = [draw_read(rng, t, available, p_recent) for t in sig.inputs]
    if first is not None:
        reads[0] = first
    if len(reads) == 1:
        reads.append(draw_read(rng, sig.inputs[0], available, p_recent))
    w = draw_write(rng, sig.output, layout, p_output, force_output)
    return (w, op.paper_id, reads[0], reads[1]), sig.output


def generate(pset: PrimitiveSet, layout: Layout, rng: np.random.Generator, length: int,
             p_recent: float = P_RECENT, p_output: float = P_OUTPUT,
             force_output: bool = False) -> tuple[list[Instruction], list]:
    """``length`` executable instructions and the address types after them; with
    ``force_output`` the last one writes the output when it can."""
    types = layout.initial_types()
    stamps = [-1] * layout.size
    instrs: list[Instruction] = []
    for k in range(length):
        drawn = None
        if force_output and k == length - 1:
            drawn = random_instruction(pset, layout, types, stamps, rng, p_recent, p_output, True)
        if drawn is None:
            drawn = random_instruction(pset, layout, types, stamps, rng, p_recent, p_output)
        if drawn is None:  # nothing executable at all (cannot happen for a checked set)
            break
        ins, out = drawn
        instrs.append(ins)
        types[ins[0]] = out
        stamps[ins[0]] = k
    return instrs, types


def constructive(pset: PrimitiveSet, layout: Layout, rng: np.random.Generator) -> Linear:
    """A smallest program writing the output: the shortest derivation of the output type from
    the statistics (by ``pset.min_height``), intermediate values in fresh addresses."""
    mh = pset.min_height
    fresh = {bank: iter([a for a in layout.write_range(bank) if a != layout.output])
             for bank in ("tensor", "scalar", "net")}
    instrs: list[Instruction] = []

    def emit(t: str, root: bool) -> int:
        statics = [a for a, st in enumerate(layout.static_types) if st == t]
        if statics and not root:
            return statics[int(rng.integers(len(statics)))]
        height = {(op.name, sig): 1 + max(mh[x] for x in sig.inputs)
                  for op, sig in pset.producers(t) if all(x in mh for x in sig.inputs)}
        fits = [(op, sig) for op, sig in pset.producers(t)
                if height.get((op.name, sig)) == min(height.values())]
        op, sig = fits[int(rng.integers(len(fits)))]
        args = [emit(x, False) for x in sig.inputs]
        w = layout.output if root else next(fresh[space_of_type(t)])
        instrs.append((w, op.paper_id, args[0], args[-1]))
        return w

    emit(layout.output_type, True)
    return Linear(instrs)


def random_program(pset: PrimitiveSet, layout: Layout, rng: np.random.Generator,
                   min_length: int = 5, max_length: int = 20, p_recent: float = P_RECENT,
                   p_output: float = P_OUTPUT, tries: int = TRIES) -> Linear:
    """A valid program (it writes ``s0``) of ``min_length..max_length`` instructions."""
    check_lengths(min_length, max_length)
    n = int(rng.integers(min_length, max_length + 1))
    for attempt in range(tries + 1):
        instrs, types = generate(pset, layout, rng, n, p_recent, p_output,
                                 force_output=attempt == tries)
        if instrs and types[layout.output] is not None:
            return Linear(instrs)
    return constructive(pset, layout, rng)


def check_lengths(min_length: int, max_length: int) -> None:
    if not (isinstance(min_length, (int, np.integer)) and isinstance(max_length, (int, np.integer))):
        raise ValueError("min_length and max_length must be integers")
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length}..{max_length}")
