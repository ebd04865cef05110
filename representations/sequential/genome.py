"""The linear genome: an immutable, hashable tuple of 4-integer instructions, its memory layout,
validation, JSON and text.

An instruction is ``(write, op_id, read1, read2)``; all four are non-negative integers.  What
the integers mean is fixed by a :class:`Layout` (one unified address space, see the package
docstring) and the primitive set (``op_id`` is an op's ``paper_id``).  :class:`Linear` itself
only checks the shape (4 integers per instruction, at least one instruction); :func:`check`
checks it against a layout and primitive set, and every reader (:func:`from_json`,
:func:`from_flat`, :func:`parse`) does so before returning.

JSON (:func:`to_json`): ``{"repr": "sequential", "program": [[w, op, r1, r2], ...]}``.
:func:`from_json` also accepts the bare ``program`` list and the flat integer array of the paper
(``[w, op, r1, r2, w, op, ...]``, a length that is a multiple of 4).

Text (:func:`text`): one instruction per line, ``<write> = <op>(<read1>[, <read2>])``, with
statistics by name, dynamic tensor addresses ``t0..t79`` and scalar addresses ``s0..s19``, e.g.
``t3 = log(relu_in.data)`` / ``s0 = frobenius(t3)``.  The ignored second read of a unary op is
not written; :func:`parse` sets it equal to the first read, so the text form is lossless except
for that ignored slot (the JSON form is lossless).
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from primitives import NET, SCALAR, PrimitiveError, PrimitiveSet

JSON_TAG = "sequential"

#: the paper's memory (appendix 2.3): 80 dynamic tensor addresses, 20 scalar addresses
N_TENSOR = 80
N_SCALAR = 20
#: network-level registers (the ``network`` DSL extension), used when the set has type ``net``
N_NET = 10

STATIC, TENSOR, SCALAR_SPACE, NET_SPACE = "static", "tensor", "scalar", "net"
#: the register banks, in address order, and their name prefixes
BANKS: tuple[str, ...] = (TENSOR, SCALAR_SPACE, NET_SPACE)
_PREFIX = {TENSOR: "t", SCALAR_SPACE: "s", NET_SPACE: "n"}

Instruction = tuple[int, int, int, int]


def space_of_type(t: str) -> str:
    """The register bank that holds values of type ``t``: ``scalar``, ``net`` or ``tensor``."""
    return SCALAR_SPACE if t == SCALAR else NET_SPACE if t == NET else TENSOR


# -- layout ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """The address map: ``[statics | tensors | scalars | nets]`` in one integer range.

    * ``0 .. S-1``   static, read-only: the terminals in the primitive set's order (the 22
      statistics ``STAT_NAMES`` for the paper's set); each has its terminal's type.
    * then the dynamic banks, untyped until written: tensor addresses ``t0..t{T-1}`` (T = 80),
      scalar addresses ``s0..s{C-1}`` (C = 20) and network registers ``n0..n{N-1}`` (N = 10 when
      the set has type ``net``, else none).
    * The output is the first register of the bank of ``output_type``: ``s0`` for the paper's
      per-instance programs, ``n0`` for network-level programs.
    """

    statics: tuple[str, ...]
    static_types: tuple[str, ...]
    n_tensor: int = N_TENSOR
    n_scalar: int = N_SCALAR
    n_net: int = 0
    output_type: str = SCALAR

    def __post_init__(self) -> None:
        if len(self.statics) != len(self.static_types) or not self.statics:
            raise ValueError("a layout needs one type per static address, and at least one")
        if self.n_tensor < 1 or self.n_scalar < 1 or self.n_net < 0:
            raise ValueError("a layout needs at least one dynamic tensor and one scalar address")
        if self.output_type not in (SCALAR, NET):
            raise ValueError(f"the output is a scalar or a net value, not {self.output_type!r}")
        if self.bank_size(space_of_type(self.output_type)) < 1:
            raise ValueError(f"no register for the {self.output_type} output")
        for name in self.statics:
            if _DYN_NAME.fullmatch(name):
                raise ValueError(f"statistic name {name!r} clashes with a memory address name")

    @classmethod
    def of(cls, pset: PrimitiveSet, n_tensor: int = N_TENSOR, n_scalar: int = N_SCALAR,
           n_net: int | None = None, output_type: str = SCALAR) -> "Layout":
        """The layout of ``pset``'s terminals; ``n_net`` defaults to :data:`N_NET` when the set
        has type ``net`` (else 0)."""
        names = tuple(pset.terminals)
        if n_net is None:
            n_net = N_NET if NET in pset.min_height else 0
        return cls(names, tuple(pset.terminals[n] for n in names), int(n_tensor), int(n_scalar),
                   int(n_net), output_type)

    # -- ranges ---------------------------------------------------------------------------
    @property
    def n_static(self) -> int:
        return len(self.statics)

    def bank_size(self, bank: str) -> int:
        return {TENSOR: self.n_tensor, SCALAR_SPACE: self.n_scalar, NET_SPACE: self.n_net}[bank]

    def bank_base(self, bank: str) -> int:
        base = self.n_static
        for b in BANKS:
            if b == bank:
                return base
            base += self.bank_size(b)
        raise ValueError(f"unknown register bank {bank!r}")

    @property
    def tensor_base(self) -> int:
        return self.bank_base(TENSOR)

    @property
    def scalar_base(self) -> int:
        return self.bank_base(SCALAR_SPACE)

    @property
    def size(self) -> int:
        """Number of addresses; valid addresses are ``0 .. size - 1``."""
        return self.n_static + sum(self.bank_size(b) for b in BANKS)

    @property
    def output(self) -> int:
        """The output address: ``s0`` (or ``n0`` for network-level programs)."""
        return self.bank_base(space_of_type(self.output_type))

    def space(self, addr: int) -> str:
        """``static`` or the register bank of a dynamic address: ``tensor``, ``scalar``, ``net``."""
        if addr < self.n_static:
            return STATIC
        for b in BANKS:
            if addr < self.bank_base(b) + self.bank_size(b):
                return b
        raise ValueError(f"address {addr} out of range")

    def read_space(self, addr: int) -> str:
        """The space a read address belongs to for MutateOpArg: the bank of its values (a
        static counts in the bank of its type)."""
        if addr < self.n_static:
            return space_of_type(self.static_types[addr])
        return self.space(addr)

    def read_range(self, space: str) -> list[int]:
        """Every address a read of ``space`` may use: its statics, then its bank."""
        statics = [a for a, t in enumerate(self.static_types) if space_of_type(t) == space]
        return statics + list(self.write_range(space))

    def write_range(self, space: str) -> range:
        base = self.bank_base(space)
        return range(base, base + self.bank_size(space))

    def initial_types(self) -> list[str | None]:
        """Type of every address before the first instruction (None: never written)."""
        return list(self.static_types) + [None] * (self.size - self.n_static)

    # -- names ----------------------------------------------------------------------------
    def name(self, addr: int) -> str:
        if addr < self.n_static:
            return self.statics[addr]
        bank = self.space(addr)
        return f"{_PREFIX[bank]}{addr - self.bank_base(bank)}"

    def address(self, name: str) -> int:
        """Inverse of :meth:`name`; PrimitiveError for an unknown name."""
        m = _DYN_NAME.fullmatch(name)
        if m:
            bank = next(b for b, p in _PREFIX.items() if p == m.group(1))
            k, n = int(m.group(2)), self.bank_size(bank)
            if k < n:
                return self.bank_base(bank) + k
            raise PrimitiveError(f"address {name!r} out of range "
                                 + (f"({m.group(1)}0..{m.group(1)}{n - 1})" if n else
                                    f"(this layout has no {bank} registers)"))
        try:
            return self.statics.index(name)
        except ValueError:
            raise PrimitiveError(f"unknown address {name!r}: not a statistic, t<k>, s<k> or "
                                 "n<k>") from None


_DYN_NAME = re.compile(r"([tsn])(\d+)")


# -- genome ---------------------------------------------------------------------------------
def _int(x: Any, where: str) -> int:
    if isinstance(x, bool):
        raise PrimitiveError(f"{where}: expected an integer, got {x!r}")
    try:
        v = operator.index(x)
    except TypeError:
        raise PrimitiveError(f"{where}: expected an integer, got {x!r}") from None
    if v < 0:
        raise PrimitiveError(f"{where}: negative integer {v}")
    return v


class Linear:
    """An immutable sequence of instructions ``(write, op_id, read1, read2)``.

    Compares and hashes by its instructions, so it keys caches.  Only the shape is checked
    here; :func:`check` validates it against a layout and primitive set.
    """

    __slots__ = ("instructions", "_hash")

    def __init__(self, instructions: Sequence[Sequence[int]]):
        instrs = []
        for i, ins in enumerate(instructions):
            row = None if isinstance(ins, (str, bytes, dict)) or not hasattr(ins, "__len__") \
                else tuple(ins)
            if row is None or len(row) != 4:
                raise PrimitiveError(
                    f"instruction {i}: expected 4 integers (write, op, read1, read2), got {ins!r}")
            instrs.append(tuple(_int(x, f"instruction {i}") for x in row))
        if not instrs:
            raise PrimitiveError("a program needs at least one instruction")
        _set = object.__setattr__
        _set(self, "instructions", tuple(instrs))
        _set(self, "_hash", hash(self.instructions))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Linear is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Linear is immutable")

    def __reduce__(self):
        return (Linear, (self.instructions,))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Linear):
            return NotImplemented
        return self._hash == other._hash and self.instructions == other.instructions

    def __hash__(self) -> int:
        return self._hash

    def __len__(self) -> int:
        return len(self.instructions)

    def __iter__(self) -> Iterator[Instruction]:
        return iter(self.instructions)

    def __getitem__(self, i: int) -> Instruction:
        return self.instructions[i]

    def __repr__(self) -> str:
        return f"Linear({list(map(list, self.instructions))!r})"

    def flat(self) -> list[int]:
        """The paper's integer array: 4 integers per instruction."""
        return [x for ins in self.instructions for x in ins]

    def to_json(self) -> dict:
        return to_json(self)


