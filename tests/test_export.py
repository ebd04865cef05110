"""Program files, simplification (sympy and back), export formats, the standalone python
module, and scoring any model (API and CLI)."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

import gpnas
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.errors import GpnasError
from gpnas.nasm.export import _OPS, export, op_sources
from gpnas.nasm.programfile import ProgramFile, load_program, save_program
from gpnas.nasm.score import build_model, score_model
from gpnas.nasm.simplify import (NotMappable, check_task, compare, from_sympy, simplify_program,
                            stat_symbol, to_sympy)
from primitives import default_primitive_set
from representations.ir import ProgramBuilder
from representations.tree import TreeRepresentation
from synthetic import fake_task

PSET = default_primitive_set()
TREE = TreeRepresentation(PSET, min_depth=2, max_depth=4)
ROOT = Path(__file__).resolve().parents[1]

MODEL_SOURCE = '''
import torch
from torch import nn


class Net(nn.Module):
    """Residuals, an in-place ReLU, a separable conv (ReLU-Conv-Conv-BN), a conv called twice;
    5 ReLU-Conv-BN instances and 2 Conv-BN-ReLU ones."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8))
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1, bias=False),
                               nn.BatchNorm2d(8))
        self.r = nn.ReLU()
        self.shared = nn.Conv2d(8, 8, 1, bias=False)
        self.bn1, self.bn2 = nn.BatchNorm2d(8), nn.BatchNorm2d(8)
        self.b = nn.Sequential(nn.ReLU(inplace=True),
                               nn.Conv2d(8, 12, 3, stride=2, padding=1, bias=False),
                               nn.BatchNorm2d(12))
        self.c = nn.Sequential(nn.ReLU(), nn.Conv2d(12, 12, 3, padding=1, groups=12, bias=False),
                               nn.Conv2d(12, 12, 1, bias=False), nn.BatchNorm2d(12))
        self.d = nn.Sequential(nn.Conv2d(12, 12, 3, padding=1, bias=False), nn.BatchNorm2d(12),
                               nn.ReLU())
        self.head = nn.Sequential(nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                  nn.Linear(12, 10))

    def forward(self, x):
        x = self.stem(x)
        x = x + self.a(x)
        x = x + self.bn1(self.shared(self.r(x))) + self.bn2(self.shared(self.r(x)))
        x = self.b(x)
        x = x + self.c(x)
        return self.head(self.d(x))


def factory():
    return Net()


def no_instances():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten())


def not_a_model():
    return 42
