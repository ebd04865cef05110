"""Programs as sympy expressions.

Every node of a program becomes the sympy expression its op registers (``Op.sympy``),
statistics become real symbols named as the statistics (``weight_grad.noise``), and ``to_scalar``
is the outer function of a tensor-typed root (a scalar root passes through unchanged, as in the
engine).  For simplification, every *opaque* op (a reduction or tensor op without an element-wise
form: ``frobenius``, ``normalize``, ``matmul``, ...) becomes an atom: its arguments are
simplified first, then the application is replaced by a real symbol with the assumptions its
row declares (``Op.atom_assumptions``), so that sympy can simplify the algebra around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy
from sympy.core.function import AppliedUndef

from primitives import EXTENSIONS, TO_SCALAR, PrimitiveSet, full_primitive_set
from representations.ir import Program


def stat_symbol(name: str) -> sympy.Symbol:
    """The symbol of a terminal: real, named as the terminal (e.g. ``weight_grad.noise``), with
    the assumptions its DSL extension declares (``net_params`` is positive)."""
    assume = {a: True for ext in EXTENSIONS.values() for a in ext.assumptions.get(name, ())}
    return sympy.Symbol(name, real=True, **assume)


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


def apply_to_scalar(body: sympy.Expr, program: Program, to_scalar: str | None) -> sympy.Expr:
    if to_scalar is None or program.type in ("scalar", "net"):
        return body
    if to_scalar not in TO_SCALAR:
        raise ValueError(f"to_scalar must be one of {sorted(TO_SCALAR)}")
    return TO_SCALAR[to_scalar][1](body)


def to_sympy(program: Program, pset: PrimitiveSet | None = None,
             to_scalar: str | None = "mean") -> sympy.Expr:
    """The program as one sympy expression (unsimplified), ``to_scalar`` outermost."""
    pset = pset or full_primitive_set()
    program = program.pruned()
    vals: list[sympy.Expr] = []
    for n in program.nodes:
        vals.append(stat_symbol(n.name) if n.op is None
                    else _op_expr(pset, n.op, [vals[a] for a in n.args]))
    return apply_to_scalar(vals[program.output], program, to_scalar)


@dataclass
class Atom:
    op: str
    args: tuple[sympy.Expr, ...]  # simplified arguments, in statistics and other atoms
    arg_types: tuple[str, ...]
    type: str
    symbol: sympy.Symbol


class Atomized:
    """A program as an expression in statistics and atoms (opaque applications)."""

    def __init__(self, pset: PrimitiveSet, simplify_fn):
        self.pset = pset
        self.simplify_fn = simplify_fn
        self.atoms: dict[tuple, Atom] = {}
        self.by_symbol: dict[sympy.Symbol, Atom] = {}
        self._opaque: dict[str, bool] = {}

    def opaque(self, name: str) -> bool:
        if name not in self._opaque:
            self._opaque[name] = _is_opaque(self.pset[name])
        return self._opaque[name]

    def atom(self, op: str, args, arg_types, out_type) -> sympy.Symbol:
        key = (op, tuple(args), tuple(arg_types))
        a = self.atoms.get(key)
        if a is None:
            assume = dict.fromkeys(self.pset[op].atom_assumptions, True)
            sym = sympy.Dummy(f"{op}{len(self.atoms)}", real=True, **assume)
            a = Atom(op, tuple(args), tuple(arg_types), out_type, sym)
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


def smaller(expr: sympy.Expr) -> sympy.Expr:
    """sympy.simplify, but never a form with more operations than the input."""
    s = sympy.simplify(expr)
    return s if sympy.count_ops(s) <= sympy.count_ops(expr) else expr
