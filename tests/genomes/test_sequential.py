"""Linear (sequential) programs: layout, genome, creation, variation, introns, lowering, JSON."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pytest
import torch

import primitives
from primitives import STAT_NAMES, PrimitiveError
from representations.sequential import (Layout, Linear, SequentialRepresentation, check,
                                        interpret, is_valid, lower, strip, trace)
from representations.sequential import create, variation
from representations.sequential.genome import from_flat, text

PSET = primitives.default_primitive_set()
LAYOUT = Layout.of(PSET)
ID = {op.name: op.paper_id for op in PSET.ops}
S0 = LAYOUT.output
OPERATOR_NAMES = tuple(variation.OPERATORS)


pytestmark = pytest.mark.usefixtures("one_thread")


def addr(name: str) -> int:
    return LAYOUT.address(name)


def prog(*lines: tuple[str, str, str, str | None]) -> Linear:
    """Instructions from names: (write, op, read1, read2 or None for a unary op)."""
    return Linear([(addr(w), ID[op], addr(r1), addr(r2 or r1)) for w, op, r1, r2 in lines])


def statistics(seed: int, n: int = 3, dtype=torch.float64) -> dict[str, torch.Tensor]:
    """Random statistics with a leading instance axis of ``n``."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {"act": (1, 4, 6, 6), "bn": (1, 4, 6, 6), "weight": (4, 4, 3, 3)}
    return {name: torch.randn(n, *shapes[t], generator=gen, dtype=dtype)
            for name, t in PSET.terminals.items()}


def eval_program(program, tensors) -> torch.Tensor:
    """Engine-free evaluation of an IR program, node by node (dead code included)."""
    values = []
    with torch.no_grad():
        for node in program.nodes:
            values.append(tensors[node.name] if node.op is None
                          else PSET[node.op].fn(*[values[a] for a in node.args]))
    return values[program.output]


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and torch.allclose(a, b, rtol=1e-6, atol=1e-9, equal_nan=True)


def population(rep: SequentialRepresentation, seed: int, n: int) -> list[Linear]:
    rng = np.random.default_rng(seed)
    return [rep.random(rng) for _ in range(n)]


def assert_sound(g: Linear, pset=PSET, layout=LAYOUT) -> None:
    """In range, writes no static, known op ids, valid."""
    check(g, pset, layout)
    for w, op, r1, r2 in g:
        assert layout.tensor_base <= w < layout.size
        assert op in pset and 0 <= r1 < layout.size and 0 <= r2 < layout.size
    assert is_valid(g, pset, layout)


# -- layout / genome ----------------------------------------------------------------------------
def test_address_map():
    assert LAYOUT.statics == STAT_NAMES and LAYOUT.n_static == 22
    assert (LAYOUT.tensor_base, LAYOUT.scalar_base, LAYOUT.size, LAYOUT.output) == (22, 102, 122, 102)
    assert [LAYOUT.name(a) for a in (0, 21, 22, 101, 102, 121)] == [
        "weight", STAT_NAMES[21], "t0", "t79", "s0", "s19"]
    assert [LAYOUT.space(a) for a in (0, 21, 22, 101, 102)] == [
        "static", "static", "tensor", "tensor", "scalar"]
    assert LAYOUT.read_space(5) == LAYOUT.read_space(50) == "tensor" and LAYOUT.read_space(110) == "scalar"
    assert all(LAYOUT.address(LAYOUT.name(a)) == a for a in range(LAYOUT.size))
    for bad in ("t80", "s20", "relu_in.bogus"):
        with pytest.raises(PrimitiveError):
            LAYOUT.address(bad)
    small = Layout.of(PSET, n_tensor=3, n_scalar=2)
    assert (small.size, small.output, small.name(24), small.name(26)) == (27, 25, "t2", "s1")


def test_genome_is_immutable_hashable_picklable():
    g = prog(("t0", "log", "weight", None), ("s0", "frobenius", "t0", None))
    h = Linear([list(ins) for ins in g])
    assert g == h and hash(g) == hash(h) and len({g, h}) == 1
    assert g.flat() == [22, ID["log"], 0, 0, 102, ID["frobenius"], 22, 22]
    assert from_flat(g.flat(), PSET, LAYOUT) == g
    with pytest.raises(AttributeError):
        g.instructions = ()
    assert pickle.loads(pickle.dumps(g)) == g
    assert Linear([(np.int64(22), 7, 0, 0)])[0] == (22, 7, 0, 0)


