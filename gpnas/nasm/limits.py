"""Bounds on what is done with a program read from a file: its text, its formula, its cost.

A program file holds a DAG of at most :data:`gpnas.schemas.MAX_PROGRAM_NODES` nodes, but shared
nodes make its tree form (the text, the sympy formula) as large as 2**nodes.  Everything here is
iterative (no recursion however deep the program) and bounded: the text is cut at
:data:`TEXT_LIMIT` characters, a formula is only built for programs within
:data:`FORMULA_MAX_NODES` / :data:`FORMULA_MAX_DEPTH` (sympy's time grows with the cube of the
depth: 0.3 s at depth 50, 18 s at 400), and scoring a model has a cost and a memory budget.
"""

from __future__ import annotations

from representations.ir import Program

TEXT_LIMIT = 4000  # characters of a program's text shown
FORMULA_MAX_NODES = 1000  # nodes of the tree form (a shared sub-expression counts each time)
FORMULA_MAX_DEPTH = 100
SCORE_COST_BUDGET = 1000.0  # passes over one statistic of the model (evolution allows 400)
SCORE_MAX_BYTES = 2 * 2**30  # live intermediate values while scoring one model
_CAP = 10**12


def tree_shape(program: Program) -> tuple[int, int]:
    """(nodes, depth) of the program's tree form, counted without building it (capped at
    10**12)."""
    size: list[int] = []
    depth: list[int] = []
    for n in program.nodes:
        size.append(min(_CAP, 1 + sum(size[a] for a in n.args)))
        depth.append(1 + max((depth[a] for a in n.args), default=0))
    return size[program.output], depth[program.output]


def formula_problem(program: Program) -> str | None:
    """Why no formula is built for the program (too large for sympy), or None."""
    size, depth = tree_shape(program.pruned())
    if size > FORMULA_MAX_NODES or depth > FORMULA_MAX_DEPTH:
        return (f"the program is too large for a formula ({size} nodes, depth {depth} as a "
                f"tree; formulas are built up to {FORMULA_MAX_NODES} nodes and depth "
                f"{FORMULA_MAX_DEPTH})")
    return None


def program_text(program: Program, limit: int = TEXT_LIMIT) -> str:
    """The program's nested text (as ``Program.text``), cut at ``limit`` characters."""
    memo: list[str] = []
    for n in program.nodes[: program.output + 1]:
        text = n.name if n.op is None else f"{n.op}({', '.join(memo[a] for a in n.args)})"
        memo.append(text if len(text) <= limit else text[:limit])
    text = memo[program.output]
    return text if len(text) < limit else text[:limit] + f"... (cut at {limit} characters)"


def peak_values(program: Program) -> int:
    """The most tensor values the engine holds at once while it runs the program (it frees
    each value after its last use)."""
    last = list(range(len(program.nodes)))
    for i, n in enumerate(program.nodes):
        for a in n.args:
            last[a] = i
    live = peak = 0
    for i, n in enumerate(program.nodes):
        live += 1
        peak = max(peak, live)
        live -= sum(1 for a in set(n.args) if last[a] == i)
    return peak