# -- validation -----------------------------------------------------------------------------
def check_instruction(ins: Sequence[int], pset: PrimitiveSet, layout: Layout, where: str) -> None:
    w, op, r1, r2 = ins
    if w >= layout.size:
        raise PrimitiveError(f"{where}: write address {w} out of range "
                             f"({layout.tensor_base}..{layout.size - 1})")
    if w < layout.n_static:
        raise PrimitiveError(f"{where}: write address {w} is a static, read-only address "
                             f"(statistic {layout.statics[w]!r}); writable addresses are "
                             f"{layout.tensor_base}..{layout.size - 1}")
    if op not in pset:
        ids = sorted(o.paper_id for o in pset.ops)
        raise PrimitiveError(f"{where}: unknown op id {op}; known ids: {ids}")
    for slot, r in ((1, r1), (2, r2)):
        if r >= layout.size:
            raise PrimitiveError(f"{where}: read address {slot} = {r} out of range "
                                 f"(0..{layout.size - 1})")


def check(genome: Linear, pset: PrimitiveSet, layout: Layout) -> None:
    """PrimitiveError unless every address is in range, no instruction writes a static
    address and every op id is an op of ``pset``.  (Reaching the output is checked by
    :func:`representations.sequential.introns.require_valid`.)"""
    for i, ins in enumerate(genome.instructions):
        check_instruction(ins, pset, layout, f"instruction {i}")


