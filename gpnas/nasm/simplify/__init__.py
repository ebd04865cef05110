"""Programs as formulas: sympy translation, simplification, and the way back to a program.

Forward: every node of a program becomes the sympy expression its op registers
(``Op.sympy``), statistics become real symbols named as the statistics (``weight_grad.noise``),
and ``to_scalar`` is the outer function of a tensor-typed root (a scalar root passes through
unchanged, as in the engine).

Simplification treats every *opaque* op (a reduction or tensor op without an element-wise form:
``frobenius``, ``normalize``, ``matmul``, ...) as an atom: its arguments are simplified first, then
the application is replaced by a real symbol (non-negative where the op is: ``frobenius``,
``l1_norm``, ``hamming``, ``numel``, ``softmax``) so that sympy can simplify the element-wise
algebra around it.  All of it runs under one time guard; past it the unsimplified form is kept.

Backward (:func:`from_sympy`): the simplified expression is mapped back to a program of the same
primitive set, type-directed (every sub-expression takes the type of its statistics, a constant
the type of its context).  Mapped constructs: ``+ - *``, integer and rational constants (built
from ``ones_like``/``zeros_like``), integer powers (``square``/``mul``/``invert``), ``exp``,
``log``, ``log|x|``, ``Abs``, ``sign``, ``Heaviside(x, 0)``, ``Max``/``Min``, the sigmoid forms,
every ``Piecewise`` the protected ops produce (``log``, ``abslog``, ``invert``, comparisons),
general ``Piecewise`` as indicator arithmetic, relations, ``And``/``Or``/``Not``/``ITE``
conditions, and the atoms.  Not mapped (the original is kept, with the construct named): float
constants, fractional or symbolic powers, ``pi``, infinities, ``Piecewise`` without a default
branch, and functions no op produces (``sqrt``, ``tanh``, ...).

The rebuilt program is re-scored on statistics (given tasks, or :func:`check_task`: two small
random ReLU-Conv-BN networks) and must give the same per-instance values as the original; where it
does not (sympy assumed real, finite values, where protected ops differ), the original is kept and
the result says so.  :class:`Simplified` carries both forms, the flag ``kept`` and the reason.
"""

from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter

from primitives import TO_SCALAR, PrimitiveSet, default_primitive_set
from representations.ir import Program, ProgramBuilder

DEFAULT_TIMEOUT = 5.0

#: assumptions of the atoms standing for opaque ops (all real; some non-negative)
_ATOM_ASSUMPTIONS = {
    "frobenius": {"nonnegative": True},
    "l1_norm": {"nonnegative": True},
    "hamming": {"nonnegative": True},
    "numel": {"positive": True},
    "softmax": {"nonnegative": True},
}


class SimplifyTimeout(BaseException):
    """Raised inside sympy when the time guard fires (a BaseException: sympy never catches it)."""


class NotMappable(Exception):
    """A sympy construct with no op (the message names it)."""


# -- forward ----------------------------------------------------------------------------------
def stat_symbol(name: str) -> sympy.Symbol:
    """The symbol of a statistic (real, named as the statistic, e.g. ``weight_grad.noise``)."""
    return sympy.Symbol(name, real=True)


def _is_opaque(op) -> bool:
    """An op whose sympy form is an undefined function of its arguments (no element-wise form)."""
    args = sympy.symbols(f"_a0:{op.arity}")
    e = op.sympy(*args)
    return isinstance(e, AppliedUndef) and tuple(e.args) == tuple(args)


def _op_expr(pset: PrimitiveSet, name: str, args) -> sympy.Expr:
    """The op's sympy form; an undefined function ``name(args)`` where sympy cannot build it
    (its automatic evaluation fails on some arguments, e.g. comparisons of ``zoo``)."""
    try:
        return pset[name].sympy(*args)
    except Exception:
        return sympy.Function(name)(*args)


def _apply_to_scalar(body: sympy.Expr, program: Program, to_scalar: str | None) -> sympy.Expr:
    if to_scalar is None or program.type == "scalar":
        return body
    if to_scalar not in TO_SCALAR:
        raise ValueError(f"to_scalar must be one of {sorted(TO_SCALAR)}")
    return TO_SCALAR[to_scalar][1](body)


