"""The engine's plan: ops it skips give exactly what running them gives."""

import numpy as np
import pytest
import torch

from gpnas.evaluation.engine import Engine, EngineConfig
from gpnas.evaluation.plan import plan
from primitives import default_primitive_set
from representations.ir import ProgramBuilder
from representations.tree import TreeRepresentation
from synthetic import fake_task

PSET = default_primitive_set()
UNARY = ("heaviside", "gt0", "square", "abs", "relu", "sign", "invert", "log", "abslog", "lt0",
         "exp")


def _every_node(program, task):
    """Instance values with every node run on whole groups (no plan, no blocks, no cache)."""
    out = []
    with torch.no_grad():
        for g in task.groups:
            values = []
            for node in program.nodes:
                values.append(g.tensors[node.name] if node.op is None else
                              PSET[node.op].fn(*[values[a] for a in node.args]))
            v = values[program.output]
            out.append(v.reshape(v.shape[0], -1).mean(dim=1))
    return torch.cat(out)


def _programs():
    """Programs built to meet every rule: known arguments (flags, zeros, ones) under unary and
    binary ops, the same argument twice, and the ones and zeros of any value."""
    b = ProgramBuilder(PSET)
    x, y = b.terminal("bn_out.data"), b.terminal("bn_out.noise")
    known = {"flags": b.apply("lt", [x, y]), "zeros": b.apply("zeros_like", [x]),
             "ones": b.apply("ones_like", [b.apply("normalize", [x])])}
    roots = [b.apply(op, [k]) for op in UNARY for k in known.values()]
    for op in ("add", "sub", "mul", "eq", "lt", "gt"):
        for k1 in known.values():
            for k2 in known.values():
                roots.append(b.apply(op, [k1, k2]))
        roots.append(b.apply(op, [x, x]))
    roots.append(b.apply("square", [b.apply("log", [b.apply("heaviside", [x])])]))
    roots.append(b.apply("numel", [b.apply("exp", [x])]))
    return [b.build(r) for r in roots]


def test_skipped_ops_give_the_bits_of_running_them():
    task = fake_task(3, seed=11)
    engine = Engine(PSET, EngineConfig(cache_bytes=0, block_bytes=2048))
    skipped = 0
    for p in _programs():
        steps = plan(p)
        skipped += sum(1 for i, n in enumerate(p.nodes) if n.op and (
            steps.same_as[i] is not None or steps.fill[i] is not None or not steps.needed[i]))
        got, want = engine.instance_values(p, task), _every_node(p, task)
        assert torch.equal(got.view(torch.int32), want.view(torch.int32)), p.text()
    assert skipped > 60


def test_plan_skips_what_it_can():
    b = ProgramBuilder(PSET)
    x = b.terminal("relu_in.data")
    flags = b.apply("gt0", [b.apply("normalize", [x])])
    p = b.build(b.apply("square", [b.apply("log", [flags])]))
    steps = plan(p)
    names = [n.op or n.name for n in p.nodes]
    # log(flags) is 0: neither it, nor gt0 nor normalize run; square(0) is that 0
    assert steps.fill[names.index("log")] == 0.0
    assert steps.same_as[names.index("square")] == names.index("log")
    assert not steps.needed[names.index("normalize")] and not steps.needed[names.index("gt0")]


@pytest.mark.parametrize("seed", [0, 1])
def test_random_programs_unchanged(seed):
    rep = TreeRepresentation(PSET, min_depth=2, max_depth=5)
    rng = np.random.default_rng(seed)
    task = fake_task(3, seed=seed)
    engine = Engine(PSET, EngineConfig(cache_bytes=0, cost_budget=float("inf")))
    for _ in range(40):
        p = rep.lower(rep.random(rng))
        got, want = engine.instance_values(p, task), _every_node(p, task)
        assert torch.equal(got.isnan(), want.isnan())
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6, equal_nan=True)
