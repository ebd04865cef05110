"""Ground-truth loaders: embedded analog-nasbench default, benchdata layout, CSV, NDS JSON."""

import io
import json
import pickle

import numpy as np
import pytest

from gpnas.config import BENCH_DIR_ENV
from gpnas.data import groundtruth as gt
from gpnas.errors import GpnasError
from gpnas.data.groundtruth import (Benchmark, load_benchmark, load_csv_benchmark, load_nds_json,
                               naslib_tuple_to_arch)
from gpnas.data.spaces import get_space
from paths import BENCHDATA

needs_benchdata = pytest.mark.skipif(
    not BENCHDATA.is_dir(),
    reason=f"benchmark data not found at {BENCHDATA} (../shared/benchdata from the repo root)")

# NB201 index 0 / 1 (see benchdata/derived/nb201_merged.csv)
ARCH0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ARCH1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(BENCH_DIR_ENV, raising=False)


def test_naslib_tuple_encoding():
    assert naslib_tuple_to_arch((4, 3, 3, 0, 0, 0)) == ARCH0
    assert naslib_tuple_to_arch((2, 2, 0, 4, 2, 0)) == ARCH1
    with pytest.raises(GpnasError):
        naslib_tuple_to_arch((9, 0, 0, 0, 0, 0))


def test_embedded_default_is_analognas_cifar10():
    b = load_benchmark("nb201-cifar10")
    assert b.space == "nb201-cifar10" and b.metric == "test_acc_200ep_analognas"
    assert "analog-nasbench" in b.source
    assert len(b) == 15625 == len(set(b.archs))
    assert 10.0 <= b.accuracy.min() and b.accuracy.max() < 94.2
    assert b.lookup(ARCH0) == pytest.approx(85.9708)
    assert b.lookup(ARCH1) == pytest.approx(93.2956)
    sp = get_space("nb201-cifar10")
    assert sp.canonical(b.archs[123]) == b.archs[123]


def test_embedded_unpickler_admits_only_the_record_classes():
    evil = pickle.dumps({(0,) * 6: print})  # any global other than the two record classes
    with pytest.raises(pickle.UnpicklingError, match="not allowed"):
        gt.embedded._AnbUnpickler(io.BytesIO(evil)).load()


def test_without_bench_dir_other_spaces_ask_for_it():
    for space in ("nb201-cifar100", "nb201-imagenet16", "darts-cifar10"):
        with pytest.raises(GpnasError, match="--bench-dir"):
            load_benchmark(space)
    with pytest.raises(GpnasError, match="test accuracy only"):
        load_benchmark("nb201-cifar10", metric="valid")
    with pytest.raises(GpnasError, match="unknown metric"):
        load_benchmark("nb201-cifar10", metric="train")


