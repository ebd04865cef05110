"""The primitive DSL's contract (DESIGN §3): typed, batched, total, symbolic, one row per op.

* every op, every signature: random batched inputs of the declared types give the declared
  output shape and batch size, never raise, never return +-inf, never mutate their inputs;
* batched equals row-by-row (no row mixing);
* the sympy form agrees with the torch implementation where sympy can evaluate it;
* registry and primitive-set checks fail with clear messages;
* the default set and ``gpnas ops --json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys

import pytest
import sympy
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sympy.core.function import AppliedUndef

from primitives import (
    ACT, ALL_TYPES, BN, OPS, SCALAR, STATISTICS, WEIGHT, Op, PrimitiveError, PrimitiveSet,
    Signature, default_primitive_set,
)
from paths import REPO

NAN = float("nan")

FAST = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

OP_SIGS = [(op, sig) for op in OPS for sig in op.signatures]
OP_SIG_IDS = [f"{op.name}:{'-'.join(sig.inputs)}" for op, sig in OP_SIGS]


# -- strategies ------------------------------------------------------------------------------
# Few hypothesis draws per example (each draw costs time): shapes come from one sampled_from,
# tensor contents from a seeded generator plus a handful of drawn choices.
def _layer_dims(b, c, h, c2, h2, k, groups) -> dict[str, tuple[int, ...]]:
    """Per-instance shapes of one network layer: act, bn, weight (scalar is ())."""
    return {ACT: (b, c, h, h), BN: (b, c2, h2, h2), WEIGHT: (c2, c // groups, k, k), SCALAR: ()}


ALL_DIMS = [
    _layer_dims(b, c, h, c2, h2, k, g)
    for b in (1, 2) for c in (1, 2, 3) for h in (1, 2, 3, 4) for c2 in (1, 2, 3)
    for h2 in (1, 2, 3, 4) for k in (1, 2, 3) for g in (1, 2, 3) if c % g == 0
]
ALL_DIMS.sort(key=lambda d: sum(map(math.prod, d.values())))  # shrink towards small shapes

SPECIALS = torch.tensor([0.0, -0.0, 1.0, -1.0, 1e-30, -1e-30, 1e-7, 1e3, -1e3, 999.5, -0.5],
                        dtype=torch.float64)
#: (base, scale): generic normal values from tiny to 1e3, zeros, a constant, sparse, small ints
BASES = [("randn", 1.0), ("randn", 1e-30), ("randn", 1e-3), ("randn", 30.0), ("randn", 1e3),
         ("zeros", 0.0), ("const", 0.0), ("sparse", 1.0), ("sparse", 1e3), ("ints", 1.0)]


@st.composite
def tensors(draw, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    """A tensor of ``shape``: a random base with a few entries set to special values
    (zeros, +-1, tiny, +-1e3) and occasionally one NaN."""
    n = math.prod(shape)
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    base, scale = BASES[draw(st.integers(0, len(BASES) - 1))]
    if base == "randn":
        x = torch.randn(n, generator=gen, dtype=torch.float64) * scale
    elif base == "zeros":
        x = torch.zeros(n, dtype=torch.float64)
    elif base == "const":
        x = SPECIALS[torch.randint(len(SPECIALS), (1,), generator=gen)].expand(n).clone()
    elif base == "sparse":
        x = torch.randn(n, generator=gen, dtype=torch.float64) * scale
        x = x * (torch.rand(n, generator=gen, dtype=torch.float64) < 0.3)
    else:
        x = torch.randint(-2, 3, (n,), generator=gen).to(torch.float64)
    x = x.clamp(-1e3, 1e3)
    n_special = draw(st.integers(0, 4))
    if n_special:
        where = torch.randint(n, (n_special,), generator=gen)
        x[where] = SPECIALS[torch.randint(len(SPECIALS), (n_special,), generator=gen)]
    if draw(st.integers(0, 5)) == 0:  # occasionally NaN
        x[torch.randint(n, (1,), generator=gen)] = NAN
    return x.to(dtype).reshape(shape)


@st.composite
def batched_inputs(draw, sig: Signature, dtype=None):
    """(L, dims, inputs): one batch of L instances for each input type of ``sig``."""
    if dtype is None:
        dtype = (torch.float32, torch.float64)[draw(st.integers(0, 1))]
    L = draw(st.integers(1, 4))
    d = ALL_DIMS[draw(st.integers(0, len(ALL_DIMS) - 1))]
    inputs: list[torch.Tensor] = []
    for t in sig.inputs:
        if inputs and t == sig.inputs[0] and draw(st.integers(0, 3)) == 0:
            inputs.append(inputs[0].clone())  # the same value twice (eq, hamming, kl, cosine)
        else:
            inputs.append(draw(tensors((L, *d[t]), dtype)))
    return L, d, inputs


def _expected_shape(L: int, d: dict, out_type: str) -> tuple[int, ...]:
    return (L,) if out_type == SCALAR else (L, *d[out_type])


# -- every op, every signature: shape, batch, total, finite-or-NaN ----------------------------
def test_every_op_has_signatures_over_known_types():
    for op in OPS:
        assert op.signatures, op.name
        for sig in op.signatures:
            assert set(sig.inputs) | {sig.output} <= set(ALL_TYPES), (op.name, sig)
            assert len(sig.inputs) == op.arity


@pytest.mark.parametrize(("op", "sig"), OP_SIGS, ids=OP_SIG_IDS)
@FAST
@given(data=st.data())
def test_op_contract(op: Op, sig: Signature, data):
    L, d, inputs = data.draw(batched_inputs(sig))
    before = [x.clone() for x in inputs]
    y = op.fn(*inputs)
    assert isinstance(y, torch.Tensor), f"{op.name}{sig}: returned {type(y)}"
    assert tuple(y.shape) == _expected_shape(L, d, sig.output), (
        f"{op.name}{sig}: shape {tuple(y.shape)} for inputs {[tuple(x.shape) for x in inputs]}")
    assert y.dtype == inputs[0].dtype, f"{op.name}{sig}: dtype {y.dtype} from {inputs[0].dtype}"
    assert not torch.isinf(y).any(), f"{op.name}{sig}: returned inf for {inputs}"
    for x, x0 in zip(inputs, before):
        assert torch.equal(x.isnan(), x0.isnan()) and torch.equal(x.nan_to_num(), x0.nan_to_num()), (
            f"{op.name}{sig}: mutated its input")


# -- no row mixing -------------------------------------------------------------------------
@pytest.mark.parametrize(("op", "sig"), OP_SIGS, ids=OP_SIG_IDS)
@settings(FAST, max_examples=10)
@given(data=st.data())
def test_batched_equals_row_by_row(op: Op, sig: Signature, data):
    L, _, inputs = data.draw(batched_inputs(sig, dtype=torch.float64))
    batched = op.fn(*inputs)
    for i in range(L):
        single = op.fn(*(x[i:i + 1] for x in inputs))
        assert single.shape[0] == 1
        torch.testing.assert_close(
            batched[i], single[0], rtol=1e-7, atol=1e-9, equal_nan=True,
            msg=lambda m: f"{op.name}{sig}: row {i} of {L} differs from the op on that row alone\n{m}")


def test_rows_are_independent_of_each_other():
    """Changing one row (to NaN even) never changes another row's result."""
    g = torch.Generator().manual_seed(0)
    shapes = {ACT: (2, 2, 3, 3), BN: (2, 3, 2, 2), WEIGHT: (3, 2, 3, 3), SCALAR: ()}
    for op, sig in OP_SIGS:
        xs = [torch.randn(3, *shapes[t], generator=g, dtype=torch.float64) for t in sig.inputs]
        ref = op.fn(*xs)
        for x in xs:
            x[1] = NAN
        y = op.fn(*xs)
        torch.testing.assert_close(y[0], ref[0], equal_nan=True, msg=f"{op.name}{sig}")
        torch.testing.assert_close(y[2], ref[2], equal_nan=True, msg=f"{op.name}{sig}")


