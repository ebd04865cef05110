"""Network-level programs: layer aggregations, layer and network terminals, and the engine
against a per-network loop in plain torch."""

import csv
import json
import math

import numpy as np
import pytest
import torch

from gpnas.data.stats.build import net_statistics
from gpnas.data.stats.collect import group_instances
from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
from gpnas.evaluation.naive import naive_net_scores
from gpnas.evaluation.task import Task
from gpnas.search.representations import representation_for
from paths import REPO
from primitives import default_primitive_set, full_primitive_set, primitive_set
from primitives.network import AGGREGATIONS
from representations.ir import ProgramBuilder
from representations.tree import TreeRepresentation
from synthetic import fake_task

pytestmark = pytest.mark.usefixtures("one_thread")

NETWORK = primitive_set("network")
FULL = full_primitive_set()


@pytest.fixture(scope="module")
def task():
    return fake_task(7, seed=3)


def _rows_of(task, net):
    """(position, instance tensors) of every row of network ``net``, execution order."""
    rows = []
    for g in task.groups:
        for r in (g.net == net).nonzero().flatten().tolist():
            rows.append((int(g.position[r]), {k: v[r] for k, v in g.tensors.items()}))
    return sorted(rows, key=lambda x: x[0])


def _reference(name, xs, depth):
    """The aggregation of one network's values (execution order) in plain Python."""
    n = len(xs)
    mean = sum(xs) / n
    steps = [b - a for a, b in zip(xs, xs[1:])]
    return {"layer_mean": mean, "layer_sum": sum(xs), "layer_max": max(xs), "layer_min": min(xs),
            "layer_std": math.sqrt(sum((x - mean) ** 2 for x in xs) / n),
            "layer_depth_mean": sum(d * x for d, x in zip(depth, xs)) / sum(depth),
            "layer_diff_min": min(steps) if steps else 0.0,
            "layer_diff_mean": sum(steps) / len(steps) if steps else 0.0}[name]


@pytest.mark.parametrize("name", [op.name for op in AGGREGATIONS])
def test_each_aggregation_equals_a_per_network_loop(task, name):
    b = ProgramBuilder(NETWORK)
    x = b.apply("frobenius", [b.terminal("weight_grad.noise")])
    program = b.build(b.apply(name, [x]))
    got = Engine(FULL, EngineConfig(cache_bytes=0)).net_scores(program, task)
    for net in range(task.n_nets):
        rows = _rows_of(task, net)
        xs = [float(torch.linalg.vector_norm(inst["weight_grad.noise"].float())) for _, inst in rows]
        depth = [(p + 1) / len(rows) for p, _ in rows]
        assert got[net] == pytest.approx(_reference(name, xs, depth), rel=1e-5, abs=1e-5)


def test_layer_and_network_terminals(task):
    for net in range(task.n_nets):
        rows = _rows_of(task, net)
        n = len(rows)
        assert [p for p, _ in rows] == list(range(n))
        for p, inst in rows:
            assert float(inst["layer_position"]) == p
            assert float(inst["layer_depth"]) == pytest.approx((p + 1) / n)
        params = sum(inst["weight"].numel() for _, inst in rows)
        macs = sum(inst["bn_out.data"][0].numel() * inst["weight"][0].numel() for _, inst in rows)
        assert task.net_terminals["net_instances"][net] == n
        assert task.net_terminals["net_params"][net] == params
        assert task.net_terminals["net_macs"][net] == macs


@pytest.mark.parametrize("repr_name", ["tree", "sequential"])
def test_random_network_programs_engine_equals_per_network_loop(task, repr_name):
    rep = representation_for(repr_name, ("network",))
    rng = np.random.default_rng(11)
    engine = Engine(FULL, EngineConfig(cache_bytes=0, block_bytes=4096))  # several blocks
    checked = 0
    for _ in range(40):
        p = rep.lower(rep.random(rng))
        assert p.type == "net"
        try:
            got = engine.net_scores(p, task)
        except InvalidProgram:
            continue
        want = naive_net_scores(p, FULL, task)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6 * np.abs(want).max())
        checked += 1
    assert checked >= 10


def test_the_paper_form_is_the_mean_of_to_scalar_bit_for_bit(task):
    """mean over instances of to_scalar(e) (the paper's fixed form, engine path of old programs)
    equals the network program layer_mean(normalized_sum(e)) exactly."""
    rep = TreeRepresentation(default_primitive_set())
    rng = np.random.default_rng(2)
    engine = Engine(FULL, EngineConfig(cache_bytes=0))
    compared = 0
    for _ in range(40):
        p = rep.lower(rep.random(rng))
        b = ProgramBuilder(FULL)
        ids = []
        for node in p.nodes:
            ids.append(b.terminal(node.name) if node.op is None
                       else b.apply(node.op, [ids[a] for a in node.args]))
        root = ids[-1] if p.type == "scalar" else b.apply("normalized_sum", [ids[-1]])
        network = b.build(b.apply("layer_mean", [root]))
        try:
            paper = engine.net_scores(p, task)
        except InvalidProgram:
            continue
        assert np.array_equal(paper, engine.net_scores(network, task))
        compared += 1
    assert compared >= 10


def test_committed_scores_of_paper_programs_are_reproduced():
    """Programs of the committed reproduction runs score the NB201 networks as they did when
    they were measured (scores_nb201-cifar10.csv), through today's engine."""
    results = REPO / "benchmarks" / "results" / "reproduce"
    runs = json.loads((results / "tables.json").read_text())["settings"]["runs"]
    with open(results / "scores_nb201-cifar10.csv") as f:
        rows = list(csv.DictReader(f))[:2]
    stats = [net_statistics("nb201-cifar10", r["arch"], batch_size=1, seed=0) for r in rows]
    task = Task("nb201-cifar10", group_instances(stats), np.zeros(len(rows)))
    rep = TreeRepresentation(default_primitive_set())
    engine = Engine(FULL, EngineConfig())
    for run in runs[:12]:
        label = f"{run['repr']}:{run['evolved_on']}:s{run['seed']}"
        if label not in rows[0] or not all(r[label] for r in rows):
            continue
        got = engine.net_scores(rep.lower(rep.parse(run["program"])), task)
        want = [float(r[label]) for r in rows]
        np.testing.assert_allclose(got, want, rtol=1e-4, err_msg=label)