'''


# -- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models: one intra-op thread is several times faster on a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _env(pythonpath: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    return env


@pytest.fixture(scope="module")
def task():
    return fake_task(5, seed=11)


@pytest.fixture(scope="module")
def check():
    return check_task()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("models")
    (d / "userzoo.py").write_text(MODEL_SOURCE)
    sys.path.insert(0, str(d))
    yield d
    sys.path.remove(str(d))


def scores(program, task, to_scalar="mean", aggregate="mean"):
    eng = Engine(PSET, EngineConfig(to_scalar=to_scalar, aggregate=aggregate, cache_bytes=0))
    try:
        return eng.net_scores(program, task)
    except InvalidProgram as exc:
        return exc.reason


def same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
    else:
        np.testing.assert_array_equal(a, b)


def shared_ir_programs():
    """IR programs with shared sub-expressions (a DAG, not a tree)."""
    out = []
    b = ProgramBuilder(PSET)
    w = b.terminal("weight_grad.noise")
    lg = b.apply("abslog", [w])
    s = b.apply("add", [lg, b.apply("square", [lg])])  # lg used twice
    out.append(b.build(b.apply("mul", [s, b.apply("sign", [lg])])))
    b = ProgramBuilder(PSET)
    x = b.apply("normalize", [b.terminal("relu_out.data")])
    fro = b.apply("frobenius", [x])
    out.append(b.build(b.apply("sub", [b.apply("invert", [fro]),
                                       b.apply("l1_norm", [b.apply("relu", [x])])])))
    return out


def tree_programs(n, seed):
    rng = np.random.default_rng(seed)
    gs = [TREE.random(rng) for _ in range(n)]
    return [(g, TREE.lower(g)) for g in gs]


def sequential_programs(n, seed, **kw):
    try:
        from representations.sequential import SequentialRepresentation
    except ImportError:
        return []
    rep = SequentialRepresentation(PSET, **kw)
    rng = np.random.default_rng(seed)
    return [(rep, g, rep.lower(g)) for g in (rep.random(rng) for _ in range(n))]


# -- program files ------------------------------------------------------------------------------
def test_program_file_roundtrip_identical_scores(tmp_path, task):
    files = []
    for i, (g, p) in enumerate(tree_programs(6, seed=1)):
        files.append((save_program(tmp_path / f"t{i}.json", p, repr="tree",
                                   genome=TREE.to_json(g), batch_size=2), p))
    for i, p in enumerate(shared_ir_programs()):
        files.append((save_program(tmp_path / f"ir{i}.json", p, to_scalar="l2",
                                   aggregate="sum", order="cbr"), p))
    seq = sequential_programs(3, seed=2) + sequential_programs(1, seed=3, keep_introns=True)
    for i, (rep, g, p) in enumerate(seq):
        files.append((save_program(tmp_path / f"s{i}.json", p, repr="sequential",
                                   genome=rep.to_json(g)), p))
    for path, p in files:
        pf = load_program(path, PSET)
        assert pf.program.key == p.key and pf.program.text() == p.text()
        ecfg = dict(to_scalar=pf.to_scalar, aggregate=pf.aggregate)
        same(scores(pf.program, task, **ecfg), scores(p, task, **ecfg))
    pf = load_program(files[6][0], PSET)  # the first IR program
    assert (pf.to_scalar, pf.aggregate, pf.order) == ("l2", "sum", "cbr")
    assert load_program(files[0][0]).batch_size == 2


def _fake_run(tmp_path, cands):
    run = tmp_path / "run"
    run.mkdir()
    rows = []
    for label, g in cands:
        p = TREE.lower(g)
        rows.append({"label": label, "program": TREE.text(g), "key": p.key,
                     "genome": TREE.to_json(g), "ir": p.to_json(), "size": len(g),
                     "test": {"nb201-cifar10": {"kendall": 0.5, "spearman": 0.7, "n": 10,
                                                "invalid": None}}})
    results = {"config": {"repr": "tree", "to_scalar": "mean", "aggregate": "mean",
                          "order": "rcb", "batch_size": 1, "stats_seed": 0, "seed": 0,
                          "spaces": ["nb201-cifar10"]},
               "candidates": rows}
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_run_directory_gives_best_or_named_candidate(tmp_path):
    (g1, p1), (g2, p2) = tree_programs(2, seed=3)
    run = _fake_run(tmp_path, [("final-top1", g1), ("best-ever1", g2)])
    best = load_program(run)
    assert best.program.key == p1.key and best.source["label"] == "final-top1"
    assert best.source["test"]["nb201-cifar10"]["kendall"] == 0.5
    assert load_program(run, candidate="best-ever1").program.key == p2.key
    assert load_program(run / "results.json", candidate=1).program.key == p2.key
    with pytest.raises(GpnasError, match="no candidate 'nope'"):
        load_program(run, candidate="nope")
    # export -> json -> load keeps the program and its provenance
    out = tmp_path / "best.json"
    out.write_text(export(run, "json"))
    again = load_program(out)
    assert again.program.key == p1.key and again.source["label"] == "final-top1"


@pytest.mark.parametrize("content, problem", [
    ("{not json", "not valid JSON"),
    ('{"hello": 1}', "not a gpnas program file"),
    ('{"format": "gpnas-program", "version": 7, "ir": [["weight"]]}', "unsupported program file version 7"),
    ('{"format": "gpnas-program", "version": 1, "ir": [["weight"], ["bogus", 0]]}', "unknown op 'bogus'"),
    ('{"format": "gpnas-program", "version": 1, "ir": [["weight"], ["frobenius", 5]]}', "arguments must be indices"),
    ('{"format": "gpnas-program", "version": 1, "ir": [["weight"]], "key": "abc"}', "recorded key"),
    ('{"format": "gpnas-program", "version": 1, "ir": [["weight"]], "to_scalar": "max"}', "to_scalar must be"),
    ('{"format": "gpnas-program", "version": 1}', "no program"),
    ('{"format": "gpnas-program", "version": 1, "repr": "tree", "genome": {"repr": "tree", "expr": "weight"}, "ir": [["bn_out.data"]]}', "different programs"),
])
def test_bad_program_files_are_clear_errors(tmp_path, content, problem):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(GpnasError) as info:
        load_program(f)
    assert problem in str(info.value) and str(f) in str(info.value)


def test_missing_sources_and_eznas_a(tmp_path):
    with pytest.raises(GpnasError, match="does not exist"):
        load_program(tmp_path / "nothing.json")
    with pytest.raises(GpnasError, match="without results.json"):
        load_program(tmp_path)
    with pytest.raises(GpnasError, match="EZNAS-A is not built in"):
        load_program("eznas-a")


# -- sympy and back --------------------------------------------------------------------------------
X, Y = stat_symbol("relu_in.data"), stat_symbol("relu_out_grad.data")


@pytest.mark.parametrize("expr", [
    X + 2 * Y - 3,
    X * Y / (1 + X**2),
    sympy.Rational(1, 3) * X - Y**3,
    sympy.Max(X, 0) - sympy.Min(X, Y) + sympy.Min(Y, 0),
    sympy.exp(-sympy.Abs(X)) + sympy.exp(X) / (sympy.exp(X) + 1) + 1 / (1 + sympy.exp(-Y)),
    sympy.Piecewise((X, X > Y), (Y**2, True)),
    sympy.Piecewise((1, (X > 0) & (Y <= 0)), (0, True)) + sympy.Piecewise((2, sympy.Ne(X, Y)), (X, True)),
    sympy.Heaviside(X, 0) * sympy.sign(Y) + sympy.Piecewise((sympy.log(X), X > 0), (0, True)),
    sympy.Piecewise((3 / X, (X > 0) | (X < 0)), (0, True)) + sympy.Piecewise((sympy.log(sympy.Abs(Y)), sympy.Ne(Y, 0)), (0, True)),
    sympy.Piecewise((1, sympy.ITE(X > 0, Y > 0, Y < -1)), (0, True)),
])
def test_from_sympy_computes_the_expression(expr, task):
    prog = from_sympy(expr, "act", PSET)
    eng = Engine(PSET, EngineConfig(to_scalar="mean", cache_bytes=0))
    got = eng.instance_values(prog, task).double().numpy()
    f = sympy.lambdify((X, Y), expr, modules="numpy")
    want = []
    for g in task.groups:
        x = g.tensors["relu_in.data"].double().numpy()
        y = g.tensors["relu_out_grad.data"].double().numpy()
        with np.errstate(all="ignore"):
            v = np.broadcast_to(f(x, y), x.shape)
        want.append(v.reshape(len(x), -1).mean(axis=1))
    np.testing.assert_allclose(got, np.concatenate(want), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("expr, construct", [
    (sympy.sqrt(sympy.Abs(X)), "power"),
    (X * sympy.Float(0.37), "constant"),
    (sympy.tanh(X), "tanh"),
    (sympy.pi * X, "pi"),
])
def test_unmappable_constructs_are_named(expr, construct):
    with pytest.raises(NotMappable, match=construct):
        from_sympy(expr, "act", PSET)


def _parse(text):
    return TREE.lower(TREE.parse(text))


def test_simplification_is_kept_only_when_it_rescores_equal(check):
    p = _parse("sub(add(weight, weight_grad.data), weight_grad.data)")
    s = simplify_program(p, PSET, tasks=check)
    assert s.kept == "simplified" and s.program.text() == "weight" and s.verified
    assert s.nodes_before == 4 and s.nodes_after == 1 and s.ops_after <= s.ops_before
    assert compare(p, s.program, [check], PSET) is None
    assert str(s.formula) == "mean(weight)"
    # x * (1/x) (protected) simplifies to the indicator x != 0: equal, and smaller
    p = _parse("mul(relu_out.data, invert(relu_out.data))")
    s = simplify_program(p, PSET, tasks=check)
    assert s.verified and compare(p, s.program, [check], PSET) is None


def test_semantic_change_of_protected_ops_keeps_the_original(check):
    # log(exp(x)) == x for sympy, but exp overflows to NaN (invalid) for large x in gpnas
    p = _parse("log(exp(relu_in.data))")
    big = fake_task(3, seed=5)
    for g in big.groups:
        g.tensors["relu_in.data"] = g.tensors["relu_in.data"] * 100
    s = simplify_program(p, PSET, tasks=[big])
    assert s.kept == "original" and not s.verified and s.program is s.original
    assert "NaN" in s.reason or "other values" in s.reason
    assert str(s.formula) == str(s.expr)  # the unverified formula is not shown as the formula


def test_random_programs_simplify_to_equal_scores_or_say_why(check):
    kept = 0
    for _, p in tree_programs(14, seed=7) + [(None, q) for q in shared_ir_programs()]:
        s = simplify_program(p, PSET, tasks=check, timeout=3)
        assert s.reason
        if s.kept == "simplified":
            kept += 1
            assert s.program.size < p.size
            assert compare(p, s.program, [check], PSET) is None
        else:
            assert s.program is s.original
    for rep, g, p in sequential_programs(3, seed=4):  # their effective DAG
        s = simplify_program(p, PSET, tasks=check, timeout=3)
        assert s.reason and (s.kept == "original" or compare(p, s.program, [check], PSET) is None)
        assert s.expr == to_sympy(p, PSET, "mean")
    assert kept >= 1


def test_time_guard_keeps_the_unsimplified_formula(check):
    p = _parse("mul(add(log(sub(relu_in.data, relu_out.data)), invert(gt(relu_in.noise, "
               "relu_out.noise))), sub(abslog(add(relu_in.perturb, relu_in.data)), "
               "exp(lt(relu_out.data, relu_in_grad.data))))")
    s = simplify_program(p, PSET, tasks=check, timeout=0.001)
    assert s.timed_out and s.kept == "original" and "did not finish" in s.reason
    assert s.formula == s.expr == to_sympy(p, PSET, "mean")


# -- export formats ------------------------------------------------------------------------------
def test_text_latex_sympy_formats(check):
    pf = ProgramFile(_parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"))
    text = export(pf, "text", tasks=check)
    assert "weight_grad.noise" in text and "program:" in text and "simplified:" in text
    latex = export(pf, "latex", tasks=check)
    assert r"\mathrm{weight\_grad}^{\mathrm{noise}}" in latex
    latex = export(ProgramFile(_parse("sym_eig_ratio(weight_grad.noise)")), "latex", tasks=check)
    assert r"\operatorname{sym\_eig\_ratio}" in latex
    raw = export(pf, "sympy", simplify=False)
    assert sympy.sympify(raw.strip(), locals={"Function": sympy.Function, "Symbol": sympy.Symbol}
                         ) == to_sympy(pf.program, PSET, "mean")
    assert "(not simplified)" in export(pf, "text", simplify=False)


def test_python_ops_match_the_registry():
    """The standalone module's op implementations equal the registry's, on every signature."""
    ns = {}
    exec("import math\nimport torch\nimport torch.nn.functional as F\nNAN = float('nan')\n"
         + op_sources(list(_OPS)), ns)
    assert sorted(_OPS) == sorted(op.name for op in PSET.ops)
    gen = torch.Generator().manual_seed(0)
    # instance axis first, then the instance's own shape (activations (B, C, H, W), ...)
    shapes = {"act": (3, 2, 3, 4, 4), "bn": (3, 2, 3, 2, 2), "weight": (3, 4, 2, 3, 3),
              "scalar": (3,)}
    for op in PSET.ops:
        for sig in op.signatures:
            args = []
            for t in sig.inputs:
                a = torch.randn(shapes[t], generator=gen)
                a[0].view(-1)[:2] = 0.0  # exact zeros (protections)
                if a.dim() > 1:
                    a[2] = a[2].abs()  # a non-negative row (kl_div targets, logs)
                args.append(a)
            want = op.fn(*[a.clone() for a in args])
            got = ns[f"op_{op.name}"](*[a.clone() for a in args])
            torch.testing.assert_close(got, want, equal_nan=True, msg=f"{op.name} {sig}")


def _images(seed=1):
    return torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_python_export_runs_standalone_and_matches_gpnas_score(tmp_path, model_dir):
    import userzoo

    programs = [_parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"),
                _parse("sym_eig_ratio(add(relu_out.data, relu_in_grad.noise))"),
                _parse("cosine(bn_out_grad.perturb, softmax(bn_out.noise))")]
    programs += shared_ir_programs()
    settings = [{}, {"to_scalar": "l2", "aggregate": "sum"}, {"order": "cbr"}, {"order": "cbr"},
                {"to_scalar": "l2"}]
    images = _images()
    for _, _, p in sequential_programs(10, seed=9):  # the first one valid on the model
        try:
            gpnas.score(build_model(userzoo.factory), p, images=images, seed=3)
        except GpnasError:
            continue
        programs.append(p)
        settings.append({})
        break
    torch.save(images, tmp_path / "images.pt")
    want = []
    for i, (p, kw) in enumerate(zip(programs, settings)):
        pf = ProgramFile(p, batch_size=2, **kw)
        model = build_model(userzoo.factory, seed=0)
        want.append(gpnas.score(model, pf, images=images, seed=3))
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
                         cwd=tmp_path, env=_env(), timeout=120)
    assert res.returncode == 0, res.stderr
    got = json.loads(res.stdout.strip().splitlines()[-1])
    assert got["leaked"] == []
    np.testing.assert_allclose(got["scores"], want, rtol=1e-6)


# -- scoring any model -------------------------------------------------------------------------------
def test_score_api_errors(model_dir):
    import userzoo

    p = _parse("frobenius(weight_grad.noise)")
    with pytest.raises(GpnasError, match="no ReLU -> Conv2d -> BatchNorm2d instance"):
        gpnas.score(userzoo.no_instances(), p, input_shape=(3, 8, 8))
    with pytest.raises(GpnasError, match="not a torch.nn.Module"):
        build_model(userzoo.not_a_model)
    r = score_model(build_model(userzoo.factory), p, images=_images())
    assert r.instances == 5 and len(r.values) == 5 and np.isclose(r.score, np.mean(r.values))


def _cli(*args, pythonpath=None):
    env = _env(os.pathsep.join(x for x in (str(pythonpath or ""), str(ROOT)) if x))
    return subprocess.Popen([sys.executable, "-m", "gpnas", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_score_json(tmp_path, model_dir):
    import userzoo

    pf = ProgramFile(_parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"))
    prog = save_program(tmp_path / "prog.json", pf)
    job = _cli("score", prog, "--model", "userzoo:factory", "--input-shape", "3,16,16",
               "--seed", 2, "--json", pythonpath=model_dir)
    want = gpnas.score(build_model(userzoo.factory, seed=2), pf, input_shape=(3, 16, 16), seed=2)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    got = json.loads(out)
    assert got["instances"] == 5 and got["score"] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("argv", [["export", "{bad}", "--format", "text"],
                                  ["score", "{bad}", "--model", "userzoo:factory"],
                                  ["score", "{good}", "--model", "userzoo:nothing"]])
def test_cli_errors_exit_2_without_traceback(tmp_path, model_dir, monkeypatch, capsys, argv):
    from gpnas.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "gpnas-program", "version": 1, "ir": [["weight"], ["bogus", 0]]}')
    good = save_program(tmp_path / "good.json", _parse("frobenius(weight)"))
    argv = [a.format(bad=bad, good=good) for a in argv]
    monkeypatch.setattr(sys, "argv", ["gpnas", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    captured = capsys.readouterr()
    err = "".join(captured.err.split())  # rich wraps (and may fold) long lines
    assert "error:" in err and "Traceback" not in captured.err + captured.out
    if "bad.json" in " ".join(argv):
        assert "bad.json" in err and "unknownop'bogus'" in err
    else:
        assert "noattribute'nothing'" in err
