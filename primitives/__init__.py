"""The gpnas DSL: typed, batched, total primitive operations with sympy translations.

:func:`default_primitive_set` is the paper's DSL (34 operations over 22 statistics);
:func:`primitive_set` adds named extensions (:data:`EXTENSIONS`): ``network`` (network-level
programs with evolvable aggregation over layer instances), ``cross`` (cross-sample statistics
and their spectral operations) and ``grid`` (matrix-wise det / logdet that keep the grid of
trailing matrices: what EZNAS-A needs).
"""

import functools
from dataclasses import replace

from .cross import CROSS
from .grid import GRID, GRID_OF
from .network import NETWORK
from .ops import OPS
from .registry import Extension, Op, PrimitiveError, PrimitiveSet, Signature
from .scalarize import TO_SCALAR
from .terminals import INPUTS, PER_INPUT, STAT_NAMES, STATISTICS
from .types import (ACT, ACT_GRID, ALL_TYPES, BMAT, BN, BN_GRID, CMAT, KNOWN_TYPES, NET,
                    NETWORK_TYPES, NMAT, SCALAR, TENSOR_TYPES, WEIGHT, WEIGHT_GRID)

#: the DSL's extensions by name, in the order they are applied
EXTENSIONS: dict[str, Extension] = {NETWORK.name: NETWORK, CROSS.name: CROSS, GRID.name: GRID}


def primitive_set(*extensions: str) -> PrimitiveSet:
    """The paper's DSL with the named extensions; PrimitiveError for an unknown name."""
    unknown = [e for e in extensions if e not in EXTENSIONS]
    if unknown:
        raise PrimitiveError(f"unknown DSL extension(s) {unknown}; known: {list(EXTENSIONS)}")
    chosen = [ext for name, ext in EXTENSIONS.items() if name in extensions]
    names = {ext.name for ext in chosen}
    enabled = set(ALL_TYPES) | {t for ext in chosen for t, needs in ext.types.items()
                                if set(needs) <= names}
    terminals = dict(STATISTICS)
    ops = list(OPS)
    for ext in chosen:
        terminals.update({n: t for n, t in ext.terminals.items() if t in enabled})
        ops = [ext.extend(op) for op in ops] + list(ext.ops)
    kept = []
    for op in ops:  # signatures of types not enabled by the chosen extensions are left out
        sigs = tuple(s for s in op.signatures if {*s.inputs, s.output} <= enabled)
        if sigs:
            kept.append(op if sigs == op.signatures else replace(op, signatures=sigs))
    return PrimitiveSet(terminals, kept)


def default_primitive_set() -> PrimitiveSet:
    """The paper's 34 operations over the 22 network statistics."""
    return primitive_set()


@functools.lru_cache(maxsize=1)
def full_primitive_set() -> PrimitiveSet:
    """Every extension: reads and evaluates any program gpnas writes (one shared instance:
    do not register ops into it)."""
    return primitive_set(*EXTENSIONS)


__all__ = [
    "ACT", "ACT_GRID", "ALL_TYPES", "BMAT", "BN", "BN_GRID", "CMAT", "EXTENSIONS", "Extension",
    "GRID_OF", "INPUTS", "KNOWN_TYPES", "NET", "NETWORK_TYPES", "NMAT", "OPS", "Op", "PER_INPUT",
    "PrimitiveError", "PrimitiveSet", "SCALAR", "STATISTICS", "STAT_NAMES", "Signature",
    "TENSOR_TYPES", "TO_SCALAR", "WEIGHT", "WEIGHT_GRID", "default_primitive_set",
    "full_primitive_set", "primitive_set",
]
