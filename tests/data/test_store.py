"""The statistics store: round trip, grouping, corruption, resume."""

import json
import os

import numpy as np
import pytest
import torch

import gpnas.data.stats.build as build_mod
import gpnas.data.stats.shards as shards_mod
from gpnas.errors import GpnasError
from gpnas.data.spaces import get_space
from gpnas.data.stats.collect import collect, group_instances
from gpnas.data.stats.images import sample_images
from gpnas.data.stats.build import build_store
from gpnas.data.stats.store import StatsStore
from primitives import STAT_NAMES

SPACE = "nb201-cifar10"
# cheap archs: 4, 19 and 34 instances
A_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
A_LIGHT = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"
A_TWO = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|"
ARCHS = [A_LIGHT, A_NONE, A_TWO]
ACC = [70.0, 10.0, 80.5]


pytestmark = pytest.mark.usefixtures("one_thread")


def _build(path, archs=ARCHS, acc=ACC, **kw):
    kw.setdefault("metric", "test_acc")
    return build_store(path, SPACE, archs, acc, progress=False, **kw)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _build(tmp_path_factory.mktemp("stats") / "s")


@pytest.fixture(scope="module")
def direct():
    # build_store collects with 1 thread; float32 sums depend on the thread count
    sp = get_space(SPACE)
    x = sample_images(sp, 1, 0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [collect(sp.build(a, seed=0), x, seed=0) for a in ARCHS]
    finally:
        torch.set_num_threads(threads)


def test_metadata(store):
    assert len(store) == 3
    assert store.dtype == "float16" and store.batch_size == 1
    assert store.tensor_names == list(STAT_NAMES)
    assert store.instances() == [19, 4, 34]
    np.testing.assert_array_equal(store.accuracies(), ACC)
    rec = store.nets[2]
    for key in ("space", "arch", "accuracy", "metric", "seed", "batch_size", "order",
                "instances", "shapes", "shard"):
        assert key in rec
    assert rec["arch"] == A_TWO and rec["order"] == "rcb" and rec["metric"] == "test_acc"
    assert sorted(i for rows in rec["group_rows"] for i in rows) == list(range(34))
    assert (store.path / rec["shard"]).is_file()


def test_float16_round_trip(store, direct):
    for net_id, insts in enumerate(direct):
        loaded = store.load_net(net_id)
        assert len(loaded) == len(insts)
        for k in STAT_NAMES:
            assert all(b[k].dtype == torch.float32 and b[k].shape == a[k].shape
                       for a, b in zip(insts, loaded))
            # per-row power-of-two scaling: float16's 11 bits for every value, no flush to 0
            torch.testing.assert_close(torch.cat([b[k].flatten() for b in loaded]),
                                       torch.cat([a[k].flatten() for a in insts]),
                                       rtol=1e-3, atol=0)


def test_load_groups_matches_group_instances(store, direct):
    ids = [2, 0]
    groups = store.load_groups(ids)
    want = group_instances([direct[2], direct[0]])
    assert len(groups) == len(want)
    for g, w in zip(groups, want):
        assert torch.equal(g.net, w.net)  # positions in ids, rows by net then execution order
        for k in STAT_NAMES:
            torch.testing.assert_close(g.tensors[k], w.tensors[k], rtol=1e-3, atol=0)
    g16 = store.load_groups([1], dtype=torch.float16)
    assert g16[0].tensors["weight"].dtype == torch.float16
    assert int(sum(len(g) for g in g16)) == 4
    with pytest.raises(GpnasError, match="no network with id 7"):
        store.load_groups([7])


def test_same_arch_same_tensors_in_any_store(store, tmp_path):
    other = _build(tmp_path / "other", archs=[A_TWO, A_NONE], acc=[1.0, 2.0])
    a, b = store.load_groups([2]), other.load_groups([0])
    assert all(torch.equal(x.tensors[k], y.tensors[k]) for x, y in zip(a, b) for k in STAT_NAMES)


@pytest.mark.parametrize("dtype, tol", [("float32", 0.0), ("bfloat16", 8e-3)])
def test_other_dtypes(tmp_path, direct, dtype, tol):
    s = _build(tmp_path / dtype, archs=[A_NONE], acc=[1.0], dtype=dtype)
    loaded = s.load_net(0)
    for k in STAT_NAMES:
        torch.testing.assert_close(torch.cat([b[k].flatten() for b in loaded]),
                                   torch.cat([a[k].flatten() for a in direct[1]]),
                                   rtol=tol, atol=0)


def test_float16_scale_keeps_tiny_and_huge_values():
    t = torch.tensor([[1e-9, -3e-12, 2e-10], [7e4, 1.0, -3e5], [0.0, 0.0, 0.0]])
    stored, scale, nonfinite = shards_mod.to_storage(t, "float16")
    assert nonfinite == 0
    assert stored.dtype == torch.float16 and torch.isfinite(stored).all()
    back = stored.float() * scale.view(-1, 1)
    torch.testing.assert_close(back[:, [0, 2]], t[:, [0, 2]], rtol=1e-3, atol=0)
    assert float(back[1, 1]) == pytest.approx(1.0, rel=0.05)  # 2**-18 of the row max: coarse


def test_float16_of_many_tensors_at_once_is_that_of_each():
    g = torch.Generator().manual_seed(0)
    ts = [torch.randn(3, 2, 4, generator=g) * 10.0 ** k for k in (-8, 0, 5)]
    bad = ts + [torch.tensor([[1.0, float("inf")], [0.0, 2.0], [-1.0, float("nan")]])]
    for batch in (ts, bad):
        for (s1, f1, n1), (s2, f2, n2) in zip(shards_mod.to_storage_many(batch, "float16"),
                                              (shards_mod.to_storage(t, "float16") for t in batch)):
            assert torch.equal(s1.view(torch.int16), s2.view(torch.int16))
            assert torch.equal(f1, f2) and n1 == n2


def _copy_store(src, dst):
    import shutil

    shutil.copytree(src.path, dst)
    return dst


def test_truncated_shard_is_a_clear_error_and_verify_reports_it(store, tmp_path):
    path = _copy_store(store, tmp_path / "t")
    shard = path / store.nets[1]["shard"]
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    with pytest.raises(GpnasError, match=f"{shard}.*truncated"):
        StatsStore(path)
    s = StatsStore(path, check_shards=False)
    problems = s.verify()
    assert len(problems) == 1 and str(shard) in problems[0] and "truncated" in problems[0]
    with pytest.raises(GpnasError, match=str(shard)):
        s.load_groups([1])
    s.load_groups([0, 2])  # the intact networks still load


def test_corrupt_shards(store, tmp_path):
    path = _copy_store(store, tmp_path / "c")
    # same size, flipped bytes in the data: only the checksum sees it
    shard = path / store.nets[0]["shard"]
    data = bytearray(shard.read_bytes())
    data[-100:] = bytes(100)
    shard.write_bytes(bytes(data))
    s = StatsStore(path)
    (problem,) = s.verify()
    assert str(shard) in problem and "SHA-256" in problem
    assert s.verify(deep=False) == []
    # a garbage header
    shard2 = path / store.nets[2]["shard"]
    data = bytearray(shard2.read_bytes())
    data[8:40] = b"x" * 32
    shard2.write_bytes(bytes(data))
    with pytest.raises(GpnasError, match=f"{shard2}.*corrupt"):
        s.load_groups([2])
    # a deleted shard
    os.remove(path / store.nets[1]["shard"])
    with pytest.raises(GpnasError, match="missing"):
        StatsStore(path)


def test_bad_index_files(tmp_path):
    with pytest.raises(GpnasError, match="does not exist"):
        StatsStore(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(GpnasError, match="stats.json is missing"):
        StatsStore(tmp_path / "empty")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "stats.json").write_text("{not json")
    with pytest.raises(GpnasError, match=r"index .*stats.json is corrupt"):
        StatsStore(bad)
    (bad / "stats.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(GpnasError, match="not a gpnas statistics index"):
        StatsStore(bad)


def test_settings_mismatch_is_an_error(store):
    with pytest.raises(GpnasError, match="batch_size: store has 1, this build asks 2"):
        _build(store.path, batch_size=2)
    with pytest.raises(GpnasError, match="order"):
        _build(store.path, order="cbr")


def test_build_is_idempotent(store):
    mtime = (store.path / "stats.json").stat().st_mtime_ns
    again = _build(store.path)
    assert len(again) == 3
    assert (store.path / "stats.json").stat().st_mtime_ns == mtime  # nothing to do, nothing written


def test_interrupted_build_resumes(tmp_path, monkeypatch):
    calls = []
    real = build_mod.collect_with_info

    def flaky(model, images, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(model, images, **kw)

    monkeypatch.setattr(build_mod, "collect_with_info", flaky)
    path = tmp_path / "r"
    with pytest.raises(KeyboardInterrupt):
        _build(path)
    s = StatsStore(path)
    assert [r["arch"] for r in s.nets] == ARCHS[:2]  # the index was written before dying
    calls.clear()
    s = _build(path)
    assert len(calls) == 1 and [r["arch"] for r in s.nets] == ARCHS
    # a larger request extends the store; ids of the existing networks do not change
    s = _build(path, archs=ARCHS + [A_NONE.replace("none~2", "skip_connect~2")],
               acc=ACC + [12.0])
    assert len(s) == 4 and [r["arch"] for r in s.nets][:3] == ARCHS


def test_killed_build_adopts_finished_shards_and_repairs_truncated_ones(tmp_path, monkeypatch):
    path = tmp_path / "k"
    full = _build(path)
    ref = full.load_groups([2])
    # as if killed after writing shard 2 but before the index recorded it
    meta = json.loads((path / "stats.json").read_text())
    meta["nets"] = meta["nets"][:2]
    (path / "stats.json").write_text(json.dumps(meta))
    # and shard 0 truncated
    shard0 = path / full.nets[0]["shard"]
    shard0.write_bytes(shard0.read_bytes()[:1000])
    calls = []
    real = build_mod.collect_with_info
    monkeypatch.setattr(build_mod, "collect_with_info",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    s = _build(path)
    assert len(calls) == 1  # shard 2 adopted, shard 0 rebuilt in place
    assert [r["arch"] for r in s.nets] == ARCHS and s.verify() == []
    again = s.load_groups([2])
    assert all(torch.equal(x.tensors[k], y.tensors[k]) for x, y in zip(ref, again)
               for k in STAT_NAMES)


def test_build_store_input_errors(tmp_path):
    with pytest.raises(GpnasError, match="unknown storage dtype"):
        _build(tmp_path / "a", dtype="int8")
    with pytest.raises(GpnasError, match="3 architectures but 2 accuracies"):
        _build(tmp_path / "a", acc=[1.0, 2.0])
    with pytest.raises(GpnasError, match="unknown search space"):
        build_store(tmp_path / "a", "nb999", ARCHS, ACC, metric="x", progress=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("hi")
    with pytest.raises(GpnasError, match="not a statistics store"):
        _build(tmp_path / "junk")


def test_net_statistics_is_what_the_store_holds(store, direct):
    from gpnas.data.stats.build import net_statistics

    mem = net_statistics(SPACE, A_TWO)  # same defaults as build_store
    assert len(mem) == 34
    assert all(torch.equal(a[k], b[k]) for a, b in zip(mem, direct[2]) for k in STAT_NAMES)
    loaded = store.load_groups([2])
    want = group_instances([mem])
    for g, w in zip(loaded, want):
        for k in STAT_NAMES:
            torch.testing.assert_close(g.tensors[k], w.tensors[k], rtol=1e-3, atol=0)


def test_worker_processes_give_the_same_store(store, tmp_path):
    par = _build(tmp_path / "par", jobs=2)
    assert [r["arch"] for r in par.nets] == ARCHS
    assert [r["sha256"] for r in par.nets] == [r["sha256"] for r in store.nets]


def test_shards_are_standard_safetensors_and_nonfinite_values_are_counted(store, tmp_path):
    from safetensors.torch import load_file

    tensors = load_file(store.path / store.nets[0]["shard"])
    assert tensors["g0/weight"].dtype == torch.float16
    assert tensors["g0/weight#scale"].dtype == torch.float32
    t = torch.tensor([[1.0, float("inf"), -2.0], [float("nan"), 0.5, 0.25]])
    stored, scale, nonfinite = shards_mod.to_storage(t, "float16")
    assert nonfinite == 2
    back = stored.float() * scale.view(-1, 1)
    assert back[0, 0] == 1.0 and back[0, 2] == -2.0 and back[1, 2] == 0.25
    assert torch.isinf(back[0, 1]) and torch.isnan(back[1, 0])
