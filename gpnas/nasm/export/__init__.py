"""Export a NASM: readable formula (text / LaTeX / sympy, :mod:`.formula`), a standalone python
module (:mod:`.standalone`, assembled from the real kernels and collector), or the program file.
"""

from __future__ import annotations

import json
from pathlib import Path

from gpnas.errors import GpnasError
from gpnas.nasm.export.formula import formula, latex_report, text_report
from gpnas.nasm.export.standalone import python_module
from gpnas.nasm.limits import formula_problem
from gpnas.nasm.programfile import ProgramFile, as_program_file

FORMATS = ("text", "latex", "sympy", "python", "json")
#: formats simplified unless told otherwise (python and json keep the evolved program)
SIMPLIFY_BY_DEFAULT = {"text": True, "latex": True, "sympy": True, "python": False, "json": False}


def export(source, fmt: str = "text", *, simplify: bool | None = None, pset=None,
           candidate=None, timeout: float | None = None, tasks=None) -> str:
    """The export of a program (ProgramFile, Program, program file, run directory) as text.

    ``simplify`` defaults to True for text/latex/sympy and False for python/json; for python and
    json a simplified program is used only when it re-scored equal and is smaller.  A program too
    large for sympy (:func:`gpnas.nasm.limits.formula_problem`) is exported without a formula
    (text, python, json) or refused (latex, sympy).
    """
    from primitives import full_primitive_set

    from gpnas.nasm.programfile import load_program
    from gpnas.nasm.simplify import DEFAULT_TIMEOUT

    if fmt not in FORMATS:
        raise GpnasError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    pset = pset or full_primitive_set()
    if isinstance(source, (str, Path)):
        pf = load_program(source, pset, candidate)
    else:
        pf = as_program_file(source, pset)
    simplify = SIMPLIFY_BY_DEFAULT[fmt] if simplify is None else simplify
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    too_large = formula_problem(pf.program)
    if too_large is not None:  # no sympy: the program as it is, or a clear refusal
        if fmt in ("latex", "sympy"):
            raise GpnasError(f"{pf.describe()}: {too_large}; export it as json, python or text")
        if fmt == "text":
            return text_report(pf, None, None, too_large)
        if fmt == "python":
            return python_module(pf, pf.program, None)
        return json.dumps(pf.to_json(), indent=2) + "\n"
    expr, simp = formula(pf, simplify, pset, timeout, tasks)
    if fmt == "text":
        return text_report(pf, expr, simp)
    if fmt == "latex":
        return latex_report(pf, expr)
    if fmt == "sympy":
        import sympy

        return sympy.srepr(expr) + "\n"
    if fmt == "python":
        program = simp.program if simp is not None else pf.program
        return python_module(pf, program, str(expr))
    # json: the program file (of the simplified program when it was kept)
    if simp is not None and simp.kept == "simplified":
        source_info = dict(pf.source, simplified_from=pf.program.key,
                           simplification=simp.reason)
        pf = ProgramFile(simp.program, None, None, "", pf.to_scalar, pf.aggregate, pf.order,
                         pf.batch_size, source_info)
    return json.dumps(pf.to_json(), indent=2) + "\n"


def write_export(text: str, out: str | Path | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise GpnasError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


__all__ = ["FORMATS", "export", "python_module", "write_export"]
