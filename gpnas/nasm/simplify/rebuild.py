"""From a simplified sympy expression back to a program of the same primitive set.

The translation is type-directed (every sub-expression takes the type of its statistics, a
constant the type of its context).  Mapped constructs: ``+ - *``, integer and rational constants
(built from ``ones_like``/``zeros_like``), integer powers (``square``/``mul``/``invert``), ``exp``,
``log``, ``log|x|``, ``Abs``, ``sign``, ``Heaviside(x, 0)``, ``Max``/``Min``, the sigmoid forms,
every ``Piecewise`` the protected ops produce (``log``, ``abslog``, ``invert``, comparisons),
general ``Piecewise`` as indicator arithmetic, relations, ``And``/``Or``/``Not``/``ITE``
conditions, and the atoms.  Not mapped (the original is kept, with the construct named): float
constants, fractional or symbolic powers, ``pi``, infinities, ``Piecewise`` without a default
branch, and functions no op produces (``sqrt``, ``tanh``, ...).
"""

from __future__ import annotations

from typing import Sequence

import sympy

from primitives import PrimitiveSet, full_primitive_set
from representations.ir import Program, ProgramBuilder

from gpnas.nasm.simplify.translate import Atom


class NotMappable(Exception):
    """A sympy construct with no op (the message names it)."""


def _norm_rel(c) -> tuple[sympy.Expr, str] | None:
    """A relation as (d, op) meaning ``d op 0``; None for other conditions."""
    if isinstance(c, sympy.StrictGreaterThan):
        return c.lhs - c.rhs, ">"
    if isinstance(c, sympy.StrictLessThan):
        return c.rhs - c.lhs, ">"
    if isinstance(c, sympy.GreaterThan):
        return c.lhs - c.rhs, ">="
    if isinstance(c, sympy.LessThan):
        return c.rhs - c.lhs, ">="
    if isinstance(c, sympy.Equality):
        return c.lhs - c.rhs, "=="
    if isinstance(c, sympy.Unequality):
        return c.lhs - c.rhs, "!="
    return None


def _is_positive_cond(c, x) -> bool:
    """``c`` says ``x > 0``."""
    n = _norm_rel(c)
    return n is not None and n[1] == ">" and sympy.expand(n[0] - x) == 0


def _is_nonzero_cond(c, x) -> bool:
    """``c`` says ``x != 0`` (also written ``(x > 0) | (x < 0)``)."""
    n = _norm_rel(c)
    if n is not None:
        return n[1] == "!=" and (sympy.expand(n[0] - x) == 0 or sympy.expand(n[0] + x) == 0)
    if isinstance(c, sympy.Or) and len(c.args) == 2:
        a, b = (_norm_rel(t) for t in c.args)
        if a and b and a[1] == b[1] == ">":
            return ({sympy.expand(a[0] - x), sympy.expand(b[0] + x)} == {0}
                    or {sympy.expand(a[0] + x), sympy.expand(b[0] - x)} == {0})
    return False


def _zero_when_not(factor, cond) -> bool:
    """The protected op this factor maps to is 0 wherever ``cond`` is false."""
    if isinstance(factor, sympy.Pow) and factor.exp.is_Integer and factor.exp < 0:
        return _is_nonzero_cond(cond, factor.base)
    if isinstance(factor, sympy.log):
        arg = factor.args[0]
        if isinstance(arg, sympy.Abs):
            return _is_nonzero_cond(cond, arg.args[0])
        return _is_positive_cond(cond, arg)
    return False


def _vanishes_off(expr, cond) -> bool:
    """``expr``, built with protected ops, is 0 wherever ``cond`` is false."""
    terms = expr.args if isinstance(expr, sympy.Add) else (expr,)
    for t in terms:
        factors = t.args if isinstance(t, sympy.Mul) else (t,)
        if not any(_zero_when_not(f, cond) for f in factors):
            return False
    return True