def from_flat(ints: Sequence[Any], pset: PrimitiveSet, layout: Layout) -> Linear:
    """The genome of a flat integer array (length a multiple of 4), validated."""
    if len(ints) % 4:
        raise PrimitiveError(f"a flat program needs 4 integers per instruction; got {len(ints)} "
                             f"integers ({len(ints) % 4} left over)")
    g = Linear([ints[k:k + 4] for k in range(0, len(ints), 4)])
    check(g, pset, layout)
    return g


def to_json(genome: Linear) -> dict:
    return {"repr": JSON_TAG, "program": [list(ins) for ins in genome.instructions]}


def from_json(data: Any, pset: PrimitiveSet, layout: Layout) -> Linear:
    """Read :func:`to_json` output, a bare instruction list or a flat integer array;
    structurally validated (see :func:`check`)."""
    if isinstance(data, dict):
        if data.get("repr", JSON_TAG) != JSON_TAG:
            raise PrimitiveError(
                f"not a sequential genome: repr is {data.get('repr')!r}, expected {JSON_TAG!r}")
        if "program" not in data:
            raise PrimitiveError("a sequential genome needs a 'program' entry")
        unknown = sorted(set(data) - {"repr", "program"})
        if unknown:
            raise PrimitiveError(f"unknown key(s) in a sequential genome: {unknown}")
        data = data["program"]
    if not isinstance(data, list):
        raise PrimitiveError(f"a sequential program is a list of [write, op, read1, read2], "
                             f"got {type(data).__name__}")
    if data and not isinstance(data[0], (list, tuple)):
        return from_flat(data, pset, layout)
    g = Linear(data)
    check(g, pset, layout)
    return g