@pytest.mark.parametrize("instrs, msg", [
    ([], "at least one instruction"),
    ([(22, 7, 0)], "expected 4 integers"),
    ([(22, 7, 0, 0, 0)], "expected 4 integers"),
    ([(22, 7, 0, -1)], "negative"),
    ([(22, 7, 0, 1.5)], "expected an integer"),
    ([(22, True, 0, 0)], "expected an integer"),
    (["abcd"], "expected 4 integers"),
])
def test_malformed_genomes(instrs, msg):
    with pytest.raises(PrimitiveError, match=msg):
        Linear(instrs)


# -- types, introns, validity ----------------------------------------------------------------
def test_execution_rules_and_introns_by_hand():
    g = prog(
        ("t0", "log", "relu_in.data", None),            # 0 act          effective
        ("t1", "add", "t0", "weight"),                  # 1 act + weight  skipped (no signature)
        ("s3", "frobenius", "t7", None),                # 2 reads t7 never written: skipped
        ("t2", "frobenius", "t0", None),                # 3 scalar into a tensor address: skipped
        ("s1", "frobenius", "weight", None),            # 4 overwritten before any read: intron
        ("s1", "l1_norm", "t0", None),                  # 5 effective
        ("t0", "exp", "weight", None),                  # 6 t0 now holds a weight: intron
        ("s0", "mul", "s1", "s1"),                      # 7 effective
        ("s2", "abs", "s0", None),                      # 8 after the output: intron
    )
    tr = trace(g, PSET, LAYOUT)
    assert tr.valid
    assert tr.out_types == ("act", None, None, None, "scalar", "scalar", "weight", "scalar", "scalar")
    assert tr.effective_indices == [0, 5, 7]
    assert (tr.total_length, tr.executed_length, tr.effective_length) == (9, 6, 3)
    assert tr.notes() == ["", "skipped", "skipped", "skipped", "intron", "", "intron", "", "intron"]
    p = lower(g, PSET)
    assert p.text() == "mul(l1_norm(log(relu_in.data)), l1_norm(log(relu_in.data)))"
    assert p.size == 4  # relu_in.data, log, l1_norm (shared), mul
    full = lower(g, PSET, keep_introns=True)
    assert full.size == 8 and full.nodes[full.output].op == "mul"  # 6 executed + 2 statistics
    assert strip(g, PSET, LAYOUT) == Linear([g[0], g[5], g[7]])
    rep = SequentialRepresentation(PSET)
    assert rep.size(g) == rep.effective_length(g) == 3 and rep.total_length(g) == 9
    assert rep.height(g) == 3
    assert rep.listing(g).splitlines()[1].endswith("# skipped")
    assert rep.listing(g).splitlines()[4].endswith("# intron")


def test_invalid_programs_are_refused_everywhere():
    g = prog(("t0", "log", "relu_in.data", None), ("s1", "frobenius", "t0", None),
             ("s0", "frobenius", "s1", None))  # frobenius takes no scalar: skipped
    assert not is_valid(g, PSET, LAYOUT) and not trace(g, PSET, LAYOUT).valid
    with pytest.raises(PrimitiveError, match="output address s0"):
        lower(g, PSET)
    with pytest.raises(PrimitiveError, match="s0 is never written"):
        interpret(g, PSET, statistics(0))
    with pytest.raises(PrimitiveError, match="invalid program"):
        SequentialRepresentation(PSET).from_json({"repr": "sequential", "program": [list(i) for i in g]})


def test_validity_is_decided_without_tensors():
    """On uniformly random integer arrays, type inference says valid exactly when the direct
    interpreter produces an output, and every valid one lowers to the interpreter's value."""
    rng = np.random.default_rng(0)
    ids = [op.paper_id for op in PSET.ops]
    tensors = statistics(1)
    seen_valid = 0
    for _ in range(3000):
        n = int(rng.integers(1, 13))
        g = Linear([(int(rng.integers(LAYOUT.tensor_base, LAYOUT.size)), ids[int(rng.integers(len(ids)))],
                     int(rng.integers(LAYOUT.size)), int(rng.integers(LAYOUT.size)))
                    for _ in range(n)])
        ok = is_valid(g, PSET, LAYOUT)
        try:
            value = interpret(g, PSET, tensors)
        except PrimitiveError:
            assert not ok
            continue
        assert ok
        seen_valid += 1
        assert same(eval_program(lower(g, PSET), tensors), value)
    assert seen_valid >= 3


