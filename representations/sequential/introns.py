"""Type inference, intron (dead-code) removal and lowering of linear programs to the IR.

Everything here is decided from the instruction list alone, without tensors:

* :func:`step_type` is the executability rule of one instruction given the type of every
  address (see the package docstring): it returns the output type, or None when the
  instruction is skipped (a no-op).
* :func:`trace` runs the rule over the whole program (forward), then marks the *effective*
  instructions by backward liveness from the output address ``s0``: an executed instruction is
  effective when it writes an address that is live (read later by an effective instruction, or
  the output at the end); its reads then become live.  Everything else is an intron: skipped
  instructions, and executed ones whose value is overwritten or never read.
* :func:`lower` builds the shared IR: with introns removed only effective instructions become
  nodes; with ``keep_introns`` every executed instruction does (``build(keep_dead=True)``), which
  is what running the linear program as written costs.
"""

from __future__ import annotations

from dataclasses import dataclass

from primitives import PrimitiveError, PrimitiveSet

from ..ir import Program, ProgramBuilder
from .genome import Instruction, Layout, Linear, space_of_type


def reads_of(ins: Instruction, arity: int) -> tuple[int, ...]:
    """The addresses an instruction reads: read 2 is ignored by unary ops."""
    return (ins[2],) if arity == 1 else (ins[2], ins[3])


def step_type(types: list, ins: Instruction, pset: PrimitiveSet, layout: Layout) -> str | None:
    """Output type of ``ins`` given the address types, or None when it is skipped: a read
    address never written, operand types matching no signature of the op, or an output whose
    register bank (tensor / scalar / net) is not the bank of the write address."""
    op = pset[ins[1]]
    in_types = tuple(types[r] for r in reads_of(ins, op.arity))
    if None in in_types:
        return None
    out = op.output_type(in_types)
    if out is None or space_of_type(out) != layout.space(ins[0]):
        return None
    return out


def run_types(genome: Linear | tuple, pset: PrimitiveSet, layout: Layout,
              stop: int | None = None) -> tuple[list, list]:
    """Address types after the first ``stop`` instructions (all by default), and the output
    type of each of them (None: skipped)."""
    types = layout.initial_types()
    outs = []
    instrs = genome.instructions if isinstance(genome, Linear) else genome
    for ins in instrs[:stop]:
        out = step_type(types, ins, pset, layout)
        if out is not None:
            types[ins[0]] = out
        outs.append(out)
    return types, outs


def memory_state(instrs: tuple, pset: PrimitiveSet, layout: Layout, stop: int
                 ) -> tuple[list, list]:
    """Address types before instruction ``stop``, and the index of the instruction that last
    wrote each address (-1: never written)."""
    types = layout.initial_types()
    stamps = [-1] * layout.size
    for k, ins in enumerate(instrs[:stop]):
        out = step_type(types, ins, pset, layout)
        if out is not None:
            types[ins[0]] = out
            stamps[ins[0]] = k
    return types, stamps


@dataclass(frozen=True)
class Trace:
    """Per-instruction facts of a program.

    ``out_types[i]``: the type instruction i writes, None when it is skipped.
    ``effective[i]``: whether instruction i contributes to the output.
    ``valid``: whether ``s0`` holds a value at the end (the program converts to an IR program).
    """

    out_types: tuple[str | None, ...]
    effective: tuple[bool, ...]
    valid: bool

    @property
    def total_length(self) -> int:
        return len(self.out_types)

    @property
    def executed_length(self) -> int:
        return sum(t is not None for t in self.out_types)

    @property
    def effective_length(self) -> int:
        return sum(self.effective)

    @property
    def effective_indices(self) -> list[int]:
        return [i for i, e in enumerate(self.effective) if e]

    def notes(self) -> list[str]:
        """``''`` for effective instructions, ``intron`` or ``skipped`` for the others."""
        return ["" if e else ("skipped" if t is None else "intron")
                for t, e in zip(self.out_types, self.effective)]


def trace(genome: Linear, pset: PrimitiveSet, layout: Layout) -> Trace:
    types, outs = run_types(genome, pset, layout)
    valid = types[layout.output] is not None
    effective = [False] * len(genome)
    if valid:
        live = {layout.output}
        for i in range(len(genome) - 1, -1, -1):
            ins = genome.instructions[i]
            if outs[i] is None or ins[0] not in live:
                continue
            effective[i] = True
            live.discard(ins[0])
            live.update(reads_of(ins, pset[ins[1]].arity))
    return Trace(tuple(outs), tuple(effective), valid)


def is_valid(genome: Linear, pset: PrimitiveSet, layout: Layout) -> bool:
    """Whether the output ``s0`` is written by an executed instruction."""
    return run_types(genome, pset, layout)[0][layout.output] is not None


def require_valid(genome: Linear, pset: PrimitiveSet, layout: Layout) -> Trace:
    tr = trace(genome, pset, layout)
    if not tr.valid:
        raise PrimitiveError(
            f"invalid program: no executed instruction writes the output address "
            f"{layout.name(layout.output)} ({tr.executed_length} of {tr.total_length} "
            "instruction(s) executable)")
    return tr


def strip(genome: Linear, pset: PrimitiveSet, layout: Layout) -> Linear:
    """The program of the effective instructions only (same output, see the tests)."""
    tr = require_valid(genome, pset, layout)
    return Linear([genome.instructions[i] for i in tr.effective_indices])


def lower(genome: Linear, pset: PrimitiveSet, keep_introns: bool = False,
          layout: Layout | None = None) -> Program:
    """The IR program computing ``s0``; PrimitiveError when the genome is invalid.

    Without introns the program has one node per distinct effective computation (equal
    computations are hash-consed into one node, commutative arguments sorted).  With
    ``keep_introns`` every executed instruction becomes a node and the program keeps them
    (``Program.output_index`` names the output).
    """
    layout = layout or Layout.of(pset)
    tr = require_valid(genome, pset, layout)
    b = ProgramBuilder(pset)
    node_of: dict[int, int] = {}

    def read(addr: int) -> int:
        if addr not in node_of:  # only statics are read before being written
            node_of[addr] = b.terminal(layout.statics[addr])
        return node_of[addr]

    keep = [t is not None for t in tr.out_types] if keep_introns else tr.effective
    for ins, k in zip(genome.instructions, keep):
        if k:
            op = pset[ins[1]]
            node_of[ins[0]] = b.apply(op.name, [read(r) for r in reads_of(ins, op.arity)])
    return b.build(node_of[layout.output], keep_dead=keep_introns)


def program_height(program: Program) -> int:
    """Edges on the longest path from the output to a statistic."""
    depth: list[int] = []
    for n in program.nodes:
        depth.append(1 + max(depth[a] for a in n.args) if n.args else 0)
    return depth[program.output]
