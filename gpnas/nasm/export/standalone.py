"""``gpnas export --format python``: a standalone scorer that needs only torch.

The module is assembled from real source, not from copies: the op kernels
(:mod:`primitives.kernels`), the statistics collector (:mod:`gpnas.data.stats.trace`) and the
scoring glue (:mod:`gpnas.nasm.export.runtime`) are embedded verbatim with ``inspect.getsource``
(their imports of each other dropped, their other imports hoisted), followed by the program as
straight-line torch code and a ``score(model, images, seed=0)`` that calls them.
"""

from __future__ import annotations

import ast
import inspect
from types import ModuleType

from primitives import (INPUTS, NET, NETWORK_TYPES, PER_INPUT, STAT_NAMES, full_primitive_set,
                        kernels)

from gpnas import __version__
from gpnas.data.stats import cross, trace
from gpnas.errors import GpnasError
from gpnas.nasm.export import runtime
from gpnas.nasm.limits import program_text
from gpnas.nasm.programfile import ProgramFile
from gpnas.nasm.score import reads_cross_sample

#: embedded in this order; later ones use names of earlier ones
EMBEDDED: tuple[ModuleType, ...] = (kernels, trace, cross, runtime)
_INTERNAL = ("primitives", "gpnas", "representations")
PSET = full_primitive_set()


def _split_imports(module: ModuleType) -> tuple[list[str], str]:
    """(its external import statements, its source without any import statement)."""
    source = inspect.getsource(module)
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    imports, drop = [], set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            drop.update(range(node.lineno - 1, node.end_lineno))
            if isinstance(node, ast.ImportFrom):
                internal = node.level > 0 or node.module == "__future__" or \
                    node.module.split(".")[0] in _INTERNAL
            else:
                internal = any(a.name.split(".")[0] in _INTERNAL for a in node.names)
            if not internal:
                imports.append(ast.get_source_segment(source, node))
    body = "".join(line for i, line in enumerate(lines) if i not in drop)
    return imports, body.strip() + "\n"


def _defined(source: str) -> list[str]:
    """Top-level names a source defines (functions, classes, assignments)."""
    names = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return names


def _aggregated(program) -> list[int]:
    """The per-instance nodes that network-level nodes read."""
    return sorted({a for n in program.nodes if n.type in NETWORK_TYPES for a in n.args
                   if program.nodes[a].type not in NETWORK_TYPES})


def program_source(program) -> str:
    """The program as straight-line torch code: ``program(s)`` over a dict of statistics
    stacked over instances of one shape; for a network-level program it returns the values the
    network part reads, and ``network(a, layers, t)`` computes the network's score from them."""
    lines = ["def program(s):",
             '    """The NASM on a batch of instances of one shape: s maps each statistic name',
             '    to a tensor with a leading instance axis."""']
    network = ["def network(a, layers, t):",
               '    """The network-level part: a[k] holds the values of the k-th aggregated',
               '    sub-program on the instances (execution order), t the network terminals."""']
    inputs = _aggregated(program)
    for i, n in enumerate(program.nodes):
        if n.type in NETWORK_TYPES:
            op = PSET[n.op] if n.op is not None else None
            if n.op is None:
                network.append(f"    v{i} = t[{n.name!r}]")
            elif op.kind == "aggregation":
                network.append(f"    v{i} = {op.fn.__name__}(a[{inputs.index(n.args[0])}], layers)")
            else:
                network.append(f"    v{i} = {op.fn.__name__}({', '.join(f'v{a}' for a in n.args)})")
        elif n.op is None:
            lines.append(f"    v{i} = s[{n.name!r}]")
        else:
            lines.append(f"    v{i} = {PSET[n.op].fn.__name__}({', '.join(f'v{a}' for a in n.args)})")
    if program.type != NET:
        lines.append(f"    return v{program.output}")
        return "\n".join(lines) + "\n"
    lines.append(f"    return ({''.join(f'v{i}, ' for i in inputs)})")
    network.append(f"    return v{program.output}")
    return "\n".join(lines) + "\n\n\n" + "\n".join(network) + "\n"


