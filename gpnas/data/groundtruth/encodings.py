"""NB201 architecture encodings of the published tables, to NB201 arch strings."""

from __future__ import annotations

from gpnas.errors import GpnasError

#: NASLib / AnalogNAS-Bench op ids (6-tuple encoding)
_NASLIB_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
#: GenNAS-Zero nested-list op ids
_GENNAS_OPS = {0: "none", 1: "skip_connect", 2: "nor_conv_1x1", 3: "nor_conv_3x3", 4: "avg_pool_3x3"}


def naslib_tuple_to_arch(t) -> str:
    """NASLib 6-tuple (edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4)) -> NB201 arch string."""
    if len(t) != 6 or any(int(v) not in _NASLIB_OPS for v in t):
        raise GpnasError(f"bad NASLib NB201 tuple {t!r}")
    o = [_NASLIB_OPS[int(v)] for v in t]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[3]}~1|+|{o[2]}~0|{o[4]}~1|{o[5]}~2|"


def gennas_nested_to_arch(nested) -> str:
    """GenNAS-Zero ``[[a], [b, c], [d, e, f]]`` -> NB201 arch string."""
    try:
        ok = [len(g) for g in nested] == [1, 2, 3]
        ops = [[_GENNAS_OPS[int(v)] for v in g] for g in nested]
    except (TypeError, KeyError, ValueError, OverflowError):
        ok = False
    if not ok:
        raise GpnasError(f"bad GenNAS-Zero NB201 encoding {nested!r}")
    return "+".join("|" + "|".join(f"{op}~{i}" for i, op in enumerate(g)) + "|" for g in ops)
