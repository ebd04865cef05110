"""What the engine must compute of a program, and what it can know without computing.

Random and evolved programs are full of sub-expressions whose value is known from their
arguments' kind alone: ``log(gt0(x))`` is 0 everywhere (the log of 0 or 1), ``square(lt(a, b))``
is ``lt(a, b)``, ``ones_like(normalize(x))`` never needs ``normalize(x)``.  :func:`plan` finds
them with a few exact rules over three facts a value may have -- *flags* (every element +0.0 or
1.0: the comparisons), *zeros* (+0.0) and *ones* (1.0) -- so the engine skips those ops and the
arguments nobody else needs.  Each rule gives the same bits as running the op (see
``tests/evaluation/test_plan.py``), so scores are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from representations.ir import Program

#: ops whose value depends only on their argument's shape: the argument is not computed
SHAPE_ONLY = frozenset({"ones_like", "zeros_like", "numel"})

FLAGS, ZEROS, ONES = "flags", "zeros", "ones"
_KNOWN = (FLAGS, ZEROS, ONES)
#: ops whose value is 0/1 flags whatever their arguments
_FLAG_OPS = frozenset({"lt", "gt", "eq", "heaviside", "gt0", "lt0"})
#: unary ops that map 0 to 0 and 1 to 1 exactly: on flags they are the identity
_IDENTITY_ON_FLAGS = frozenset({"heaviside", "gt0", "square", "abs", "relu", "sign", "invert"})


@dataclass
class Plan:
    """Per node of a program: ``needed`` (its value is used), ``same_as`` (the index of an
    argument whose value it equals, or None) and ``fill`` (0.0 or 1.0 when it is that constant,
    or None)."""

    needed: list[bool]
    same_as: list[int | None]
    fill: list[float | None]


def _fact(op: str, args: tuple[int, ...], facts: list) -> tuple[str | None, int | None]:
    """(fact of the op's value, index of the argument it equals)."""
    known = [facts[a] in _KNOWN for a in args]
    if op == "ones_like":
        return ONES, None
    if op == "zeros_like":
        return ZEROS, None
    if len(args) == 1 and known[0]:
        if op in _IDENTITY_ON_FLAGS:
            return facts[args[0]], args[0]
        if op in ("log", "abslog", "lt0"):  # log 1 = 0, protected log 0 = 0; 0/1 < 0 is false
            return ZEROS, None
        if op == "exp" and facts[args[0]] == ZEROS:
            return ONES, None
    if len(args) == 2:
        a, b = args
        if a == b and op in ("lt", "gt"):  # x < x is false, NaN or not
            return ZEROS, None
        if all(known):
            fa, fb = facts[a], facts[b]
            if a == b and op == "sub":
                return ZEROS, None
            if a == b and op == "eq":
                return ONES, None
            if op == "mul":
                if ZEROS in (fa, fb):
                    return ZEROS, None
                if fa == ONES:
                    return fb, b
                if fb == ONES:
                    return fa, a
                return FLAGS, None
            if op in ("add", "sub") and fb == ZEROS:
                return fa, a
            if op == "add" and fa == ZEROS:
                return fb, b
    return (FLAGS if op in _FLAG_OPS else None), None


def plan(program: Program, outputs: list[int] | None = None) -> Plan:
    """The :class:`Plan` of ``program`` for the values of the nodes ``outputs`` (default: its
    root).  Only element-wise facts are used, so they hold on every type (matrices too)."""
    nodes = program.nodes
    facts: list[str | None] = []
    same_as: list[int | None] = []
    for node in nodes:
        fact, same = (None, None) if node.op is None else _fact(node.op, node.args, facts)
        facts.append(fact)
        same_as.append(same)
    fill = [1.0 if f == ONES and s is None else 0.0 if f == ZEROS and s is None else None
            for f, s in zip(facts, same_as)]
    needed = [False] * len(nodes)
    for o in [program.output] if outputs is None else outputs:
        needed[o] = True
    for i in range(len(nodes) - 1, -1, -1):
        if not needed[i] or fill[i] is not None:
            continue
        if same_as[i] is not None:
            needed[same_as[i]] = True
        elif nodes[i].op not in SHAPE_ONLY:
            for a in nodes[i].args:
                needed[a] = True
    return Plan(needed, same_as, fill)
