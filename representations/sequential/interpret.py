"""A direct interpreter of linear programs: every instruction in order, on a memory of tensors.

It is the semantics the lowering must preserve (tests compare the two); the search never uses
it, it evaluates the lowered IR with the shared engine.
"""

from __future__ import annotations

from typing import Mapping

import torch

from primitives import PrimitiveError, PrimitiveSet

from .genome import Layout, Linear
from .introns import reads_of, step_type


def interpret(genome: Linear, pset: PrimitiveSet, tensors: Mapping[str, torch.Tensor],
              layout: Layout | None = None) -> torch.Tensor:
    """The value of ``s0`` after running every instruction of ``genome`` in order.

    ``tensors`` maps statistic names to tensors with a leading instance axis, as the ops take
    them; the result has one value per instance.  Skipped instructions (see the package
    docstring) leave the memory unchanged; a program that never writes ``s0`` raises
    PrimitiveError.
    """
    layout = layout or Layout.of(pset)
    types = layout.initial_types()
    memory: dict[int, torch.Tensor] = {}

    def load(addr: int) -> torch.Tensor:
        if addr not in memory:  # a static address, read on first use
            name = layout.statics[addr]
            if name not in tensors:
                raise PrimitiveError(f"statistic {name!r} is missing from the tensors")
            memory[addr] = tensors[name]
        return memory[addr]

    with torch.no_grad():
        for ins in genome.instructions:
            out = step_type(types, ins, pset, layout)
            if out is None:
                continue
            op = pset[ins[1]]
            memory[ins[0]] = op.fn(*[load(r) for r in reads_of(ins, op.arity)])
            types[ins[0]] = out
    if types[layout.output] is None:
        raise PrimitiveError("invalid program: the output address s0 is never written")
    return memory[layout.output]