def test_env_var_and_missing_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(BENCH_DIR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(GpnasError, match="nowhere does not exist"):
        load_benchmark("nb201-cifar10")
    monkeypatch.setenv(BENCH_DIR_ENV, str(tmp_path))
    with pytest.raises(GpnasError, match="has no test accuracy for nb201-cifar100; looked for"):
        load_benchmark("nb201-cifar100")


def test_sample_is_a_prefix_of_one_permutation():
    b = Benchmark("nb201-cifar10", "m", "s", [ARCH0, ARCH1, ARCH0.replace("avg_pool_3x3~0", "none~0", 1)],
                  np.array([1.0, 2.0, 3.0]))
    a2, acc2 = b.sample(2, seed=5)
    a3, _ = b.sample(3, seed=5)
    assert a3[:2] == a2 and list(acc2) == [b.lookup(a) for a in a2]
    with pytest.raises(GpnasError, match="4 networks asked"):
        b.sample(4, seed=0)


def test_csv_benchmark(tmp_path):
    p = tmp_path / "mine.csv"
    reordered = "|avg_pool_3x3~0|+|skip_connect~1|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
    p.write_text("# my own runs\narch,accuracy,metric\n"
                 f"{reordered},55.5,top1_50ep\n{ARCH1},66.25,top1_50ep\n")
    b = load_csv_benchmark(p, "nb201-cifar100")
    assert b.archs == [ARCH0, ARCH1] and list(b.accuracy) == [55.5, 66.25]
    assert b.metric == "top1_50ep" and b.space == "nb201-cifar100"
    assert load_benchmark("nb201-cifar100", p).archs == b.archs  # a file as --bench-dir
    p.write_text(f"arch,accuracy\n{ARCH1},high\n")
    with pytest.raises(GpnasError, match=r"mine.csv: row 2: accuracy 'high'"):
        load_csv_benchmark(p, "nb201-cifar10")
    p.write_text("arch,acc\nx,1\n")
    with pytest.raises(GpnasError, match="needs columns 'arch' and 'accuracy'"):
        load_csv_benchmark(p, "nb201-cifar10")
    p.write_text("arch,accuracy\n|bad|,1\n")
    with pytest.raises(GpnasError, match="mine.csv: row 2: nb201-cifar10: bad NAS-Bench-201"):
        load_csv_benchmark(p, "nb201-cifar10")


def _nds_record(normal, reduce, errors):
    return {"net": {"genotype": {"normal": normal, "normal_concat": [2, 3, 4, 5],
                                 "reduce": reduce, "reduce_concat": [2, 3, 4, 5]},
                    "width": 16, "depth": 8, "aux": False, "drop_prob": 0.0},
            "test_ep_top1": errors, "min_test_top1": min(errors), "params": 1.0, "flops": 2.0}


def test_nds_json_loader(tmp_path):
    n1 = [["sep_conv_3x3", 0], ["sep_conv_3x3", 1], ["skip_connect", 0], ["sep_conv_3x3", 1],
          ["skip_connect", 0], ["max_pool_3x3", 2], ["dil_conv_3x3", 2], ["avg_pool_3x3", 3]]
    r1 = [["max_pool_3x3", 0], ["max_pool_3x3", 1], ["skip_connect", 2], ["max_pool_3x3", 1],
          ["max_pool_3x3", 0], ["skip_connect", 2], ["skip_connect", 2], ["dil_conv_5x5", 4]]
    recs = [_nds_record(n1, r1, [50.0, 20.0, 7.25]), _nds_record(r1, n1, [60.0, 12.5])]
    p = tmp_path / "DARTS.json"
    p.write_text(json.dumps(recs))
    b = load_nds_json(p, "darts-cifar10")
    assert list(b.accuracy) == [92.75, 87.5]
    assert b.archs[0] == str([[(0, 3), (1, 3), (0, 2), (1, 3), (0, 2), (2, 0), (2, 5), (3, 1)],
                              [(0, 0), (1, 0), (2, 2), (1, 0), (0, 0), (2, 2), (2, 2), (4, 6)]])
    get_space("darts-cifar10").canonical(b.archs[1])
    # the {"top": [...], "mid": [...]} variant (the *_fix-w-d files)
    p.write_text(json.dumps({"top": recs[:1], "mid": recs[1:]}))
    assert load_nds_json(p).archs == b.archs
    # a bench dir holding DARTS.json
    assert load_benchmark("darts-cifar10", tmp_path).archs == b.archs
    # not the DARTS space
    bad = _nds_record([["conv_7x1_1x7", 0]] + n1[1:], r1, [10.0])
    p.write_text(json.dumps([recs[0], bad]))
    with pytest.raises(GpnasError, match=r"DARTS.json: record 1: operation 'conv_7x1_1x7'"):
        load_nds_json(p)
    p.write_text(json.dumps([{"net": {"block_type": "res_basic_block"}}]))
    with pytest.raises(GpnasError, match="record 0: needs net.genotype"):
        load_nds_json(p)
    p.write_text("[1, 2")
    with pytest.raises(GpnasError, match="DARTS.json is not valid JSON"):
        load_nds_json(p)
    with pytest.raises(GpnasError, match="map to the darts space"):
        load_nds_json(p, "nb201-cifar10")


@needs_benchdata
@pytest.mark.parametrize("space", ["nb201-cifar10", "nb201-cifar100", "nb201-imagenet16"])
@pytest.mark.parametrize("metric", ["test", "valid"])
def test_benchdata_nb201(space, metric):
    b = load_benchmark(space, BENCHDATA, metric)
    assert len(b) == 15625 == len(set(b.archs))
    assert b.metric == f"{metric}_acc_200ep"
    top = {"nb201-cifar10": (94.37, 91.61), "nb201-cifar100": (73.51, 73.49),
           "nb201-imagenet16": (47.31, 46.73)}[space][metric == "valid"]
    assert b.accuracy.max() == pytest.approx(top, abs=0.01)
    if metric == "valid":  # NB201 index 1, PROVENANCE.md section 2
        want = {"nb201-cifar10": 90.76933, "nb201-cifar100": 69.82667,
                "nb201-imagenet16": 44.48889}[space]
        assert b.lookup(ARCH1) == pytest.approx(want, abs=1e-4)
    else:
        want = {"nb201-cifar10": 93.66, "nb201-cifar100": 70.29333,
                "nb201-imagenet16": 44.03333}[space]
        assert b.lookup(ARCH1) == pytest.approx(want, abs=1e-4)


@needs_benchdata
def test_benchdata_env_var_and_darts(monkeypatch):
    monkeypatch.setenv(BENCH_DIR_ENV, str(BENCHDATA))
    b = load_benchmark("darts-cifar10")  # "test" is not published: validation accuracy
    assert len(b) == 725 and b.metric == "valid_acc_nb301" and "validation" in b.note
    assert 91.0 < b.accuracy.min() and b.accuracy.max() < 94.6
    sp = get_space("darts-cifar10")
    assert all(sp.canonical(a) == a for a in b.archs)
    c10 = load_benchmark("nb201-cifar10")  # the env var beats the embedded default
    assert c10.metric == "test_acc_200ep"