def test_normalize_of_a_constant_instance_is_zero_in_any_batch():
    """Regression: a constant row's rounded mean left a spurious tiny std, so the row came out
    as +-0.98 alone and 0 in a batch (found by the row-by-row property above)."""
    normalize = OPS[12].fn
    x = torch.full((2, 3, 1, 3, 3), 1e-7, dtype=torch.float64)
    x[0] = torch.randn(3, 1, 3, 3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(normalize(x)[1], torch.zeros(3, 1, 3, 3, dtype=torch.float64))
    assert torch.equal(normalize(x[1:])[0], torch.zeros(3, 1, 3, 3, dtype=torch.float64))


# -- sympy agrees with torch ------------------------------------------------------------------
def _scalar_sig(op: Op) -> Signature | None:
    return next((s for s in op.signatures if s.output == SCALAR and set(s.inputs) == {SCALAR}),
                None)


def _evaluable(op: Op) -> bool:
    """Elementwise, with a scalar overload and a sympy form free of undefined functions."""
    if op.kind != "elementwise" or _scalar_sig(op) is None:
        return False
    expr = op.sympy(*sympy.symbols(f"x0:{op.arity}"))
    return not expr.atoms(AppliedUndef)


SYMPY_OPS = [op for op in OPS if _evaluable(op)]

SYMPY_VALUES = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -0.5, 1e-3, -1e-3, 10.0, -30.0]),
    st.floats(-40, 40, allow_nan=False, allow_infinity=False),
)


