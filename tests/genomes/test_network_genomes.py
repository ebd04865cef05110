"""Both representations with the ``network`` DSL extension: network-level roots, type-safe
variation, the sequential program's register banks."""

import numpy as np
import pytest

from primitives import NET, SCALAR, primitive_set
from representations.sequential import SequentialRepresentation
from representations.sequential.genome import Layout, parse, text
from representations.sequential.introns import trace
from representations.tree import TreeRepresentation

NETWORK = primitive_set("network")


def test_tree_variation_keeps_a_network_root_and_every_type():
    rep = TreeRepresentation(NETWORK, root_type=NET)
    rng = np.random.default_rng(0)
    pop = [rep.random(rng) for _ in range(30)]
    for _ in range(300):
        a, b = pop[rng.integers(len(pop))], pop[rng.integers(len(pop))]
        child = rep.crossover(a, b, rng) if rng.random() < 0.5 else rep.mutate(a, rng)
        rep.check(child)  # raises on any type error
        assert child.type == NET and rep.lower(child).type == NET
        pop[rng.integers(len(pop))] = child


def test_sequential_layout_has_typed_statics_and_a_net_bank():
    layout = Layout.of(NETWORK, output_type=NET)
    names = list(NETWORK.terminals)
    assert layout.statics == tuple(names) and layout.n_net == 10
    assert layout.name(layout.output) == "n0" and layout.space(layout.output) == "net"
    assert layout.read_space(names.index("layer_depth")) == "scalar"
    assert layout.read_space(names.index("net_params")) == "net"
    assert names.index("net_params") in layout.read_range("net")
    assert layout.address("n3") == layout.output + 3
    # the paper's layout is unchanged: s0 right after the 80 tensor addresses
    paper = Layout.of(primitive_set())
    assert (paper.n_static, paper.n_net, paper.output) == (22, 0, 102)


def test_sequential_variation_is_type_safe_and_writes_each_bank_its_type():
    rep = SequentialRepresentation(NETWORK, output_type=NET)
    layout = rep.layout
    rng = np.random.default_rng(1)
    pop = [rep.random(rng) for _ in range(30)]
    for _ in range(300):
        a, b = pop[rng.integers(len(pop))], pop[rng.integers(len(pop))]
        child = rep.crossover(a, b, rng) if rng.random() < 0.4 else rep.mutate(a, rng)
        rep.check(child)
        assert rep.lower(child).type == NET
        for ins, out in zip(child.instructions, trace(child, NETWORK, layout).out_types):
            if out is not None:
                bank = layout.space(ins[0])
                assert bank == ("net" if out == NET else "scalar" if out == SCALAR else "tensor")
        assert parse(text(child, NETWORK, layout), NETWORK, layout).instructions == \
            tuple((w, o, r1, r1 if NETWORK[o].arity == 1 else r2)
                  for w, o, r1, r2 in child.instructions)
        pop[rng.integers(len(pop))] = child


def test_a_network_program_reads_aggregated_scalars():
    rep = SequentialRepresentation(NETWORK, output_type=NET)
    g = rep.parse("s1 = frobenius(weight_grad.noise)\nn2 = layer_sum(s1)\n"
                  "n0 = mul(n2, net_params)\n")
    assert rep.text(g) == "mul(net_params, layer_sum(frobenius(weight_grad.noise)))"
    with pytest.raises(Exception, match="never written|no executed instruction"):
        rep.parse("s0 = frobenius(weight_grad.noise)\n")  # n0 is the output
