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
              layout: Layout | None = None, layers=None) -> torch.Tensor:
    """The value of the output address after running every instruction of ``genome`` in order.

    ``tensors`` maps terminal names to tensors with a leading instance axis (network terminals:
    one value per network), as the ops take them; ``layers`` (a ``primitives.kernels.Layers``)
    places the instances in their networks for aggregations.  The result has one value per
    instance (``s0``) or per network (``n0``).  Skipped instructions (see the package docstring)
    leave the memory unchanged; a program that never writes its output raises PrimitiveError.
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
            args = [load(r) for r in reads_of(ins, op.arity)]
            memory[ins[0]] = op.fn(*args, layers) if op.kind == "aggregation" else op.fn(*args)
            types[ins[0]] = out
    if types[layout.output] is None:
        raise PrimitiveError(f"invalid program: the output address {layout.name(layout.output)} "
                             "is never written")
    return memory[layout.output]