def test_enough_ops_are_checked_against_sympy():
    assert len(SYMPY_OPS) >= 20, [op.name for op in SYMPY_OPS]


def test_every_sympy_form_is_an_expression():
    for op in OPS:
        expr = op.sympy(*sympy.symbols(f"x0:{op.arity}"))
        assert isinstance(expr, sympy.Basic), op.name


@pytest.mark.parametrize("op", SYMPY_OPS, ids=[op.name for op in SYMPY_OPS])
@settings(FAST, max_examples=40)
@given(data=st.data())
def test_sympy_agrees_with_torch(op: Op, data):
    values = [data.draw(SYMPY_VALUES)]
    for _ in range(op.arity - 1):
        values.append(values[0] if data.draw(st.booleans()) else data.draw(SYMPY_VALUES))
    symbols = sympy.symbols(f"x0:{op.arity}")
    expr = op.sympy(*symbols).subs({s: sympy.Rational(v) for s, v in zip(symbols, values)})
    want = complex(sympy.N(expr, 30))
    assert want.imag == 0, f"{op.name}{tuple(values)}: sympy gives {expr}"
    got = op.fn(*(torch.tensor([v], dtype=torch.float64) for v in values))
    assert got.shape == (1,)
    if not math.isfinite(want.real):  # overflows float64: the op's contract says NaN
        assert math.isnan(got.item()), f"{op.name}{tuple(values)}: torch {got.item()!r}"
        return
    assert math.isclose(got.item(), want.real, rel_tol=1e-9, abs_tol=1e-12), (
        f"{op.name}{tuple(values)}: torch {got.item()!r} != sympy {expr} = {want.real!r}")


# -- registry: refusals with clear messages, lookup --------------------------------------------
def _op(name="foo", paper_id=100, sigs=((ACT,), ACT), **kw) -> Op:
    fields = dict(name=name, paper_id=paper_id, signatures=(Signature(*sigs),),
                  fn=torch.relu, sympy=lambda a: sympy.Max(a, 0), cost=1, kind="elementwise")
    fields.update(kw)
    return Op(**fields)


def test_op_without_sympy_is_refused():
    with pytest.raises(PrimitiveError, match=r"'no_sym'.*sympy"):
        PrimitiveSet({"x": ACT}, [_op("no_sym", sympy=None)])
    pset = PrimitiveSet({"x": ACT}, [])
    with pytest.raises(PrimitiveError, match=r"'no_sym'.*sympy"):
        pset.register(_op("no_sym", sympy=None))
    assert "no_sym" not in pset


def test_op_with_broken_sympy_is_refused():
    def broken(a):
        raise RuntimeError("boom")
    with pytest.raises(PrimitiveError, match=r"'broken'.*sympy"):
        PrimitiveSet({"x": ACT}, [_op("broken", sympy=broken)])


def test_default_ops_without_sympy_are_refused():
    with pytest.raises(PrimitiveError, match="'add'"):
        PrimitiveSet(STATISTICS, [dataclasses.replace(OPS[0], sympy=None), *OPS[1:]])


def test_unreachable_type_is_refused():
    bn_to_scalar = _op("bn_mean", sigs=((BN,), SCALAR), fn=lambda a: a.flatten(1).mean(1),
                       sympy=sympy.Function("mean"), kind="reduction")
    with pytest.raises(PrimitiveError, match=r"unreachable.*'bn'") as info:
        PrimitiveSet({"x": ACT}, [bn_to_scalar])
    assert "scalar" in str(info.value)  # scalar is only made from bn, so it is unreachable too
    assert "terminal" in str(info.value)  # and the message says how to fix it
    # reachable once a terminal of type bn exists
    pset = PrimitiveSet({"x": ACT, "y": BN}, [bn_to_scalar])
    assert pset.min_height == {ACT: 0, BN: 0, SCALAR: 1}


def test_reachability_through_a_chain_and_a_cycle():
    act_to_bn = _op("a2b", 101, sigs=((ACT,), BN))
    bn_to_scalar = _op("b2s", 102, sigs=((BN,), SCALAR))
    scalar_to_scalar = _op("s2s", 103, sigs=((SCALAR,), SCALAR))
    pset = PrimitiveSet({"x": ACT}, [scalar_to_scalar, bn_to_scalar, act_to_bn])
    assert pset.min_height == {ACT: 0, BN: 1, SCALAR: 2}
    with pytest.raises(PrimitiveError, match="unreachable"):  # a cycle alone produces nothing
        PrimitiveSet({"x": ACT}, [scalar_to_scalar])


