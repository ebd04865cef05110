"""Formulas for people: pretty text and LaTeX (op names as whole operator names)."""

from __future__ import annotations

import sympy
from sympy.core.function import AppliedUndef
from sympy.printing.latex import LatexPrinter


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
