"""Typed expression trees: creation, variation, limits, JSON, determinism, lowering."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import primitives
from primitives import PrimitiveError
from representations.tree import Tree, TreeNode, TreeRepresentation, check, from_json, lower, parse
from representations.tree import create, crossover, mutation
from representations.tree.genome import canonical_text
from paths import REPO

PSET = primitives.default_primitive_set()
TYPES = PSET.types

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_well_typed(tree: Tree, pset=PSET) -> None:
    """Every node agrees with the primitive set and the tree lowers."""
    check(tree, pset)
    for i, node in enumerate(tree.nodes):
        if node.arity:
            kids = tuple(tree.nodes[c].type for c in tree.children(i))
            assert pset[node.name].output_type(kids) == node.type
        else:
            assert pset.terminals[node.name] == node.type
    prog = lower(tree, pset)
    assert prog.type == tree.type


def population(rep: TreeRepresentation, seed: int, n: int) -> list[Tree]:
    rng = np.random.default_rng(seed)
    return [rep.random(rng) for _ in range(n)]


# -- genome ---------------------------------------------------------------------------------
def test_genome_shape_and_slicing():
    t = parse("mul(relu_in.data, log(add(relu_out.noise, relu_in.data)))", PSET)
    assert t.size == len(t) == 6 and t.height == 3 and t.type == "act"
    assert [n.name for n in t] == ["mul", "relu_in.data", "log", "add", "relu_out.noise",
                                   "relu_in.data"]
    assert t.children(0) == [1, 2] and t.children(3) == [4, 5]
    assert t.end(2) == 6 and t.end(1) == 2
    assert t.depths == (0, 1, 1, 2, 3, 3)
    assert t.subtree(2).text() == "log(add(relu_out.noise, relu_in.data))"
    assert t.subtree(2).height == 2 and t.subtree_height(2) == 2
    swapped = t.replace(1, parse("relu_out.data", PSET))
    assert swapped.text() == "mul(relu_out.data, log(add(relu_out.noise, relu_in.data)))"
    assert t.text() == "mul(relu_in.data, log(add(relu_out.noise, relu_in.data)))"  # unchanged


def test_genome_is_immutable_hashable_picklable():
    t = parse("frobenius(sub(weight, weight_grad.data))", PSET)
    u = parse("frobenius(sub(weight, weight_grad.data))", PSET)
    assert t == u and hash(t) == hash(u) and len({t, u}) == 1
    with pytest.raises(AttributeError):
        t.nodes = ()
    assert pickle.loads(pickle.dumps(t)) == t
    assert t != parse("frobenius(sub(weight_grad.data, weight))", PSET)


@pytest.mark.parametrize("nodes, msg", [
    ([], "at least one node"),
    ([("add", "act", 2), ("relu_in.data", "act", 0)], "needs 2 argument"),
    ([("relu_in.data", "act", 0), ("relu_in.data", "act", 0)], "2 trees"),
])
def test_malformed_node_sequences(nodes, msg):
    with pytest.raises(PrimitiveError, match=msg):
        Tree(nodes)


def test_check_catches_wrong_stored_types():
    bad = Tree([TreeNode("log", "bn", 1), TreeNode("relu_in.data", "act", 0)])
    with pytest.raises(PrimitiveError, match="primitive set says"):
        check(bad, PSET)
    with pytest.raises(PrimitiveError, match="unknown op 'nope'"):
        check(Tree([TreeNode("nope", "act", 1), TreeNode("relu_in.data", "act", 0)]), PSET)


# -- creation -------------------------------------------------------------------------------
@pytest.mark.parametrize("root_type", TYPES)
@pytest.mark.parametrize("lo, hi", [(0, 0), (0, 1), (1, 1), (2, 6), (3, 8)])
def test_creation_respects_depth_and_type(root_type, lo, hi):
    rng = np.random.default_rng([TYPES.index(root_type), lo, hi])
    floor = PSET.min_height[root_type]
    for _ in range(60):
        t = create.half_and_half(PSET, rng, lo, hi, root_type)
        assert t.type == root_type
        assert max(lo, floor) <= t.height <= max(hi, floor)
        assert_well_typed(t)
        for method in (create.GROW, create.FULL):
            h = int(rng.integers(lo, hi + 1))
            u = create.generate(PSET, rng, root_type, h, method, lo)
            assert u.type == root_type
            if method == create.FULL:
                assert u.height == max(h, floor)
            else:
                assert max(lo, floor) <= u.height <= max(h, floor)
            assert_well_typed(u)
            if method == create.FULL:  # every leaf sits at the full height (default set)
                leaves = [i for i, n in enumerate(u) if n.arity == 0]
                assert all(u.depths[i] == u.height for i in leaves)


def test_random_root_types_cover_all_types():
    rep = TreeRepresentation(PSET)
    trees = population(rep, 3, 400)
    assert {t.type for t in trees} == set(TYPES)
    assert all(2 <= t.height <= 6 for t in trees)
    for t in trees:
        assert_well_typed(t)
    fixed = TreeRepresentation(PSET, root_type="scalar")
    assert {t.type for t in population(fixed, 4, 50)} == {"scalar"}


SUBSET_OPS = [op.name for op in PSET.ops]


@FAST
@given(st.lists(st.sampled_from(SUBSET_OPS), min_size=1, max_size=6, unique=True),
       st.integers(0, 2**32 - 1), st.integers(0, 4), st.integers(0, 4))
def test_creation_never_fails_on_any_primitive_subset(names, seed, lo, extra):
    try:
        pset = PSET.subset(names)
    except PrimitiveError:
        return  # e.g. a scalar-only op without a reduction: refused at construction
    rng = np.random.default_rng(seed)
    for root_type in pset.types:
        for _ in range(5):
            t = create.half_and_half(pset, rng, lo, lo + extra, root_type)
            assert t.type == root_type and t.height <= max(lo + extra, pset.min_height[root_type])
            assert_well_typed(t, pset)
            t = mutation.subtree_mutation(t, rng, pset)
            assert_well_typed(t, pset)


def test_bad_creation_parameters():
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, min_depth=4, max_depth=2)
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, max_depth=6, max_height=5)
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, root_type="matrix")
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, mutation_weights={"subtree": 1, "bogus": 1})
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, mutation_weights={"subtree": -1, "point": 2})
    with pytest.raises(ValueError):
        TreeRepresentation(PSET, mutation_weights={"subtree": 0})


# -- variation ------------------------------------------------------------------------------
def test_variation_keeps_types_and_height_limit_over_generations():
    """A small evolution with no selection pressure: trees grow towards the limit."""
    rep = TreeRepresentation(PSET)
    rng = np.random.default_rng(11)
    pop = population(rep, 12, 40)
    tallest = 0
    for _ in range(25):
        nxt = []
        for _ in range(len(pop)):
            a, b = (pop[int(i)] for i in rng.integers(len(pop), size=2))
            child = rep.crossover(a, b, rng) if rng.random() < 0.5 else rep.mutate(a, rng)
            assert child.height <= rep.max_height
            nxt.append(child)
        pop = nxt
        for t in pop:
            assert_well_typed(t)
            assert rep.lower(t).text() == rep.text(t)
        tallest = max(tallest, max(t.height for t in pop))
    assert tallest >= 7  # the limit was actually exercised


def test_crossover_swaps_same_typed_subtrees():
    rep = TreeRepresentation(PSET)
    rng = np.random.default_rng(5)
    pop = population(rep, 6, 200)
    changed = possible = 0
    for a, b in zip(pop, pop[1:]):
        c = crossover.one_point(a, b, rng)
        assert_well_typed(c)
        assert c.type == a.type
        if set(crossover.crossover_points(a)) & set(crossover.crossover_points(b)):
            possible += 1
            changed += c != a
        else:
            assert c is a
        if len(a) * len(b) <= 400:
            # the child is `a` with one non-root subtree replaced by a same-typed one of `b`
            assert c is a or any(a.replace(i, b.subtree(j)) == c
                       for i in range(1, len(a)) for j in range(1, len(b))
                       if a.nodes[i].type == b.nodes[j].type)
    assert possible > 50 and changed > 0.8 * possible


def test_crossover_without_common_type_returns_first_parent():
    a = parse("frobenius(relu_in.data)", PSET)       # non-root types: act
    b = parse("frobenius(weight)", PSET)             # non-root types: weight
    assert crossover.one_point(a, b, np.random.default_rng(0)) is a
    lone = parse("weight", PSET)
    assert crossover.one_point(lone, b, np.random.default_rng(0)) is lone


def test_static_limit_returns_parent():
    rep = TreeRepresentation(PSET, min_depth=2, max_depth=3, max_height=3)
    rng = np.random.default_rng(8)
    pop = population(rep, 9, 60)
    parents_returned = 0
    for a, b in zip(pop, pop[1:]):
        c = rep.crossover(a, b, rng)
        m = rep.mutate(a, rng)
        assert c.height <= 3 and m.height <= 3
        parents_returned += (c is a) + (m is a)
        unlimited = crossover.one_point(a, b, np.random.default_rng(1))
        if unlimited.height > 3:
            assert crossover.one_point(a, b, np.random.default_rng(1), max_height=3) is a
    assert parents_returned > 0


def test_each_mutation_operator():
    rep = TreeRepresentation(PSET)
    rng = np.random.default_rng(21)
    seen = {name: 0 for name in mutation.OPERATORS}
    for t in population(rep, 22, 150):
        s = mutation.subtree_mutation(t, rng, PSET)
        assert_well_typed(s)
        assert s.type == t.type

        p = mutation.point_mutation(t, rng, PSET)
        assert p is not None  # the default set always has an alternative statistic
        assert_well_typed(p)
        assert len(p) == len(t) and sum(x != y for x, y in zip(p.nodes, t.nodes)) == 1
        assert [(n.type, n.arity) for n in p] == [(n.type, n.arity) for n in t]

        k = mutation.shrink_mutation(t, rng, PSET)
        if k is not None:
            assert_well_typed(k)
            assert k.type == t.type and len(k) < len(t) and k.height <= t.height
            seen["shrink"] += 1

        h = mutation.hoist_mutation(t, rng, PSET)
        if h is not None:
            assert_well_typed(h)
            assert h.type == t.type and len(h) < len(t)
            seen["hoist"] += 1
        h2 = mutation.hoist_mutation(t, rng, PSET, same_type=False)
        if len(t) > 1:
            assert_well_typed(h2)
            assert len(h2) < len(t)
    assert seen["shrink"] > 20 and seen["hoist"] > 20


def test_mutation_weights_select_operators():
    rng = np.random.default_rng(3)
    point_only = TreeRepresentation(PSET, mutation_weights={"point": 1.0})
    for t in population(point_only, 4, 50):
        m = point_only.mutate(t, rng)
        assert [(n.type, n.arity) for n in m] == [(n.type, n.arity) for n in t] and m != t
    shrink_only = TreeRepresentation(PSET, mutation_weights={"shrink": 2.0})
    lone = parse("relu_in.data", PSET)  # shrink cannot apply: falls back to subtree mutation
    assert_well_typed(shrink_only.mutate(lone, rng))
    assert point_only.mutation_weights == {"point": 1.0}
    assert TreeRepresentation(PSET).mutation_weights == mutation.DEFAULT_WEIGHTS


# -- determinism ------------------------------------------------------------------------------
def run_sequence(seed: int, n: int = 60) -> list[str]:
    rep = TreeRepresentation(PSET)
    rng = np.random.default_rng(seed)
    pop = [rep.random(rng) for _ in range(n)]
    out = [t.text() for t in pop]
    for i in range(n):
        out.append(rep.crossover(pop[i], pop[-i - 1], rng).text())
        out.append(rep.mutate(pop[i], rng).text())
    return out


def test_same_seed_same_trees_whatever_the_global_rngs():
    random.seed(1)
    np.random.seed(1)
    first = run_sequence(42)
    random.seed(2)
    np.random.seed(2)
    assert run_sequence(42) == first
    assert run_sequence(43) != first


def test_same_seed_same_trees_across_processes():
    """String hashing differs per process; results must not depend on it."""
    code = ("import hashlib, sys; sys.path[:0] = ['tests', 'tests/genomes']; "
            "from test_tree import run_sequence;"
            "print(hashlib.sha1('|'.join(run_sequence(7)).encode()).hexdigest())")
    hashseed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    env = {**os.environ, "PYTHONHASHSEED": hashseed}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, check=True,
                         capture_output=True, text=True).stdout.strip()
    assert out == hashlib.sha1("|".join(run_sequence(7)).encode()).hexdigest()


# -- JSON / text --------------------------------------------------------------------------------
def test_json_and_text_round_trip():
    rep = TreeRepresentation(PSET)
    for t in population(rep, 31, 300):
        data = rep.to_json(t)
        assert rep.from_json(json.loads(json.dumps(data))) == t
        assert rep.from_json(data["expr"]) == t
        assert rep.parse(t.text()) == t
    assert rep.to_json(parse("weight", PSET)) == {"repr": "tree", "expr": "weight"}
    assert rep.to_json(parse("mul(relu_in.data, log(relu_out.data))", PSET)) == {
        "repr": "tree", "expr": ["mul", "relu_in.data", ["log", "relu_out.data"]]}


@pytest.mark.parametrize("data, msg", [
    (["nope", "weight"], "unknown op 'nope'"),
    ("relu_in.bogus", "unknown statistic 'relu_in.bogus'"),
    (["log", "weight", "weight"], "takes 1 argument"),
    (["add", "weight"], "takes 2 argument"),
    (["add", "weight", "relu_in.data"], "type mismatch.*'add'.*weight, act"),
    (["log", ["frobenius"]], "takes 1 argument"),
    (["matmul", ["frobenius", "weight"], ["frobenius", "weight"]], "type mismatch"),
    ([], "empty list"),
    (["weight"], "plain string"),
    ("log", "is an op of arity 1"),
    (["weight", "weight"], "is a statistic, not an op"),
    ([7, "weight"], "op name must be a string"),
    (["log", 3.5], "expected a statistic name"),
    (None, "expected a statistic name"),
    ({"repr": "sequential", "expr": "weight"}, "not a tree genome"),
    ({"repr": "tree"}, "needs an 'expr'"),
    ({"repr": "tree", "expr": "weight", "x": 1}, "unknown key"),
    (["log", ["log", ["log", ["exp", ["nope", "weight"]]]]], r"root/1/1/1/1.*unknown op"),
])
def test_bad_json_is_refused_clearly(data, msg):
    with pytest.raises(PrimitiveError, match=msg):
        from_json(data, PSET)


def test_deep_json_is_refused_not_crashing():
    e = "weight"
    for _ in range(5000):
        e = ["log", e]
    with pytest.raises(PrimitiveError, match="deeper"):
        from_json(e, PSET)


@pytest.mark.parametrize("text, msg", [
    ("mul(relu_in.data", r"expected '\)'"),
    ("log(weight))", "unexpected"),
    ("log(weight) weight", "unexpected"),
    ("log()", "expected a name"),
    ("log($)", "cannot read"),
    ("foo(weight)", "unknown op"),
])
def test_bad_text_is_refused(text, msg):
    with pytest.raises(PrimitiveError, match=msg):
        parse(text, PSET)


# -- lowering -------------------------------------------------------------------------------------
def test_lowering_text_and_hash_consing():
    t = parse("sub(relu_in.data, log(relu_out.noise))", PSET)
    assert lower(t, PSET).text() == t.text() == "sub(relu_in.data, log(relu_out.noise))"
    shared = parse("add(log(weight), log(weight))", PSET)
    prog = lower(shared, PSET)
    assert len(shared) == 5 and prog.size == 3
    assert prog.text() == "add(log(weight), log(weight))"
    # commutative arguments are canonicalised: both orders lower to the same program
    x = parse("frobenius(add(weight, weight_grad.data))", PSET)
    y = parse("frobenius(add(weight_grad.data, weight))", PSET)
    assert x != y and lower(x, PSET).key == lower(y, PSET).key
    assert canonical_text(x, PSET) == canonical_text(y, PSET)


def test_lowering_of_random_trees():
    rep = TreeRepresentation(PSET)
    commutative = {op.name for op in PSET.ops if op.commutative}
    for t in population(rep, 41, 150):
        prog = rep.lower(t)
        assert rep.lower(t) is prog                      # cached
        assert rep.lower(rep.from_json(rep.to_json(t))) is prog  # equal genome, same entry
        assert prog.type == t.type
        assert rep.text(t) == prog.text()
        if not commutative & {n.name for n in t}:
            assert t.text() == prog.text()
        # hash-consing: one IR node per distinct canonical subtree
        distinct = {canonical_text(t.subtree(i), PSET) for i in range(len(t))}
        assert prog.size == len(distinct) <= len(t)
        assert rep.size(t) == len(t) and rep.height(t) == t.height


def test_lowering_cache_is_bounded():
    rep = TreeRepresentation(PSET, cache_size=10)
    for t in population(rep, 51, 50):
        rep.lower(t)
    assert len(rep._cache) <= 10
