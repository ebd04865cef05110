"""The house: arrows point one way, folders follow the data flow, modules stay small."""

import ast
from pathlib import Path

from primitives import TO_SCALAR

from gpnas.config import TO_SCALARS
from paths import REPO

#: gpnas's folders in data-flow order: a module may import its own folder and those before it
#: (the top-level modules -- errors, atomic, console, config, schemas, threads -- come first)
LAYERS = ["", "data", "baselines", "evaluation", "search", "run", "nasm", "cli"]


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
        elif isinstance(node, ast.Import):
            yield from (a.name for a in node.names)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else 0


def test_arrows_point_one_way():
    wrong = []
    for package, forbidden in (("primitives", ("gpnas", "representations")),
                               ("representations", ("gpnas",))):
        for f in (REPO / package).rglob("*.py"):
            wrong += [(f.name, m) for m in _imports(f) if m.split(".")[0] in forbidden]
    for f in (REPO / "gpnas").rglob("*.py"):
        rel = f.relative_to(REPO / "gpnas")
        if rel.name in ("__init__.py", "__main__.py") and len(rel.parts) == 1:
            continue  # the package's entry points: the public API and the CLI
        own = LAYERS.index(rel.parts[0]) if len(rel.parts) > 1 else 0
        wrong += [(str(rel), m) for m in _imports(f)
                  if m.split(".")[0] == "gpnas" and _layer(m) > own]
    assert wrong == []


def test_small_modules_and_a_short_top_level():
    top = sorted(p.name for p in (REPO / "gpnas").glob("*.py"))
    assert len(top) <= 8, top
    for package in ("gpnas", "primitives", "representations"):
        for f in (REPO / package).rglob("*.py"):
            assert len(f.read_text().splitlines()) <= 600, f


def test_one_list_of_to_scalar_names():
    assert set(TO_SCALARS) == set(TO_SCALAR)
