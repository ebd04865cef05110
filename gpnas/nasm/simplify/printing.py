"""Formulas for people: pretty text and LaTeX (op names as whole operator names; an op or a
terminal with a LaTeX form of its own -- the layer aggregations, ``\\sum_{l}``, ``\\max_{l}``, ...
-- printed in it)."""

from __future__ import annotations

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter

from primitives import EXTENSIONS, full_primitive_set


def pretty(expr: sympy.Expr) -> str:
    # sympy would print the part after an underscore as a subscript (layer_depth -> layer
    # with "depth" below it): keep names whole with a look-alike of the underscore
    whole = {s: sympy.Symbol(s.name.replace("_", "\u02cd"), **s.assumptions0)
             for s in expr.free_symbols if isinstance(s, sympy.Symbol) and "_" in s.name}
    return sympy.pretty(expr.xreplace(whole), use_unicode=True, wrap_line=True, num_columns=100)


def _latex_name(name: str) -> str:
    for ext in EXTENSIONS.values():
        if name in ext.latex:
            return ext.latex[name]
    base, _, inp = name.partition(".")
    base = base.replace("_", r"\_")
    return rf"\mathrm{{{base}}}^{{\mathrm{{{inp}}}}}" if inp else rf"\mathrm{{{base}}}"


class _LatexPrinter(LatexPrinter):
    """Op names as whole operator names (``sym_eig_ratio``, not ``sym`` with a subscript)."""

    def _print_Function(self, expr, exp=None):
        if not isinstance(expr, AppliedUndef):
            return super()._print_Function(expr, exp)
        pset = full_primitive_set()
        own = pset[expr.func.__name__].latex if expr.func.__name__ in pset else None
        if own is not None:
            body = own.format(*(r"\left(%s\right)" % self._print(a) for a in expr.args))
            return rf"\left({body}\right)^{{{exp}}}" if exp is not None else body
        name = r"\operatorname{%s}" % expr.func.__name__.replace("_", r"\_")
        if exp is not None:
            name = f"{name}^{{{exp}}}"
        args = ", ".join(self._print(a) for a in expr.args)
        return rf"{name}{{\left({args} \right)}}"


def latex(expr: sympy.Expr) -> str:
    names = {s: _latex_name(s.name) for s in expr.free_symbols if isinstance(s, sympy.Symbol)}
    return _LatexPrinter({"symbol_names": names}).doprint(expr)
