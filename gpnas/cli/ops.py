"""``gpnas ops``: the primitive operations of the DSL."""

from __future__ import annotations

import json

import typer
from rich.table import Table

from primitives import default_primitive_set

from gpnas.console import out


def ops_command(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List the primitive operations: id, name, typed signatures, sympy form, cost."""
    import sympy

    pset = default_primitive_set()
    rows = []
    for op in sorted(pset.ops, key=lambda o: o.paper_id):
        args = sympy.symbols("A B")[: op.arity]
        rows.append({
            "id": op.paper_id,
            "name": op.name,
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
    table = Table(title=f"{len(rows)} primitive operations", show_lines=False)
    for col in ("id", "name", "signatures", "sympy", "cost"):
        table.add_column(col, overflow="fold")
    for r, op in zip(rows, sorted(pset.ops, key=lambda o: o.paper_id)):
        table.add_row(str(r["id"]), r["name"], _compact_signature(op), r["sympy"],
                      f"{r['cost']:g}")
    out.print(table)


def _compact_signature(op) -> str:
    """'(T, T) -> T  for T in act|bn|weight|scalar' instead of one line per overload."""
    ins = {s.inputs[0] for s in op.signatures}
    outs = {s.output for s in op.signatures}
    generic = "T" if len(ins) > 1 else next(iter(ins))
    args = ", ".join([generic] * op.arity)
    result = "T" if outs == ins and len(ins) > 1 else "|".join(sorted(outs))
    where = f"  T: {'|'.join(t for t in ('act', 'bn', 'weight', 'scalar') if t in ins)}"
    return f"({args}) -> {result}" + (where if len(ins) > 1 else "")