def to_sympy(program: Program, pset: PrimitiveSet | None = None,
             to_scalar: str | None = "mean") -> sympy.Expr:
    """The program as one sympy expression (unsimplified), ``to_scalar`` outermost."""
    pset = pset or default_primitive_set()
    program = program.pruned()
    vals: list[sympy.Expr] = []
    for n in program.nodes:
        vals.append(stat_symbol(n.name) if n.op is None
                    else _op_expr(pset, n.op, [vals[a] for a in n.args]))
    return _apply_to_scalar(vals[program.output], program, to_scalar)


@dataclass
class _Atom:
    op: str
    args: tuple[sympy.Expr, ...]  # simplified arguments, in statistics and other atoms
    arg_types: tuple[str, ...]
    type: str
    symbol: sympy.Symbol


class _Atomized:
    """A program as an expression in statistics and atoms (opaque applications)."""

    def __init__(self, pset: PrimitiveSet, simplify_fn):
        self.pset = pset
        self.simplify_fn = simplify_fn
        self.atoms: dict[tuple, _Atom] = {}
        self.by_symbol: dict[sympy.Symbol, _Atom] = {}
        self._opaque: dict[str, bool] = {}

    def opaque(self, name: str) -> bool:
        if name not in self._opaque:
            self._opaque[name] = _is_opaque(self.pset[name])
        return self._opaque[name]

    def atom(self, op: str, args, arg_types, out_type) -> sympy.Symbol:
        key = (op, tuple(args), tuple(arg_types))
        a = self.atoms.get(key)
        if a is None:
            sym = sympy.Dummy(f"{op}{len(self.atoms)}", real=True,
                              **_ATOM_ASSUMPTIONS.get(op, {}))
            a = _Atom(op, tuple(args), tuple(arg_types), out_type, sym)
            self.atoms[key] = a
            self.by_symbol[sym] = a
        return a.symbol

    def translate(self, program: Program) -> sympy.Expr:
        vals: list[sympy.Expr] = []
        for n in program.nodes:
            if n.op is None:
                vals.append(stat_symbol(n.name))
                continue
            args = [vals[a] for a in n.args]
            if not self.opaque(n.op):
                try:
                    vals.append(self.pset[n.op].sympy(*args))
                    continue
                except Exception:  # sympy cannot build it here: an atom like opaque ops
                    pass
            args = [self.simplify_fn(a) for a in args]
            types = [program.nodes[a].type for a in n.args]
            vals.append(self.atom(n.op, args, types, n.type))
        return self.simplify_fn(vals[program.output])

    def display(self, expr: sympy.Expr) -> sympy.Expr:
        """Atoms replaced by the op's own sympy form (e.g. ``frobenius(weight)``)."""
        memo: dict[sympy.Symbol, sympy.Expr] = {}

        def show(sym):
            if sym not in memo:
                a = self.by_symbol[sym]
                memo[sym] = _op_expr(self.pset, a.op, [self.display(x) for x in a.args])
            return memo[sym]

        subs = {s: show(s) for s in expr.free_symbols if s in self.by_symbol}
        return expr.xreplace(subs) if subs else expr


# -- time guard -------------------------------------------------------------------------------
@contextmanager
def _deadline(seconds: float | None):
    """Raise :class:`SimplifyTimeout` in the body after ``seconds`` (main thread, SIGALRM)."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def fire(signum, frame):
        raise SimplifyTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 1e-3))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _guarded(fn, seconds: float | None):
    """``fn()`` under the time guard; in a worker thread when not on the main thread."""
    if seconds is None or (hasattr(signal, "setitimer")
                           and threading.current_thread() is threading.main_thread()):
        with _deadline(seconds):
            return fn()
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise SimplifyTimeout()
    if "error" in box:
        raise box["error"]
    return box["value"]


def _smaller(expr: sympy.Expr) -> sympy.Expr:
    """sympy.simplify, but never a form with more operations than the input."""
    s = sympy.simplify(expr)
    return s if sympy.count_ops(s) <= sympy.count_ops(expr) else expr


# -- backward: sympy -> program ---------------------------------------------------------------
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

    def __init__(self, pset: PrimitiveSet, atoms: dict[sympy.Symbol, _Atom],
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

    ``atoms`` maps atom symbols to :class:`_Atom` (from a simplification); ``prefer`` names
    statistics to build constants from.  Raises :class:`NotMappable` naming the construct.
    """
    pset = pset or default_primitive_set()
    r = _Rebuild(pset, atoms or {}, prefer)
    out = r.build(expr, out_type)
    return r.b.build(out)