# -- creation -----------------------------------------------------------------------------------
def test_random_programs_are_valid_and_in_range():
    rep = SequentialRepresentation(PSET)
    pop = population(rep, 1, 300)
    for g in pop:
        assert_sound(g)
        assert 5 <= len(g) <= 20
        tr = rep.trace(g)
        assert tr.executed_length == len(g)  # creation only draws executable instructions
        assert 1 <= tr.effective_length <= len(g)
    effective = np.mean([rep.size(g) for g in pop])
    assert 2.5 < effective < 10  # data flows: not just one reduction of a statistic
    assert len({rep.text(g) for g in pop}) > 250
    ops_used = {PSET[ins[1]].name for g in pop for ins in g}
    assert len(ops_used) == len(PSET.ops)


def _two_step_set() -> primitives.PrimitiveSet:
    """One statistic (weight) and a scalar two steps away: weight -> act -> scalar."""
    to_act = primitives.Op("to_act", 90, (primitives.Signature(("weight",), "act"),),
                           lambda a: a, lambda a: a, 1, "elementwise")
    total = primitives.Op("total", 91, (primitives.Signature(("act",), "scalar"),),
                          lambda a: a.flatten(1).sum(1), lambda a: a, 1, "reduction")
    return primitives.PrimitiveSet({"weight": "weight"}, [to_act, total])


def test_creation_fallbacks_never_fail():
    rng = np.random.default_rng(2)
    g = create.constructive(PSET, LAYOUT, rng)
    assert_sound(g) and len(g) == 1 and g[0][0] == S0
    two = _two_step_set()
    layout = Layout.of(two)
    g = create.constructive(two, layout, rng)
    assert_sound(g, two, layout)
    assert [two[op].name for _, op, _, _ in g] == ["to_act", "total"]
    # one instruction can never write s0 here: every try fails, the constructive program is used
    rep = SequentialRepresentation(two, min_length=1, max_length=1)
    assert rep.random(rng) == g
    rep = SequentialRepresentation(two, min_length=2, max_length=6)
    for _ in range(20):
        assert_sound(rep.random(rng), two, layout)
    for lo, hi in [(1, 1), (1, 3), (5, 20), (30, 40)]:
        rep = SequentialRepresentation(PSET, min_length=lo, max_length=hi, length_limit=None)
        for _ in range(30):
            g = rep.random(rng)
            assert_sound(g)
            assert lo <= len(g) <= hi
    # with no bias towards s0 and one instruction, most draws miss s0: the forced try fixes it
    rep = SequentialRepresentation(PSET, min_length=1, max_length=1, p_output=0.0)
    assert all(rep.random(rng)[0][0] == S0 for _ in range(30))


def test_bad_parameters():
    for kwargs in [dict(min_length=0), dict(min_length=5, max_length=4),
                   dict(max_length=70, length_limit=64), dict(mutation_weights={"bogus": 1}),
                   dict(mutation_weights={"insert_op": 0}), dict(p_recent=1.5)]:
        with pytest.raises(ValueError):
            SequentialRepresentation(PSET, **kwargs)
    tensor_only = primitives.PrimitiveSet(PSET.terminals, [PSET["matmul"], PSET["softmax"]])
    with pytest.raises(ValueError, match="scalar"):
        SequentialRepresentation(tensor_only)


