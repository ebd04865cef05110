"""Export formats, and the standalone python module (real source, same scores as gpnas)."""

import ast
import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import sympy
import torch

import gpnas
from gpnas.errors import GpnasError
from gpnas.nasm.export import export, standalone
from gpnas.nasm.programfile import ProgramFile, load_program
from gpnas.nasm.score import build_model
from gpnas.nasm.simplify import to_sympy
from nasm_helpers import PSET, env, images, parse, sequential_programs, shared_ir_programs
from paths import REPO
from primitives import full_primitive_set


def test_text_latex_sympy_formats(check):
    pf = ProgramFile(parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"))
    text = export(pf, "text", tasks=check)
    assert "weight_grad.noise" in text and "program:" in text and "simplified:" in text
    latex = export(pf, "latex", tasks=check)
    assert r"\mathrm{weight\_grad}^{\mathrm{noise}}" in latex
    latex = export(ProgramFile(parse("sym_eig_ratio(weight_grad.noise)")), "latex", tasks=check)
    assert r"\operatorname{sym\_eig\_ratio}" in latex
    raw = export(pf, "sympy", simplify=False)
    assert sympy.sympify(raw.strip(), locals={"Function": sympy.Function, "Symbol": sympy.Symbol}
                         ) == to_sympy(pf.program, PSET, "mean")
    assert "(not simplified)" in export(pf, "text", simplify=False)


def test_python_export_embeds_the_real_source_and_no_copies():
    """Every function and class of the standalone module, but the generated program and its
    entry point, is a gpnas definition (structurally identical to it); every op's kernel is in
    it; and the export package keeps no function source in its strings."""
    src = export(ProgramFile(parse("mul(log(frobenius(weight_grad.noise)), frobenius(weight))")),
                 "python")
    real = {}
    for module in standalone.EMBEDDED:
        for name, obj in vars(module).items():
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and \
                    obj.__module__ == module.__name__:
                real[name] = ast.dump(ast.parse(textwrap.dedent(inspect.getsource(obj))).body[0])
    defined = [n for n in ast.parse(src).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert {n.name for n in defined} - set(real) == {"program", "score"}
    net = export(ProgramFile(parse("mul(net_macs, layer_std(frobenius(weight_grad.noise)))")),
                 "python")
    assert {n.name for n in ast.parse(net).body if isinstance(n, ast.FunctionDef)} \
        - set(real) == {"program", "network", "score"}
    for node in defined:
        if node.name in real:
            assert ast.dump(node) == real[node.name], f"{node.name} differs from gpnas's"
    assert {op.fn.__name__ for op in full_primitive_set().ops} <= {n.name for n in defined}
    package = Path(standalone.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                assert set(re.findall(r"\bdef (\w+)\(", node.value)) <= \
                    {"program", "network", "score"}, path


def test_every_registry_op_is_a_kernel():
    """One definition per op: the registry rows call primitives.kernels."""
    for op in PSET.ops:
        assert op.fn.__module__ == "primitives.kernels" and op.fn.__name__ == f"op_{op.name}"
    assert all(op.fn.__module__ == "primitives.kernels" for op in full_primitive_set().ops)


def test_python_export_runs_standalone_and_matches_gpnas_score(tmp_path, model_dir):
    import userzoo

    programs = [parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"),
                parse("sym_eig_ratio(add(relu_out.data, relu_in_grad.noise))"),
                parse("cosine(bn_out_grad.perturb, softmax(bn_out.noise))")]
    programs += shared_ir_programs()
    programs += [parse("add(log(net_params), log(layer_sum(frobenius(weight_grad.noise))))"),
                 parse("sub(layer_diff_min(mul(layer_depth, l1_norm(relu_out.data))), "
                       "layer_max(sigmoid(normalized_sum(bn_out_grad.noise))))")]
    programs += [load_program(REPO / "programs" / f"{name}.json").program
                 for name in ("naswot", "jacov", "meco")]
    settings = [{}, {"to_scalar": "l2", "aggregate": "sum"}, {"order": "cbr"}, {"order": "cbr"},
                {"to_scalar": "l2"}, {}, {"order": "cbr"}, {"cross_batch": 2},
                {"cross_batch": 2}, {"cross_batch": 2}]
    batch = images()
    for _, _, p in sequential_programs(10, seed=9):  # the first one valid on the model
        try:
            gpnas.score(build_model(userzoo.factory), p, images=batch, seed=3)
        except GpnasError:
            continue
        programs.append(p)
        settings.append({})
        break
    torch.save(batch, tmp_path / "images.pt")
    want = []
    for i, (p, kw) in enumerate(zip(programs, settings)):
        pf = ProgramFile(p, batch_size=2, **kw)
        model = build_model(userzoo.factory, seed=0)
        want.append(gpnas.score(model, pf, images=batch, seed=3))
        (tmp_path / f"nasm{i}.py").write_text(export(pf, "python"))
    script = textwrap.dedent(f"""
        import json, sys
        sys.path[:0] = [{str(tmp_path)!r}, {str(model_dir)!r}]
        mods = [__import__(f"nasm{{i}}") for i in range({len(programs)})]
        leaked = sorted({{m.split(".")[0] for m in sys.modules}} &
                        {{"gpnas", "primitives", "representations", "sympy"}})
        import torch, userzoo
        images = torch.load({str(tmp_path / 'images.pt')!r})
        out = []
        for m in mods:
            torch.manual_seed(0)
            out.append(m.score(userzoo.Net(), images, seed=3))
        print(json.dumps({{"leaked": leaked, "scores": out}}))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         cwd=tmp_path, env=env(), timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["leaked"] == []
    np.testing.assert_allclose(got["scores"], want, rtol=1e-6)