# -- checking -----------------------------------------------------------------------------------
def check_task(batch_size: int = 1, order: str = "rcb", seed: int = 0):
    """Statistics of two small random ReLU-Conv-BN networks (4 instances each, incl. a 1x1 and
    a separable conv): real activations, gradients, exact zeros of ReLUs."""
    import torch
    from torch import nn

    from gpnas.data.stats.collect import collect, group_instances
    from gpnas.evaluation.task import Task

    def net():
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False),
            nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 10))

    per_net = []
    with torch.random.fork_rng(devices=[]):
        for k in range(2):
            torch.manual_seed(seed + k)
            model = net()
            gen = torch.Generator().manual_seed(seed + k)
            images = torch.randn(batch_size, 3, 12, 12, generator=gen)
            per_net.append(collect(model, images, seed=seed + k, order=order))
    return Task("check", group_instances(per_net), np.zeros(len(per_net)))


def _values(program: Program, task, pset, to_scalar: str) -> np.ndarray:
    from gpnas.evaluation.engine import Engine, EngineConfig

    engine = Engine(pset, EngineConfig(to_scalar=to_scalar, cost_budget=float("inf"),
                                       cache_bytes=0))
    return engine.instance_values(program, task).double().numpy()


def compare(original: Program, other: Program, tasks, pset: PrimitiveSet,
            to_scalar: str = "mean", rtol: float = 1e-4) -> str | None:
    """None when both programs give the same per-instance values on every task, else why not.

    Values agree when NaN sits at the same places and the rest is close: relative ``rtol``,
    absolute ``rtol`` times the largest magnitude (float32 rewrites of sums round differently).
    """
    for task in tasks:
        try:
            a = _values(original, task, pset, to_scalar)
        except Exception as exc:
            return f"the original cannot be evaluated on the check statistics ({exc})"
        try:
            b = _values(other, task, pset, to_scalar)
        except Exception as exc:
            return f"the simplified program fails on the check statistics ({exc})"
        fa, fb = np.isfinite(a), np.isfinite(b)
        if not (fa == fb).all() or not (np.isnan(a) == np.isnan(b)).all():
            return ("the simplified program is NaN/inf where the original is not (or the "
                    "reverse) on the check statistics")
        scale = float(np.abs(a[fa]).max()) if fa.any() else 0.0
        if not np.allclose(a[fa], b[fb], rtol=rtol, atol=rtol * max(scale, 1e-30)):
            diff = float(np.abs(a[fa] - b[fb]).max())
            return (f"the simplified program gives other values on the check statistics (max "
                    f"abs difference {diff:.3g}, values up to {scale:.3g}): sympy's rewrite "
                    "changed the semantics of protected operations")
    return None


# -- the whole pass -------------------------------------------------------------------------------
@dataclass
class Simplified:
    """A program and its formula, before and after simplification.

    ``kept`` is ``"simplified"`` when the rebuilt program gave the original's values on the
    check statistics and has fewer nodes, else ``"original"``; ``reason`` says why.
    ``verified``: the simplified formula was mapped back and re-scored equal (then
    :attr:`formula` shows it even when the program kept is the original).
    """

    original: Program
    to_scalar: str
    expr: sympy.Expr  # unsimplified, to_scalar applied
    simplified_expr: sympy.Expr  # after sympy (the unsimplified one when it timed out)
    simplified_program: Program | None
    kept: str
    reason: str
    verified: bool
    timed_out: bool = False
    seconds: float = 0.0

    @property
    def program(self) -> Program:
        """The program kept (simplified or original)."""
        return self.simplified_program if self.kept == "simplified" else self.original

    @property
    def formula(self) -> sympy.Expr:
        """The formula to show: the simplified one when verified and not longer, else the
        original."""
        if self.verified and sympy.count_ops(self.simplified_expr) <= sympy.count_ops(self.expr):
            return self.simplified_expr
        return self.expr

    @property
    def ops_before(self) -> int:
        return int(sympy.count_ops(self.expr))

    @property
    def ops_after(self) -> int:
        return int(sympy.count_ops(self.formula))

    @property
    def nodes_before(self) -> int:
        return self.original.pruned().size

    @property
    def nodes_after(self) -> int:
        return self.program.size

    def pretty(self, expr: sympy.Expr | None = None) -> str:
        return pretty(self.formula if expr is None else expr)

    def latex(self, expr: sympy.Expr | None = None) -> str:
        return latex(self.formula if expr is None else expr)

    def summary(self) -> dict:
        return {"kept": self.kept, "reason": self.reason, "verified": self.verified,
                "timed_out": self.timed_out, "seconds": round(self.seconds, 3),
                "ops_before": self.ops_before, "ops_after": self.ops_after,
                "nodes_before": self.nodes_before, "nodes_after": self.nodes_after,
                "formula": str(self.formula), "original_formula": str(self.expr),
                "sympy_formula": str(self.simplified_expr),
                "simplified_program": None if self.simplified_program is None
                else self.simplified_program.text()}