# -- text -----------------------------------------------------------------------------------
def instruction_text(ins: Sequence[int], pset: PrimitiveSet, layout: Layout) -> str:
    w, op_id, r1, r2 = ins
    op = pset[op_id]
    reads = (r1,) if op.arity == 1 else (r1, r2)
    return f"{layout.name(w)} = {op.name}({', '.join(layout.name(r) for r in reads)})"


def text(genome: Linear, pset: PrimitiveSet, layout: Layout,
         notes: Sequence[str] | None = None) -> str:
    """One instruction per line; ``notes[i]``, when given and non-empty, is appended to line i
    as a ``# comment``."""
    lines = [instruction_text(ins, pset, layout) for ins in genome.instructions]
    if notes is not None:
        width = max(map(len, lines))
        lines = [f"{line:<{width}}  # {note}" if note else line for line, note in zip(lines, notes)]
    return "\n".join(lines)


_LINE = re.compile(r"\s*([A-Za-z_][\w.]*)\s*=\s*([A-Za-z_]\w*)\s*\(([^()]*)\)\s*")


def parse(source: str, pset: PrimitiveSet, layout: Layout) -> Linear:
    """Read the text form (``#`` starts a comment; blank lines are skipped); validated."""
    instrs = []
    for lineno, raw in enumerate(source.splitlines(), 1):
        line = raw.split("#", 1)[0]
        if not line.strip():
            continue
        m = _LINE.fullmatch(line)
        if not m:
            raise PrimitiveError(f"line {lineno}: expected '<address> = <op>(<address>[, "
                                 f"<address>])', got {raw.strip()!r}")
        w_name, op_name, args = m.groups()
        if op_name not in pset:
            raise PrimitiveError(f"line {lineno}: unknown op {op_name!r}")
        op = pset[op_name]
        names = [a.strip() for a in args.split(",")] if args.strip() else []
        if len(names) != op.arity:
            raise PrimitiveError(f"line {lineno}: op {op_name!r} takes {op.arity} argument(s), "
                                 f"got {len(names)}")
        try:
            reads = [layout.address(n) for n in names]
            w = layout.address(w_name)
        except PrimitiveError as exc:
            raise PrimitiveError(f"line {lineno}: {exc}") from None
        ins = (w, op.paper_id, reads[0], reads[-1])
        check_instruction(ins, pset, layout, f"line {lineno}")
        instrs.append(ins)
    if not instrs:
        raise PrimitiveError("a program needs at least one instruction")
    return Linear(instrs)
