"""``gpnas export``: a NASM as a formula, a standalone torch module or a program file."""

from __future__ import annotations

import sys

import typer

from gpnas.console import err


def export_command(
    source: str = typer.Argument(..., help="A run directory (its best program), its "
                                 "results.json, a program file, or a built-in: eznas-a, "
                                 "eznas-a-code"),
    fmt: str = typer.Option("text", "--format", "-f", help="text | latex | sympy | python | json"),
    out_file: str = typer.Option(None, "--out", "-o", show_default=False,
                                 help="Write to this file instead of stdout"),
    simplify: bool | None = typer.Option(
        None, "--simplify/--no-simplify", show_default=False,
        help="Simplify the formula with sympy (the simplified program is kept only if it "
        "re-scores equal); default: on for text, latex, sympy; off for python, json"),
    candidate: str = typer.Option(None, "--candidate", show_default=False,
                                  help="Another candidate of a run: label (best-ever1) or index"),
    timeout: float = typer.Option(None, "--timeout", show_default=False,
                                  help="Seconds sympy may take (default 5)"),
):
    """Export a NASM: formula (text, LaTeX, sympy), a standalone torch module, or a program file."""
    from gpnas.nasm.export import export, write_export

    text = export(source, fmt, simplify=simplify, candidate=candidate, timeout=timeout)
    if out_file:
        err.print(f"wrote {write_export(text, out_file)}")
    else:
        sys.stdout.write(text)
