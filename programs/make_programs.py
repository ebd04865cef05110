"""Writes programs/*.json from gpnas.baselines.dsl (run from the repository root)."""
from pathlib import Path
from gpnas.baselines.dsl import DSL, DSL_PROXIES, dsl_tree
from gpnas.nasm.programfile import ProgramFile, save_program

for name, (text, doc) in DSL_PROXIES.items():
    rep, g = dsl_tree(name)
    pf = ProgramFile(rep.lower(g), "tree", rep.to_json(g), dsl=DSL, cross_batch=32,
                     source={"name": name, "about": doc})
    print(save_program(Path("programs") / f"{name}.json", pf))