# -- variation ----------------------------------------------------------------------------------
def test_mate_interleaves_first_halves():
    rep = SequentialRepresentation(PSET)
    pop = population(rep, 3, 200)
    returned_parent = 0
    for a, b in zip(pop, pop[1:]):
        c = rep.crossover(a, b, np.random.default_rng(0))
        assert_sound(c)
        ha, hb = a.instructions[:(len(a) + 1) // 2], b.instructions[:(len(b) + 1) // 2]
        expect = [x for pair in zip(ha, hb) for x in pair] + list(ha[len(hb):]) + list(hb[len(ha):])
        if c is a:
            returned_parent += 1
            assert not is_valid(Linear(expect), PSET, LAYOUT)
        else:
            assert list(c.instructions) == expect
    assert returned_parent < 0.3 * len(pop)
    g = prog(("s0", "frobenius", "weight", None))
    assert variation.mate(g, g, PSET, LAYOUT) == Linear([g[0], g[0]])
    assert variation.mate(g, g, PSET, LAYOUT, max_length=1) is g


def _diff(a: Linear, b: Linear) -> list[int]:
    return [i for i, (x, y) in enumerate(zip(a, b)) if x != y]


def test_each_mutation_operator_keeps_addresses_and_spaces():
    rep = SequentialRepresentation(PSET)
    rng = np.random.default_rng(4)
    for g in population(rep, 5, 150):
        i = variation.insert_op(g, rng, PSET, LAYOUT, 64)
        assert_sound(i)
        assert len(i) == len(g) + 1
        assert any(i.instructions[:k] + i.instructions[k + 1:] == g.instructions for k in range(len(i)))

        r = variation.remove_op(g, rng, PSET, LAYOUT)
        if r is not None:
            assert_sound(r)
            assert any(g.instructions[:k] + g.instructions[k + 1:] == r.instructions for k in range(len(g)))

        m = variation.mutate_op(g, rng, PSET, LAYOUT)
        assert_sound(m)
        (k,) = _diff(g, m)
        (w, op, r1, r2), (w2, op2, r12, r22) = g[k], m[k]
        assert (w, r1, r2) == (w2, r12, r22) and op != op2

        a = variation.mutate_op_arg(g, rng, PSET, LAYOUT)
        assert_sound(a)
        (k,) = _diff(g, a)
        old, new = g[k], a[k]
        assert old[:2] == new[:2]
        slots = [s for s in (2, 3) if old[s] != new[s]]
        assert len(slots) == 1
        s = slots[0]
        assert s == 2 or PSET[old[1]].arity == 2  # only a read the op uses
        assert LAYOUT.read_space(old[s]) == LAYOUT.read_space(new[s])  # never tensor <-> scalar


def test_type_aware_mutations_keep_instructions_executable():
    """Replacements that keep the instruction's output type are preferred, so a mutation of a
    fully executed program rarely makes any instruction skipped."""
    rep = SequentialRepresentation(PSET)
    rng = np.random.default_rng(6)
    intact = total = 0
    for g in population(rep, 7, 100):  # random programs execute every instruction
        for op in (variation.mutate_op, variation.mutate_op_arg):
            child = op(g, rng, PSET, LAYOUT)
            total += 1
            intact += rep.trace(child).executed_length == len(child)
            k = _diff(g, child)[0]
            before, after = rep.trace(g).out_types, rep.trace(child).out_types
            if after[k] == before[k]:  # same type written: nothing downstream changes
                assert after == before
    assert intact > 0.9 * total


def test_operators_return_none_or_parent_when_they_cannot_apply():
    rng = np.random.default_rng(8)
    g = prog(("s0", "frobenius", "weight", None))
    assert variation.remove_op(g, rng, PSET, LAYOUT) is None  # one instruction: nothing to remove
    assert variation.insert_op(g, rng, PSET, LAYOUT, max_length=1) is None
    rep = SequentialRepresentation(PSET, min_length=1, max_length=1, length_limit=1,
                                   mutation_weights={"remove_op": 1, "insert_op": 1})
    assert all(rep.mutate(g, rng) is g for _ in range(20))
    # removing the only writer of s0 is never returned
    two = prog(("s1", "frobenius", "weight", None), ("s0", "abs", "s1", None))
    assert variation.remove_op(two, rng, PSET, LAYOUT) is None


def test_mutation_weights_select_operators():
    rng = np.random.default_rng(9)
    for name in OPERATOR_NAMES:
        rep = SequentialRepresentation(PSET, mutation_weights={name: 2.0})
        assert rep.mutation_weights == {name: 1.0}
        for g in population(rep, 10, 30):
            m = rep.mutate(g, rng)
            assert_sound(m)
            if name == "insert_op":
                assert len(m) == len(g) + 1
            elif name == "remove_op":
                assert len(m) == len(g) - 1 or m is g
            else:
                assert len(m) == len(g) and len(_diff(g, m)) == 1
    assert SequentialRepresentation(PSET).mutation_weights == variation.DEFAULT_WEIGHTS


def test_variation_over_generations_keeps_programs_sound_and_limited():
    weights = {"insert_op": 3, "remove_op": 1, "mutate_op": 1, "mutate_op_arg": 1}
    rep = SequentialRepresentation(PSET, length_limit=24, mutation_weights=weights)
    rng = np.random.default_rng(11)
    pop = population(rep, 12, 40)
    longest = 0
    for _ in range(25):
        nxt = []
        for _ in range(len(pop)):
            a, b = (pop[int(i)] for i in rng.integers(len(pop), size=2))
            child = rep.crossover(a, b, rng) if rng.random() < 0.3 else rep.mutate(a, rng)
            assert len(child) <= 24
            nxt.append(child)
        pop = nxt
        for g in pop:
            assert_sound(g)
            assert rep.text(g) == rep.lower(g).text()
        longest = max(longest, max(map(len, pop)))
    assert longest == 24  # the limit was exercised


# -- semantics: introns and lowering -------------------------------------------------------------
def _programs_with_introns(seed: int, n: int) -> list[Linear]:
    """Random programs and variants of them (the latter have skipped instructions too)."""
    rep = SequentialRepresentation(PSET)
    rng = np.random.default_rng(seed)
    out = []
    for g in population(rep, seed, n):
        out.append(g)
        out.append(variation.mate(g, rep.random(rng), PSET, LAYOUT))
        out.append(variation.mutate_op_arg(variation.insert_op(g, rng, PSET, LAYOUT) or g, rng,
                                           PSET, LAYOUT) or g)
    return out


def test_removing_introns_never_changes_the_output():
    tensors = statistics(20)
    for g in _programs_with_introns(21, 40):
        e = strip(g, PSET, LAYOUT)
        assert len(e) == trace(g, PSET, LAYOUT).effective_length
        assert trace(e, PSET, LAYOUT).effective == (True,) * len(e)  # no introns left
        assert same(interpret(g, PSET, tensors), interpret(e, PSET, tensors))


def test_lowering_equals_direct_interpretation():
    tensors = statistics(30)
    finite = 0
    for g in _programs_with_introns(31, 40):
        direct = interpret(g, PSET, tensors)
        assert direct.shape == (3,)
        pruned = lower(g, PSET)
        full = lower(g, PSET, keep_introns=True)
        assert pruned.type == full.type == "scalar"
        assert full.size >= pruned.size
        assert full.size - len(full.statistics) <= trace(g, PSET, LAYOUT).executed_length
        assert full.pruned().key == pruned.key and full.key != pruned.key
        assert same(eval_program(pruned, tensors), direct)
        assert same(eval_program(full, tensors), direct)
        finite += bool(torch.isfinite(direct).all())
    assert finite > 40  # the comparison is not vacuous (NaN == NaN everywhere)


def test_lowering_hash_conses_and_sorts_commutative_arguments():
    a = prog(("t0", "relu", "relu_in.data", None), ("t1", "relu", "relu_in.data", None),
             ("s1", "frobenius", "t0", None), ("s2", "l1_norm", "t1", None),
             ("s0", "add", "s1", "s2"))
    b = prog(("t5", "relu", "relu_in.data", None), ("s4", "l1_norm", "t5", None),
             ("s3", "frobenius", "t5", None), ("s0", "add", "s4", "s3"))
    assert lower(a, PSET).key == lower(b, PSET).key
    assert lower(a, PSET).size == 5 and lower(a, PSET).text() == lower(b, PSET).text()


# -- representation interface -------------------------------------------------------------------
def test_representation_interface_and_cache():
    rep = SequentialRepresentation(PSET, cache_size=50)
    assert rep.name == "sequential"
    for g in population(rep, 40, 120):
        p = rep.lower(g)
        assert rep.lower(g) is p
        assert rep.lower(rep.from_json(rep.to_json(g))) is p
        assert rep.text(g) == p.text()
        assert rep.size(g) == rep.effective_length(g) <= rep.total_length(g) == len(g)
        assert rep.height(g) >= 1 and p.size <= rep.size(g) + len(p.statistics)
        assert rep.effective(g) == strip(g, PSET, LAYOUT)
        assert len(rep.listing(g).splitlines()) == len(g)
    assert len(rep._cache) <= 50
    kept = SequentialRepresentation(PSET, keep_introns=True)
    g = population(kept, 41, 1)[0]
    assert kept.lower(g).output_index is not None and kept.lower(g).pruned().key == rep.lower(g).key


# -- determinism ---------------------------------------------------------------------------------
def run_sequence(seed: int, n: int = 40) -> list[str]:
    rep = SequentialRepresentation(PSET)
    rng = np.random.default_rng(seed)
    pop = [rep.random(rng) for _ in range(n)]
    out = [json.dumps(rep.to_json(g)) for g in pop]
    for i in range(n):
        out.append(json.dumps(rep.to_json(rep.crossover(pop[i], pop[-i - 1], rng))))
        out.append(json.dumps(rep.to_json(rep.mutate(pop[i], rng))))
    return out


def test_same_seed_same_programs_whatever_the_global_rngs():
    """(No cross-process check: the package never iterates a set or str-keyed dict where the
    order reaches a random draw, so string hashing cannot matter.)"""
    random.seed(1)
    np.random.seed(1)
    first = run_sequence(42)
    random.seed(2)
    np.random.seed(2)
    assert run_sequence(42) == first
    assert run_sequence(43) != first


# -- JSON / text ---------------------------------------------------------------------------------
def test_json_and_text_round_trip():
    rep = SequentialRepresentation(PSET)
    for g in population(rep, 50, 200):
        data = rep.to_json(g)
        assert set(data) == {"repr", "program"} and data["repr"] == "sequential"
        assert rep.from_json(json.loads(json.dumps(data))) == g
        assert rep.from_json(data["program"]) == g
        assert rep.from_json(g.flat()) == g
        back = rep.parse(rep.listing(g))
        # the text drops the ignored second read of unary ops (parse sets it to the first)
        assert [(w, op, r1) for w, op, r1, _ in back] == [(w, op, r1) for w, op, r1, _ in g]
        assert rep.lower(back).key == rep.lower(g).key
        assert all(r2 == r1 for _, op, r1, r2 in back if PSET[op].arity == 1)
    g = prog(("t3", "log", "relu_in.data", None), ("s0", "cosine", "t3", "relu_out.noise"))
    assert text(g, PSET, LAYOUT) == "t3 = log(relu_in.data)\ns0 = cosine(t3, relu_out.noise)"
    assert rep.to_json(g) == {"repr": "sequential",
                              "program": [[25, ID["log"], 1, 1], [102, ID["cosine"], 25, 9]]}


@pytest.mark.parametrize("data, msg", [
    ({"repr": "tree", "program": [[102, 17, 0, 0]]}, "not a sequential genome"),
    ({"repr": "sequential"}, "needs a 'program'"),
    ({"repr": "sequential", "program": [[102, 17, 0, 0]], "x": 1}, "unknown key"),
    ({"repr": "sequential", "program": "s0 = frobenius(weight)"}, "list of"),
    ([], "at least one instruction"),
    ([102, 17, 0, 0, 102], "4 integers per instruction"),
    ([[102, 17, 0]], "expected 4 integers"),
    ([[102, 17, 0, 0], [102, 17, 0]], "instruction 1: expected 4 integers"),
    ([[122, 17, 0, 0]], "write address 122 out of range"),
    ([[5, 17, 0, 0]], "static, read-only address"),
    ([[102, 34, 0, 0]], "unknown op id 34"),
    ([[102, 17, 122, 0]], "read address 1 = 122 out of range"),
    ([[102, 26, 0, 500]], "read address 2 = 500 out of range"),
    ([[102, 17, -1, 0]], "negative"),
    ([[102, 17, "weight", 0]], "expected an integer"),
    ([[102, 17.0, 0, 0]], "expected an integer"),
    ([[102, False, 0, 0]], "expected an integer"),
    ([[103, 17, 0, 0]], "invalid program: no executed instruction writes the output"),
    ([[102, 9, 0, 0]], "invalid program"),  # abs(weight) is a tensor: not written to s0
    (None, "list of"),
])
def test_bad_json_is_refused_clearly(data, msg):
    with pytest.raises(PrimitiveError, match=msg):
        SequentialRepresentation(PSET).from_json(data)


@pytest.mark.parametrize("source, msg", [
    ("", "at least one instruction"),
    ("s0 = frobenius(weight", "expected '<address> = <op>"),
    ("s0 = nope(weight)", "unknown op 'nope'"),
    ("s0 = frobenius(weight, weight)", "takes 1 argument"),
    ("s0 = add(s1)", "takes 2 argument"),
    ("s0 = frobenius(t80)", "out of range"),
    ("weight = log(weight)", "static, read-only"),
    ("s0 = frobenius(bogus)", "unknown address 'bogus'"),
    ("t0 = log(weight)", "invalid program"),
])
def test_bad_text_is_refused(source, msg):
    with pytest.raises(PrimitiveError, match=msg):
        SequentialRepresentation(PSET).parse(source)


def test_parse_reads_comments_and_blank_lines():
    rep = SequentialRepresentation(PSET)
    g = rep.parse("# a program\n\nt0 = relu(relu_out.data)   # chain\ns0 = l1_norm(t0)\n")
    assert g == prog(("t0", "relu", "relu_out.data", None), ("s0", "l1_norm", "t0", None))
    assert rep.text(g) == "l1_norm(relu(relu_out.data))"