def _docstring(pf: ProgramFile, program, formula: str | None) -> str:
    taus = "; ".join(f"{sp}: tau {t['kendall']:.4f}" for sp, t in
                     (pf.source.get("test") or {}).items()
                     if isinstance(t, dict) and t.get("kendall") is not None)
    doc = [f"NASM exported by gpnas {__version__} from {pf.describe()}.", "",
           "Needs only torch.  Usage::", "",
           "    import torch, this_module", "    images = ...  # (B, C, H, W) float batch, "
           f"normalised (the program evolved with B = {pf.batch_size})",
           "    s = this_module.score(model, images, seed=0)", "",
           f"program:   {program_text(program)}"]
    if formula:
        doc.append(f"formula:   {formula}")
    pattern = "ReLU-Conv2d-BatchNorm2d" if pf.order == "rcb" else "Conv2d-BatchNorm2d-ReLU"
    if program.type == NET:
        doc.append(f"network-level program (its own aggregation); instances: {pattern}")
    else:
        doc.append(f"to_scalar: {pf.to_scalar}; aggregate over instances: {pf.aggregate}; "
                   f"instances: {pattern}")
    if taus:
        doc.append(f"test:      {taus}")
    return '"""' + "\n".join(doc).replace('"""', "'''").replace("\\", "\\\\") + '\n"""\n'


def python_module(pf: ProgramFile, program=None, formula: str | None = None) -> str:
    """The standalone module's source (``program`` overrides ``pf.program``)."""
    program = (program or pf.program).pruned()
    imports, parts = [], []
    for module in EMBEDDED:
        imps, body = _split_imports(module)
        imports += [i for i in imps if i not in imports]
        parts.append(f"# {'-' * 20} {module.__name__} (embedded source) {'-' * 20}\n{body}")
    per_instance = tuple(n.name for n in program.nodes
                         if n.op is None and n.type not in NETWORK_TYPES)
    per_network = tuple(n.name for n in program.nodes if n.op is None and n.type == "nmat")
    settings = (f"TO_SCALAR = {pf.to_scalar!r}\nAGGREGATE = {pf.aggregate!r}\n"
                f"ORDER = {pf.order!r}\nBATCH_SIZE = {int(pf.batch_size)}\n"
                f"CROSS_BATCH = {int(pf.cross_batch) if reads_cross_sample(program) else 0}  "
                "# images of the cross-sample statistics (0: none)\n"
                f"INPUTS = {tuple(INPUTS)!r}\nPER_INPUT = {tuple(PER_INPUT)!r}\n"
                f"STAT_NAMES = {tuple(STAT_NAMES)!r}\n"
                f"STATISTICS = {per_instance!r}  # what the program reads per instance\n")
    doc = ('    """The NASM score of ``model``: ``images`` is a (B, C, H, W) batch of '
           '(normalised) inputs."""\n')
    if program.type == NET:
        entry = ('def score(model, images, seed=0):\n' + doc +
                 f'    return score_network(model, images, program, network, '
                 f'{len(_aggregated(program))}, STATISTICS,\n'
                 '                         seed=seed, order=ORDER, batch_size=BATCH_SIZE,\n'
                 f'                         cross_batch=CROSS_BATCH, network_names={per_network!r})\n')
    else:
        entry = ('def score(model, images, seed=0):\n' + doc +
                 '    return score_model(model, images, program, STATISTICS, seed=seed, '
                 'order=ORDER,\n                       to_scalar=TO_SCALAR, aggregate=AGGREGATE, '
                 'batch_size=BATCH_SIZE,\n                       cross_batch=CROSS_BATCH)\n')
    text = "\n\n".join([_docstring(pf, program, formula) + "\nfrom __future__ import annotations\n\n"
                        + "\n".join(imports) + "\n", settings, *parts,
                        f"# {'-' * 20} the program {'-' * 20}\n" + program_source(program), entry])
    names = _defined(text)
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise GpnasError(f"the python export would define {twice} twice")
    return text
