"""Simplification: sympy and back, kept only when it re-scores equal, under a time guard."""

import numpy as np
import pytest
import sympy

from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.nasm.simplify import (NotMappable, compare, from_sympy, simplify_program, stat_symbol,
                                 to_sympy)
from nasm_helpers import PSET, parse, sequential_programs, shared_ir_programs, tree_programs
from synthetic import fake_task


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


def test_simplification_is_kept_only_when_it_rescores_equal(check):
    p = parse("sub(add(weight, weight_grad.data), weight_grad.data)")
    s = simplify_program(p, PSET, tasks=check)
    assert s.kept == "simplified" and s.program.text() == "weight" and s.verified
    assert s.nodes_before == 4 and s.nodes_after == 1 and s.ops_after <= s.ops_before
    assert compare(p, s.program, [check], PSET) is None
    assert str(s.formula) == "mean(weight)"
    # x * (1/x) (protected) simplifies to the indicator x != 0: equal, and smaller
    p = parse("mul(relu_out.data, invert(relu_out.data))")
    s = simplify_program(p, PSET, tasks=check)
    assert s.verified and compare(p, s.program, [check], PSET) is None


def test_semantic_change_of_protected_ops_keeps_the_original(check):
    # log(exp(x)) == x for sympy, but exp overflows to NaN (invalid) for large x in gpnas
    p = parse("log(exp(relu_in.data))")
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
    p = parse("mul(add(log(sub(relu_in.data, relu_out.data)), invert(gt(relu_in.noise, "
               "relu_out.noise))), sub(abslog(add(relu_in.perturb, relu_in.data)), "
               "exp(lt(relu_out.data, relu_in_grad.data))))")
    s = simplify_program(p, PSET, tasks=check, timeout=0.001)
    assert s.timed_out and s.kept == "original" and "did not finish" in s.reason
    assert s.formula == s.expr == to_sympy(p, PSET, "mean")
