"""Program files: round trips, run directories, clear errors."""

import json

import numpy as np
import pytest

from gpnas.errors import GpnasError
from gpnas.nasm.export import export
from gpnas.nasm.programfile import ProgramFile, load_program, save_program
from gpnas.search.representations import representation_for
from nasm_helpers import (PSET, TREE, same, scores, sequential_programs, shared_ir_programs,
                          tree_programs)


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


def test_network_programs_round_trip_with_their_dsl(tmp_path, task):
    path = None
    for name in ("tree", "sequential"):
        rep = representation_for(name, ("network",))
        rng = np.random.default_rng(4)
        for i in range(4):
            g = rep.random(rng)
            p = rep.lower(g)
            path = save_program(tmp_path / f"{name}{i}.json",
                                ProgramFile(p, name, rep.to_json(g), dsl=("network",)))
            pf = load_program(path)
            assert pf.program.key == p.key and pf.dsl == ("network",) and pf.network_level
            same(scores(pf.program, task), scores(p, task))
    tree = json.loads((tmp_path / "tree0.json").read_text())
    with pytest.raises(GpnasError, match="invalid tree genome"):
        load_program(_write(tmp_path / "nodsl.json", {**tree, "dsl": []}))
    with pytest.raises(GpnasError, match="dsl must be a list"):
        load_program(_write(tmp_path / "baddsl.json", {**tree, "dsl": ["nope"]}))


def _write(path, data):
    path.write_text(json.dumps(data))
    return path


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
    ('{"format": "gpnas-program", "version": 1, "ir": [["weight"]], "to_scalar": "max"}', "to_scalar: Input should be 'mean' or 'l2'"),
    ('{"format": "gpnas-program", "version": 1}', "no program"),
    ('{"format": "gpnas-program", "version": 1, "repr": "tree", "genome": {"repr": "tree", "expr": "weight"}, "ir": [["bn_out.data"]]}', "different programs"),
])
def test_bad_program_files_are_clear_errors(tmp_path, content, problem):
    f = tmp_path / "bad.json"
    f.write_text(content)
    with pytest.raises(GpnasError) as info:
        load_program(f)
    assert problem in str(info.value) and str(f) in str(info.value)


def test_missing_sources(tmp_path):
    with pytest.raises(GpnasError, match="does not exist"):
        load_program(tmp_path / "nothing.json")
    with pytest.raises(GpnasError, match="without results.json"):
        load_program(tmp_path)
    with pytest.raises(GpnasError, match="does not exist"):  # not a built-in name either
        load_program("eznas-b")
