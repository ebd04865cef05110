"""A NASM as a formula: the readable text report and LaTeX (simplified with sympy or not)."""

from __future__ import annotations

import textwrap

from gpnas.nasm.limits import program_text
from gpnas.nasm.programfile import ProgramFile


def formula(pf: ProgramFile, simplify: bool, pset, timeout, tasks):
    from gpnas.nasm.simplify import simplify_program, to_sympy

    if not simplify:
        return to_sympy(pf.program, pset, pf.to_scalar), None
    simp = simplify_program(pf.program, pset, to_scalar=pf.to_scalar, tasks=tasks,
                            timeout=timeout, check_batch_size=pf.batch_size,
                            check_order=pf.order, check_cross_batch=pf.cross_batch)
    return simp.formula, simp


def text_report(pf: ProgramFile, expr, simp, no_formula: str | None = None) -> str:
    """The readable report; ``no_formula``: why there is no formula (``expr`` is None)."""
    from gpnas.nasm.simplify import pretty

    program = pf.program.pruned()
    agg = "mean" if pf.aggregate == "mean" else "sum"
    form = "network-level (its own aggregation)" if pf.network_level else \
        f"to_scalar={pf.to_scalar}  aggregate={pf.aggregate}"
    lines = [f"gpnas program ({pf.describe()})",
             f"  program:    {program_text(program)}",
             f"  statistics: {', '.join(program.statistics)}",
             f"  settings:   {form}  order={pf.order}  batch_size={pf.batch_size}  "
             f"({program.size} nodes)"]
    for sp, t in (pf.source.get("test") or {}).items():
        if isinstance(t, dict):
            if t.get("kendall") is not None:
                lines.append(f"  test:       {sp}: tau {t['kendall']:.4f}, rho "
                             f"{t.get('spearman', float('nan')):.4f} (n={t.get('n')})")
            else:
                lines.append(f"  test:       {sp}: invalid ({t.get('invalid')})")
    if expr is None:
        return "\n".join(lines + ["", f"  formula:    none: {no_formula}"]) + "\n"
    head = "score =" if pf.network_level else f"score = {agg} over the network's instances of"
    lines += ["", head, "",
              textwrap.indent(pretty(expr), "    "), "",
              f"  one line:   {expr}"]
    if simp is None:
        lines.append("  (not simplified)")
    else:
        lines.append(f"  simplified: kept the {simp.kept} program: {simp.reason}")
        lines.append(f"  sizes:      formula {simp.ops_before} -> {simp.ops_after} operations; "
                     f"program {simp.nodes_before} -> {simp.nodes_after} nodes "
                     f"(sympy {simp.seconds:.2f} s)")
        if simp.formula != simp.expr:
            lines.append(f"  before:     {simp.expr}")
        if simp.kept == "simplified":
            lines.append(f"  simplified program: {simp.program.text()}")
        elif not simp.verified and simp.simplified_expr != simp.expr:
            lines.append(f"  sympy's form (NOT equivalent / not verified): {simp.simplified_expr}")
    return "\n".join(lines) + "\n"


def latex_report(pf: ProgramFile, expr) -> str:
    from gpnas.nasm.simplify import latex

    agg = "mean" if pf.aggregate == "mean" else "sum"
    what = "score =" if pf.network_level else f"score = {agg} over ReLU-Conv-BN instances of"
    return f"% gpnas NASM ({pf.describe()}): {what}\n{latex(expr)}\n"