def test_duplicates_are_refused():
    with pytest.raises(PrimitiveError, match=r"'foo'.*twice"):
        PrimitiveSet({"x": ACT}, [_op("foo", 1), _op("foo", 2)])
    with pytest.raises(PrimitiveError, match=r"paper id 1 of 'bar'.*'foo'"):
        PrimitiveSet({"x": ACT}, [_op("foo", 1), _op("bar", 1)])


@pytest.mark.parametrize(("change", "words"), [
    (dict(signatures=()), "no signature"),
    (dict(signatures=(Signature((ACT,), "matrix"),)), "unknown type"),
    (dict(kind="weird"), "kind"),
    (dict(cost=0), "cost"),
    (dict(cost=float("nan")), "cost"),
    (dict(fn=None), "implementation"),
])
def test_malformed_op_is_refused(change, words):
    with pytest.raises(PrimitiveError, match=rf"'foo'.*{words}"):
        PrimitiveSet({"x": ACT}, [_op("foo", **change)])


def test_terminal_of_unknown_type_is_refused():
    with pytest.raises(PrimitiveError, match=r"'x'.*'matrix'"):
        PrimitiveSet({"x": "matrix"}, [])


def test_lookup_by_name_and_paper_id():
    pset = default_primitive_set()
    for op in OPS:
        assert pset[op.name] is op
        assert pset[op.paper_id] is op
        assert op.name in pset and op.paper_id in pset
    assert pset["add"] is pset[0]
    assert "nope" not in pset and 34 not in pset


def test_unknown_op_lists_known_ops():
    pset = default_primitive_set()
    with pytest.raises(PrimitiveError, match="unknown op 'nope'") as info:
        pset["nope"]
    message = str(info.value)
    for op in OPS:
        assert op.name in message
    with pytest.raises(PrimitiveError, match="unknown op 99"):
        pset[99]


def test_subset_and_producers():
    pset = default_primitive_set()
    sub = pset.subset(["add", "frobenius"])
    assert [op.name for op in sub.ops] == ["add", "frobenius"]
    assert sub.min_height[SCALAR] == 1
    with pytest.raises(PrimitiveError, match="unknown op"):
        pset.subset(["add", "nope"])
    scalar_producers = pset.producers(SCALAR)
    assert all(sig.output == SCALAR for _, sig in scalar_producers)
    assert {op.name for op, _ in scalar_producers} >= {"frobenius", "det", "numel", "add"}
    for t in (ACT, BN, WEIGHT):
        assert {op.name for op, _ in pset.producers(t)} >= {"add", "matmul", "softmax"}


# -- the default set ---------------------------------------------------------------------------
def test_default_set():
    pset = default_primitive_set()
    assert len(pset) == 34
    assert sorted(op.paper_id for op in pset.ops) == list(range(34))
    assert len({op.name for op in pset.ops}) == 34
    assert len(pset.terminals) == 22
    assert pset.min_height == {ACT: 0, BN: 0, WEIGHT: 0, SCALAR: 1}
    assert pset.types == ALL_TYPES
    assert {t: len(pset.terminals_of(t)) for t in (ACT, BN, WEIGHT)} == {ACT: 12, BN: 6, WEIGHT: 4}
    for op in pset.ops:
        assert op.cost > 0 and math.isfinite(op.cost), op.name
    for op in pset.ops:
        if getattr(op, "commutative", False):
            assert op.arity == 2 and all(len(set(s.inputs)) == 1 for s in op.signatures), op.name


def test_commutative_ops_are_commutative():
    g = torch.Generator().manual_seed(1)
    shapes = {ACT: (2, 2, 3, 3), BN: (2, 3, 2, 2), WEIGHT: (3, 2, 3, 3), SCALAR: ()}
    for op, sig in OP_SIGS:
        if not getattr(op, "commutative", False):
            continue
        a, b = (torch.randn(3, *shapes[t], generator=g, dtype=torch.float64) for t in sig.inputs)
        torch.testing.assert_close(op.fn(a, b), op.fn(b, a), equal_nan=True, msg=op.name)


def test_cli_ops_json():
    proc = subprocess.run([sys.executable, "-m", "gpnas", "ops", "--json"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 34
    assert [r["id"] for r in rows] == list(range(34))
    for r in rows:
        assert {"id", "name", "signatures", "sympy", "cost"} <= set(r), r
        assert r["signatures"] and all("->" in s for s in r["signatures"])
        assert isinstance(r["sympy"], str) and r["sympy"]
        assert r["cost"] > 0
    assert {r["name"] for r in rows} == {op.name for op in OPS}
