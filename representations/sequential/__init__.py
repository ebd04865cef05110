"""Linear (AutoML-Zero style) programs: EZNAS appendix 2.3, with intron removal.

A program is a flat integer array, 4 integers per instruction: ``(write, op_id, read1, read2)``
(:class:`Linear` stores it as a tuple of 4-tuples).  ``op_id`` is the op's ``paper_id``
(0..33 for the default set).

Address map
-----------
One integer range addresses the whole memory (S = number of statistics, 22 by default):

==================  ==========  =====================================================
addresses           names       contents
==================  ==========  =====================================================
``0 .. 21``         statistic   the 22 statistics in ``STAT_NAMES`` order (the primitive
                    names       set's terminal order); read-only, typed act/bn/weight
``22 .. 101``       ``t0..t79`` 80 dynamic tensor addresses, untyped (see below)
``102 .. 121``      ``s0..s19`` 20 scalar addresses
==================  ==========  =====================================================

A write address is ``22..121`` (a static address is never written: readers refuse it); a read
address is ``0..121``.  For MutateOpArg there are two read spaces: *tensor* (static and
dynamic, ``0..101``) and *scalar* (``102..121``).

* **Output**: the program's result is the value of scalar address ``s0`` (102) after the last
  instruction.  It is a scalar per layer instance, so the engine's ``to_scalar`` leaves it as
  it is.
* **Arity**: a binary op reads ``read1`` and ``read2`` as its first and second argument; a
  unary op reads ``read1`` only, and ``read2`` is ignored (kept in the genome, so MutateOP
  can turn it into a binary op's second argument).

Types and validity
------------------
Statistics have their fixed tensor types.  A dynamic or scalar address has no type until it is
written; from then on it has the type of the value last written to it (so ``t5`` may hold an
``act`` value and later a ``weight`` value).  Executing the program symbolically over types
decides everything without tensors:

* an instruction is **executed** when all the addresses it reads have been written (statics
  always have), the tuple of their types matches a signature of the op, and the signature's
  output kind matches the write address (a scalar output to ``s*``, a tensor output to
  ``t*``); it then writes its result and the address takes the output type;
* otherwise it is **skipped**: a no-op that leaves memory unchanged (it never makes the
  program invalid and never becomes an IR node);
* a program is **valid** when some executed instruction writes ``s0``; it then converts to an
  IR program (a typed DAG ending in a scalar).  A program that never writes ``s0`` is invalid:
  :func:`lower`, :func:`interpret` and ``from_json`` refuse it with PrimitiveError.  The search
  additionally probes valid programs on data (finite scores).

Network-level programs
----------------------
With a primitive set that has type ``net`` (the ``network`` DSL extension) the layout gains a
third register bank after the scalars, ``n0..n9`` (10 network registers, one number per network),
the static addresses hold every terminal of the set in its order (the 22 statistics, then the
per-instance scalars ``layer_position`` / ``layer_depth`` and the network terminals
``net_instances`` / ``net_params`` / ``net_macs``), and with ``output_type="net"`` the output is
``n0``.  The type rules are the same: a value lives in the bank of its type (tensor types in
``t*``, ``scalar`` in ``s*``, ``net`` in ``n*``; a static counts in the bank of its type for
MutateOpArg), an instruction writing a value to another bank is skipped, and the five variation
operators keep every child valid.  An aggregation reads a scalar address and writes a network
register.

Executed instructions that do not reach ``s0`` (overwritten or never read) are *introns*;
:mod:`.introns` finds the *effective* instructions by backward liveness from ``s0`` and lowers
only those to the shared IR (or every executed instruction with ``keep_introns``, the "no
intron removal" ablation).  Random creation (:mod:`.create`) draws only executable
instructions and retries until ``s0`` is written; variation (:mod:`.variation`) returns the
parent when a child is invalid, so the search only ever sees valid genomes.

:class:`SequentialRepresentation` is the interface the search loop uses, the same as
:class:`~representations.tree.TreeRepresentation`.  All randomness comes from the
``numpy.random.Generator`` passed in: same seed, same programs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from primitives import SCALAR, PrimitiveError, PrimitiveSet

from ..ir import Program
from . import create, variation
from .create import P_OUTPUT, P_RECENT
from .genome import (N_SCALAR, N_TENSOR, Layout, Linear, check, from_flat, from_json, parse,
                     space_of_type, text, to_json)
from .interpret import interpret
from .introns import Trace, is_valid, lower, program_height, require_valid, strip, trace
from .limits import DEFAULT_MAX_LENGTH, static_limit
from .variation import DEFAULT_WEIGHTS


@dataclass(frozen=True)
class _Lowered:
    program: Program
    trace: Trace
    height: int


class SequentialRepresentation:
    """Linear programs: creation, variation, intron removal, lowering, (de)serialisation.

    ``min_length``/``max_length``: length range of random programs (instructions).
    ``length_limit``: static limit on the total length of children of variation (None: none).
    ``keep_introns``: lower every executed instruction instead of the effective ones only.
    ``mutation_weights``: operator -> weight among ``insert_op``, ``remove_op``, ``mutate_op``,
    ``mutate_op_arg`` (default :data:`DEFAULT_WEIGHTS`).  ``n_tensor``/``n_scalar``: dynamic
    memory (paper: 80 and 20); ``n_net``: network registers (default 10 when the set has type
    ``net``).  ``output_type``: ``scalar`` (the paper's per-instance programs, output ``s0``) or
    ``net`` (network-level programs, output ``n0``).  ``p_recent``/``p_output``: biases of random
    instructions (see :mod:`.create`).
    """

    name = "sequential"

    def __init__(self, pset: PrimitiveSet, min_length: int = 5, max_length: int = 20,
                 length_limit: int | None = DEFAULT_MAX_LENGTH, keep_introns: bool = False,
                 mutation_weights: Mapping[str, float] | None = None,
                 n_tensor: int = N_TENSOR, n_scalar: int = N_SCALAR, n_net: int | None = None,
                 output_type: str = SCALAR, p_recent: float = P_RECENT,
                 p_output: float = P_OUTPUT, cache_size: int = 1 << 16):
        create.check_lengths(min_length, max_length)
        if length_limit is not None and length_limit < max_length:
            raise ValueError(f"length_limit {length_limit} is below max_length {max_length}")
        if output_type not in pset.min_height:
            raise ValueError(f"the primitive set cannot produce a {output_type}: no program is "
                             "valid")
        if any(op.arity > 2 for op in pset.ops):
            raise ValueError("an instruction has two read slots: ops of arity > 2 do not fit")
        for p in (p_recent, p_output):
            if not 0 <= p <= 1:
                raise ValueError(f"probabilities must lie in [0, 1], got {p}")
        self.pset = pset
        self.layout = Layout.of(pset, n_tensor, n_scalar, n_net, output_type)
        self.min_length, self.max_length = int(min_length), int(max_length)
        self.length_limit = length_limit
        self.keep_introns = bool(keep_introns)
        self.p_recent, self.p_output = float(p_recent), float(p_output)
        self._mut_names, self._mut_probs = variation.normalize_weights(mutation_weights)
        self.mutation_weights = dict(zip(self._mut_names, map(float, self._mut_probs)))
        self._cache: OrderedDict[Linear, _Lowered] = OrderedDict()
        self._cache_size = int(cache_size)

    def __repr__(self) -> str:
        return (f"SequentialRepresentation(output={self.layout.output_type}, "
                f"length={self.min_length}..{self.max_length}, "
                f"length_limit={self.length_limit}, keep_introns={self.keep_introns}, "
                f"mutation={self.mutation_weights})")

    # -- creation / variation ---------------------------------------------------------------
    def random(self, rng: np.random.Generator) -> Linear:
        return create.random_program(self.pset, self.layout, rng, self.min_length,
                                     self.max_length, self.p_recent, self.p_output)

    def crossover(self, a: Linear, b: Linear, rng: np.random.Generator) -> Linear:
        """Mate (deterministic: ``rng`` is not used); ``a`` when the child is invalid."""
        return variation.mate(a, b, self.pset, self.layout, self.length_limit)

    def mutate(self, g: Linear, rng: np.random.Generator) -> Linear:
        return variation.mutate_with(g, rng, self.pset, self.layout, self._mut_names,
                                     self._mut_probs, self.length_limit, self.p_recent,
                                     self.p_output)

    # -- lowering and measures --------------------------------------------------------------
    def _lowered(self, g: Linear) -> _Lowered:
        cache = self._cache
        entry = cache.get(g)
        if entry is not None:
            cache.move_to_end(g)
            return entry
        prog = lower(g, self.pset, self.keep_introns, self.layout)
        entry = _Lowered(prog, trace(g, self.pset, self.layout), program_height(prog))
        cache[g] = entry
        if len(cache) > self._cache_size:
            cache.popitem(last=False)
        return entry

    def lower(self, g: Linear) -> Program:
        """The program IR of ``g`` (cached); PrimitiveError when ``g`` is invalid."""
        return self._lowered(g).program

    def trace(self, g: Linear) -> Trace:
        """Per-instruction executed/effective flags of a valid ``g`` (cached)."""
        return self._lowered(g).trace

    def size(self, g: Linear) -> int:
        """Effective length (the size parsimony pressure acts on)."""
        return self.trace(g).effective_length

    def effective_length(self, g: Linear) -> int:
        return self.trace(g).effective_length

    def total_length(self, g: Linear) -> int:
        return len(g)

    def height(self, g: Linear) -> int:
        """Depth of the lowered DAG: edges from the output to the farthest statistic."""
        return self._lowered(g).height

    def effective(self, g: Linear) -> Linear:
        """The program of ``g``'s effective instructions (same output)."""
        return strip(g, self.pset, self.layout)

    def text(self, g: Linear) -> str:
        """Canonical text of the lowered program (``self.lower(g).text()``)."""
        return self.lower(g).text()

    def listing(self, g: Linear, notes: bool = True) -> str:
        """The instruction list, one per line; non-effective instructions are marked
        ``# intron`` or ``# skipped`` (``parse`` reads it back)."""
        return text(g, self.pset, self.layout, self.trace(g).notes() if notes else None)

    def check(self, g: Linear) -> None:
        """PrimitiveError unless ``g`` is in range for this layout/primitive set and valid."""
        check(g, self.pset, self.layout)
        require_valid(g, self.pset, self.layout)

    def interpret(self, g: Linear, tensors) -> Any:
        """Direct interpretation of the instruction list (see :func:`interpret`)."""
        return interpret(g, self.pset, tensors, self.layout)

    # -- (de)serialisation -----------------------------------------------------------------
    def to_json(self, g: Linear) -> dict:
        return to_json(g)

    def from_json(self, data: Any) -> Linear:
        """Read :func:`to_json` output (or a bare / flat program); PrimitiveError unless it is
        in range and valid."""
        g = from_json(data, self.pset, self.layout)
        require_valid(g, self.pset, self.layout)
        return g

    def parse(self, source: str) -> Linear:
        g = parse(source, self.pset, self.layout)
        require_valid(g, self.pset, self.layout)
        return g

    def from_program(self, program: Program) -> Linear:
        """A linear program computing an IR program: one instruction per op node in order, each
        into a fresh register of its type's bank, the root into the output; PrimitiveError when
        the registers do not suffice or the output type differs."""
        layout, program = self.layout, program.pruned()
        if program.type != layout.output_type:
            raise PrimitiveError(f"the program's output is {program.type}, this representation's "
                                 f"is {layout.output_type}")
        free = {bank: [a for a in layout.write_range(bank) if a != layout.output]
                for bank in ("tensor", "scalar", "net")}
        where, instrs = {}, []
        for i, n in enumerate(program.nodes):
            if n.op is None:
                where[i] = layout.statics.index(n.name) if n.name in layout.statics else None
                if where[i] is None:
                    raise PrimitiveError(f"statistic {n.name!r} is not in this layout")
                continue
            bank = space_of_type(n.type)
            if i == len(program.nodes) - 1:
                w = layout.output
            elif free[bank]:
                w = free[bank].pop(0)
            else:
                raise PrimitiveError(f"the program needs more {bank} registers than the layout has")
            reads = [where[a] for a in n.args]
            instrs.append((w, self.pset[n.op].paper_id, reads[0], reads[-1]))
            where[i] = w
        g = Linear(instrs)
        require_valid(g, self.pset, self.layout)
        return g


__all__ = [
    "DEFAULT_MAX_LENGTH", "DEFAULT_WEIGHTS", "Layout", "Linear", "SequentialRepresentation",
    "Trace", "check", "from_flat", "from_json", "interpret", "is_valid", "lower", "parse",
    "program_height", "require_valid", "static_limit", "strip", "text", "to_json", "trace",
]