def pretty(expr: sympy.Expr) -> str:
    return sympy.pretty(expr, use_unicode=True, wrap_line=True, num_columns=100)


def _latex_name(name: str) -> str:
    base, _, inp = name.partition(".")
    base = base.replace("_", r"\_")
    return rf"\mathrm{{{base}}}^{{\mathrm{{{inp}}}}}" if inp else rf"\mathrm{{{base}}}"


class _LatexPrinter(LatexPrinter):
    """Op names as whole operator names (``sym_eig_ratio``, not ``sym`` with a subscript)."""

    def _print_Function(self, expr, exp=None):
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        name = r"\operatorname{%s}" % expr.func.__name__.replace("_", r"\_")
        if exp is not None:
            name = f"{name}^{{{exp}}}"
        args = ", ".join(self._print(a) for a in expr.args)
        return rf"{name}{{\left({args} \right)}}"


def latex(expr: sympy.Expr) -> str:
    names = {s: _latex_name(s.name) for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    return _LatexPrinter({"symbol_names": names}).doprint(expr)


def simplify_program(program: Program, pset: PrimitiveSet | None = None, *,
                     to_scalar: str = "mean", tasks=None, timeout: float | None = DEFAULT_TIMEOUT,
                     check_batch_size: int = 1, check_order: str = "rcb") -> Simplified:
    """Simplify a program's formula with sympy and keep the simpler program only if verified.

    ``tasks``: statistics to re-score on (a :class:`~gpnas.evaluation.task.Task` or a list); default
    :func:`check_task` with ``check_batch_size`` / ``check_order`` (use the program's own).
    ``timeout``: seconds for sympy; past it the unsimplified formula and program are kept.
    """
    pset = pset or default_primitive_set()
    program = program.pruned()
    expr = to_sympy(program, pset, to_scalar)
    t0 = time.perf_counter()
    state = _Atomized(pset, _smaller)
    try:
        body = _guarded(lambda: state.translate(program), timeout)
    except SimplifyTimeout:
        secs = time.perf_counter() - t0
        return Simplified(program, to_scalar, expr, expr, None, "original",
                          f"sympy did not finish within {timeout:g} s; the formula is shown "
                          "unsimplified", False, True, secs)
    except Exception as exc:  # sympy can fail on odd inputs: keep the original
        secs = time.perf_counter() - t0
        return Simplified(program, to_scalar, expr, expr, None, "original",
                          f"sympy failed ({type(exc).__name__}: {exc})", False, False, secs)
    secs = time.perf_counter() - t0
    shown = _apply_to_scalar(state.display(body), program, to_scalar)

    def result(simplified, kept, reason, verified):
        return Simplified(program, to_scalar, expr, shown, simplified, kept, reason, verified,
                          False, secs)

    try:
        rebuilt = from_sympy(body, program.type, pset, state.by_symbol, program.statistics)
    except NotMappable as exc:
        return result(None, "original", f"cannot map the simplified formula back to ops: "
                      f"{exc}", False)
    if tasks is None:
        tasks = [check_task(check_batch_size, check_order)]
    elif not isinstance(tasks, (list, tuple)):
        tasks = [tasks]
    why = compare(program, rebuilt, tasks, pset, to_scalar)
    if why is not None:
        return result(rebuilt, "original", why, False)
    if rebuilt.key == program.key:
        return result(rebuilt, "original", "already in simplest form (same program)", True)
    if rebuilt.size >= program.size:
        return result(rebuilt, "original",
                      f"the simplified program is not smaller ({rebuilt.size} nodes, the "
                      f"original {program.size}); it re-scores equal", True)
    return result(rebuilt, "simplified",
                  f"re-scored equal on the check statistics and smaller ({program.size} -> "
                  f"{rebuilt.size} nodes)", True)


__all__ = ["DEFAULT_TIMEOUT", "NotMappable", "Simplified", "SimplifyTimeout", "check_task",
           "compare", "from_sympy", "latex", "pretty", "simplify_program", "stat_symbol",
           "to_sympy"]