class _Rebuild:
    """Type-directed translation of an atomized sympy expression into a program."""

    def __init__(self, pset: PrimitiveSet, atoms: dict[sympy.Symbol, Atom],
                 prefer: Sequence[str] = ()):
        self.pset = pset
        self.atoms = atoms
        self.b = ProgramBuilder(pset)
        self.memo: dict[tuple, int] = {}
        self.prefer = list(prefer)
        self._anchor: dict[str, int] = {}

    # -- helpers --------------------------------------------------------------------------
    def need(self, op: str) -> None:
        if op not in self.pset:
            raise NotMappable(f"the primitive set has no {op!r} op")

    def apply(self, op: str, *args: int) -> int:
        self.need(op)
        return self.b.apply(op, list(args))

    def type_of(self, e) -> str | None:
        types = set()
        for s in e.free_symbols:
            if s in self.atoms:
                types.add(self.atoms[s].type)
            elif s.name in self.pset.terminals:
                types.add(self.pset.terminals[s.name])
            else:
                raise NotMappable(f"unknown symbol {s}")
        if len(types) > 1:
            raise NotMappable(f"{e} mixes values of types {sorted(types)}")
        return types.pop() if types else None

    def anchor(self, t: str) -> int:
        """Some node of type ``t`` (constants are built from it with ones_like / zeros_like)."""
        if t not in self._anchor:
            if t == "scalar":
                tensor = next((self.pset.terminals[n] for n in self.prefer
                               if self.pset.terminals.get(n) in ("act", "bn", "weight")), None)
                tensor = tensor or next(tt for tt in self.pset.terminals.values()
                                        if tt != "scalar")
                self._anchor[t] = self.apply("numel", self.anchor(tensor))
            else:
                names = [n for n in self.prefer if self.pset.terminals.get(n) == t]
                names = names or self.pset.terminals_of(t)
                if not names:
                    raise NotMappable(f"no statistic of type {t} to build a constant from")
                self._anchor[t] = self.b.terminal(names[0])
        return self._anchor[t]

    def zero(self, t: str) -> int:
        return self.apply("zeros_like", self.anchor(t))

    def one(self, t: str) -> int:
        return self.apply("ones_like", self.anchor(t))

    def integer(self, n: int, t: str) -> int:
        if abs(n) > 2**24:  # not exact in float32 anyway
            raise NotMappable(f"the constant {n} (too large to build exactly)")
        if n < 0:
            return self.apply("sub", self.zero(t), self.integer(-n, t))
        if n == 0:
            return self.zero(t)
        if n == 1:
            return self.one(t)
        half = self.integer(n // 2, t)
        twice = self.apply("add", half, half)
        return twice if n % 2 == 0 else self.apply("add", twice, self.one(t))

    def const(self, c, t: str) -> int:
        if c.is_Integer:
            return self.integer(int(c), t)
        if c.is_Rational:
            p, q = int(c.p), int(c.q)
            inv = self.apply("invert", self.integer(q, t))
            return inv if p == 1 else self.apply("mul", self.integer(p, t), inv)
        if c.is_Float and float(c).is_integer() and abs(float(c)) < 2**31:
            return self.integer(int(float(c)), t)
        if c is sympy.E:
            return self.apply("exp", self.one(t))
        raise NotMappable(f"the constant {c} (no op builds it exactly)")

    def scale(self, c, node: int, t: str) -> int:
        if c == 1:
            return node
        if c == -1:
            return self.apply("sub", self.zero(t), node)
        if c == 2:
            return self.apply("add", node, node)
        return self.apply("mul", self.const(c, t), node)

    def product(self, nodes: list[int]) -> int:
        acc = nodes[0]
        for n in nodes[1:]:
            acc = self.apply("mul", acc, n)
        return acc

    def power(self, base, n: int, t: str) -> int:
        if n == 1:
            return self.build(base, t)
        if n % 2 == 0:
            return self.apply("square", self.power(base, n // 2, t))
        return self.apply("mul", self.power(base, n - 1, t), self.build(base, t))

    # -- the translation --------------------------------------------------------------------
    def build(self, e, t: str) -> int:
        key = (e, t)
        if key not in self.memo:
            self.memo[key] = self._build(e, t)
        return self.memo[key]

    def _build(self, e, t: str) -> int:
        own = self.type_of(e)
        if own is not None and own != t:
            raise NotMappable(f"{e} has type {own} where {t} is needed")
        if isinstance(e, sympy.Symbol):
            if e in self.atoms:
                a = self.atoms[e]
                return self.apply(a.op, *[self.build(x, tt) for x, tt in zip(a.args, a.arg_types)])
            return self.b.terminal(e.name)
        if e.is_Number or e is sympy.E:
            if e in (sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
                raise NotMappable(f"the value {e}")
            return self.const(e, t)
        if isinstance(e, sympy.Add):
            return self.add(e, t)
        if isinstance(e, sympy.Mul):
            return self.mul(e, t)
        if isinstance(e, sympy.Pow):
            return self.pow(e, t)
        if isinstance(e, sympy.exp):
            return self.apply("exp", self.build(e.args[0], t))
        if isinstance(e, sympy.log):
            arg = e.args[0]
            if isinstance(arg, sympy.Abs):
                return self.apply("abslog", self.build(arg.args[0], t))
            return self.apply("log", self.build(arg, t))
        if isinstance(e, sympy.Abs):
            return self.apply("abs", self.build(e.args[0], t))
        if isinstance(e, sympy.sign):
            return self.apply("sign", self.build(e.args[0], t))
        if isinstance(e, sympy.Heaviside):
            h0 = e.args[1] if len(e.args) > 1 else None
            x = self.build(e.args[0], t)
            if h0 == 0:
                return self.apply("heaviside", x)
            if h0 == 1:
                return self.apply("sub", self.one(t), self.apply("lt0", x))
            raise NotMappable(f"Heaviside with value {h0} at 0")
        if isinstance(e, (sympy.Max, sympy.Min)):
            return self.maxmin(e, t)
        if isinstance(e, sympy.Piecewise):
            return self.piecewise(e, t)
        raise NotMappable(f"{type(e).__name__} (in {e})")

    def add(self, e, t: str) -> int:
        pos, neg = [], []
        for term in e.args:
            c, rest = term.as_coeff_Mul()
            (neg if c.is_negative else pos).append(-c * rest if c.is_negative else term)
        pos_n = [self.build(x, t) for x in pos]
        neg_n = [self.build(x, t) for x in neg]
        acc = pos_n[0] if pos_n else None
        for n in pos_n[1:]:
            acc = self.apply("add", acc, n)
        if not neg_n:
            return acc
        sub = neg_n[0]
        for n in neg_n[1:]:
            sub = self.apply("add", sub, n)
        return self.apply("sub", acc if acc is not None else self.zero(t), sub)

    def mul(self, e, t: str) -> int:
        c, factors = e.as_coeff_mul()
        factors = list(factors)
        nodes, dens = [], []
        # exp(x) / (exp(x) + 1) = sigmoid(x)
        for f in list(factors):
            if isinstance(f, sympy.exp) and f in factors:
                den = sympy.Pow(f + 1, -1)
                if den in factors:
                    factors.remove(f)
                    factors.remove(den)
                    nodes.append(self.apply("sigmoid", self.build(f.args[0], t)))
        for f in factors:
            if isinstance(f, sympy.Pow) and f.exp.is_Integer and f.exp < 0:
                dens.append(sympy.Pow(f.base, -f.exp) if f.exp != -1 else f.base)
            else:
                nodes.append(self.build(f, t))
        if dens:
            den = self.product([self.build(d, t) for d in dens])
            nodes.append(self.apply("invert", den))
        return self.scale(c, self.product(nodes), t)

    def pow(self, e, t: str) -> int:
        base, ex = e.base, e.exp
        if not ex.is_Integer:
            raise NotMappable(f"the power {e} (only integer powers map to ops)")
        n = int(ex)
        if n == 0:
            return self.one(t)
        if n > 0:
            return self.power(base, n, t)
        if (n == -1 and isinstance(base, sympy.Add) and len(base.args) == 2
                and sympy.S.One in base.args):
            other = base.args[0] if base.args[1] == 1 else base.args[1]
            if isinstance(other, sympy.exp):  # 1 / (1 + exp(y)) = sigmoid(-y)
                return self.apply("sigmoid", self.build(-other.args[0], t))
        return self.apply("invert", self.power(base, -n, t))

    def maxmin(self, e, t: str) -> int:
        args = list(e.args)
        is_max = isinstance(e, sympy.Max)
        if len(args) == 2 and sympy.S.Zero in args:
            x = self.build(args[0] if args[1] == 0 else args[1], t)
            if is_max:
                return self.apply("relu", x)
            return self.apply("sub", x, self.apply("relu", x))  # min(x, 0)
        acc = self.build(args[0], t)
        for a in args[1:]:
            b = self.build(a, t)
            d = self.apply("relu", self.apply("sub", acc, b))
            acc = self.apply("add", d, b) if is_max else self.apply("sub", acc, d)
        return acc

    # -- conditions ----------------------------------------------------------------------------
    def indicator(self, c, t: str) -> int:
        """1 where condition ``c`` holds, else 0, as a value of type ``t``."""
        if c is sympy.true:
            return self.one(t)
        if c is sympy.false:
            return self.zero(t)
        if isinstance(c, sympy.ITE):  # c ? a : b
            k = self.indicator(c.args[0], t)
            yes = self.apply("mul", k, self.indicator(c.args[1], t))
            no = self.apply("mul", self.apply("sub", self.one(t), k), self.indicator(c.args[2], t))
            return self.apply("add", yes, no)
        if isinstance(c, sympy.Not):
            return self.apply("sub", self.one(t), self.indicator(c.args[0], t))
        if isinstance(c, sympy.And):
            return self.product([self.indicator(a, t) for a in c.args])
        if isinstance(c, sympy.Or):
            first = _norm_rel(c.args[0])
            if first is not None and _is_nonzero_cond(c, first[0]):  # (x > 0) | (x < 0)
                return self.apply("gt0", self.apply("abs", self.build(first[0], t)))
            misses = self.product([self.apply("sub", self.one(t), self.indicator(a, t))
                                   for a in c.args])
            return self.apply("sub", self.one(t), misses)
        if isinstance(c, sympy.core.relational.Relational):
            lhs, rhs = c.lhs, c.rhs
            if self.type_of(lhs - rhs) not in (None, t):
                raise NotMappable(f"the condition {c} compares values of another type")
            flip = {sympy.StrictLessThan: sympy.StrictGreaterThan,
                    sympy.LessThan: sympy.GreaterThan}
            if type(c) in flip:  # l < r  ==  r > l
                c = flip[type(c)](rhs, lhs, evaluate=False)
                lhs, rhs = rhs, lhs
            if isinstance(c, sympy.StrictGreaterThan):
                if rhs == 0:
                    return self.apply("gt0", self.build(lhs, t))
                if lhs == 0:
                    return self.apply("lt0", self.build(rhs, t))
                return self.apply("gt", self.build(lhs, t), self.build(rhs, t))
            if isinstance(c, sympy.GreaterThan):  # l >= r  ==  not (l < r)
                if rhs == 0:
                    lt = self.apply("lt0", self.build(lhs, t))
                elif lhs == 0:
                    lt = self.apply("gt0", self.build(rhs, t))
                else:
                    lt = self.apply("lt", self.build(lhs, t), self.build(rhs, t))
                return self.apply("sub", self.one(t), lt)
            if isinstance(c, (sympy.Equality, sympy.Unequality)):
                if rhs == 0 or lhs == 0:
                    x = self.build(lhs if rhs == 0 else rhs, t)
                    if isinstance(c, sympy.Unequality):
                        return self.apply("gt0", self.apply("abs", x))
                    eq = self.apply("eq", x, self.zero(t))
                else:
                    eq = self.apply("eq", self.build(lhs, t), self.build(rhs, t))
                return eq if isinstance(c, sympy.Equality) else self.apply(
                    "sub", self.one(t), eq)
        raise NotMappable(f"the condition {c}")

    def piecewise(self, e, t: str) -> int:
        pieces = list(e.args)
        if pieces[-1].cond is not sympy.true:
            raise NotMappable(f"Piecewise without a default branch ({e})")
        if len(pieces) == 2:
            (v, c), (d, _) = pieces
            if d == 0:
                if isinstance(v, sympy.log):
                    arg = v.args[0]
                    if isinstance(arg, sympy.Abs) and _is_nonzero_cond(c, arg.args[0]):
                        return self.apply("abslog", self.build(arg.args[0], t))
                    if _is_positive_cond(c, arg):
                        return self.apply("log", self.build(arg, t))
                if isinstance(v, sympy.Pow) and v.exp == -1 and _is_nonzero_cond(c, v.base):
                    return self.apply("invert", self.build(v.base, t))
                if v == 1:
                    return self.indicator(c, t)
                if _vanishes_off(v, c):  # e.g. 2/x where x != 0: invert already gives 0
                    return self.build(v, t)
                return self.apply("mul", self.build(v, t), self.indicator(c, t))
            if v == 0 and d == 1:
                return self.apply("sub", self.one(t), self.indicator(c, t))
        acc = self.build(pieces[-1].expr, t)
        for v, c in reversed(pieces[:-1]):
            ind = self.indicator(c, t)
            keep = self.apply("mul", self.build(v, t), ind)
            rest = self.apply("mul", acc, self.apply("sub", self.one(t), ind))
            acc = self.apply("add", keep, rest)
        return acc


def from_sympy(expr: sympy.Expr, out_type: str, pset: PrimitiveSet | None = None,
               atoms: dict | None = None, prefer: Sequence[str] = ()) -> Program:
    """A program computing ``expr`` (no ``to_scalar``) with output type ``out_type``.

    ``atoms`` maps atom symbols to :class:`Atom` (from a simplification); ``prefer`` names
    statistics to build constants from.  Raises :class:`NotMappable` naming the construct.
    """
    pset = pset or full_primitive_set()
    r = _Rebuild(pset, atoms or {}, prefer)
    out = r.build(expr, out_type)
    return r.b.build(out)
