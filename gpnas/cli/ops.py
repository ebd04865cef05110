"""``gpnas ops``: the primitive operations and types of the DSL."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from primitives import EXTENSIONS, KNOWN_TYPES, OPS, primitive_set

from gpnas.console import out
from gpnas.errors import GpnasError


def ops_command(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    dsl: str = typer.Option("", "--dsl", help="DSL extensions to include, comma-separated, or "
                            f"'all' ({', '.join(EXTENSIONS)}); default: the paper's 34 ops."),
):
    """List the primitive operations: id, name, typed signatures, sympy form, cost, and the DSL
    extension that adds each (``paper`` for the paper's own)."""
    import sympy

    names = list(EXTENSIONS) if dsl.strip() == "all" else \
        [d.strip() for d in dsl.split(",") if d.strip()]
    unknown = [d for d in names if d not in EXTENSIONS]
    if unknown:
        raise GpnasError(f"unknown DSL extension(s) {unknown}; known: {', '.join(EXTENSIONS)}")
    pset = primitive_set(*names)
    origin = {op.name: "paper" for op in OPS}
    for name, ext in EXTENSIONS.items():
        origin.update({op.name: name for op in ext.ops})
    ops = sorted(pset.ops, key=lambda o: o.paper_id)
    rows = []
    for op in ops:
        args = sympy.symbols("A B")[: op.arity]
        rows.append({
            "id": op.paper_id,
            "name": op.name,
            "dsl": origin[op.name],
            "arity": op.arity,
            "kind": op.kind,
            "signatures": [str(s) for s in op.signatures],
            "sympy": str(op.sympy(*args)),
            "cost": op.cost,
            "doc": op.doc,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    types = [t for t in KNOWN_TYPES if t in pset.min_height]
    table = Table(title=f"{len(rows)} primitive operations; types {', '.join(types)}",
                  show_lines=False)
    for col in ("id", "name", "dsl", "signatures", "sympy", "cost"):
        table.add_column(col, overflow="fold")
    for r, op in zip(rows, ops):
        table.add_row(str(r["id"]), r["name"], r["dsl"], _compact_signature(op, types),
                      r["sympy"], f"{r['cost']:g}")
    out.print(table)
    extra = {n: t for n, t in pset.terminals.items() if "." not in n and n != "weight"}
    if extra:
        out.print("terminals besides the 22 statistics: "
                  + ", ".join(f"{n} ({t})" for n, t in extra.items()))


def _compact_signature(op, types) -> str:
    """'(T, T) -> T  T: act|bn|weight|scalar' instead of one line per overload."""
    ins = {s.inputs[0] for s in op.signatures}
    outs = {s.output for s in op.signatures}
    generic = "T" if len(ins) > 1 else next(iter(ins))
    args = ", ".join([generic] * op.arity)
    result = "T" if outs == ins and len(ins) > 1 else "|".join(sorted(outs))
    where = f"  T: {'|'.join(t for t in types if t in ins)}"
    return f"({args}) -> {result}" + (where if len(ins) > 1 else "")
