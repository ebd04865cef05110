"""Programs as formulas: sympy translation (:mod:`.translate`), simplification under a time
guard (:mod:`.guard`), the way back to a program (:mod:`.rebuild`), verification of the rewrite
on statistics (:mod:`.verify`) and printing (:mod:`.printing`).

The rebuilt program is re-scored on statistics and must give the same per-instance values as the
original; where it does not (sympy assumed real, finite values, where protected ops differ), the
original is kept and the result says so.  :class:`Simplified` carries both forms, the flag
``kept`` and the reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import sympy

from primitives import PrimitiveSet, full_primitive_set
from representations.ir import Program

from gpnas.nasm.simplify.guard import SimplifyTimeout, guarded
from gpnas.nasm.simplify.printing import latex, pretty
from gpnas.nasm.simplify.rebuild import NotMappable, from_sympy
from gpnas.nasm.simplify.translate import apply_to_scalar, Atomized, smaller, stat_symbol, to_sympy
from gpnas.nasm.simplify.verify import check_task, compare

DEFAULT_TIMEOUT = 5.0


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


def simplify_program(program: Program, pset: PrimitiveSet | None = None, *,
                     to_scalar: str = "mean", tasks=None, timeout: float | None = DEFAULT_TIMEOUT,
                     check_batch_size: int = 1, check_order: str = "rcb",
                     check_cross_batch: int = 0) -> Simplified:
    """Simplify a program's formula with sympy and keep the simpler program only if verified.

    ``tasks``: statistics to re-score on (a :class:`~gpnas.evaluation.task.Task` or a list); default
    :func:`check_task` with ``check_batch_size`` / ``check_order`` / ``check_cross_batch``
    (use the program's own; cross-sample statistics of 8 images when a program reads them and
    gives no batch).
    ``timeout``: seconds for sympy; past it the unsimplified formula and program are kept.
    """
    pset = pset or full_primitive_set()
    program = program.pruned()
    expr = to_sympy(program, pset, to_scalar)
    t0 = time.perf_counter()
    state = Atomized(pset, smaller)
    try:
        body = guarded(lambda: state.translate(program), timeout)
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
    shown = apply_to_scalar(state.display(body), program, to_scalar)

    def result(simplified, kept, reason, verified):
        return Simplified(program, to_scalar, expr, shown, simplified, kept, reason, verified,
                          False, secs)

    try:
        rebuilt = from_sympy(body, program.type, pset, state.by_symbol, program.statistics)
    except NotMappable as exc:
        return result(None, "original", f"cannot map the simplified formula back to ops: "
                      f"{exc}", False)
    if tasks is None:
        from gpnas.nasm.score import reads_cross_sample

        cross = (check_cross_batch or 8) if reads_cross_sample(program) else 0
        tasks = [check_task(check_batch_size, check_order, cross_batch=cross)]
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
