"""The gpnas DSL: typed, batched, total primitive operations with sympy translations."""

from .ops import OPS
from .registry import Op, PrimitiveError, PrimitiveSet, Signature
from .scalarize import TO_SCALAR
from .terminals import INPUTS, PER_INPUT, STAT_NAMES, STATISTICS
from .types import ACT, ALL_TYPES, BN, SCALAR, TENSOR_TYPES, WEIGHT


def default_primitive_set() -> PrimitiveSet:
    """The paper's 34 operations over the 22 network statistics."""
    return PrimitiveSet(STATISTICS, OPS)


__all__ = [
    "ACT", "ALL_TYPES", "BN", "INPUTS", "OPS", "Op", "PER_INPUT", "PrimitiveError",
    "PrimitiveSet", "SCALAR", "STATISTICS", "STAT_NAMES", "Signature", "TENSOR_TYPES",
    "TO_SCALAR", "WEIGHT", "default_primitive_set",
]
