"""The primitive registry: one row per operation, and primitive sets built from rows.

A row (:class:`Op`) holds everything about an operation: name, paper id, typed signatures,
batched torch implementation, sympy translation and cost.  A :class:`PrimitiveSet` is a
collection of rows plus typed terminals; building one checks that every type can be produced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable, Mapping

import sympy
import torch

from .types import KNOWN_TYPES


class PrimitiveError(ValueError):
    """A primitive or primitive set is malformed (the message says how)."""


@dataclass(frozen=True)
class Signature:
    """Input types -> output type of one overload of an operation."""

    inputs: tuple[str, ...]
    output: str

    def __str__(self) -> str:
        return f"({', '.join(self.inputs)}) -> {self.output}"


@dataclass(frozen=True)
class Op:
    """One primitive operation.

    ``fn`` takes tensors with a leading instance axis and returns one with the same leading
    axis; it never mixes rows and never raises on finite or non-finite input (it may return
    NaN, which marks the program invalid).  ``sympy`` maps sympy arguments to the expression
    the operation stands for, with its protection visible.
    """

    name: str
    paper_id: int
    signatures: tuple[Signature, ...]
    fn: Callable[..., torch.Tensor]
    sympy: Callable[..., sympy.Expr]
    cost: float
    kind: str  # "elementwise" | "reduction" | "linalg"
    doc: str = ""
    commutative: bool = False  # f(a, b) == f(b, a): canonical forms sort the arguments
    #: sympy assumptions (e.g. ``("nonnegative",)``) that hold for every value of an opaque op,
    #: so simplification may use them when the application stands as an atom
    atom_assumptions: tuple[str, ...] = ()
    #: LaTeX of an application, ``{0}``, ``{1}`` standing for the arguments (default: the op's
    #: name as an operator)
    latex: str | None = None

    @property
    def arity(self) -> int:
        return len(self.signatures[0].inputs)

    def output_type(self, input_types: tuple[str, ...]) -> str | None:
        """The output type for these input types, or None when no overload matches."""
        for sig in self.signatures:
            if sig.inputs == input_types:
                return sig.output
        return None


KINDS = ("elementwise", "reduction", "linalg", "aggregation")


def validate_op(op: Op) -> None:
    """Refuse a malformed row with a message that names the op and the problem."""
    if not op.name or not op.name.replace("_", "").isalnum():
        raise PrimitiveError(f"op name {op.name!r} must be a non-empty identifier")
    if op.sympy is None or not callable(op.sympy):
        raise PrimitiveError(f"op {op.name!r} has no sympy translation; every op needs one")
    if op.fn is None or not callable(op.fn):
        raise PrimitiveError(f"op {op.name!r} has no torch implementation")
    if not op.signatures:
        raise PrimitiveError(f"op {op.name!r} has no signature")
    arities = {len(s.inputs) for s in op.signatures}
    if len(arities) != 1 or 0 in arities:
        raise PrimitiveError(f"op {op.name!r}: all signatures need the same arity >= 1")
    for sig in op.signatures:
        for t in (*sig.inputs, sig.output):
            if t not in KNOWN_TYPES:
                raise PrimitiveError(f"op {op.name!r}: unknown type {t!r} (known: {KNOWN_TYPES})")
    if op.kind not in KINDS:
        raise PrimitiveError(f"op {op.name!r}: kind must be one of {KINDS}")
    if not (op.cost > 0 and math.isfinite(op.cost)):
        raise PrimitiveError(f"op {op.name!r}: cost must be a positive number")
    args = sympy.symbols(f"x0:{op.arity}")
    try:
        expr = op.sympy(*args)
    except Exception as exc:  # a broken translation is a registration error
        raise PrimitiveError(f"op {op.name!r}: sympy translation failed: {exc}") from exc
    if not isinstance(expr, sympy.Basic):
        raise PrimitiveError(f"op {op.name!r}: sympy translation must return a sympy expression")


@dataclass
class PrimitiveSet:
    """Operations and typed terminals that programs are built from.

    ``min_height[t]`` is the height of the smallest tree that yields type ``t`` (0 for a type
    with a terminal); generators use it to never ask for a type they cannot finish in time.
    """

    terminals: Mapping[str, str]
    ops: list[Op] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.terminals = dict(self.terminals)
        ops, self.ops = list(self.ops), []
        self._by_name: dict[str, Op] = {}
        self._by_id: dict[int, Op] = {}
        self._producers_cache: dict[str, list[tuple[Op, Signature]]] = {}
        for op in ops:
            self.register(op)
        self.check()

    # -- building -------------------------------------------------------------------------
    def register(self, op: Op) -> None:
        validate_op(op)
        if op.name in self._by_name:
            raise PrimitiveError(f"op {op.name!r} is registered twice")
        if op.paper_id in self._by_id:
            raise PrimitiveError(
                f"paper id {op.paper_id} of {op.name!r} is taken by {self._by_id[op.paper_id].name!r}")
        self.ops.append(op)
        self._by_name[op.name] = op
        self._by_id[op.paper_id] = op
        self._producers_cache.clear()

    def check(self) -> None:
        """Type reachability: every type used anywhere must be producible by a finite tree."""
        for name, t in self.terminals.items():
            if t not in KNOWN_TYPES:
                raise PrimitiveError(f"terminal {name!r} has unknown type {t!r}")
        height = {t: 0 for t in set(self.terminals.values())}
        changed = True
        while changed:
            changed = False
            for op in self.ops:
                for sig in op.signatures:
                    if all(t in height for t in sig.inputs):
                        h = 1 + max(height[t] for t in sig.inputs)
                        if h < height.get(sig.output, math.inf):
                            height[sig.output] = h
                            changed = True
        used = set(self.terminals.values())
        for op in self.ops:
            for sig in op.signatures:
                used.update(sig.inputs)
                used.add(sig.output)
        unreachable = sorted(used - set(height))
        if unreachable:
            raise PrimitiveError(
                f"unreachable type(s) {unreachable}: no terminal and no operation whose inputs "
                "can be built produces them; add a terminal or an operation")
        self.min_height: dict[str, int] = height

    # -- lookup ---------------------------------------------------------------------------
    def __getitem__(self, key: str | int) -> Op:
        table = self._by_id if isinstance(key, int) else self._by_name
        try:
            return table[key]
        except KeyError:
            known = ", ".join(sorted(self._by_name))
            raise PrimitiveError(f"unknown op {key!r}; known ops: {known}") from None

    def __contains__(self, key: str | int) -> bool:
        return key in (self._by_id if isinstance(key, int) else self._by_name)

    def __len__(self) -> int:
        return len(self.ops)

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(t for t in KNOWN_TYPES if t in self.min_height)

    def terminals_of(self, t: str) -> list[str]:
        return [name for name, tt in self.terminals.items() if tt == t]

    def producers(self, t: str) -> list[tuple[Op, Signature]]:
        """All (op, signature) pairs whose output is type ``t``, in registry order."""
        if t not in self._producers_cache:
            self._producers_cache[t] = [
                (op, sig) for op in self.ops for sig in op.signatures if sig.output == t]
        return self._producers_cache[t]

    def subset(self, names: Iterable[str]) -> "PrimitiveSet":
        """A primitive set with only the named ops (checked for reachability)."""
        return PrimitiveSet(self.terminals, [self[n] for n in names])


@dataclass(frozen=True)
class Extension:
    """A named addition to the paper's DSL: new terminals, new ops, and new signatures of
    existing ops (``overload(op)`` returns the extra signatures of ``op``, often none).
    Extension ops take paper ids of their own range, so sequential genomes stay unambiguous."""

    name: str
    doc: str
    terminals: Mapping[str, str]
    ops: tuple[Op, ...]
    overload: Callable[[Op], tuple[Signature, ...]] = lambda op: ()
    #: LaTeX symbols of the extension's terminals
    latex: Mapping[str, str] = field(default_factory=dict)
    #: sympy assumptions that hold for every value of a terminal (e.g. ``("positive",)``)
    assumptions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: the types this extension introduces, each with the extensions it also needs (a
    #: signature or terminal of a type whose extensions are not all chosen is left out)
    types: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def extend(self, op: Op) -> Op:
        """``op`` with this extension's extra signatures (itself when there are none)."""
        extra = tuple(s for s in self.overload(op) if s not in op.signatures)
        return replace(op, signatures=op.signatures + extra) if extra else op
